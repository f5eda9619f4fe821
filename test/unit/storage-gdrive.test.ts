import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { ArchiveItem } from '../../lib/items';
import type { OAuthTokens, TokenKeeper } from '../../lib/oauth/types';
import { DriveStorage, driveOAuth, type DriveStorageOptions } from '../../lib/storage/gdrive';
import { ProviderError } from '../../lib/storage/retry';
import { startFakeDrive, type FakeDrive } from '../fakes/gdrive';
import { expiredTokens, memoryKeeper, pieces } from './storage-helpers';

const CHUNK = 256 * 1024;
const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

function item(key: string): ArchiveItem {
  return {
    key,
    kind: 'CallRecording',
    accountId: '1',
    createdAt: '2024-05-01T10:00:00Z',
    fileName: 'rec.mp3',
    contentType: 'audio/mpeg',
    content: { uri: 'https://media.example/1' },
    record: {},
    rc: 'rc1',
  };
}

describe('DriveStorage against a fake Drive', () => {
  let fake: FakeDrive;

  before(async () => {
    fake = await startFakeDrive();
  });
  after(async () => {
    await fake?.close();
  });

  function keeper(tokens?: OAuthTokens): TokenKeeper & { saved: OAuthTokens[] } {
    return memoryKeeper(
      { clientId: fake.clientId, clientSecret: fake.clientSecret, endpoint: fake.url },
      tokens ?? expiredTokens(fake.issueRefreshToken()),
    );
  }

  function storage(overrides: Partial<DriveStorageOptions> = {}, k = keeper()): DriveStorage {
    return new DriveStorage({
      auth: { kind: 'oauth', keeper: k },
      rootPath: 'RingCentral Archiver',
      chunkSize: CHUNK,
      endpoint: fake.url,
      retry: { baseDelayMs: 5, attempts: 4 },
      ...overrides,
    });
  }

  const filesAt = (path: string) => fake.files().filter((f) => f.path === path);
  const uploadsSince = (from: number) =>
    fake.requests.slice(from).filter((r) => r.path.startsWith('/upload/'));

  it('stores a small and a multi-chunk file byte-exact, tagged, one chunk per request', async () => {
    const k = keeper();
    const s = storage({}, k);
    await s.check();
    assert.deepEqual(fake.folders(), ['RingCentral Archiver']);
    assert.equal(k.saved.length, 1, 'the refreshed tokens were saved');
    assert.notEqual(k.saved[0].accessToken, 'expired');

    const small = Buffer.from('a small voicemail');
    const r1 = await s.put('u1/2024-05-01/vm.mp3', pieces(small), {
      item: item('Voicemail:1'),
      expectedBytes: small.length,
    });
    assert.equal(r1.alreadyPresent, false);
    assert.equal(r1.sha256, sha256(small));
    assert.equal(r1.providerHash, sha256(small));

    const from = fake.requests.length;
    const big = randomBytes(3 * CHUNK + 12_345);
    const key = 'CallRecording:' + 'é'.repeat(80); // longer than an appProperties entry may be
    const r2 = await s.put('u1/2024-05-01/rec.mp3', pieces(big), {
      item: item(key),
      contentType: 'audio/mpeg',
    });
    assert.deepEqual(r2, {
      path: 'u1/2024-05-01/rec.mp3',
      bytes: big.length,
      sha256: sha256(big),
      providerHash: sha256(big),
      alreadyPresent: false,
    });

    const [stored] = filesAt('RingCentral Archiver/u1/2024-05-01/rec.mp3');
    assert.deepEqual(stored.data, big);
    assert.equal(stored.mimeType, 'audio/mpeg');
    assert.equal(stored.appProperties.rcArchiverPath, sha256('u1/2024-05-01/rec.mp3'));
    assert.ok(
      key.startsWith(stored.appProperties.rcArchiverKey) && stored.appProperties.rcArchiverKey.length > 20,
    );
    assert.ok(Buffer.byteLength('rcArchiverKey' + stored.appProperties.rcArchiverKey) <= 124);
    assert.deepEqual(filesAt('RingCentral Archiver/u1/2024-05-01/vm.mp3')[0].data, small);

    const puts = uploadsSince(from).filter((r) => r.method === 'PUT');
    assert.deepEqual(
      puts.map((r) => r.contentRange),
      [0, 1, 2, 3].map(
        (i) =>
          `bytes ${i * CHUNK}-${Math.min(big.length, (i + 1) * CHUNK) - 1}/${i === 3 ? big.length : '*'}`,
      ),
    );
    const largest = Math.max(...fake.requests.map((r) => r.bodySize));
    assert.ok(largest <= CHUNK, `largest request body ${largest} > chunk ${CHUNK}`);
    assert.deepEqual(fake.folders(), [
      'RingCentral Archiver',
      'RingCentral Archiver/u1',
      'RingCentral Archiver/u1/2024-05-01',
    ]);
    assert.deepEqual(await s.stat('u1/2024-05-01/rec.mp3'), { bytes: big.length });
    assert.equal(await s.stat('u1/2024-05-01/none.mp3'), undefined);
    assert.equal(await s.stat('nowhere/x.mp3'), undefined);
  });

  it('finds a file again by its tag: a retried put makes no second copy, even beside a same-named file', async () => {
    const s = storage();
    const data = randomBytes(CHUNK + 10);
    // Drive allows duplicate names: an untagged file of the same name is not ours.
    await s.put('dup/keep.txt', pieces(Buffer.from('x')));
    const parentId = filesAt('RingCentral Archiver/dup/keep.txt')[0].parents[0];
    const token = (await fetch(`${fake.url}/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: fake.issueRefreshToken(),
        client_id: fake.clientId,
        client_secret: fake.clientSecret,
      }),
    }).then((r) => r.json())) as { access_token: string };
    // Made by someone else, as with Drive's files.create (metadata only).
    const made = await fetch(`${fake.url}/drive/v3/files?fields=id`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token.access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'rec.wav', parents: [parentId] }),
    });
    assert.equal(made.status, 200);

    const first = await s.put('dup/rec.wav', pieces(data), { item: item('CallRecording:2') });
    assert.equal(first.alreadyPresent, false);
    const from = fake.requests.length;
    const again = await s.put('dup/rec.wav', pieces(data), { item: item('CallRecording:2') });
    assert.equal(again.alreadyPresent, true);
    assert.equal(again.sha256, sha256(data));
    assert.equal(uploadsSince(from).length, 0, 'nothing was uploaded the second time');
    const same = filesAt('RingCentral Archiver/dup/rec.wav');
    assert.equal(same.length, 2, 'the fake keeps duplicate names, like Drive');
    assert.equal(same.filter((f) => f.appProperties.rcArchiverPath).length, 1);
    assert.deepEqual(same.find((f) => f.appProperties.rcArchiverPath)!.data, data);
    // A new adapter (a restart) finds it the same way, and the folders are not created twice.
    const again2 = await storage().put('dup/rec.wav', pieces(data));
    assert.equal(again2.alreadyPresent, true);
    assert.equal(fake.folders().filter((p) => p === 'RingCentral Archiver/dup').length, 1);
  });

  it('refuses different content at a taken path, and replaces a sidecar in place', async () => {
    const s = storage();
    await s.put('c/a.mp3', pieces(Buffer.from('first')));
    const err = await s.put('c/a.mp3', pieces(Buffer.from('second'))).then(
      () => assert.fail('no conflict'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ProviderError);
    assert.equal(err.code, 'conflict');
    assert.equal(err.retryable, false);
    assert.match(
      err.message,
      /a different file is already at c\/a\.mp3; the path template gives two items the same path/,
    );
    const [kept] = filesAt('RingCentral Archiver/c/a.mp3');
    assert.equal(kept.data.toString(), 'first');
    assert.equal(kept.versions, 1);
    assert.equal(filesAt('RingCentral Archiver/c/a.mp3').length, 1);

    await s.put('c/a.mp3.json', pieces(Buffer.from('{"v":1}')), {
      role: 'sidecar',
      contentType: 'application/json',
    });
    const r = await s.put('c/a.mp3.json', pieces(Buffer.from('{"v":2}')), { role: 'sidecar' });
    assert.equal(r.alreadyPresent, false);
    const sidecars = filesAt('RingCentral Archiver/c/a.mp3.json');
    assert.equal(sidecars.length, 1, 'no second file');
    assert.equal(sidecars[0].data.toString(), '{"v":2}');
    assert.equal(sidecars[0].versions, 2);
  });

  it('detects bytes stored differently and leaves no file', async () => {
    const s = storage();
    fake.corruptNextUpload();
    await assert.rejects(
      s.put('bad/rec.mp3', pieces(randomBytes(CHUNK + 5))),
      (e: unknown) =>
        e instanceof ProviderError && /Google Drive stored different bytes than were sent/.test(e.message),
    );
    assert.deepEqual(filesAt('RingCentral Archiver/bad/rec.mp3'), []);
    // And a retry then stores it.
    const data = randomBytes(100);
    await s.put('bad/rec.mp3', pieces(data));
    assert.deepEqual(filesAt('RingCentral Archiver/bad/rec.mp3')[0].data, data);
  });

  it('waits out a 429 with Retry-After and retries rate-limit 403s', async () => {
    const s = storage();
    await s.check();
    fake.failNext(1, 429, 1);
    const t0 = Date.now();
    await s.put('rate/a.txt', pieces(Buffer.from('a')));
    assert.ok(Date.now() - t0 >= 950, `waited ${Date.now() - t0} ms`);
    fake.failNext(2, 403, undefined, 'userRateLimitExceeded');
    await s.put('rate/b.txt', pieces(Buffer.from('b')));
    fake.failNext(1, 503);
    await s.put('rate/c.txt', pieces(Buffer.from('c')));
    assert.deepEqual(
      fake
        .files()
        .filter((f) => f.path.startsWith('RingCentral Archiver/rate/'))
        .map((f) => f.data.toString())
        .sort(),
      ['a', 'b', 'c'],
    );
    // A 403 that is not a rate limit fails at once.
    fake.failNext(1, 403, undefined, 'insufficientFilePermissions');
    await assert.rejects(
      s.put('rate/d.txt', pieces(Buffer.from('d'))),
      (e: unknown) => e instanceof ProviderError && e.status === 403 && !e.retryable,
    );
    fake.failNext(0, 0);
  });

  it('resumes an interrupted chunk from the Range Drive reports', async () => {
    const s = storage();
    const data = randomBytes(3 * CHUNK);
    await s.put('resume/warm.txt', pieces(Buffer.from('w')));
    const from = fake.requests.length;
    fake.failNextChunk(100_000); // the first chunk breaks off after 100 000 bytes
    const r = await s.put('resume/rec.mp3', pieces(data));
    assert.equal(r.sha256, sha256(data));
    assert.deepEqual(filesAt('RingCentral Archiver/resume/rec.mp3')[0].data, data);
    const ranges = uploadsSince(from)
      .filter((q) => q.method === 'PUT')
      .map((q) => q.contentRange);
    assert.deepEqual(ranges, [
      `bytes 0-${CHUNK - 1}/*`, // answered 503 after keeping 100 000 bytes
      'bytes */*', // how much do you have?  -> 308 Range: bytes=0-99999
      `bytes 100000-${CHUNK - 1}/*`,
      `bytes ${CHUNK}-${2 * CHUNK - 1}/*`,
      `bytes ${2 * CHUNK}-${3 * CHUNK - 1}/${3 * CHUNK}`,
    ]);
  });

  it('refreshes an access token Drive refuses, saving the new one; revoked credentials are an auth error', async () => {
    const k = keeper();
    const s = storage({}, k);
    await s.put('auth/a.txt', pieces(Buffer.from('a')));
    assert.equal(k.saved.length, 1);
    fake.expireAccessTokens();
    await s.put('auth/b.txt', pieces(Buffer.from('b')));
    assert.equal(k.saved.length, 2, 'a 401 led to a refresh, and the new tokens were saved');
    assert.equal(k.saved[1].refreshToken, k.saved[0].refreshToken);

    fake.revokeTokens();
    const err = await s.put('auth/c.txt', pieces(Buffer.from('c'))).then(
      () => assert.fail('accepted'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ProviderError && err.auth, String(err));
    assert.match(
      err.message,
      /Google Drive refused the credentials \(invalid_grant\): reconnect the account in its config node/,
    );
    for (const t of k.saved) {
      assert.ok(
        !err.message.includes(t.accessToken) && !err.message.includes(t.refreshToken!),
        'no token in the message',
      );
    }
    assert.deepEqual(filesAt('RingCentral Archiver/auth/c.txt'), []);
  });

  it('stops on abort and leaves no file', async () => {
    const s = storage();
    await s.check();
    const ac = new AbortController();
    const from = fake.requests.length;
    let n = 0;
    const body = new Readable({
      read() {
        if (n++ > 5 && uploadsSince(from).some((r) => r.method === 'PUT')) ac.abort();
        setTimeout(() => this.push(randomBytes(64 * 1024)), 2);
      },
    });
    await assert.rejects(
      s.put('abort/rec.mp3', body, { signal: ac.signal }),
      (e: Error) => e.name === 'AbortError',
    );
    assert.deepEqual(filesAt('RingCentral Archiver/abort/rec.mp3'), []);
    assert.ok(body.destroyed);
  });

  it('stores an empty file, and concurrent puts into a new folder create it once', async () => {
    const s = storage();
    const empty = await s.put('empty/none.txt', Readable.from([]), { expectedBytes: 0 });
    assert.equal(empty.bytes, 0);
    assert.equal(empty.sha256, sha256(''));
    assert.equal(filesAt('RingCentral Archiver/empty/none.txt')[0].data.length, 0);
    const fresh = storage();
    await Promise.all(
      ['a', 'b', 'c', 'd'].map((n) => fresh.put(`para/day/${n}.txt`, pieces(Buffer.from(n)))),
    );
    assert.deepEqual(
      fake.folders().filter((p) => p.startsWith('RingCentral Archiver/para')),
      ['RingCentral Archiver/para', 'RingCentral Archiver/para/day'],
    );
    assert.equal(fake.files().filter((f) => f.path.startsWith('RingCentral Archiver/para/day/')).length, 4);
  });

  it('fails a stream of the wrong length without leaving a file', async () => {
    const s = storage();
    await assert.rejects(
      s.put('len/a.bin', pieces(randomBytes(CHUNK + 3)), { expectedBytes: CHUNK + 4 }),
      /length mismatch/,
    );
    await assert.rejects(
      s.put('len/b.bin', pieces(randomBytes(10)), { expectedBytes: 9 }),
      /length mismatch/,
    );
    assert.deepEqual(
      fake.files().filter((f) => f.path.includes('/len/')),
      [],
    );
  });

  it('writes to a shared drive as a service account', async () => {
    const sa = fake.serviceAccount();
    const driveId = fake.addSharedDrive('Compliance', [sa.email]);
    const s = storage({ auth: { kind: 'serviceAccount', key: sa.key }, driveId, rootPath: 'Archive' });
    await s.check();
    const data = randomBytes(2 * CHUNK + 1);
    const from = fake.requests.length;
    const r = await s.put('x/rec.mp3', pieces(data));
    assert.equal(r.sha256, sha256(data));
    const [f] = filesAt('Archive/x/rec.mp3');
    assert.equal(f.driveId, driveId);
    assert.deepEqual(f.data, data);
    const list = fake.requests.slice(from).find((q) => q.method === 'GET' && q.path === '/drive/v3/files')!;
    assert.equal(list.query.corpora, 'drive');
    assert.equal(list.query.driveId, driveId);
    assert.equal((await s.put('x/rec.mp3', pieces(data))).alreadyPresent, true);
    assert.equal(fake.grants['urn:ietf:params:oauth:grant-type:jwt-bearer'], 1, 'one token, reused');

    // Without the shared drive a service account has nowhere to write.
    await assert.rejects(
      storage({ auth: { kind: 'serviceAccount', key: sa.key }, rootPath: 'Archive' }).check(),
      /storage quota/i,
    );
    // A key the fake does not know is refused.
    const stranger = JSON.parse(sa.key) as Record<string, string>;
    stranger.client_email = 'someone@else.iam.gserviceaccount.com';
    await assert.rejects(
      storage({ auth: { kind: 'serviceAccount', key: JSON.stringify(stranger) }, driveId }).check(),
      (e: unknown) => e instanceof ProviderError && e.auth,
    );
  });

  it('connects an account: authorize, code exchange with PKCE and the secret, account name', async () => {
    const client = { clientId: fake.clientId, clientSecret: fake.clientSecret, endpoint: fake.url };
    const verifier = 'v'.repeat(50);
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const redirectUri = 'http://127.0.0.1:1880/rc-archiver/oauth/callback';
    const url = new URL(
      driveOAuth.authorizeUrl({ client, redirectUri, state: 'st8', codeChallenge: challenge }),
    );
    assert.equal(url.searchParams.get('scope'), 'https://www.googleapis.com/auth/drive.file');
    assert.equal(url.searchParams.get('access_type'), 'offline');
    assert.equal(url.searchParams.get('prompt'), 'consent');
    const real = new URL(driveOAuth.authorizeUrl({ client: { clientId: 'id' }, redirectUri, state: 's' }));
    assert.equal(real.origin + real.pathname, 'https://accounts.google.com/o/oauth2/v2/auth');

    const back = new URL((await fetch(url, { redirect: 'manual' })).headers.get('location')!);
    assert.equal(back.searchParams.get('state'), 'st8');
    const code = back.searchParams.get('code')!;
    await assert.rejects(
      driveOAuth.exchangeCode({ client, code: 'nope', redirectUri, codeVerifier: verifier }),
      (e: unknown) => e instanceof ProviderError && e.auth,
    );
    const tokens = await driveOAuth.exchangeCode({ client, code, redirectUri, codeVerifier: verifier });
    assert.ok(tokens.accessToken && tokens.refreshToken && tokens.expiresAt! > Date.now());
    assert.equal(await driveOAuth.accountName({ client, tokens }), 'Ada Archivist <archivist@example.com>');
  });
});
