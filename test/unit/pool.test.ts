// A pool of logins of one account: the real @ringcentral/sdk (inside RcClient) against the
// simulator, which counts rate limits per app and user as RingCentral does.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, it } from 'node:test';
import {
  LoginPool,
  RateBudget,
  RcClient,
  isLoginRefusal,
  loginSettingsOf,
  loginSlotsOf,
  otherAccounts,
  type ApiGroup,
} from '../../lib/ringcentral';
import { startSimulator, type RecordingInfo, type Simulator, type SimulatorOptions } from '../sim/index';

const sims: Simulator[] = [];
const clients: RcClient[] = [];
after(async () => {
  for (const c of clients) await c.dispose();
  for (const s of sims) await s.close();
});

async function sim(options: SimulatorOptions = {}): Promise<Simulator> {
  const s = await startSimulator({
    seed: 12,
    days: 3,
    callsPerDay: 30,
    otherExtensions: false,
    recordingBytes: { min: 1_000, max: 4_000 },
    ...options,
  });
  sims.push(s);
  return s;
}

function client(s: Simulator, jwt: string): RcClient {
  const c = new RcClient({
    ...s.credentials,
    jwt,
    server: s.platformUrl,
    cachePrefix: `pool-test-${clients.length}-`,
    retryBaseMs: 20,
  });
  clients.push(c);
  return c;
}

/** The simulator's user key (app:extension) of each login, to read its request log by. */
function userKey(s: Simulator, extensionId: string): string {
  return `${s.credentials.clientId}:${extensionId}`;
}

async function fetchChecked(pool: LoginPool, rec: RecordingInfo): Promise<void> {
  const { body } = await pool.openContent(rec.contentUri);
  const hash = createHash('sha256');
  for await (const chunk of body) hash.update(chunk as Buffer);
  assert.equal(hash.digest('hex'), rec.sha256, `bytes of recording ${rec.id}`);
}

describe('LoginPool against the simulator', () => {
  it('spreads downloads over the logins with room; a refused login leaves with a clear error', async () => {
    // Heavy 5 a minute per user: once a login's first answer has said what is left, all 5 fit
    // in its window (the reserve of one only before it), so 10 downloads need both good logins.
    const s = await sim({ rateLimits: { Heavy: 5 } });
    const [first, second] = s.extensions;
    const refusedJwt = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJub2JvZHkifQ.not-a-known-login';
    const pool = new LoginPool([
      { id: 'login1', client: client(s, s.jwtFor(first.id)) },
      { id: 'login2', client: client(s, refusedJwt) },
      { id: 'login3', client: client(s, s.jwtFor(second.id)) },
    ]);
    const refusedEvents: Array<{ id: string; error: Error }> = [];
    pool.on('refused', (e: { id: string; error: Error }) => refusedEvents.push(e));

    const recordings = s.allRecordings().slice(0, 10);
    assert.equal(recordings.length, 10);
    await Promise.all(recordings.map((rec) => fetchChecked(pool, rec)));

    const media = s.requestLog.filter((e) => e.host === 'media' && e.status === 200);
    const byUser = (key: string) => media.filter((e) => e.user === key).length;
    assert.equal(byUser(userKey(s, first.id)), 5, 'login 1 downloaded its window’s share');
    assert.equal(byUser(userKey(s, second.id)), 5, 'login 3 downloaded its window’s share');
    assert.equal(s.stats.rateLimited, 0, 'no 429');
    // The refused login tried once, was refused, and is out; its download went to another login.
    assert.deepEqual(
      pool.logins().map((l) => l.id),
      ['login1', 'login3'],
    );
    assert.equal(refusedEvents.length, 1);
    assert.equal(refusedEvents[0].id, 'login2');
    const [out] = pool.refused();
    assert.equal(out.id, 'login2');
    assert.ok(isLoginRefusal(out.error), 'the reason is the refusal of the login');
    assert.match(out.error.message, /login with the JWT failed: 400/);
    assert.equal(out.error.message.includes(refusedJwt), false, 'the JWT is not in the error');
    // Downloads already handed to it before its first answer each learnt the refusal; none after.
    const failures = s.stats.loginFailures;
    assert.ok(failures >= 1 && failures <= 4, `login failures: ${failures}`);
    for (let i = 0; i < 4; i++) {
      const grant = await pool.acquire('Light');
      grant.permit.cancel();
      await grant.client.request('GET', '/restapi/v1.0/account/~');
      assert.notEqual(grant.login, 'login2');
    }
    assert.equal(s.stats.loginFailures, failures, 'the refused login is not tried again');
    assert.equal(pool.listing(), pool.client('login1'), 'listing stays on the first login');
    pool.dispose();
  });

  it('listing moves to the next login when the first is refused; none left is an error', async () => {
    const s = await sim();
    const pool = new LoginPool([
      { id: 'login1', client: client(s, 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.refused-one') },
      { id: 'login2', client: client(s, s.jwtFor(s.extensions[1].id)) },
    ]);
    await assert.rejects(pool.listing().request('GET', '/restapi/v1.0/account/~'), (err) =>
      isLoginRefusal(err),
    );
    // What rc-config does with the client's onLoginRefused: the pool is told.
    pool.refuse('login1', new Error('refused'));
    const account = await pool.listing().request<{ id: string }>('GET', '/restapi/v1.0/account/~');
    assert.ok(String(account.id).length > 0, 'login 2 lists the account');
    assert.equal(pool.listing(), pool.client('login2'));
    pool.refuse('login2', new Error('refused too'));
    await assert.rejects(
      pool.acquire('Heavy'),
      /refused every login of this config \(login1: refused; login2/,
    );
    pool.dispose();
  });
});

/** A client with real budgets and nothing else: the pool only asks it for its budgets. */
function budgetsOnly(limit: number): { client: RcClient; budgets: Record<ApiGroup, RateBudget> } {
  const budgets = {
    Light: new RateBudget('Light', { limit, margin: 0 }),
    Medium: new RateBudget('Medium', { limit, margin: 0 }),
    Heavy: new RateBudget('Heavy', { limit, margin: 0 }),
    Auth: new RateBudget('Auth', { limit, margin: 0 }),
  };
  return { client: { budget: (g: ApiGroup) => budgets[g] } as unknown as RcClient, budgets };
}

describe('LoginPool.acquire', () => {
  it('gives the slot to the login with the most room, and waits for one without polling', async () => {
    const a = budgetsOnly(2);
    const b = budgetsOnly(3);
    const pool = new LoginPool([
      { id: 'a', client: a.client },
      { id: 'b', client: b.client },
    ]);
    const grants = [];
    for (let i = 0; i < 5; i++) grants.push(await pool.acquire('Heavy'));
    // b had more room at first; then they alternate as room is even.
    assert.deepEqual(
      grants.map((g) => g.login),
      ['b', 'a', 'b', 'a', 'b'],
    );
    assert.equal(a.budgets.Heavy.snapshot().remaining, 0);
    assert.equal(b.budgets.Heavy.snapshot().remaining, 0);
    // Another group of the same logins is untouched.
    assert.equal((await pool.acquire('Medium')).login, 'b');

    let granted: string | undefined;
    const waiting = pool.acquire('Heavy').then((g) => (granted = g.login));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(granted, undefined, 'no login has room: it waits');
    // A request of login a was not sent after all: its slot is free, and the waiter gets it.
    grants[1].permit.cancel();
    await waiting;
    assert.equal(granted, 'a');
    pool.dispose();
    for (const budget of [...Object.values(a.budgets), ...Object.values(b.budgets)]) budget.dispose();
  });

  it('a waiting acquire goes on when the login it might have waited for is refused, and ends on abort', async () => {
    const a = budgetsOnly(1);
    const pool = new LoginPool([{ id: 'a', client: a.client }]);
    await pool.acquire('Heavy');
    const stop = new AbortController();
    const waiting = pool.acquire('Heavy', stop.signal);
    stop.abort(new Error('stopped'));
    await assert.rejects(waiting, /stopped/);
    const next = pool.acquire('Heavy');
    pool.refuse('a', new Error('invalid JWT'));
    await assert.rejects(next, /refused every login of this config \(a: invalid JWT\)/);
    pool.dispose();
    for (const budget of Object.values(a.budgets)) budget.dispose();
  });
});

describe('the logins of an rc-config', () => {
  const resolve = (partial: Partial<Record<string, string>>) => {
    for (const name of ['clientId', 'clientSecret', 'jwt'] as const)
      if (!partial[name]) throw new Error(`RingCentral settings missing: ${name}`);
    return {
      server: partial.server || 'https://platform.ringcentral.com',
      clientId: partial.clientId!,
      clientSecret: partial.clientSecret!,
      jwt: partial.jwt!,
    };
  };

  it('an extra login takes the first login’s app where its own fields are blank', () => {
    const slots = loginSlotsOf({
      clientId: 'app1',
      clientSecret: 'secret1',
      jwt: 'jwt-a',
      jwt2: 'jwt-b',
      clientId4: 'app2',
      clientSecret4: 'secret2',
      jwt4: 'jwt-c',
      clientId6: 'app3',
      jwt10: ' ',
    });
    assert.deepEqual(
      slots.map((s) => s.number),
      [1, 2, 4, 6],
      'only filled slots; blank counts as empty',
    );
    const logins = loginSettingsOf('https://sim.example', slots, resolve);
    assert.deepEqual(logins[0].settings, {
      server: 'https://sim.example',
      clientId: 'app1',
      clientSecret: 'secret1',
      jwt: 'jwt-a',
    });
    assert.deepEqual(logins[1].settings, {
      server: 'https://sim.example',
      clientId: 'app1',
      clientSecret: 'secret1',
      jwt: 'jwt-b',
    });
    assert.equal(logins[2].settings?.clientId, 'app2');
    assert.equal(logins[2].settings?.clientSecret, 'secret2');
    assert.equal(logins[3].settings, undefined);
    assert.match(String(logins[3].error?.message), /login 6 has no JWT/);
  });

  it('a login of another account is named, against the first login’s account', () => {
    const others = otherAccounts([
      { number: 1, accountId: '400' },
      { number: 2 },
      { number: 3, accountId: '400' },
      { number: 5, accountId: '999' },
    ]);
    assert.deepEqual(
      others.map((o) => [o.number, o.accountId, o.expectedAccountId]),
      [[5, '999', '400']],
    );
  });
});
