import type { Readable } from 'node:stream';
import { HashingStream } from './hash';

/**
 * Reads a stream as buffers of exactly `size` bytes (the last one may be shorter, and an empty
 * stream gives one empty buffer), hashing and counting on the way. Only one chunk is held at a
 * time, so an upload that sends chunk by chunk keeps memory at about `size`, whatever the file.
 *
 * `expectedBytes` fails the read as soon as the stream runs longer, and at the end when it ran
 * shorter (ByteCountError), before the last chunk is handed out, so a provider never commits a
 * file of the wrong length.
 */
export class ChunkReader {
  readonly hasher: HashingStream;
  private readonly iterator: AsyncIterator<Buffer>;
  private carry: Buffer[] = [];
  private carried = 0;
  private ended = false;
  private handedOut = 0;

  constructor(
    body: Readable,
    readonly size: number,
    expectedBytes?: number,
  ) {
    if (!Number.isSafeInteger(size) || size <= 0)
      throw new RangeError(`chunk size must be positive, got ${size}`);
    this.hasher = new HashingStream(expectedBytes);
    body.on('error', (err) => this.hasher.destroy(err));
    body.pipe(this.hasher);
    this.iterator = this.hasher[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  /** The next chunk, or undefined once everything has been handed out. */
  async next(): Promise<Buffer | undefined> {
    while (!this.ended && this.carried < this.size) await this.pull();
    if (this.ended && this.carried === 0 && this.handedOut > 0) return undefined;
    const all = this.carry.length === 1 ? this.carry[0] : Buffer.concat(this.carry, this.carried);
    const chunk = all.subarray(0, Math.min(this.size, all.length));
    const rest = all.subarray(chunk.length);
    this.carry = rest.length ? [rest] : [];
    this.carried = rest.length;
    this.handedOut++;
    return chunk;
  }

  /**
   * Like next(), but copies the bytes into `target` (up to its length) and returns the filled part
   * of it, so an upload can reuse one buffer for every part. Fresh part-sized buffers live through
   * a request, get promoted to V8's old space and stay until a full collection: several parts of
   * garbage at any time. The caller must be done with the previous part before asking again.
   */
  async readInto(target: Buffer): Promise<Buffer | undefined> {
    if (target.length === 0) throw new RangeError('target buffer must not be empty');
    let filled = 0;
    while (filled < target.length) {
      if (this.carry.length === 0) {
        if (this.ended) break;
        await this.pull();
        continue;
      }
      const head = this.carry[0];
      const n = head.copy(target, filled, 0, Math.min(head.length, target.length - filled));
      filled += n;
      this.carried -= n;
      if (n === head.length) this.carry.shift();
      else this.carry[0] = head.subarray(n);
    }
    if (filled === 0 && this.ended && this.handedOut > 0) return undefined;
    this.handedOut++;
    return target.subarray(0, filled);
  }

  /** True once the stream has ended and nothing is left to hand out. */
  get done(): boolean {
    return this.ended && this.carried === 0;
  }

  /**
   * Reads ahead far enough to know whether `chunk` (just handed out) was the last one: the
   * upload APIs want the final piece marked as such (Dropbox's finish, Box's commit).
   */
  async isLast(): Promise<boolean> {
    if (!this.ended && this.carried === 0) await this.pull();
    return this.done;
  }

  /** Takes the stream's next piece into the carry, or notes that the stream has ended. */
  private async pull(): Promise<void> {
    const { value, done } = await this.iterator.next();
    if (done) {
      this.ended = true;
      return;
    }
    this.carry.push(value);
    this.carried += value.length;
  }

  /** Bytes read so far, and the SHA-256 of everything once the stream has ended. */
  get bytes(): number {
    return this.hasher.bytes;
  }
  get sha256(): string {
    return this.hasher.sha256;
  }

  /** Stops reading (on a failed upload), so the source is released. */
  destroy(err?: Error): void {
    this.hasher.destroy(err);
  }
}
