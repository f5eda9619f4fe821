import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { ChunkReader } from '../../lib/storage/chunks';
import { parseRetryAfter, ProviderError, withRetry } from '../../lib/storage/retry';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function readAll(reader: ChunkReader): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let c = await reader.next(); c; c = await reader.next()) out.push(Buffer.from(c));
  return out;
}

describe('ChunkReader', () => {
  it('cuts a stream into chunks of the asked size whatever the pieces it arrives in', async () => {
    const data = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251));
    const pieces = [
      data.subarray(0, 1),
      data.subarray(1, 3333),
      data.subarray(3333, 9000),
      data.subarray(9000),
    ];
    const reader = new ChunkReader(Readable.from(pieces), 4096, data.length);
    const chunks = await readAll(reader);
    assert.deepEqual(
      chunks.map((c) => c.length),
      [4096, 4096, 1808],
    );
    assert.deepEqual(Buffer.concat(chunks), data);
    assert.equal(reader.sha256, sha256(data));
    assert.equal(reader.bytes, data.length);
  });

  it('says when the chunk just handed out was the last', async () => {
    const reader = new ChunkReader(Readable.from([Buffer.alloc(8)]), 4);
    await reader.next();
    assert.equal(await reader.isLast(), false);
    await reader.next();
    assert.equal(await reader.isLast(), true);
    assert.equal(await reader.next(), undefined);
  });

  it('gives one empty chunk for an empty stream', async () => {
    const chunks = await readAll(new ChunkReader(Readable.from([]), 4));
    assert.deepEqual(
      chunks.map((c) => c.length),
      [0],
    );
  });

  it('fails on a stream shorter than announced before handing out the last chunk', async () => {
    const handedOut: number[] = [];
    const reader = new ChunkReader(Readable.from([Buffer.alloc(6)]), 4, 10);
    await assert.rejects(async () => {
      for (let c = await reader.next(); c; c = await reader.next()) handedOut.push(c.length);
    }, /length mismatch/);
    assert.ok(handedOut.length < 2, 'the short last chunk is never handed out');
  });

  it('readInto fills one reused buffer, mixed with isLast, and fails a short stream before its last part', async () => {
    const data = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251));
    const pieces = [data.subarray(0, 5000), data.subarray(5000, 5001), data.subarray(5001)];
    const reader = new ChunkReader(Readable.from(pieces), 4096, data.length);
    const target = Buffer.alloc(4096);
    const chunks: Buffer[] = [];
    for (let c = await reader.readInto(target); c; c = await reader.readInto(target)) {
      assert.equal(c.buffer, target.buffer, 'the bytes are in the given buffer');
      chunks.push(Buffer.from(c));
      if (chunks.length === 2) assert.equal(await reader.isLast(), false);
    }
    assert.deepEqual(
      chunks.map((c) => c.length),
      [4096, 4096, 1808],
    );
    assert.deepEqual(Buffer.concat(chunks), data);
    assert.equal(reader.sha256, sha256(data));
    assert.equal(await reader.isLast(), true);

    const empty = new ChunkReader(Readable.from([]), 4);
    assert.equal((await empty.readInto(Buffer.alloc(4)))?.length, 0, 'one empty part for an empty stream');
    assert.equal(await empty.readInto(Buffer.alloc(4)), undefined);

    const short = new ChunkReader(Readable.from([Buffer.alloc(6)]), 4, 10);
    const handedOut: number[] = [];
    await assert.rejects(async () => {
      for (
        let c = await short.readInto(target.subarray(0, 4));
        c;
        c = await short.readInto(target.subarray(0, 4))
      )
        handedOut.push(c.length);
    }, /length mismatch/);
    assert.ok(handedOut.length < 2, 'the short last part is never handed out');
  });

  it('passes on the error of a stream that breaks off', async () => {
    const body = new Readable({ read() {} });
    body.push(Buffer.alloc(3));
    setImmediate(() => body.destroy(new Error('socket hang up')));
    await assert.rejects(readAll(new ChunkReader(body, 4)), /socket hang up/);
  });
});

describe('withRetry', () => {
  it('waits as long as Retry-After asks, then succeeds', async () => {
    const waits: number[] = [];
    let calls = 0;
    const result = await withRetry(
      async () => {
        if (++calls < 3) throw new ProviderError('slow down', { status: 429, retryAfterMs: 20 });
        return 'ok';
      },
      { onRetry: (_e, ms) => waits.push(ms) },
    );
    assert.equal(result, 'ok');
    assert.deepEqual(waits, [20, 20]);
  });

  it('does not retry a refusal, and gives up after the last try', async () => {
    let calls = 0;
    await assert.rejects(
      withRetry(async () => {
        calls++;
        throw new ProviderError('forbidden', { status: 403 });
      }),
      /forbidden/,
    );
    assert.equal(calls, 1);
    calls = 0;
    await assert.rejects(
      withRetry(
        async () => {
          calls++;
          throw new ProviderError('unavailable', { status: 503 });
        },
        { attempts: 3, baseDelayMs: 1 },
      ),
      /unavailable/,
    );
    assert.equal(calls, 3);
  });

  it('reads Retry-After as seconds or as a date', () => {
    assert.equal(parseRetryAfter('3'), 3000);
    assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6000);
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.equal(parseRetryAfter(undefined), undefined);
  });
});
