import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';

/** Thrown when a stream delivers more or fewer bytes than announced. */
export class ByteCountError extends Error {
  constructor(
    readonly expected: number,
    readonly received: number,
    readonly complete: boolean,
  ) {
    super(
      complete
        ? `length mismatch: expected ${expected} bytes, received ${received}`
        : `length mismatch: expected ${expected} bytes, received more (${received} so far)`,
    );
    this.name = 'ByteCountError';
  }
}

/**
 * A pass-through that computes SHA-256 and counts bytes on the way. With `expectedBytes` it fails
 * as soon as more bytes arrive than announced, and at the end when fewer did.
 */
export class HashingStream extends Transform {
  bytes = 0;
  private readonly hash = createHash('sha256');
  private hex: string | undefined;

  constructor(readonly expectedBytes?: number) {
    super();
    if (expectedBytes !== undefined && (!Number.isSafeInteger(expectedBytes) || expectedBytes < 0)) {
      throw new RangeError(`expectedBytes must be a non-negative integer, got ${String(expectedBytes)}`);
    }
  }

  override _transform(chunk: Buffer | string, encoding: BufferEncoding, callback: TransformCallback): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk;
    this.bytes += buf.length;
    if (this.expectedBytes !== undefined && this.bytes > this.expectedBytes) {
      callback(new ByteCountError(this.expectedBytes, this.bytes, false));
      return;
    }
    this.hash.update(buf);
    callback(null, buf);
  }

  override _flush(callback: TransformCallback): void {
    if (this.expectedBytes !== undefined && this.bytes !== this.expectedBytes) {
      callback(new ByteCountError(this.expectedBytes, this.bytes, true));
      return;
    }
    this.hex = this.hash.digest('hex');
    callback();
  }

  /** Lower-case hex SHA-256 of everything that passed; only once the stream has ended. */
  get sha256(): string {
    if (this.hex === undefined) throw new Error('hash not available before the stream has ended');
    return this.hex;
  }
}

export function hashingStream(expectedBytes?: number): HashingStream {
  return new HashingStream(expectedBytes);
}

/** Consumes a readable and returns its SHA-256 (hex) and length. Memory stays flat. */
export async function hashReadable(
  source: Readable,
  signal?: AbortSignal,
): Promise<{ sha256: string; bytes: number }> {
  const hasher = new HashingStream();
  hasher.resume();
  await pipeline(source, hasher, signal ? { signal } : {});
  return { sha256: hasher.sha256, bytes: hasher.bytes };
}
