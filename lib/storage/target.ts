/**
 * Target-level failures: the storage itself is unusable (login refused, host unreachable, host key
 * mismatch, bucket or root missing, root not writable, disk or quota full), as opposed to a failure
 * of one file (a name refused, a conflicting file). A sink pauses on the first and fails the item
 * on the second. Recognised by the `target` field, not by class, so that an adapter can mark a
 * provider's own error in place (asTargetError).
 */

/** An error that says the storage target, not the item, is at fault. */
export class TargetError extends Error {
  override name = 'TargetError';
  readonly target = true;
}

/** Marks an error (in place) as target-level and returns it. */
export function asTargetError<E extends Error>(err: E): E {
  (err as E & { target?: boolean }).target = true;
  return err;
}

/**
 * Node and libuv codes that mean the target cannot be reached or written at all. Adapters retry
 * transient ones themselves first; one that still escapes their retries is an outage.
 */
const TARGET_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ENOSPC',
  'EDQUOT',
  'EROFS',
]);

/** True when an adapter said explicitly (`target: false`) that the error belongs to the item. */
export function isItemFailure(err: unknown): boolean {
  let current: unknown = err;
  for (let depth = 0; depth < 8 && current && typeof current === 'object'; depth++) {
    const e = current as { target?: unknown; cause?: unknown };
    if (e.target === true) return false;
    if (e.target === false) return true;
    current = e.cause;
  }
  return false;
}

/**
 * True when the error, or one it was caused by, is target-level: flagged `target: true`, a
 * ProviderError with `auth: true` (the credentials are refused) or still `retryable` (429, 5xx, a
 * dropped connection: the adapter's own retries are spent, so the provider is down), or a code from
 * TARGET_CODES. An explicit `target: false` on the way down stops the search (the adapter knows it
 * is the item).
 */
export function isTargetFailure(err: unknown): boolean {
  let current: unknown = err;
  for (let depth = 0; depth < 8 && current && typeof current === 'object'; depth++) {
    const e = current as {
      name?: unknown;
      target?: unknown;
      auth?: unknown;
      retryable?: unknown;
      code?: unknown;
      cause?: unknown;
    };
    if (e.target === true) return true;
    if (e.target === false) return false;
    if (e.auth === true) return true;
    if (e.name === 'ProviderError' && e.retryable === true) return true;
    if (typeof e.code === 'string' && TARGET_CODES.has(e.code)) return true;
    current = e.cause;
  }
  return false;
}
