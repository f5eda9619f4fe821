import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ProviderError } from '../../lib/storage/retry';
import { S3Storage, type S3StorageOptions } from '../../lib/storage/s3';
import { startS3, type FakeS3, type S3Request } from '../fakes/s3';
import { pieces as piecesOf } from './storage-helpers';

const MiB = 1024 * 1024;
const PART = 5 * MiB; // S3's smallest part, so a "large" file is a little over 10 MB here
const PREFIX = 'RingCentral Archiver';
const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** Pieces of 300_001 bytes here. */
function pieces(data: Buffer, size = 300_001): Readable {
  return piecesOf(data, size);
}

/** A body that waits for `release()` before it delivers anything. */
function held(data: Buffer): { body: Readable; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const body = Readable.from(
    (async function* () {
      await gate;
      yield data;
    })(),
  );
  return { body, release };
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('S3Storage through @aws-sdk/client-s3 against s3rver', () => {
  let fake: FakeS3;
  let direct: S3Client;

  before(async () => {
    fake = await startS3();
    direct = new S3Client({
      region: 'us-east-1',
      endpoint: fake.directUrl,
      forcePathStyle: true,
      credentials: { accessKeyId: fake.accessKeyId, secretAccessKey: fake.secretAccessKey },
    });
  });
  after(async () => {
    direct?.destroy();
    await fake?.close();
  });

  function storage(overrides: Partial<S3StorageOptions> = {}): S3Storage {
    return new S3Storage({
      bucket: fake.bucket,
      prefix: PREFIX,
      endpoint: fake.url,
      forcePathStyle: true,
      accessKeyId: fake.accessKeyId,
      secretAccessKey: fake.secretAccessKey,
      partSize: PART,
      retry: { attempts: 4, baseDelayMs: 5 },
      ...overrides,
    });
  }

  /** The stored bytes, read with GetObject straight from s3rver; undefined when there is none. */
  async function stored(rel: string): Promise<Buffer | undefined> {
    try {
      const res = await direct.send(new GetObjectCommand({ Bucket: fake.bucket, Key: `${PREFIX}/${rel}` }));
      return Buffer.from(await res.Body!.transformToByteArray());
    } catch (err) {
      if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
      throw err;
    }
  }

  const since = (from: number) => fake.requests.slice(from);
  const writes = (reqs: S3Request[]) => reqs.filter((r) => r.method === 'PUT' || r.method === 'POST');

  it('checks the bucket with a probe it removes, and names a missing bucket', async () => {
    const from = fake.requests.length;
    await storage().check();
    const reqs = since(from);
    assert.deepEqual(
      reqs.map((r) => r.method),
      ['HEAD', 'PUT', 'DELETE'],
    );
    assert.match(reqs[1].path, /^\/archive\/RingCentral Archiver\/\.rc-archiver-probe-/);
    assert.equal(reqs[2].path, reqs[1].path);
    assert.equal(await stored(reqs[1].path.slice(`/archive/${PREFIX}/`.length)), undefined);
    await assert.rejects(
      storage({ bucket: 'nope' }).check(),
      /S3: check failed: the bucket nope does not exist/,
    );
  });

  it('stores a small file in one PutObject and a large one in parts no bigger than a part', async () => {
    const s = storage();
    const small = Buffer.from('a small voicemail');
    let from = fake.requests.length;
    const r1 = await s.put('u1/2024-05-01/vm.mp3', pieces(small), {
      expectedBytes: small.length,
      contentType: 'audio/mpeg',
    });
    assert.deepEqual(
      { ...r1, providerHash: undefined },
      {
        path: 'u1/2024-05-01/vm.mp3',
        bytes: small.length,
        sha256: sha256(small),
        providerHash: undefined,
        alreadyPresent: false,
      },
    );
    assert.deepEqual(await stored('u1/2024-05-01/vm.mp3'), small);
    const [put] = writes(since(from));
    assert.equal(writes(since(from)).length, 1);
    assert.equal(put.headers['if-none-match'], '*');
    assert.equal(put.headers['x-amz-meta-sha256'], sha256(small));
    assert.equal(put.headers['x-amz-checksum-sha256'], createHash('sha256').update(small).digest('base64'));
    assert.equal(put.headers['content-type'], 'audio/mpeg');
    assert.equal(put.headers['x-amz-object-lock-mode'], undefined);

    from = fake.requests.length;
    const big = randomBytes(2 * PART + 12_345);
    const r2 = await s.put('u1/2024-05-01/rec.mp3', pieces(big), { expectedBytes: big.length });
    assert.equal(r2.sha256, sha256(big));
    assert.equal(r2.bytes, big.length);
    assert.equal(r2.alreadyPresent, false);
    assert.deepEqual(await stored('u1/2024-05-01/rec.mp3'), big);
    const reqs = since(from);
    const parts = reqs.filter((r) => r.method === 'PUT' && r.query.partNumber);
    assert.deepEqual(
      parts.map((p) => [Number(p.query.partNumber), p.bodySize]).sort((a, b) => a[0] - b[0]),
      [
        [1, PART],
        [2, PART],
        [3, 12_345],
      ],
    );
    for (const p of parts) assert.ok(p.headers['x-amz-checksum-sha256'], 'each part carries its SHA-256');
    const create = reqs.find((r) => r.method === 'POST' && 'uploads' in r.query)!;
    assert.equal(create.headers['x-amz-meta-part-size'], String(PART));
    assert.equal(
      create.headers['x-amz-checksum-algorithm'] ?? create.headers['x-amz-sdk-checksum-algorithm'],
      'SHA256',
    );
    const complete = reqs.find((r) => r.method === 'POST' && r.query.uploadId)!;
    assert.equal(complete.headers['if-none-match'], '*');
    const largest = Math.max(...fake.requests.map((r) => r.bodySize));
    assert.ok(largest <= PART + 4096, `largest request body ${largest} exceeds a part`);
    assert.equal(await fake.pendingUploads(), 0);
  });

  it('with more parts in flight (queueSize 3) a large file arrives whole, each part once', async () => {
    const s = storage({ queueSize: 3 });
    const big = randomBytes(5 * PART + 999);
    const from = fake.requests.length;
    const r = await s.put('queue/rec.mp3', pieces(big), { expectedBytes: big.length });
    assert.equal(r.sha256, sha256(big));
    assert.deepEqual(await stored('queue/rec.mp3'), big);
    const parts = since(from).filter((q) => q.method === 'PUT' && q.query.partNumber);
    assert.deepEqual(
      parts.map((p) => Number(p.query.partNumber)).sort((a, b) => a - b),
      [1, 2, 3, 4, 5, 6],
    );
    assert.equal(await fake.pendingUploads(), 0);
  });

  it('an identical second put is alreadyPresent and writes nothing; a different one is a conflict', async () => {
    const s = storage();
    const small = randomBytes(1000);
    const big = randomBytes(2 * PART + 7);
    await s.put('dup/a.bin', pieces(small));
    await s.put('dup/b.bin', pieces(big));

    const from = fake.requests.length;
    const again1 = await s.put('dup/a.bin', pieces(small), { expectedBytes: small.length });
    const again2 = await s.put('dup/b.bin', pieces(big));
    assert.equal(again1.alreadyPresent, true);
    assert.equal(again1.sha256, sha256(small));
    assert.equal(again2.alreadyPresent, true);
    assert.equal(again2.sha256, sha256(big));
    assert.deepEqual(writes(since(from)), [], 'nothing was written');

    for (const [rel, original] of [
      ['dup/a.bin', small],
      ['dup/b.bin', big],
    ] as const) {
      const err = await s.put(rel, pieces(randomBytes(original.length))).then(
        () => assert.fail('a different file replaced the first'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ProviderError, String(err));
      assert.equal(err.code, 'conflict');
      assert.equal(err.retryable, false);
      assert.match(err.message, new RegExp(`a different file is already at ${rel}; the path template`));
      assert.deepEqual(await stored(rel), original, 'the original is intact');
    }
    assert.deepEqual(writes(since(from)), [], 'still nothing written');
  });

  it('a put that loses the race to an identical one gets 412 and reports alreadyPresent; a different one conflicts', async () => {
    const data = randomBytes(2000);
    for (const [rel, second, expect] of [
      ['race/same.bin', data, 'same'],
      ['race/diff.bin', randomBytes(2000), 'conflict'],
    ] as const) {
      const slow = held(second);
      const from = fake.requests.length;
      const losing = storage().put(rel, slow.body);
      // The slow put has looked (404) and now waits for its body; the other one writes first.
      await until(() => since(from).some((r) => r.method === 'HEAD'));
      await storage().put(rel, pieces(data));
      slow.release();
      if (expect === 'same') {
        assert.equal((await losing).alreadyPresent, true);
      } else {
        await assert.rejects(losing, (e: unknown) => e instanceof ProviderError && e.code === 'conflict');
      }
      const refused = since(from).filter((r) => r.status === 412);
      assert.equal(refused.length, 1, 'S3 refused the second write');
      assert.deepEqual(await stored(rel), data);
    }
  });

  it('replaces a sidecar without Object Lock', async () => {
    const s = storage();
    await s.put('side/rec.json', pieces(Buffer.from('{"v":1}')), { role: 'sidecar' });
    const from = fake.requests.length;
    const r = await s.put('side/rec.json', pieces(Buffer.from('{"v":2}')), { role: 'sidecar' });
    assert.equal(r.alreadyPresent, false);
    assert.deepEqual(await stored('side/rec.json'), Buffer.from('{"v":2}'));
    const [put] = writes(since(from));
    assert.equal(put.headers['if-none-match'], undefined);
  });

  it('sends Object Lock and legal hold headers, and keeps an existing sidecar under them', async () => {
    const s = storage({ objectLock: { mode: 'COMPLIANCE', days: 30 }, legalHold: true });
    let from = fake.requests.length;
    const small = randomBytes(100);
    await s.put('lock/a.bin', pieces(small));
    await s.put('lock/b.bin', pieces(randomBytes(PART + 1)));
    const creates = writes(since(from)).filter((r) => !r.query.partNumber && !r.query.uploadId);
    assert.equal(creates.length, 2, 'a PutObject and a CreateMultipartUpload');
    for (const w of creates) {
      assert.equal(w.headers['x-amz-object-lock-mode'], 'COMPLIANCE');
      assert.equal(w.headers['x-amz-object-lock-legal-hold'], 'ON');
      const until = Date.parse(w.headers['x-amz-object-lock-retain-until-date']);
      assert.ok(
        Math.abs(until - (Date.now() + 30 * 86_400_000)) < 60_000,
        w.headers['x-amz-object-lock-retain-until-date'],
      );
    }

    await s.put('lock/a.json', pieces(Buffer.from('{"v":1}')), { role: 'sidecar' });
    from = fake.requests.length;
    const again = await s.put('lock/a.json', pieces(Buffer.from('{"v":2}')), { role: 'sidecar' });
    assert.equal(again.alreadyPresent, true);
    assert.equal(again.sha256, sha256('{"v":1}'), 'describes what is stored');
    assert.deepEqual(await stored('lock/a.json'), Buffer.from('{"v":1}'));
    assert.deepEqual(writes(since(from)), []);

    // Only legal hold: still nothing replaced.
    const held2 = storage({ legalHold: true });
    from = fake.requests.length;
    await held2.put('hold/x.json', pieces(Buffer.from('1')), { role: 'sidecar' });
    const [w] = writes(since(from));
    assert.equal(w.headers['if-none-match'], '*');
    assert.equal(w.headers['x-amz-object-lock-legal-hold'], 'ON');
    assert.equal(w.headers['x-amz-object-lock-mode'], undefined);
  });

  it('detects a corrupted upload and removes the object', async () => {
    const s = storage();
    for (const [rel, data] of [
      ['bad/small.bin', randomBytes(5000)],
      ['bad/big.bin', randomBytes(PART + 100)],
    ] as const) {
      fake.corruptNextUpload();
      const err = await s.put(rel, pieces(data)).then(
        () => assert.fail('a corrupted upload was accepted'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ProviderError, String(err));
      assert.equal(err.code, 'hash_mismatch');
      assert.match(err.message, /S3 stored different bytes than were sent/);
      assert.equal(await stored(rel), undefined, 'nothing looks archived');
      // The next try goes through.
      assert.equal((await s.put(rel, pieces(data))).alreadyPresent, false);
      assert.deepEqual(await stored(rel), data);
    }
  });

  it('retries 503 SlowDown after the Retry-After, and gives up with a retryable ProviderError', async () => {
    const retries: Array<[number, number]> = [];
    const s = storage({
      retry: { attempts: 4, baseDelayMs: 5, onRetry: (e, ms) => retries.push([e.status!, ms]) },
    });
    const data = randomBytes(3000);
    fake.failNext(1, 503, 1);
    const t0 = Date.now();
    const r = await s.put('slow/a.bin', pieces(data));
    assert.ok(Date.now() - t0 >= 950, 'waited for Retry-After: 1');
    assert.deepEqual(retries, [[503, 1000]]);
    assert.deepEqual(await stored('slow/a.bin'), data);
    assert.equal(r.sha256, sha256(data));

    // CreateMultipartUpload and a part are sent again.
    const big = randomBytes(PART + 10);
    const from = fake.requests.length;
    const slow = held(big);
    const first = storage().put('slow/big.bin', slow.body);
    await until(() => since(from).some((q) => q.method === 'HEAD'));
    fake.failNext(2, 503);
    slow.release();
    await first;
    assert.deepEqual(await stored('slow/big.bin'), big);
    const failed = since(from).filter((q) => q.status === 503);
    assert.equal(failed.length, 2);
    assert.ok('uploads' in failed[0].query, 'CreateMultipartUpload was refused first');

    fake.failNext(10, 500);
    const count = fake.requests.length;
    const err = await s.put('slow/c.bin', pieces(data)).then(
      () => assert.fail('accepted'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ProviderError && err.retryable && err.status === 500, String(err));
    assert.equal(fake.requests.length - count, 4, 'four attempts in all');
    fake.failNext(0);
  });

  it('refused credentials give an auth error without the keys', async () => {
    const secret = 'wrong-secret-' + randomBytes(8).toString('hex');
    const stranger = { accessKeyId: 'AKIANOTKNOWN', secretAccessKey: secret };
    // A sidecar's PutObject comes first (content starts with a HEAD, whose 403 has no body).
    const err = await storage(stranger)
      .put('auth/a.txt', pieces(Buffer.from('a')), { role: 'sidecar' })
      .then(
        () => assert.fail('accepted'),
        (e: unknown) => e,
      );
    assert.ok(err instanceof ProviderError && err.auth && !err.retryable, String(err));
    assert.match(
      err.message,
      /S3 refused the credentials \(InvalidAccessKeyId\): check the access key, secret and permissions/,
    );
    assert.ok(!err.message.includes(secret) && !err.message.includes('AKIANOTKNOWN'));
    assert.equal(err.cause, undefined, 'the SDK error (with the key id) is not attached');
    await assert.rejects(
      storage(stranger).put('auth/a.txt', pieces(Buffer.from('a'))),
      (e: unknown) =>
        e instanceof ProviderError && e.auth && /\(403 Forbidden, no reason given\)/.test(e.message),
    );
    await assert.rejects(
      storage(stranger).check(),
      (e: unknown) =>
        e instanceof ProviderError && e.auth && /S3 refused access to the bucket archive/.test(e.message),
    );
    for (const code of ['SignatureDoesNotMatch', 'ExpiredToken', 'AccessDenied']) {
      fake.refuseCredentials(code);
      try {
        await assert.rejects(
          storage().put('auth/b.txt', pieces(Buffer.from('b')), { role: 'sidecar' }),
          (e: unknown) => e instanceof ProviderError && e.auth && e.message.includes(`(${code})`),
        );
      } finally {
        fake.refuseCredentials(undefined);
      }
    }
    assert.equal(await stored('auth/a.txt'), undefined);
    assert.equal(await stored('auth/b.txt'), undefined);
  });

  it('stops on abort, leaving neither an object nor upload parts', { timeout: 5000 }, async () => {
    const s = storage();
    const ac = new AbortController();
    const from = fake.requests.length;
    let sent = 0;
    const body = new Readable({
      read() {
        if (since(from).some((r) => r.query.partNumber)) ac.abort();
        if (sent > 4 * PART) return this.push(null);
        sent += 256 * 1024;
        setTimeout(() => this.push(randomBytes(256 * 1024)), 1);
      },
    });
    await assert.rejects(
      s.put('abort/rec.mp3', body, { signal: ac.signal }),
      (e: Error) => e.name === 'AbortError',
    );
    assert.ok(body.destroyed);
    assert.ok(sent < 4 * PART, 'reading stopped');
    assert.equal(await stored('abort/rec.mp3'), undefined);
    assert.equal(await fake.pendingUploads(), 0, 'the multipart upload was aborted');

    // A body that stalls (nothing in flight) is given up at once too.
    const stalled = new Readable({ read() {} });
    const ac2 = new AbortController();
    setTimeout(() => ac2.abort(), 30);
    await assert.rejects(
      s.put('abort/stalled.mp3', stalled, { signal: ac2.signal }),
      (e: Error) => e.name === 'AbortError',
    );
    assert.ok(stalled.destroyed);
  });

  it('fails a body of the wrong length without an object, stats, and refuses unsafe paths', async () => {
    const s = storage();
    await assert.rejects(
      s.put('len/a.bin', pieces(randomBytes(PART + 3)), { expectedBytes: PART + 4 }),
      /length mismatch/,
    );
    await assert.rejects(
      s.put('len/b.bin', pieces(randomBytes(10)), { expectedBytes: 9 }),
      /length mismatch/,
    );
    assert.equal(await stored('len/a.bin'), undefined);
    assert.equal(await stored('len/b.bin'), undefined);
    assert.equal(await fake.pendingUploads(), 0);

    await s.put('stat/x.bin', pieces(Buffer.alloc(42)));
    assert.deepEqual(await s.stat('stat/x.bin'), { bytes: 42 });
    assert.equal(await s.stat('stat/none.bin'), undefined);
    await assert.rejects(s.put('../escape.bin', pieces(Buffer.from('x'))), /escapes the storage root/);
    const empty = await s.put('stat/empty.bin', Readable.from([]), { expectedBytes: 0 });
    assert.equal(empty.sha256, sha256(''));
    const head = await direct.send(
      new HeadObjectCommand({ Bucket: fake.bucket, Key: `${PREFIX}/stat/empty.bin` }),
    );
    assert.equal(head.ContentLength, 0);
  });
});
