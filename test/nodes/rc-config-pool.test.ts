// rc-config with several logins of one account, in a real Node-RED runtime
// (node-red-node-test-helper) against the simulator: each login has its own session and budget,
// downloads spread over them, Test connection reports each, and a flow saved with one login goes
// on with the session it kept.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import type { LoginPool, RcClient } from '../../lib/ringcentral';
import { startSimulator, type Simulator } from '../sim/index';
import { createHelper } from '../support/helper';
import { builtNode } from '../support/node-red';
import { waitFor } from '../support/wait';

const { helper, userDir } = createHelper();
const nodes = [builtNode('rc-config')];

interface RcConfigLike {
  getClient(): RcClient;
  getPool(): LoginPool;
}

describe('rc-config with a pool of logins', { timeout: 120_000 }, () => {
  let sim: Simulator;
  before(async () => {
    delete process.env.RC_ARCHIVER_TOKENS;
    await helper.startServer();
    sim = await startSimulator({
      seed: 5,
      days: 2,
      callsPerDay: 20,
      otherExtensions: false,
      recordingBytes: { min: 1_000, max: 4_000 },
      // 4 downloads a window per login (the reserve of one only until a login's first answer): 8
      // need both logins.
      rateLimits: { Heavy: 4, Auth: 20 },
    });
  });
  after(async () => {
    await sim.close();
    await helper.stopServer();
    rmSync(userDir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await helper.unload();
  });

  const flow = () => [{ id: 'rc', type: 'rc-config', server: 'custom', serverUrl: sim.platformUrl }];
  const config = () => helper.getNode('rc') as unknown as RcConfigLike;
  const user = (i: number) => sim.extensions[i].id;
  const tokenFileKeys = () =>
    Object.keys(JSON.parse(readFileSync(join(userDir, 'rc-archiver', 'tokens.json'), 'utf8')) as object);

  it('a flow saved with one login goes on with its kept session when a second login is added', async () => {
    // As a flow of an older version holds it: clientId, clientSecret and jwt, nothing more.
    await helper.load(nodes, flow(), { rc: { ...sim.credentials } });
    await config().getClient().request('GET', '/restapi/v1.0/account/~');
    assert.equal(sim.stats.logins, 1);
    assert.deepEqual(tokenFileKeys(), ['rc'], 'the first login keeps the node id as its key');
    await helper.unload();

    await helper.load(nodes, flow(), { rc: { ...sim.credentials } });
    await config().getClient().request('GET', '/restapi/v1.0/account/~');
    assert.equal(sim.stats.logins, 1, 'restarted: no new login');
    await helper.unload();

    // A second login of the same app: only its JWT.
    await helper.load(nodes, flow(), { rc: { ...sim.credentials, jwt2: sim.jwtFor(user(1)) } });
    const pool = config().getPool();
    assert.deepEqual(
      pool.logins().map((l) => l.id),
      ['login1', 'login2'],
    );
    assert.equal(config().getClient(), pool.client('login1'), 'listing stays on the first login');
    const recordings = sim.allRecordings().slice(0, 8);
    assert.equal(recordings.length, 8);
    await Promise.all(
      recordings.map(async (rec) => {
        const { body } = await pool.openContent(rec.contentUri);
        const hash = createHash('sha256');
        for await (const chunk of body) hash.update(chunk as Buffer);
        assert.equal(hash.digest('hex'), rec.sha256);
      }),
    );
    const media = sim.requestLog.filter((e) => e.host === 'media' && e.status === 200);
    const of = (i: number) => media.filter((e) => e.user === `${sim.credentials.clientId}:${user(i)}`).length;
    assert.deepEqual([of(0), of(1)], [4, 4], 'each login downloaded its window’s share');
    assert.equal(sim.stats.rateLimited, 0);
    assert.equal(sim.stats.logins, 2, 'the first login kept its session; the second logged in once');
    assert.equal(sim.liveSessions(user(0)), 1);
    assert.equal(sim.liveSessions(user(1)), 1);
    assert.deepEqual(tokenFileKeys().sort(), ['rc', 'rc:login2']);
    assert.equal(
      readFileSync(join(userDir, 'rc-archiver', 'tokens.json'), 'utf8').includes(sim.jwtFor(user(1))),
      false,
    );

    // Removed: every login's session is ended and forgotten.
    const deploy = helper as unknown as { setFlows(flow: unknown[], type: string): Promise<void> };
    await deploy.setFlows([], 'full').catch(() => undefined);
    await waitFor(() => !sim.liveSessions(user(0)) && !sim.liveSessions(user(1)), 10_000);
    assert.equal(sim.liveSessions(user(0)), 0);
    assert.equal(sim.liveSessions(user(1)), 0);
  });

  it('a login RingCentral refuses leaves the pool with an error naming its number; the others go on', async () => {
    const refused = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJub2JvZHkifQ.unknown-login';
    await helper.load(nodes, flow(), {
      rc: { ...sim.credentials, jwt2: refused, jwt3: sim.jwtFor(user(2)) },
    });
    const node = helper.getNode('rc');
    const errors: string[] = [];
    node.on('call:error', (call: { args: unknown[] }) => errors.push(String(call.args[0])));
    const pool = config().getPool();
    const account = '/restapi/v1.0/account/~';
    await config().getClient().request('GET', account);
    // Login 1 has spent one Light request: login 2 has the most room.
    const grant = await pool.acquire('Light');
    assert.equal(grant.login, 'login2');
    grant.permit.cancel();
    await assert.rejects(grant.client.request('GET', account), /login with the JWT failed: 400/);
    assert.deepEqual(
      pool.logins().map((l) => l.id),
      ['login1', 'login3'],
    );
    // The helper reports node.error calls on the next tick.
    await waitFor(() => errors.length > 0, 5_000);
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.match(errors[0], /RingCentral refused login 2; .*2 other login\(s\) go on/);
    assert.equal(errors[0].includes(refused), false, 'the JWT is not in the error');
    // The others go on: the next slot is login 3's.
    const next = await pool.acquire('Light');
    assert.equal(next.login, 'login3');
    next.permit.cancel();
    const me = await next.client.request<{ id: string | number }>('GET', `${account}/extension/~`);
    assert.equal(String(me.id), user(2));
  });

  it('Test connection checks each login and shows a line for each', async () => {
    await helper.load(nodes, flow(), { rc: { ...sim.credentials, jwt2: sim.jwtFor(user(1)) } });
    const test = (typed: Record<string, string>) =>
      helper
        .request()
        .post('/rc-archiver/rc-config/test')
        .send({
          id: 'rc',
          server: 'custom',
          serverUrl: sim.platformUrl,
          clientId: sim.credentials.clientId,
          clientSecret: '__PWRD__',
          jwt: '__PWRD__',
          jwt2: '__PWRD__',
          ...typed,
        })
        .expect(200);
    const deployed = await test({});
    assert.equal(deployed.body.ok, true, JSON.stringify(deployed.body));
    const logins = deployed.body.logins as Array<Record<string, unknown>>;
    assert.deepEqual(
      logins.map((l) => [l.number, l.ok, l.extensionId]),
      [
        [1, true, user(0)],
        [2, true, user(1)],
      ],
    );
    assert.equal(logins[0].accountId, logins[1].accountId);
    assert.equal(deployed.body.extensionId, user(0), 'the first login at the top, as before');
    // The deployed logins test with their own sessions: testing again spends no login.
    const logins0 = sim.stats.logins;
    assert.equal((await test({})).body.ok, true);
    assert.equal(sim.stats.logins, logins0, 'no login spent by testing the deployed settings');

    // Typed in the dialog, not deployed: a third login, and a fourth RingCentral refuses.
    const typed = await test({ jwt3: sim.jwtFor(user(3)), jwt4: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.bad' });
    const lines = typed.body.logins as Array<Record<string, unknown>>;
    assert.equal(typed.body.ok, false);
    assert.deepEqual(
      lines.map((l) => [l.number, l.ok]),
      [
        [1, true],
        [2, true],
        [3, true],
        [4, false],
      ],
    );
    assert.equal(lines[2].extensionId, user(3));
    assert.match(String(lines[3].error), /login with the JWT failed: 400/);
    await waitFor(() => sim.stats.revocations > 0 && sim.liveSessions(user(3)) === 0, 10_000);
    assert.equal(sim.liveSessions(user(1)), 1, "the deployed login's session is untouched");
  });
});
