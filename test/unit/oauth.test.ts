import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConnectFlows, type Connection } from '../../lib/oauth/connect';
import { TokenStore } from '../../lib/oauth/token-store';
import type { OAuthProvider } from '../../lib/oauth/types';

const redirectUri = 'http://127.0.0.1:1880/rc-archiver/oauth/callback';

/** A provider whose exchange checks PKCE the way a real one does. */
function provider(pkce = true): OAuthProvider & { challenges: Map<string, string> } {
  const challenges = new Map<string, string>();
  return {
    id: 'test',
    label: 'Test Cloud',
    pkce,
    challenges,
    authorizeUrl({ state, codeChallenge }) {
      if (codeChallenge) challenges.set('code-1', codeChallenge);
      return `https://auth.example/authorize?state=${state}`;
    },
    async exchangeCode({ code, codeVerifier }) {
      if (pkce) {
        const expected = createHash('sha256')
          .update(codeVerifier ?? '')
          .digest('base64url');
        if (challenges.get(code) !== expected) throw new Error('invalid_grant: code verifier mismatch');
      }
      return { accessToken: 'at-1', refreshToken: 'rt-1', expiresAt: 1 };
    },
    async accountName() {
      return 'Ada Lovelace (ada@example.com)';
    },
  };
}

describe('Connect flow', () => {
  it('connects with the state it issued, checking PKCE, and reports the account', async () => {
    const connected: Connection[] = [];
    const flows = new ConnectFlows((c) => void connected.push(c));
    const p = provider();
    const { state, authorizeUrl } = flows.start({
      provider: p,
      nodeId: 'acc1',
      client: { clientId: 'app' },
      redirectUri,
    });
    assert.ok(authorizeUrl.includes(state));
    assert.deepEqual(flows.result(state), { status: 'pending' });
    const c = await flows.finish({ state, code: 'code-1' });
    assert.equal(c.account, 'Ada Lovelace (ada@example.com)');
    assert.equal(connected.length, 1);
    assert.equal(connected[0].nodeId, 'acc1');
    assert.equal(connected[0].tokens.refreshToken, 'rt-1');
    assert.deepEqual(flows.result(state), { status: 'done', account: 'Ada Lovelace (ada@example.com)' });
  });

  it('refuses a forged state, a reused state and an expired one, and stores nothing', async () => {
    let now = 0;
    const connected: Connection[] = [];
    const flows = new ConnectFlows(
      (c) => void connected.push(c),
      () => now,
    );
    const p = provider();
    const { state } = flows.start({ provider: p, nodeId: 'acc1', client: { clientId: 'app' }, redirectUri });
    await assert.rejects(
      flows.finish({ state: state.slice(0, -2) + 'xx', code: 'code-1' }),
      (e: Error & { status?: number }) => {
        assert.equal(e.status, 403);
        return /unknown or expired state/.test(e.message);
      },
    );
    await assert.rejects(flows.finish({ code: 'code-1' }), /unknown or expired state/);
    await flows.finish({ state, code: 'code-1' });
    await assert.rejects(flows.finish({ state, code: 'code-1' }), /unknown or expired state/);
    const late = flows.start({ provider: p, nodeId: 'acc1', client: { clientId: 'app' }, redirectUri });
    now += 11 * 60_000;
    await assert.rejects(flows.finish({ state: late.state, code: 'code-1' }), /unknown or expired state/);
    assert.equal(connected.length, 1);
  });

  it('reports a refusal at the provider and a wrong verifier as errors', async () => {
    const flows = new ConnectFlows(() => undefined);
    const p = provider();
    const a = flows.start({ provider: p, nodeId: 'acc1', client: { clientId: 'app' }, redirectUri });
    await assert.rejects(
      flows.finish({ state: a.state, error: 'access_denied' }),
      /Test Cloud said: access_denied/,
    );
    assert.deepEqual(flows.result(a.state), { status: 'error', error: 'Test Cloud said: access_denied' });
    const b = flows.start({ provider: p, nodeId: 'acc1', client: { clientId: 'app' }, redirectUri });
    p.challenges.set('code-1', 'not-the-challenge');
    await assert.rejects(flows.finish({ state: b.state, code: 'code-1' }), /verifier mismatch/);
  });

  it('refuses to start without a client id or with a foreign redirect URI', () => {
    const flows = new ConnectFlows(() => undefined);
    const p = provider(false);
    assert.throws(
      () => flows.start({ provider: p, nodeId: 'acc1', client: { clientId: '' }, redirectUri }),
      /client id/,
    );
    assert.throws(
      () =>
        flows.start({
          provider: p,
          nodeId: 'acc1',
          client: { clientId: 'a' },
          redirectUri: 'https://evil.example/steal',
        }),
      /redirect URI/,
    );
    assert.throws(
      () => flows.start({ provider: p, nodeId: '../x', client: { clientId: 'a' }, redirectUri }),
      /node id/,
    );
  });
});

describe('TokenStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rc-tokens-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps tokens encrypted under the credential secret, readable by the owner only', () => {
    const file = join(dir, 'tokens.json');
    const store = new TokenStore(file, 'node-red-secret');
    store.set('acc1', {
      connection: 'c1',
      tokens: { accessToken: 'at-secret', refreshToken: 'rt-secret' },
      savedAt: 'now',
    });
    const raw = readFileSync(file, 'utf8');
    assert.ok(!raw.includes('rt-secret') && !raw.includes(Buffer.from('rt-secret').toString('base64')));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(new TokenStore(file, 'node-red-secret').get('acc1')?.tokens.refreshToken, 'rt-secret');
    assert.equal(new TokenStore(file, 'another-secret').get('acc1'), undefined);
    store.delete('acc1');
    assert.equal(store.get('acc1'), undefined);
  });
});
