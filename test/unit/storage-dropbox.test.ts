import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { OAuthTokens, TokenKeeper } from '../../lib/oauth/types';
import {
  DropboxStorage,
  dropboxContentHash,
  dropboxOAuth,
  type DropboxStorageOptions,
} from '../../lib/storage/dropbox';
import { ProviderError } from '../../lib/storage/retry';
import { startFakeDropbox, type FakeDropbox } from '../fakes/dropbox';
import { expiredTokens, memoryKeeper, pieces } from './storage-helpers';

const CHUNK = 256 * 1024;
const ROOT = '/RingCentral Archive';
const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

describe('DropboxStorage through the dropbox SDK against a fake Dropbox', () => {
  let fake: FakeDropbox;

  before(async () => {
    fake = await startFakeDropbox();
  });
  after(async () => {
    await fake?.close();
  });

  function keeper(tokens?: OAuthTokens): TokenKeeper & { saved: OAuthTokens[] } {
    return memoryKeeper(
      { clientId: fake.appKey, endpoint: fake.url },
      tokens ?? expiredTokens(fake.issueRefreshToken()),
    );
  }

  function storage(overrides: Partial<DropboxStorageOptions> = {}, k = keeper()): DropboxStorage {
    return new DropboxStorage({
      keeper: k,
      root: ROOT,
      chunkSize: CHUNK,
      endpoint: fake.url,
      retry: { baseDelayMs: 5, attempts: 4 },
      ...overrides,
    });
  }

  const fileAt = (path: string) => fake.files().find((f) => f.path.toLowerCase() === path.toLowerCase());
  const callsSince = (from: number, fn: string) =>
    fake.requests.slice(from).filter((r) => r.path === `/2/${fn}`);

  it('computes the Dropbox content hash over 4 MiB blocks', () => {
    // The empty file and a known value from two blocks: the hash of the block hashes.
    assert.equal(dropboxContentHash(Buffer.alloc(0)), sha256(''));
    const data = Buffer.alloc(4 * 1024 * 1024 + 3, 7);
    const blocks = Buffer.concat([
      createHash('sha256')
        .update(data.subarray(0, 4 * 1024 * 1024))
        .digest(),
      createHash('sha256')
        .update(data.subarray(4 * 1024 * 1024))
        .digest(),
    ]);
    assert.equal(dropboxContentHash(data), sha256(blocks));
  });

  it('stores a small file in one upload and a large one in a session, one chunk per request', async () => {
    const k = keeper();
    const s = storage({}, k);
    await s.check();
    assert.deepEqual(fake.folders(), ['/RingCentral Archive']);
    assert.equal(k.saved.length, 1, 'the expired token was refreshed and saved');
    await s.check(); // the folder exists already: still fine

    let from = fake.requests.length;
    const small = Buffer.from('a small voicemail');
    const r1 = await s.put('u1/2024-05-01/vm.mp3', pieces(small), { expectedBytes: small.length });
    assert.deepEqual(r1, {
      path: 'u1/2024-05-01/vm.mp3',
      bytes: small.length,
      sha256: sha256(small),
      providerHash: dropboxContentHash(small),
      alreadyPresent: false,
    });
    const [up] = callsSince(from, 'files/upload');
    assert.deepEqual(up.arg, {
      path: '/RingCentral Archive/u1/2024-05-01/vm.mp3',
      mode: { '.tag': 'add' },
      autorename: false,
      strict_conflict: true,
      mute: true,
      content_hash: dropboxContentHash(small),
    });

    from = fake.requests.length;
    const big = randomBytes(3 * CHUNK + 12_345);
    const r2 = await s.put('u1/2024-05-01/rec.mp3', pieces(big), { contentType: 'audio/mpeg' });
    assert.equal(r2.sha256, sha256(big));
    assert.equal(r2.bytes, big.length);
    assert.equal(r2.providerHash, dropboxContentHash(big));
    assert.deepEqual(fileAt('/RingCentral Archive/u1/2024-05-01/rec.mp3')!.data, big);
    assert.deepEqual(fileAt('/RingCentral Archive/u1/2024-05-01/vm.mp3')!.data, small);
    assert.equal(callsSince(from, 'files/upload_session/start').length, 1);
    assert.deepEqual(
      callsSince(from, 'files/upload_session/append_v2').map(
        (r) => (r.arg!.cursor as { offset: number }).offset,
      ),
      [CHUNK, 2 * CHUNK],
    );
    const [finish] = callsSince(from, 'files/upload_session/finish');
    assert.deepEqual(finish.arg!.commit, {
      path: '/RingCentral Archive/u1/2024-05-01/rec.mp3',
      mode: { '.tag': 'add' },
      autorename: false,
      strict_conflict: true,
      mute: true,
    });
    assert.equal(finish.bodySize, 12_345);
    const largest = Math.max(...fake.requests.map((r) => r.bodySize));
    assert.ok(largest <= CHUNK, `largest request body ${largest} > chunk ${CHUNK}`);

    assert.deepEqual(await s.stat('u1/2024-05-01/rec.mp3'), { bytes: big.length });
    assert.equal(await s.stat('u1/2024-05-01/none.mp3'), undefined);
  });

  it('makes no second copy of identical content, refuses different content, replaces a sidecar', async () => {
    const s = storage();
    const data = randomBytes(2 * CHUNK + 10);
    assert.equal((await s.put('dup/rec.wav', pieces(data))).alreadyPresent, false);
    const from = fake.requests.length;
    const again = await storage().put('dup/rec.wav', pieces(data));
    assert.equal(again.alreadyPresent, true);
    assert.equal(again.sha256, sha256(data));
    assert.equal(again.providerHash, dropboxContentHash(data));
    assert.equal(
      fake.requests.slice(from).filter((r) => r.path.startsWith('/2/files/upload')).length,
      0,
      'nothing uploaded again',
    );
    assert.equal(fileAt('/RingCentral Archive/dup/rec.wav')!.versions, 1);
    assert.equal(fake.files().filter((f) => f.path.toLowerCase().includes('/dup/')).length, 1);

    const err = await s.put('dup/rec.wav', pieces(Buffer.from('different'))).then(
      () => assert.fail('no conflict'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ProviderError);
    assert.equal(err.code, 'conflict');
    assert.equal(err.retryable, false);
    assert.match(
      err.message,
      /a different file is already at dup\/rec\.wav; the path template gives two items the same path/,
    );
    assert.deepEqual(fileAt('/RingCentral Archive/dup/rec.wav')!.data, data);

    await s.put('dup/rec.wav.json', pieces(Buffer.from('{"v":1}')), { role: 'sidecar' });
    const r = await s.put('dup/rec.wav.json', pieces(Buffer.from('{"v":2}')), { role: 'sidecar' });
    assert.equal(r.alreadyPresent, false);
    const side = fileAt('/RingCentral Archive/dup/rec.wav.json')!;
    assert.equal(side.data.toString(), '{"v":2}');
    assert.equal(side.versions, 2);
    assert.equal(fake.files().filter((f) => f.path.toLowerCase().includes('/dup/')).length, 2);
  });

  it('a file written between the look and the upload: the conflict answer decides', async () => {
    const s = storage();
    await s.check();
    // Another client writes the path while our body is still arriving (after the metadata look).
    const data = Buffer.from('recording');
    let seeded = false;
    const body = new Readable({
      read() {
        if (!seeded) {
          seeded = true;
          setTimeout(() => {
            fake.seed('/RingCentral Archive/race/a.mp3', Buffer.from('other'));
            this.push(data);
            this.push(null);
          }, 20);
        }
      },
    });
    await assert.rejects(
      s.put('race/a.mp3', body),
      (e: unknown) => e instanceof ProviderError && e.code === 'conflict',
    );
    assert.equal(fileAt('/RingCentral Archive/race/a.mp3')!.data.toString(), 'other');
  });

  it('a corrupted upload is refused by Dropbox or caught by the hash check, leaving no file', async () => {
    const s = storage();
    fake.corruptNextUpload('transit');
    await assert.rejects(
      s.put('bad/small.mp3', pieces(randomBytes(1000))),
      (e: unknown) =>
        e instanceof ProviderError &&
        e.code === 'hash_mismatch' &&
        /Dropbox stored different bytes than were sent/.test(e.message),
    );
    assert.equal(fileAt('/RingCentral Archive/bad/small.mp3'), undefined);

    fake.corruptNextUpload('stored');
    await assert.rejects(
      s.put('bad/big.mp3', pieces(randomBytes(2 * CHUNK + 5))),
      (e: unknown) =>
        e instanceof ProviderError &&
        /Dropbox stored different bytes than were sent.*removed/.test(e.message),
    );
    assert.equal(fileAt('/RingCentral Archive/bad/big.mp3'), undefined, 'the damaged file was deleted');

    const data = randomBytes(100);
    await s.put('bad/big.mp3', pieces(data));
    assert.deepEqual(fileAt('/RingCentral Archive/bad/big.mp3')!.data, data);
  });

  it('waits out a 429 with Retry-After, retries 5xx and too_many_write_operations', async () => {
    const s = storage();
    await s.check();
    fake.failNext(1, 429, 1);
    const t0 = Date.now();
    await s.put('rate/a.txt', pieces(Buffer.from('a')));
    assert.ok(Date.now() - t0 >= 950, `waited ${Date.now() - t0} ms`);
    fake.failNext(1, 429, undefined, 'too_many_write_operations'); // only the body's retry_after
    const t1 = Date.now();
    await s.put('rate/b.txt', pieces(Buffer.from('b')));
    assert.ok(Date.now() - t1 >= 950, `waited ${Date.now() - t1} ms`);
    fake.failNext(2, 503);
    await s.put('rate/c.txt', pieces(Buffer.from('c')));
    for (const n of ['a', 'b', 'c']) {
      assert.equal(fileAt(`/RingCentral Archive/rate/${n}.txt`)!.data.toString(), n);
    }
  });

  it('resends a session chunk whose answer was lost, from the offset Dropbox gives', async () => {
    const s = storage();
    await s.check();
    const data = randomBytes(4 * CHUNK);
    const from = fake.requests.length;
    fake.loseNextAppendAnswer();
    const r = await s.put('resume/rec.mp3', pieces(data));
    assert.equal(r.sha256, sha256(data));
    assert.deepEqual(fileAt('/RingCentral Archive/resume/rec.mp3')!.data, data);
    const appends = callsSince(from, 'files/upload_session/append_v2');
    // The first append was stored but answered 503; its retry at the same offset was told
    // incorrect_offset with the correct one (past the chunk), so the upload went on.
    assert.deepEqual(
      appends.map((q) => (q.arg!.cursor as { offset: number }).offset),
      [CHUNK, CHUNK, 2 * CHUNK],
    );
  });

  it('refreshes on a 401 expired_access_token and saves the new tokens; revoked credentials are an auth error', async () => {
    const k = keeper();
    const s = storage({}, k);
    await s.put('auth/a.txt', pieces(Buffer.from('a')));
    assert.equal(k.saved.length, 1);
    fake.expireAccessTokens();
    await s.put('auth/b.txt', pieces(Buffer.from('b')));
    assert.equal(k.saved.length, 2, 'a 401 led to a refresh, and the new tokens were saved');
    assert.notEqual(k.saved[1].accessToken, k.saved[0].accessToken);
    assert.equal(k.saved[1].refreshToken, k.saved[0].refreshToken);
    assert.ok(k.saved[1].expiresAt! > Date.now());

    fake.revokeTokens();
    const err = await s.put('auth/c.txt', pieces(Buffer.from('c'))).then(
      () => assert.fail('accepted'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ProviderError && err.auth && !err.retryable, String(err));
    assert.match(
      err.message,
      /Dropbox refused the credentials \(invalid_grant\): reconnect the account in its config node/,
    );
    for (const t of k.saved) {
      assert.ok(!err.message.includes(t.accessToken) && !err.message.includes(t.refreshToken!));
    }
    assert.equal(fileAt('/RingCentral Archive/auth/c.txt'), undefined);
  });

  it('stops on abort and leaves no file', async () => {
    const s = storage();
    await s.check();
    const ac = new AbortController();
    const from = fake.requests.length;
    let n = 0;
    const body = new Readable({
      read() {
        if (n++ > 5 && callsSince(from, 'files/upload_session/start').length > 0) ac.abort();
        setTimeout(() => this.push(randomBytes(64 * 1024)), 2);
      },
    });
    await assert.rejects(
      s.put('abort/rec.mp3', body, { signal: ac.signal }),
      (e: Error) => e.name === 'AbortError',
    );
    assert.equal(fileAt('/RingCentral Archive/abort/rec.mp3'), undefined);
    assert.ok(body.destroyed);
  });

  it('stores an empty file, fails a stream of the wrong length, and replaces characters Dropbox clients refuse', async () => {
    const s = storage();
    const empty = await s.put('empty/none.txt', Readable.from([]), { expectedBytes: 0 });
    assert.equal(empty.bytes, 0);
    assert.equal(fileAt('/RingCentral Archive/empty/none.txt')!.data.length, 0);
    await assert.rejects(
      s.put('len/a.bin', pieces(randomBytes(CHUNK + 3)), { expectedBytes: CHUNK + 4 }),
      /length mismatch/,
    );
    assert.equal(fake.files().filter((f) => f.path.includes('/len/')).length, 0);
    await s.put('odd/a:b?c*.txt', pieces(Buffer.from('x')));
    assert.ok(fileAt('/RingCentral Archive/odd/a_b_c_.txt'));
  });

  it('connects an account: authorize, PKCE code exchange, account name; a wrong verifier is refused', async () => {
    const client = { clientId: fake.appKey, endpoint: fake.url };
    const verifier = randomBytes(48).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const redirectUri = 'http://127.0.0.1:1880/rc-archiver/oauth/callback';
    const url = new URL(
      dropboxOAuth.authorizeUrl({ client, redirectUri, state: 'st8', codeChallenge: challenge }),
    );
    assert.equal(url.searchParams.get('token_access_type'), 'offline');
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    const real = new URL(dropboxOAuth.authorizeUrl({ client: { clientId: 'k' }, redirectUri, state: 's' }));
    assert.equal(real.origin + real.pathname, 'https://www.dropbox.com/oauth2/authorize');

    const code = async () => {
      const back = new URL((await fetch(url, { redirect: 'manual' })).headers.get('location')!);
      assert.equal(back.searchParams.get('state'), 'st8');
      return back.searchParams.get('code')!;
    };
    await assert.rejects(
      dropboxOAuth.exchangeCode({ client, code: await code(), redirectUri, codeVerifier: 'w'.repeat(60) }),
      (e: unknown) => e instanceof ProviderError && e.auth && /invalid_grant/.test(e.message),
    );
    const tokens = await dropboxOAuth.exchangeCode({
      client,
      code: await code(),
      redirectUri,
      codeVerifier: verifier,
    });
    assert.ok(tokens.accessToken && tokens.refreshToken && tokens.expiresAt! > Date.now());
    assert.equal(await dropboxOAuth.accountName({ client, tokens }), 'Ada Archivist <archivist@example.com>');
    // The connected tokens work for the adapter.
    const s = storage({}, keeper(tokens));
    await s.check();
  });
});
