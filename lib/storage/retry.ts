/**
 * Retries for provider calls: 429 and 5xx answers (and dropped connections) are tried again after
 * the provider's Retry-After when it gives one, else after a growing pause. Everything else fails
 * at once with the provider's own reason.
 */

/** An answer from a storage provider, with what the retry loop and the user need to know. */
export class ProviderError extends Error {
  override name = 'ProviderError';
  readonly status?: number;
  /** The provider's own error code, e.g. `too_many_requests`, `item_name_in_use`. */
  readonly code?: string;
  /** Milliseconds the provider asked us to wait (Retry-After). */
  readonly retryAfterMs?: number;
  /** True when trying again may help (429, 5xx, a dropped connection). */
  readonly retryable: boolean;
  /** True when the provider refused the credentials: reconnecting the account is the fix. */
  readonly auth: boolean;
  /**
   * True when the target itself is unusable (quota full, bucket gone; see ./target.ts), false when
   * the adapter knows it is the one file; undefined leaves it to isTargetFailure.
   */
  readonly target?: boolean;

  constructor(
    message: string,
    fields: {
      status?: number;
      code?: string;
      retryAfterMs?: number;
      retryable?: boolean;
      auth?: boolean;
      target?: boolean;
      cause?: unknown;
    } = {},
  ) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.status = fields.status;
    this.code = fields.code;
    this.retryAfterMs = fields.retryAfterMs;
    this.retryable = fields.retryable ?? isRetryableStatus(fields.status);
    this.auth = fields.auth ?? false;
    if (fields.target !== undefined) this.target = fields.target;
  }
}

export function isRetryableStatus(status: number | undefined): boolean {
  return status === 429 || (status !== undefined && status >= 500 && status <= 599);
}

/** Network failures worth another try: the request may never have reached the provider. */
export function isTransientNetworkError(err: unknown): boolean {
  const code =
    (err as { code?: unknown; cause?: { code?: unknown } })?.code ??
    (err as { cause?: { code?: unknown } })?.cause?.code;
  return (
    typeof code === 'string' &&
    [
      'ECONNRESET',
      'ECONNREFUSED',
      'ETIMEDOUT',
      'EPIPE',
      'EAI_AGAIN',
      'UND_ERR_SOCKET',
      'ECONNABORTED',
    ].includes(code)
  );
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(
  value: string | number | null | undefined,
  now = Date.now(),
): number | undefined {
  if (value === null || value === undefined || value === '') return undefined;
  const seconds = typeof value === 'number' ? value : Number(String(value).trim());
  if (Number.isFinite(seconds)) return Math.max(0, Math.round(seconds * 1000));
  const date = Date.parse(String(value));
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export interface RetryOptions {
  /** Tries in all, the first included (default 5). */
  attempts?: number;
  /** First pause without Retry-After (default 1 s), doubled each time. */
  baseDelayMs?: number;
  /** No single pause is longer than this (default 120 s), whatever the provider asks. */
  maxDelayMs?: number;
  signal?: AbortSignal;
  /** Maps a thrown error to a ProviderError (or leaves it as is when it is not retryable). */
  classify?: (err: unknown) => unknown;
  /** Called before each pause, e.g. to show "waiting 30 s (429)" in a status. */
  onRetry?: (err: ProviderError, delayMs: number, attempt: number) => void;
}

/** Runs `call` until it succeeds, fails for good, or the tries are used up. */
export async function withRetry<T>(
  call: (attempt: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const attempts = Math.max(1, options.attempts ?? 5);
  const base = options.baseDelayMs ?? 1000;
  const max = options.maxDelayMs ?? 120_000;
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return await call(attempt);
    } catch (thrown) {
      const err = options.classify ? options.classify(thrown) : thrown;
      const retryable =
        (err instanceof ProviderError && err.retryable) ||
        (!(err instanceof ProviderError) && isTransientNetworkError(err));
      if (!retryable || attempt >= attempts || options.signal?.aborted) throw err;
      const delay = retryDelay(err, attempt, base, max);
      options.onRetry?.(asRetryable(err), delay, attempt);
      await sleep(delay, options.signal);
    }
  }
}

/**
 * The pause after failed try `attempt`: the provider's Retry-After when it gave one, else `base`
 * doubled with each try; never longer than `max`.
 */
export function retryDelay(err: unknown, attempt: number, base: number, max: number): number {
  const asked = err instanceof ProviderError ? err.retryAfterMs : undefined;
  return Math.min(max, asked ?? base * 2 ** (attempt - 1));
}

/** A retryable failure as the ProviderError that onRetry is given. */
export function asRetryable(err: unknown): ProviderError {
  return err instanceof ProviderError
    ? err
    : new ProviderError(String((err as Error)?.message ?? err), { retryable: true, cause: err });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
