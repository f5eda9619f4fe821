// rc-config in a real Node-RED runtime (node-red-node-test-helper): its RingCentral session
// survives a restart of the flows, a removed node ends its session, and Test connection leaves
// no session behind.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import type { RcClient } from '../../lib/ringcentral';
import { startSimulator, type Simulator } from '../sim/index';
import { createHelper } from '../support/helper';
import { builtNode } from '../support/node-red';
import { waitFor } from '../support/wait';

const { helper, userDir } = createHelper();
const nodes = [builtNode('rc-config')];

describe('rc-config session', { timeout: 120_000 }, () => {
  let sim: Simulator;
  before(async () => {
    delete process.env.RC_ARCHIVER_TOKENS;
    await helper.startServer();
    sim = await startSimulator({ seed: 4, days: 1, callsPerDay: 4, rateLimits: { Auth: 20 } });
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
  const client = () => (helper.getNode('rc') as unknown as { getClient(): RcClient }).getClient();
  const account = () => client().request('GET', '/restapi/v1.0/account/~');

  it('a restart of the flows goes on with the kept tokens: no second JWT login', async () => {
    await helper.load(nodes, flow(), { rc: { ...sim.credentials } });
    await account();
    assert.equal(sim.stats.logins, 1);
    const file = join(userDir, 'rc-archiver', 'tokens.json');
    assert.ok(existsSync(file), 'kept in the pack token file of the user directory');
    assert.equal(readFileSync(file, 'utf8').includes(sim.credentials.jwt), false, 'no JWT in it');

    for (let restart = 0; restart < 3; restart++) {
      await helper.unload();
      await helper.load(nodes, flow(), { rc: { ...sim.credentials } });
      await account();
    }
    assert.equal(sim.stats.logins, 1, 'three restarts, one login');
    assert.equal(sim.stats.rateLimited, 0);
    assert.equal(sim.liveSessions(), 1);

    // Deployed with another JWT (another user): the kept tokens are not used.
    await helper.unload();
    await helper.load(nodes, flow(), { rc: { ...sim.credentials, jwt: sim.jwtFor(sim.extensions[1].id) } });
    const me = await client().request<{ id: string | number }>('GET', '/restapi/v1.0/account/~/extension/~');
    assert.equal(String(me.id), sim.extensions[1].id);
    assert.equal(sim.stats.logins, 2);
    assert.equal(sim.liveSessions(), 0, 'the session of the replaced JWT was revoked');
    assert.equal(sim.liveSessions(sim.extensions[1].id), 1);
  });

  it('Test connection uses the deployed session, or ends the one it opened for other settings', async () => {
    await helper.load(nodes, flow(), { rc: { ...sim.credentials } });
    await account();
    const live = sim.liveSessions();
    const before = sim.stats;
    const test = (typed: Record<string, string>) =>
      helper
        .request()
        .post('/rc-archiver/rc-config/test')
        .send({
          id: 'rc',
          server: 'custom',
          serverUrl: sim.platformUrl,
          clientSecret: '__PWRD__',
          jwt: '__PWRD__',
          ...typed,
        })
        .expect(200);
    const same = await test({});
    assert.equal(same.body.ok, true, JSON.stringify(same.body));
    assert.equal(same.body.extensionId, sim.adminExtension.id);
    assert.equal(sim.stats.logins, before.logins, 'the settings as deployed: no login');
    assert.equal(sim.liveSessions(), live);

    const other = sim.extensions[2].id;
    const typed = await test({ jwt: sim.jwtFor(other) });
    assert.equal(typed.body.ok, true, JSON.stringify(typed.body));
    assert.equal(typed.body.extensionId, other, 'tested with the JWT typed in the dialog');
    await waitFor(() => sim.stats.revocations > before.revocations, 10_000);
    assert.equal(sim.stats.logins, before.logins + 1);
    assert.equal(sim.liveSessions(other), 0, 'no session left behind by the test');
    assert.equal(sim.liveSessions(), live, 'the deployed session is untouched');
  });

  it('a removed rc-config ends its session and forgets it', async () => {
    await helper.load(nodes, flow(), { rc: { ...sim.credentials } });
    await account();
    assert.equal(sim.liveSessions(), 1);
    const revocations = sim.stats.revocations;
    // A deploy without the node: Node-RED closes it as removed.
    const deploy = helper as unknown as { setFlows(flow: unknown[], type: string): Promise<void> };
    // (its wait for 'flows:started' may give up early; the revoke is what is waited for below)
    await deploy.setFlows([], 'full').catch(() => undefined);
    await waitFor(() => sim.stats.revocations > revocations, 10_000);
    assert.equal(sim.liveSessions(), 0);
    const kept = JSON.parse(readFileSync(join(userDir, 'rc-archiver', 'tokens.json'), 'utf8')) as object;
    assert.equal('rc' in kept, false, 'its entry is gone from the token file');
  });
});
