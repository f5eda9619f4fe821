// The editor's Connect flow against a real Node-RED with editor logins (adminAuth), and a Box
// account whose refresh tokens rotate: the routes refuse users without the node type's write
// permission and callbacks with a forged state; a connected account archives; and a token Box
// rotated after the deploy survives a kill -9, although Node-RED saved only the first one.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFakeBox, type FakeBox } from '../fakes/box';
import { startSimulator, type Simulator } from '../sim/index';
import { readLedger, until } from '../support/e2e';
import {
  editorToken,
  editorUsersSetting,
  prepareUserDir,
  removeDir,
  startNodeRed,
  type NodeRedProcess,
} from '../support/node-red-process';

/** An ArchiveItem with JSON content, as a source would send it. */
function item(key: string) {
  return JSON.stringify({
    key,
    kind: 'CallLog',
    accountId: '1',
    createdAt: '2026-11-01T10:00:00.000Z',
    fileName: `${key.replace(':', '-')}.json`,
    contentType: 'application/json',
    content: { json: { id: key } },
    record: { id: key },
    rc: 'rc',
  });
}

const flows = (fake: FakeBox) => [
  { id: 'tab', type: 'tab', label: 'Connect' },
  { id: 'rc', type: 'rc-config' },
  {
    id: 'acct',
    type: 'rc-box-account',
    authMode: 'oauth',
    clientId: fake.clientId,
    rootPath: 'Archive',
    endpoint: fake.url,
    account: '',
  },
  ...['first', 'second'].map((name) => ({
    id: `inj-${name}`,
    type: 'inject',
    z: 'tab',
    props: [{ p: 'payload' }],
    payload: item(`CallLog:${name}`),
    payloadType: 'json',
    repeat: '',
    once: false,
    wires: [['sink']],
  })),
  { id: 'sink', type: 'rc-box-sink', z: 'tab', account: 'acct', wires: [[], []] },
];

describe('Connect in the editor', { timeout: 240_000 }, () => {
  let fake: FakeBox;
  let sim: Simulator;
  let red: NodeRedProcess | undefined;
  let userDir: string;
  let env: Record<string, string>;
  const ledger = () => join(userDir, 'rc-archiver', 'ledger.sqlite');
  const inject = async (id: string) =>
    fetch(`${red!.url}/inject/${id}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${await login('admin')}` },
    });

  before(async () => {
    fake = await startFakeBox();
    sim = await startSimulator({ seed: 21, days: 1, callsPerDay: 1 });
    userDir = await mkdtemp(join(tmpdir(), 'rc-archiver-connect-'));
    env = {
      RC_SERVER: sim.platformUrl,
      RC_CLIENT_ID: sim.credentials.clientId,
      RC_CLIENT_SECRET: sim.credentials.clientSecret,
      RC_JWT: sim.credentials.jwt,
    };
    prepareUserDir(userDir, flows(fake), editorUsersSetting());
    red = await startNodeRed({ userDir, env });
  });
  after(async () => {
    await red?.kill();
    await fake.close();
    await sim.close();
    removeDir(userDir);
  });

  const login = (username: 'admin' | 'viewer') => editorToken(red!.url, username);

  function start(token?: string) {
    return fetch(`${red!.url}/rc-archiver/oauth/box/start`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({
        id: 'acct',
        clientId: fake.clientId,
        clientSecret: fake.clientSecret,
        endpoint: fake.url,
        redirectUri: `${red!.url}/rc-archiver/oauth/callback`,
      }),
    });
  }

  async function hasRefreshToken(token: string): Promise<boolean> {
    const res = await fetch(`${red!.url}/credentials/rc-box-account/acct`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    return ((await res.json()) as { has_refreshToken?: boolean }).has_refreshToken === true;
  }

  it('refuses Connect without the write permission, refuses a forged state, and connects with the real one', async () => {
    const admin = await login('admin');
    const viewer = await login('viewer');
    assert.equal((await start()).status, 401, 'no login: refused');
    // Node-RED answers a missing permission with 401, as it does for its own routes; the viewer's
    // login itself is good (it reads the flows).
    const viewerReads = await fetch(`${red!.url}/flows`, { headers: { Authorization: `Bearer ${viewer}` } });
    assert.equal(viewerReads.status, 200);
    assert.equal((await start(viewer)).status, 401, 'read-only user: refused');

    const started = await start(admin);
    assert.equal(started.status, 200);
    const { authorizeUrl, state } = (await started.json()) as { authorizeUrl: string; state: string };
    assert.ok(authorizeUrl.startsWith(fake.url), 'the browser is sent to Box');

    // Box's page sends the browser back with a code and the state.
    const consent = await fetch(authorizeUrl, { redirect: 'manual' });
    const back = new URL(consent.headers.get('location')!);
    assert.equal(back.searchParams.get('state'), state);

    const forged = new URL(back);
    forged.searchParams.set('state', 'forged-by-another-site');
    const refused = await fetch(forged);
    assert.equal(refused.status, 403, 'a callback with a state the pack did not issue is refused');
    assert.match(await refused.text(), /unknown or expired state/);
    assert.equal(await hasRefreshToken(admin), false, 'nothing was stored');
    const pending = await fetch(`${red!.url}/rc-archiver/oauth/box/status/${state}`, {
      headers: { Authorization: `Bearer ${admin}` },
    });
    assert.deepEqual(await pending.json(), { status: 'pending' });

    const callback = await fetch(back);
    const page = await callback.text();
    assert.equal(callback.status, 200, page);
    assert.match(page, /Connected as/);
    const status = (await (
      await fetch(`${red!.url}/rc-archiver/oauth/box/status/${state}`, {
        headers: { Authorization: `Bearer ${admin}` },
      })
    ).json()) as { status: string; account: string };
    assert.equal(status.status, 'done');
    assert.ok(status.account.length > 0, 'the dialog can show the connected account');
    assert.equal(await hasRefreshToken(admin), true);
    assert.equal((await fetch(back)).status, 403, 'a state works once');

    // Deploy, as the editor does after Connect (the account name changed).
    const current = (await (
      await fetch(`${red!.url}/flows`, {
        headers: { Authorization: `Bearer ${admin}`, 'Node-RED-API-Version': 'v2' },
      })
    ).json()) as { rev: string; flows: Array<Record<string, unknown>> };
    const deployed = current.flows.map((n) => (n.id === 'acct' ? { ...n, account: status.account } : n));
    const deploy = await fetch(`${red!.url}/flows`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${admin}`,
        'Content-Type': 'application/json',
        'Node-RED-API-Version': 'v2',
        'Node-RED-Deployment-Type': 'full',
      },
      body: JSON.stringify({ rev: current.rev, flows: deployed }),
    });
    assert.equal(deploy.status, 200);
    const saved = JSON.parse(readFileSync(join(userDir, 'flows_cred.json'), 'utf8')) as Record<
      string,
      Record<string, string>
    >;
    assert.ok(saved.acct?.refreshToken, 'the deploy saved the tokens as credentials');
    assert.ok(!readFileSync(join(userDir, 'flows.json'), 'utf8').includes(saved.acct.refreshToken));
  });

  it('archives with the account, and keeps the token Box rotated after the deploy across a kill -9', async () => {
    const savedRefresh = (
      JSON.parse(readFileSync(join(userDir, 'flows_cred.json'), 'utf8')) as Record<
        string,
        Record<string, string>
      >
    ).acct.refreshToken;
    // The access token expires: the sink refreshes, and Box spends the refresh token it had.
    fake.expireAccessTokens();
    assert.equal((await inject('inj-first')).status, 200);
    await until(
      () => readLedger(ledger(), (l) => l.get('CallLog:first')?.status) === 'Archived',
      30_000,
      'the first item',
      red,
    );
    assert.equal(fake.refreshTokenValid(savedRefresh), false, 'the refresh token Node-RED saved is spent');

    await red!.kill();
    red = await startNodeRed({ userDir, env });
    fake.expireAccessTokens();
    assert.equal((await inject('inj-second')).status, 200);
    await until(
      () =>
        ['Archived', 'Failed'].includes(readLedger(ledger(), (l) => l.get('CallLog:second')?.status) ?? ''),
      30_000,
      'the second item',
      red,
    );
    const second = readLedger(ledger(), (l) => l.get('CallLog:second'));
    assert.equal(second?.status, 'Archived', `archived after the restart (${JSON.stringify(second)})`);
    const items = fake
      .files()
      .map((f) => /_(first|second)\.json$/.exec(f.path)?.[1])
      .filter(Boolean)
      .sort();
    assert.deepEqual(items, ['first', 'second'], 'both items are in Box, once each');
  });
});
