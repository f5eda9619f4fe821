import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes, randomUUID, sign } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { OAuthTokens, TokenKeeper } from '../../lib/oauth/types';
import { BoxStorage, boxName, boxOAuth, type BoxStorageOptions } from '../../lib/storage/box';
import { ProviderError } from '../../lib/storage/retry';
import { startFakeBox, type FakeBox } from '../fakes/box';
import { expiredTokens, memoryKeeper, pieces } from './storage-helpers';

const PART = 256 * 1024;
const THRESHOLD = 512 * 1024;
const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
const sha1 = (data: Buffer | string) => createHash('sha1').update(data).digest('hex');

/**
 * An RSA key pair as the Developer Console makes one: the private key as encrypted PKCS#8 PEM with
 * its passphrase, the public key to register with the app.
 */
function keyPair(): { privateKey: string; publicKey: string; passphrase: string } {
  const passphrase = randomBytes(16).toString('hex');
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase },
  });
  return { privateKey, publicKey, passphrase };
}

describe('BoxStorage against a fake Box', () => {
  let fake: FakeBox;
  let n = 0;
  /** A fresh root folder per test, so tests do not see each other's files. */
  const root = () => `Archive-${++n}`;

  before(async () => {
    fake = await startFakeBox({ partSize: PART });
  });
  after(async () => {
    await fake?.close();
  });

  function keeper(tokens?: OAuthTokens): TokenKeeper & { saved: OAuthTokens[]; savedAtRequest: number[] } {
    const savedAtRequest: number[] = [];
    const k = memoryKeeper(
      { clientId: fake.clientId, clientSecret: fake.clientSecret, endpoint: fake.url },
      tokens ?? expiredTokens(fake.issueRefreshToken()),
      () => savedAtRequest.push(fake.requests.length),
    );
    return Object.assign(k, { savedAtRequest });
  }

  function storage(
    rootPath: string,
    extra: Partial<BoxStorageOptions> = {},
    k: TokenKeeper = keeper(),
  ): BoxStorage {
    return new BoxStorage({
      auth: { kind: 'oauth', keeper: k },
      rootPath,
      chunkedThreshold: THRESHOLD,
      endpoint: fake.url,
      retry: { baseDelayMs: 10, maxDelayMs: 2000 },
      ...extra,
    });
  }

  const fileAt = (path: string) => fake.files().filter((f) => f.path === path);

  it('stores a small file in one upload with its SHA-1, and saves the rotated tokens first', async () => {
    const k = keeper();
    const oldRefresh = k.current()!.refreshToken!;
    const s = storage(root(), {}, k);
    const rootPath = `Archive-${n}`;
    const data = Buffer.from('hello box\n'.repeat(1000));
    const start = fake.requests.length;
    const r = await s.put('2024/05/01/a.txt', pieces(data), { expectedBytes: data.length });
    assert.deepEqual(r, {
      path: '2024/05/01/a.txt',
      bytes: data.length,
      sha256: sha256(data),
      providerHash: sha1(data),
      alreadyPresent: false,
    });
    const files = fileAt(`${rootPath}/2024/05/01/a.txt`);
    assert.equal(files.length, 1);
    assert.deepEqual(files[0].data, data);
    // The refresh token rotated: the new one was saved, the old one is spent.
    assert.equal(k.saved.length, 1);
    assert.notEqual(k.saved[0].refreshToken, oldRefresh);
    assert.equal(fake.refreshTokenValid(oldRefresh), false);
    assert.equal(fake.refreshTokenValid(k.saved[0].refreshToken!), true);
    // Saved right after the token answer, before any API call with the new token.
    const tokenIdx = fake.requests.findIndex((q, i) => i >= start && q.path === '/oauth2/token');
    assert.equal(k.savedAtRequest[0], tokenIdx + 1);
    assert.ok(
      fake.requests
        .slice(start, tokenIdx)
        .every((q) => q.path.startsWith('/2.0') || q.path.startsWith('/api')),
    );
    assert.equal((await s.stat('2024/05/01/a.txt'))?.bytes, data.length);
    assert.equal(await s.stat('2024/05/01/missing.txt'), undefined);
    assert.equal(await s.stat('nowhere/a.txt'), undefined);
    await s.close();
  });

  it('sends a large file as session parts, none bigger than a part, and finds the root again', async () => {
    const rootPath = root();
    const s = storage(rootPath);
    const data = randomBytes(3 * PART + 12_345);
    const start = fake.requests.length;
    const r = await s.put('big/rec.mp3', pieces(data), { expectedBytes: data.length });
    assert.equal(r.bytes, data.length);
    assert.equal(r.sha256, sha256(data));
    assert.equal(r.providerHash, sha1(data));
    assert.deepEqual(fileAt(`${rootPath}/big/rec.mp3`)[0].data, data);
    const mine = fake.requests.slice(start);
    const partPuts = mine.filter((q) => q.method === 'PUT');
    assert.equal(partPuts.length, 4);
    assert.ok(
      mine.every((q) => q.bytes <= PART),
      'a request body was larger than a part',
    );
    assert.equal(fake.openSessions(), 0);
    // Another adapter (a restart) finds the same folders by name instead of making new ones.
    const again = storage(rootPath);
    const small = Buffer.from('x');
    await again.put('big/small.txt', pieces(small));
    assert.equal(fake.files().filter((f) => f.path.startsWith(`${rootPath}/big/`)).length, 2);
  });

  it('no duplicate for the same item again; a different file at the path is a conflict', async () => {
    const rootPath = root();
    const s = storage(rootPath);
    const small = Buffer.from('same bytes');
    const large = randomBytes(2 * PART + 5);
    await s.put('x/s.txt', pieces(small));
    await s.put('x/l.bin', pieces(large), { expectedBytes: large.length });

    const r1 = await s.put('x/s.txt', pieces(small));
    assert.equal(r1.alreadyPresent, true);
    assert.equal(r1.sha256, sha256(small));
    const r2 = await s.put('x/l.bin', pieces(large), { expectedBytes: large.length });
    assert.equal(r2.alreadyPresent, true);
    assert.equal(r2.sha256, sha256(large));
    assert.equal(fileAt(`${rootPath}/x/s.txt`)[0].versions, 1);
    assert.equal(fileAt(`${rootPath}/x/l.bin`)[0].versions, 1);

    for (const [path, other] of [
      ['x/s.txt', Buffer.from('other bytes')],
      ['x/l.bin', randomBytes(2 * PART + 5)],
    ] as const) {
      await assert.rejects(
        s.put(path, pieces(other), { expectedBytes: other.length }),
        (err: unknown) =>
          err instanceof ProviderError &&
          err.code === 'conflict' &&
          !err.retryable &&
          /a different file is already at x\/[sl]\.\w+/.test(err.message),
      );
    }
    assert.deepEqual(fileAt(`${rootPath}/x/s.txt`)[0].data, small);
    assert.equal(fileAt(`${rootPath}/x/l.bin`)[0].versions, 1);
    assert.equal(fake.openSessions(), 0);
  });

  it('a sidecar replaces the file with a new version, not a second file', async () => {
    const rootPath = root();
    const s = storage(rootPath);
    await s.put('d/a.json', pieces(Buffer.from('{"v":1}')), { role: 'sidecar' });
    const r = await s.put('d/a.json', pieces(Buffer.from('{"v":2}')), { role: 'sidecar' });
    assert.equal(r.alreadyPresent, false);
    const files = fileAt(`${rootPath}/d/a.json`);
    assert.equal(files.length, 1);
    assert.equal(files[0].versions, 2);
    assert.equal(files[0].data.toString(), '{"v":2}');
    // A large sidecar goes through a session for the existing file.
    const big = randomBytes(2 * PART + 1);
    await s.put('d/a.json', pieces(big), { role: 'sidecar', expectedBytes: big.length });
    assert.equal(fileAt(`${rootPath}/d/a.json`)[0].versions, 3);
    assert.deepEqual(fileAt(`${rootPath}/d/a.json`)[0].data, big);
  });

  it('a corrupted upload is caught and leaves nothing that looks archived', async () => {
    const rootPath = root();
    const s = storage(rootPath);
    fake.corruptNextUpload();
    await assert.rejects(
      s.put('c/small.txt', pieces(Buffer.from('precious bytes'))),
      /Box stored different bytes than were sent/,
    );
    assert.equal(fileAt(`${rootPath}/c/small.txt`).length, 0);

    fake.corruptNextUpload();
    const big = randomBytes(2 * PART + 99);
    await assert.rejects(
      s.put('c/big.bin', pieces(big), { expectedBytes: big.length }),
      (err: unknown) => err instanceof ProviderError && err.status === 412,
    );
    assert.equal(fileAt(`${rootPath}/c/big.bin`).length, 0);
    assert.equal(fake.openSessions(), 0);
  });

  it('the fake refuses a content-md5 that does not match (what Box does)', async () => {
    const k = keeper();
    const s = storage(root(), {}, k);
    await s.check();
    const form = new FormData();
    form.append('attributes', JSON.stringify({ name: 'z.txt', parent: { id: '0' } }));
    form.append('file', new Blob(['abc']), 'z.txt');
    const res = await fetch(`${fake.url}/api/2.0/files/content`, {
      method: 'POST',
      headers: { authorization: `Bearer ${k.current()!.accessToken}`, 'content-md5': sha1('abd') },
      body: form,
    });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { code: string }).code, 'bad_digest');
  });

  it('waits out 429 Retry-After, and retries 5xx per part', async () => {
    const rootPath = root();
    const waits: number[] = [];
    const s = storage(rootPath, { retry: { baseDelayMs: 10, onRetry: (_e, ms) => waits.push(ms) } });
    await s.check();
    fake.failNext(1, 429, 1);
    const t0 = Date.now();
    await s.put('r/a.txt', pieces(Buffer.from('after a wait')));
    assert.ok(Date.now() - t0 >= 900, 'did not wait for Retry-After');
    assert.deepEqual(waits, [1000]);

    const big = randomBytes(3 * PART);
    const before = fake.requests.length;
    const p = s.put('r/b.bin', pieces(big), { expectedBytes: big.length });
    // Arm the failures once the first part is in: the second part fails twice and only it is resent.
    while (!fake.requests.slice(before).some((q) => q.method === 'PUT')) await delay(1);
    fake.failNext(2, 503);
    await p;
    assert.equal(fake.requests.slice(before).filter((q) => q.method === 'PUT').length, 5);
    assert.deepEqual(fileAt(`${rootPath}/r/b.bin`)[0].data, big);
  });

  it('a commit answered 202 (still processing) is asked again', async () => {
    const rootPath = root();
    const s = storage(rootPath);
    fake.deferNextCommits(2);
    const big = randomBytes(PART * 2 + 7);
    const r = await s.put('p/b.bin', pieces(big), { expectedBytes: big.length });
    assert.equal(r.providerHash, sha1(big));
    assert.deepEqual(fileAt(`${rootPath}/p/b.bin`)[0].data, big);
  });

  it('revoked credentials give the auth error, without any token in it', async () => {
    const k = keeper();
    const s = storage(root(), {}, k);
    await s.check();
    fake.revokeTokens();
    await assert.rejects(s.put('a/b.txt', pieces(Buffer.from('x'))), (err: unknown) => {
      assert.ok(err instanceof ProviderError);
      assert.equal(err.auth, true);
      assert.match(err.message, /^Box refused the credentials \(invalid_grant\): reconnect the account/);
      for (const t of [k.current()!.accessToken, k.current()!.refreshToken!, fake.clientSecret])
        assert.ok(!err.message.includes(t));
      return true;
    });
  });

  it('a CCG login works, and a wrong secret is an auth error', async () => {
    const rootPath = root();
    const s = new BoxStorage({
      auth: { kind: 'ccg', clientId: fake.clientId, clientSecret: fake.clientSecret, enterpriseId: '1' },
      rootPath,
      endpoint: fake.url,
    });
    await s.check();
    await s.put('ccg.txt', pieces(Buffer.from('by ccg')));
    assert.equal(fileAt(`${rootPath}/ccg.txt`)[0].data.toString(), 'by ccg');
    const bad = new BoxStorage({
      auth: { kind: 'ccg', clientId: fake.clientId, clientSecret: 'wrong', enterpriseId: '1' },
      endpoint: fake.url,
    });
    await assert.rejects(
      bad.check(),
      (err: unknown) => err instanceof ProviderError && err.auth && /invalid_client/.test(err.message),
    );
  });

  /** The config JSON the Developer Console offers for download, for one of the app's keys. */
  function jwtConfig(key: { privateKey: string; passphrase: string }, publicKeyId: string): string {
    return JSON.stringify(
      {
        boxAppSettings: {
          clientID: fake.clientId,
          clientSecret: fake.clientSecret,
          appAuth: { publicKeyID: publicKeyId, privateKey: key.privateKey, passphrase: key.passphrase },
        },
        enterpriseID: fake.enterpriseId,
      },
      null,
      2,
    );
  }

  function jwtStorage(config: string, rootPath?: string): BoxStorage {
    return new BoxStorage({ auth: { kind: 'jwt', config }, rootPath, endpoint: fake.url });
  }

  it('a JWT app archives with a signed assertion, and signs a new one when its token expires', async () => {
    const key = keyPair();
    const kid = fake.addPublicKey(key.publicKey);
    const rootPath = root();
    const s = jwtStorage(jwtConfig(key, kid), rootPath);
    const grants = fake.jwtGrants.length;
    const data = randomBytes(5000);
    const r = await s.put('jwt/a.bin', pieces(data));
    assert.equal(r.providerHash, sha1(data));
    assert.deepEqual(fileAt(`${rootPath}/jwt/a.bin`)[0].data, data);
    // Box keeps no refresh token for a JWT app: an expired token means a new assertion.
    fake.expireAccessTokens();
    await s.put('jwt/b.txt', pieces(Buffer.from('after expiry')));
    assert.equal(fileAt(`${rootPath}/jwt/b.txt`)[0].data.toString(), 'after expiry');
    const mine = fake.jwtGrants.slice(grants);
    assert.equal(mine.length, 2);
    for (const g of mine) {
      assert.equal(g.header.kid, kid);
      assert.equal(g.claims.iss, fake.clientId);
      assert.equal(g.claims.sub, fake.enterpriseId);
      assert.equal(g.claims.box_sub_type, 'enterprise');
    }
    assert.notEqual(mine[0].claims.jti, mine[1].claims.jti);
  });

  it('a JWT app with two public keys (a key being replaced) names its key, so either works', async () => {
    const oldKey = keyPair();
    const newKey = keyPair();
    const oldId = fake.addPublicKey(oldKey.publicKey);
    const newId = fake.addPublicKey(newKey.publicKey);
    for (const [key, id] of [
      [oldKey, oldId],
      [newKey, newId],
    ] as const) {
      const rootPath = root();
      await jwtStorage(jwtConfig(key, id), rootPath).put('k.txt', pieces(Buffer.from(id)));
      assert.equal(fileAt(`${rootPath}/k.txt`)[0].data.toString(), id);
    }
    // The old key is removed from the app: a config still holding it is refused.
    fake.removePublicKey(oldId);
    await assert.rejects(
      jwtStorage(jwtConfig(oldKey, oldId)).check(),
      (err: unknown) => err instanceof ProviderError && err.auth && /invalid_grant/.test(err.message),
    );
  });

  it('a JWT config with a key that is not the app\u2019s, or an app the admin revoked, gives the auth error', async () => {
    const key = keyPair();
    const kid = fake.addPublicKey(key.publicKey);
    const other = keyPair();
    const secrets = [fake.clientSecret, key.passphrase, other.passphrase];
    const isAuthError = (reason: RegExp) => (err: unknown) => {
      assert.ok(err instanceof ProviderError, String(err));
      assert.equal(err.auth, true);
      assert.equal(err.retryable, false);
      assert.match(err.message, /^Box refused the credentials \(.+\): reconnect the account/);
      assert.match(err.message, reason);
      for (const secret of secrets) assert.ok(!err.message.includes(secret));
      return true;
    };
    // The config names the app's key but holds another private key (replaced or edited by hand).
    const tampered = jwtStorage(jwtConfig(other, kid), root());
    await assert.rejects(tampered.put('t.txt', pieces(Buffer.from('x'))), isAuthError(/invalid_grant/));

    const rootPath = root();
    const s = jwtStorage(jwtConfig(key, kid), rootPath);
    await s.check();
    // The admin takes back the app's authorization: its tokens stop working and no new one is issued.
    fake.authorizeApp(false);
    fake.revokeTokens();
    try {
      await assert.rejects(s.put('r.txt', pieces(Buffer.from('x'))), isAuthError(/unauthorized_client/));
      assert.equal(fileAt(`${rootPath}/r.txt`).length, 0);
    } finally {
      fake.authorizeApp(true);
    }
    // A config that cannot be used at all says so before anything is sent.
    assert.throws(() => jwtStorage('{"boxAppSettings": '), /not the JSON file from the developer console/);
    assert.throws(
      () => jwtStorage(jwtConfig({ privateKey: key.privateKey, passphrase: 'not-the-passphrase' }, kid)),
      /private key in the JWT app config cannot be read \(a wrong passphrase or a damaged key\)/,
    );
  });

  it('the fake refuses a replayed, expired, long-lived, unknown-key or forged assertion (what Box does)', async () => {
    const key = keyPair();
    const stranger = keyPair();
    const kid = fake.addPublicKey(key.publicKey);
    const now = Math.floor(Date.now() / 1000);
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const assertion = (claims: Record<string, unknown> = {}, headerKid = kid, signer = key) => {
      const input = `${b64({ alg: 'RS256', typ: 'JWT', kid: headerKid })}.${b64({
        iss: fake.clientId,
        sub: fake.enterpriseId,
        box_sub_type: 'enterprise',
        aud: 'https://api.box.com/oauth2/token',
        jti: randomUUID(),
        exp: now + 30,
        ...claims,
      })}`;
      const pem = { key: signer.privateKey, passphrase: signer.passphrase };
      return `${input}.${sign('sha256', Buffer.from(input), pem).toString('base64url')}`;
    };
    const grant = async (jwt: string) => {
      const res = await fetch(`${fake.url}/oauth2/token`, {
        method: 'POST',
        body: new URLSearchParams({
          grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
          client_id: fake.clientId,
          client_secret: fake.clientSecret,
          assertion: jwt,
        }),
      });
      const body = (await res.json()) as {
        error?: string;
        error_description?: string;
        access_token?: string;
      };
      return { status: res.status, ...body };
    };
    const good = assertion();
    assert.equal((await grant(good)).status, 200);
    const refused: Array<[string, RegExp]> = [
      [good, /'jti'/],
      [assertion({ exp: now - 1 }), /'exp'/],
      [assertion({ exp: now + 120 }), /'exp'/],
      [assertion({}, 'not-a-key'), /'kid'/],
      [assertion({}, kid, stranger), /Signature verification error/],
      [assertion({ sub: '1' }), /'sub'/],
      [assertion({ aud: fake.url + '/oauth2/token' }), /'aud'/],
    ];
    for (const [jwt, reason] of refused) {
      const r = await grant(jwt);
      assert.equal(r.status, 400);
      assert.equal(r.error, 'invalid_grant');
      assert.match(r.error_description ?? '', reason);
      assert.equal(r.access_token, undefined);
    }
    // A user subject: the user's id with box_sub_type=user.
    assert.equal((await grant(assertion({ box_sub_type: 'user', sub: fake.userId }))).status, 200);
  });

  it('abort stops a large upload and commits nothing', async () => {
    const rootPath = root();
    const s = storage(rootPath);
    await s.check();
    const ac = new AbortController();
    const part = randomBytes(PART);
    async function* slow() {
      for (let i = 0; i < 20; i++) {
        yield part;
        await delay(20);
      }
    }
    const p = s.put('ab/slow.bin', Readable.from(slow()), { expectedBytes: 20 * PART, signal: ac.signal });
    setTimeout(() => ac.abort(new Error('stopped by test')), 80);
    await assert.rejects(p, /stopped by test/);
    await delay(50);
    assert.equal(fileAt(`${rootPath}/ab/slow.bin`).length, 0);
    assert.equal(fake.openSessions(), 0);
  });

  it('a file over the threshold without a known size is refused before anything is stored', async () => {
    const rootPath = root();
    const s = storage(rootPath);
    await assert.rejects(s.put('u/big.bin', pieces(randomBytes(THRESHOLD + 1))), /needs its size/);
    assert.equal(fileAt(`${rootPath}/u/big.bin`).length, 0);
  });

  it('replaces characters Box refuses in names', () => {
    assert.equal(boxName(' a\u0001b '), 'a_b');
    assert.equal(boxName('..'), '__');
  });

  it('boxOAuth: authorize, exchange the code, name the account', async () => {
    const client = { clientId: fake.clientId, clientSecret: fake.clientSecret, endpoint: fake.url };
    const authorize = boxOAuth.authorizeUrl({
      client,
      redirectUri: 'http://127.0.0.1:1880/cb',
      state: 'st8',
    });
    const u = new URL(authorize);
    assert.equal(u.pathname, '/api/oauth2/authorize');
    assert.equal(u.searchParams.get('response_type'), 'code');
    const real = new URL(
      boxOAuth.authorizeUrl({ client: { ...client, endpoint: '' }, redirectUri: 'http://x/cb', state: 's' }),
    );
    assert.equal(real.origin + real.pathname, 'https://account.box.com/api/oauth2/authorize');
    const res = await fetch(authorize, { redirect: 'manual' });
    const back = new URL(res.headers.get('location')!);
    assert.equal(back.searchParams.get('state'), 'st8');
    const tokens = await boxOAuth.exchangeCode({
      client,
      code: back.searchParams.get('code')!,
      redirectUri: 'http://127.0.0.1:1880/cb',
    });
    assert.ok(tokens.accessToken && tokens.refreshToken && tokens.expiresAt! > Date.now());
    assert.equal(await boxOAuth.accountName({ client, tokens }), 'Aaron Levie (ceo@example.com)');
    await assert.rejects(
      boxOAuth.exchangeCode({ client, code: 'used-or-wrong', redirectUri: 'http://127.0.0.1:1880/cb' }),
      (err: unknown) => err instanceof ProviderError && err.auth && /invalid_grant/.test(err.message),
    );
  });
});
