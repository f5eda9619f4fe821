import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HashingStream } from './hash';
import { isAbort } from './http';
import { randomSuffix, safeRelativePath } from './paths';
import { ProviderError } from './retry';
import type { PutOptions, PutResult } from './types';

/**
 * The steps every cloud adapter's put, stat and check take alike: the path made safe, the body
 * released on failure, errors named after the provider and the file, the rule for a file that is
 * already there, and the check's probe file. The upload itself is the adapter's.
 */

/**
 * The put and stat of the cloud adapters: the path made safe, the body destroyed on failure (so
 * the download behind it stops), and an error that names the provider and the file. Subclasses
 * store, look and describe.
 */
export abstract class GuardedStorage {
  protected closed = false;

  /** Stores the body at a path already made safe. */
  protected abstract store(rel: string, body: Readable, options: PutOptions): Promise<PutResult>;
  /** Size of the file at a path already made safe, or undefined when there is none. */
  protected abstract look(rel: string): Promise<{ bytes: number } | undefined>;
  protected abstract describe(err: unknown, what: string): Error;

  async put(relPath: string, body: Readable, options: PutOptions = {}): Promise<PutResult> {
    let rel = relPath;
    try {
      if (this.closed) throw new Error('the adapter is closed');
      rel = safeRelativePath(relPath);
      options.signal?.throwIfAborted();
      return await this.store(rel, body, options);
    } catch (err) {
      if (!body.destroyed) body.destroy();
      throw this.describe(err, `cannot store ${rel}`);
    }
  }

  async stat(relPath: string): Promise<{ bytes: number } | undefined> {
    const rel = safeRelativePath(relPath);
    try {
      return await this.look(rel);
    } catch (err) {
      throw this.describe(err, `cannot look at ${rel}`);
    }
  }
}

/**
 * An error as the user reads it: `<provider>: <what>: <reason>`, keeping what the sink and the
 * retries read of a ProviderError. Aborts stay as they are. The cause of refused credentials is
 * left off: an SDK's error can carry the key id and what was signed.
 */
export function describeFailure(label: string, err: unknown, what: string): Error {
  if (isAbort(err)) return err as Error;
  if (err instanceof ProviderError) {
    const message = err.message.startsWith(label)
      ? `${what}: ${err.message}`
      : `${label}: ${what}: ${err.message}`;
    return new ProviderError(message, {
      status: err.status,
      code: err.code,
      retryAfterMs: err.retryAfterMs,
      retryable: err.retryable,
      auth: err.auth,
      cause: err.auth ? undefined : err,
    });
  }
  const e = err as Error | undefined;
  return new Error(`${label}: ${what}: ${e?.message ?? String(err)}`, { cause: err });
}

/** A different file already holds the path: the item is failed, nothing is replaced. */
export function conflictError(rel: string): ProviderError {
  return new ProviderError(
    `a different file is already at ${rel}; the path template gives two items the same path`,
    { code: 'conflict', retryable: false },
  );
}

/** The provider's copy does not match what was sent (`detail` says how); nothing may look archived. */
export function storedDifferentBytes(label: string, detail: string): ProviderError {
  return new ProviderError(`${label} stored different bytes than were sent (${detail})`, {
    code: 'hash_mismatch',
    retryable: false,
  });
}

/** The receipt of a put. */
export function receipt(
  path: string,
  sent: { bytes: number; sha256: string },
  providerHash: string | undefined,
  alreadyPresent: boolean,
): PutResult {
  return { path, bytes: sent.bytes, sha256: sent.sha256, providerHash, alreadyPresent };
}

/**
 * Reads a whole body without sending it, memory flat: its SHA-256 and length, and every chunk to
 * `update` for the provider's own hash (to compare with a file already there).
 */
export async function hashWhole(
  body: Readable,
  options: Pick<PutOptions, 'expectedBytes' | 'signal'>,
  update: (chunk: Buffer) => void,
): Promise<{ bytes: number; sha256: string }> {
  const hasher = new HashingStream(options.expectedBytes);
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      update(chunk);
      cb();
    },
  });
  await pipeline(body, hasher, sink, options.signal ? { signal: options.signal } : {});
  return { bytes: hasher.bytes, sha256: hasher.sha256 };
}

/** The small file a check writes in the root and removes again. */
export function probeFile(): { name: string; body: () => Readable; options: PutOptions } {
  return {
    name: `.rc-archiver-probe-${randomSuffix()}`,
    body: () => Readable.from([Buffer.from('probe')]),
    options: { expectedBytes: 5, role: 'sidecar' },
  };
}
