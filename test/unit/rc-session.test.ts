// Sessions survive a restart: the real @ringcentral/sdk (inside RcClient) against the simulator,
// with the session kept in the pack's encrypted token file between one client and the next.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { TokenStore } from '../../lib/oauth/token-store';
import { RcClient, sessionStoreIn, type RcClientOptions, type RcSessionStore } from '../../lib/ringcentral';
import { startSimulator, type Simulator, type SimulatorOptions } from '../sim/index';

const dir = mkdtempSync(join(tmpdir(), 'rc-session-'));
const sims: Simulator[] = [];
const clients: RcClient[] = [];
after(async () => {
  for (const c of clients) await c.dispose();
  for (const s of sims) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

async function sim(options: SimulatorOptions = {}): Promise<Simulator> {
  const s = await startSimulator({ seed: 11, days: 2, callsPerDay: 10, ...options });
  sims.push(s);
  return s;
}

let files = 0;
/** A token file of its own, encrypted as Node-RED's credential secret would encrypt it. */
function tokenFile(): { file: string; store: (key?: string) => RcSessionStore } {
  const file = join(dir, `tokens-${++files}.json`);
  return { file, store: (key = 'rc1') => sessionStoreIn(new TokenStore(file, 'credential secret'), key) };
}

/** One start of the process: a new client (new SDK, new budgets) on the kept session. */
function start(s: Simulator, session: RcSessionStore | undefined, options: Partial<RcClientOptions> = {}) {
  const c = new RcClient({
    ...s.credentials,
    server: s.platformUrl,
    cachePrefix: `session-test-${clients.length}-`,
    retryBaseMs: 20,
    session,
    ...options,
  });
  clients.push(c);
  return c;
}

const account = (c: RcClient) => c.request('GET', '/restapi/v1.0/account/~');
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('RingCentral session across restarts', () => {
  it('a restarted client goes on with the kept tokens: no JWT login, no new session', async () => {
    const s = await sim();
    const { file, store } = tokenFile();
    const first = start(s, store());
    await account(first);
    assert.equal(s.stats.logins, 1);
    await first.dispose();
    // Secrets stay out of the file in clear text.
    const text = readFileSync(file, 'utf8');
    assert.equal(text.includes(s.credentials.jwt), false, 'the JWT is not in the file');
    assert.equal(/SIMAT|SIMRT/.test(text), false, 'the tokens are encrypted');

    for (let restart = 0; restart < 3; restart++) {
      const next = start(s, store());
      await account(next);
      await next.dispose();
    }
    const stats = s.stats;
    assert.equal(stats.logins, 1, 'three restarts, no JWT login');
    assert.equal(stats.refreshes, 0, 'the access token was still valid');
    assert.equal(stats.unauthorized, 0);
    assert.equal(s.liveSessions(), 1);
  });

  it('a restart after the access token expired refreshes instead of logging in', async () => {
    const s = await sim({ accessTokenTtlSec: 2 });
    const { store } = tokenFile();
    const first = start(s, store());
    await account(first);
    await first.dispose();
    await delay(2100);
    const next = start(s, store());
    await account(next);
    assert.equal(s.stats.logins, 1);
    assert.equal(s.stats.refreshes, 1);
    assert.equal(s.liveSessions(), 1);
    // The refreshed tokens are kept at once: the refresh token used above is spent.
    await next.dispose();
    await account(start(s, store()));
    assert.equal(s.stats.refreshFailures, 0);
    assert.equal(s.stats.logins, 1);
  });

  it("another JWT or server does not use the kept tokens; a replaced JWT's session is revoked", async () => {
    const s = await sim();
    const { store } = tokenFile();
    await account(start(s, store()));
    const otherUser = start(s, store(), { jwt: s.jwtFor(s.extensions[1].id) });
    const who = await otherUser.request<{ id: number | string }>(
      'GET',
      '/restapi/v1.0/account/~/extension/~',
    );
    assert.equal(String(who.id), s.extensions[1].id, 'logged in as the JWT says, not as the kept session');
    assert.equal(s.stats.logins, 2);
    assert.equal(s.liveSessions(), 0, "the replaced JWT's session was revoked with the same app");
    assert.equal(s.liveSessions(s.extensions[1].id), 1);
    // The same simulator named differently is another server as far as the kept session goes.
    await account(start(s, store(), { server: s.platformUrl.replace('127.0.0.1', 'localhost') }));
    assert.equal(s.stats.logins, 3);
    assert.equal(s.liveSessions(s.extensions[1].id), 1, 'another server: nothing revoked there');
  });

  it('a refused refresh is followed by a revoke of that session, then a JWT login', async () => {
    // Five Auth requests in all: above the budget's margin under RingCentral's default of 5.
    const s = await sim({ accessTokenTtlSec: 2, rateLimits: { Auth: 10 } });
    const { file, store } = tokenFile();
    const first = start(s, store());
    await account(first);
    // The process is killed after a refresh reached RingCentral but before the new tokens were
    // written: the next start holds a spent refresh token.
    copyFileSync(file, `${file}.before`);
    await delay(2100);
    await account(first);
    assert.equal(s.stats.refreshes, 1);
    await first.dispose();
    copyFileSync(`${file}.before`, file);
    s.resetStats();

    const next = start(s, store());
    await account(next);
    const auth = s.requestLog.filter((r) => r.group === 'Auth').map((r) => `${r.operationId} ${r.status}`);
    assert.deepEqual(auth, ['getToken 400', 'revokeToken 200', 'getToken 200']);
    assert.equal(s.stats.refreshFailures, 1);
    assert.equal(s.stats.logins, 1);
    assert.equal(s.liveSessions(), 1, 'the orphaned session was revoked, not left to be evicted');
  });

  it('an access token the server refused is revoked before the next login', async () => {
    const s = await sim();
    const { store } = tokenFile();
    const first = start(s, store());
    await account(first);
    await first.dispose();
    s.revokeAllTokens();
    s.resetStats();
    const next = start(s, store());
    await account(next);
    const calls = s.requestLog.map((r) => `${r.operationId} ${r.status}`);
    assert.deepEqual(calls, [
      'readAccountInfo 401',
      'revokeToken 200',
      'getToken 200',
      'readAccountInfo 200',
    ]);
    assert.equal(next.stats.revocations, 1);
  });

  it('seven restarts evict no session (without the kept session they evict two)', async () => {
    // A high Auth limit: this is about sessions, not about the Auth budget.
    const s = await sim({ rateLimits: { Auth: 50 } });
    for (let i = 0; i < 7; i++) {
      const c = start(s, undefined);
      await account(c);
      await c.dispose();
    }
    assert.equal(s.stats.logins, 7);
    assert.equal(s.stats.sessionsEvicted, 2, 'RingCentral keeps 5 sessions per user');

    const kept = await sim({ rateLimits: { Auth: 50 } });
    const { store } = tokenFile();
    for (let i = 0; i < 7; i++) {
      const c = start(kept, store());
      await account(c);
      await c.dispose();
    }
    assert.equal(kept.stats.logins, 1);
    assert.equal(kept.stats.sessionsEvicted, 0);
    assert.equal(kept.liveSessions(), 1);
  });

  it('five starts within one rate window provoke no 429 (without the kept session they do)', async () => {
    // RingCentral's 60 s window scaled down to 5 s; Heavy allows 4 requests in it. Each start
    // (a crash loop: no clean shutdown) sends one Heavy and one Light request.
    const limits = { rateWindowSec: 5, rateLimits: { Heavy: 4 } };
    const heavy = (c: RcClient) =>
      c.request('GET', '/restapi/v1.0/account/~/call-log', {
        query: { dateFrom: new Date(Date.now() - 86_400_000).toISOString(), perPage: 1 },
      });

    const blind = await sim(limits);
    const outcomes: string[] = [];
    for (let i = 0; i < 5; i++) {
      const c = start(blind, undefined, { maxRateLimitRetries: 0 });
      await account(c);
      outcomes.push(
        await heavy(c).then(
          () => 'ok',
          (err: Error) => err.message,
        ),
      );
    }
    assert.ok(blind.stats.rateLimited >= 1, `without the kept session: ${outcomes.join('; ')}`);

    const s = await sim(limits);
    const { store } = tokenFile();
    for (let i = 0; i < 5; i++) {
      const c = start(s, store());
      await account(c);
      await heavy(c);
    }
    const stats = s.stats;
    assert.equal(stats.rateLimited, 0, 'no 429 at the simulator');
    assert.equal(stats.byOperation.readCompanyCallLog, 5, 'every start got its answer');
    assert.equal(stats.logins, 1);
    assert.equal(stats.byGroup.Auth, 1, 'one Auth request in five starts');
  });

  it('a 429 penalty is waited out by the next start too', async () => {
    const s = await sim();
    const { store } = tokenFile();
    const first = start(s, store(), { maxRateLimitRetries: 0 });
    await account(first);
    s.fault({ kind: 'status', status: 429, retryAfterSec: 2, match: '/restapi/v1.0/account/~' });
    await assert.rejects(account(first), /429/);
    const limitedAt = Date.now();
    // Killed here; the next start keeps the group paused for the rest of Retry-After.
    const next = start(s, store());
    const paused = next.budget('Light').snapshot().pausedUntil ?? 0;
    assert.ok(paused >= limitedAt + 1500, `Light paused until ${paused - limitedAt} ms after the 429`);
    await account(next);
    const answers = s.requestLog.filter((r) => r.operationId === 'readAccountInfo');
    assert.deepEqual(
      answers.map((r) => r.status),
      [200, 429, 200],
    );
    assert.ok(answers[2].at - answers[1].at >= 1900, 'nothing was sent during the penalty');
  });
});
