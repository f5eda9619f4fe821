import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { startSimulator, type Simulator } from '../sim/index';
import { createHelper } from '../support/helper';
import { builtNode } from '../support/node-red';
import { startSshd, type SshdServer } from '../support/sshd';

const { helper, userDir } = createHelper();

function countFiles(dir: string): number {
  return readdirSync(dir, { recursive: true }).length;
}
const nodes = ['rc-config', 'rc-sftp-server', 'rc-sftp-sink', 'rc-call-log-source'].map(builtNode);

describe('rc-sftp-sink and rc-config', { timeout: 120_000 }, () => {
  let sim: Simulator;
  let sshd: SshdServer;

  before(async () => {
    await helper.startServer();
    sim = await startSimulator({ seed: 3, days: 1, callsPerDay: 6, recordingFraction: 1, rateWindowSec: 3 });
    sshd = await startSshd();
  });
  after(async () => {
    await sim.close();
    await sshd.stop();
    await helper.stopServer();
    rmSync(userDir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await helper.unload();
  });

  let n = 0;
  function sftpFlow(fingerprint: string) {
    // A ledger of its own for each test, so every test archives the simulator's data afresh.
    process.env.RC_ARCHIVER_LEDGER = join(userDir, `ledger-${++n}.sqlite`);
    return {
      flow: [
        {
          id: 'src',
          type: 'rc-call-log-source',
          rc: 'rc',
          scope: 'account',
          initialDays: 2,
          wires: [['sink']],
        },
        {
          id: 'sink',
          type: 'rc-sftp-sink',
          server: 'srv',
          timeZone: 'Europe/Berlin',
          wires: [['ok'], ['bad']],
        },
        { id: 'ok', type: 'helper' },
        { id: 'bad', type: 'helper' },
        { id: 'rc', type: 'rc-config', server: 'custom', serverUrl: sim.platformUrl },
        {
          id: 'srv',
          type: 'rc-sftp-server',
          host: sshd.host,
          port: sshd.port,
          username: sshd.username,
          root: sshd.root,
          hostFingerprint: fingerprint,
        },
      ],
      credentials: { rc: { ...sim.credentials }, srv: { privateKey: sshd.privateKey } },
    };
  }

  it('streams recordings to the SFTP server with the right bytes', async () => {
    const { flow, credentials } = sftpFlow(sshd.hostFingerprint);
    await helper.load(nodes, flow, credentials);
    const receipts: Array<{ path: string; sha256: string }> = [];
    helper
      .getNode('ok')
      .on('input', (msg: never) =>
        receipts.push((msg as { receipt: { path: string; sha256: string } }).receipt),
      );
    const expected = sim.allRecordings();
    helper.getNode('src').receive({ payload: 1 });
    const started = Date.now();
    while (receipts.length < expected.length && Date.now() - started < 60_000)
      await new Promise((r) => setTimeout(r, 50));
    assert.equal(receipts.length, expected.length);
    for (const receipt of receipts) {
      const onDisk = createHash('sha256')
        .update(readFileSync(join(sshd.root, receipt.path)))
        .digest('hex');
      assert.equal(onDisk, receipt.sha256);
    }
    const wanted = new Set(expected.map((r) => sim.expectedContent(r.id).sha256));
    assert.deepEqual(new Set(receipts.map((r) => r.sha256)), wanted);
    assert.ok(
      receipts.every((r) => /[+-]\d{4}|CET|CEST|Europe/.test(r.path)),
      'the time zone is in the file name',
    );
  });

  it('refuses a server whose host key does not match the pinned fingerprint', async () => {
    const wrong = 'SHA256:' + Buffer.alloc(32, 7).toString('base64').replace(/=+$/, '');
    const { flow, credentials } = sftpFlow(wrong);
    const before = countFiles(sshd.root);
    await helper.load(nodes, flow, credentials);
    const bad = helper.getNode('bad');
    const failed = new Promise<{ error: { message: string } }>((resolve) =>
      bad.on('input', (m: never) => resolve(m)),
    );
    helper.getNode('src').receive({ payload: 1 });
    const msg = await failed;
    assert.match(msg.error.message, /host key/i);
    assert.equal(countFiles(sshd.root), before, 'nothing written');
  });

  it('Test connection shows the account and the permissions the app lacks', async () => {
    await helper.load(
      nodes,
      [{ id: 'rc', type: 'rc-config', server: 'custom', serverUrl: sim.platformUrl }],
      {
        rc: { ...sim.credentials },
      },
    );
    const res = await helper
      .request()
      .post('/rc-archiver/rc-config/test')
      .send({
        id: 'rc',
        server: 'custom',
        serverUrl: sim.platformUrl,
        clientId: '',
        clientSecret: '__PWRD__',
        jwt: '__PWRD__',
      })
      .expect(200);
    assert.equal(res.body.ok, true, JSON.stringify(res.body));
    assert.equal(res.body.accountId, sim.accountId);
    assert.ok(Array.isArray(res.body.missingPermissions));
    assert.equal(
      JSON.stringify(res.body).includes(sim.credentials.clientSecret),
      false,
      'no secret in the answer',
    );
  });

  it('Test connection with a wrong JWT gives a clear error', async () => {
    await helper.load(
      nodes,
      [{ id: 'rc', type: 'rc-config', server: 'custom', serverUrl: sim.platformUrl }],
      {
        rc: { ...sim.credentials },
      },
    );
    const res = await helper
      .request()
      .post('/rc-archiver/rc-config/test')
      .send({ id: 'rc', server: 'custom', serverUrl: sim.platformUrl, jwt: 'not-a-valid-jwt' })
      .expect(200);
    assert.equal(res.body.ok, false);
    assert.match(String(res.body.error), /jwt|grant|login|auth/i);
    assert.equal(String(res.body.error).includes('not-a-valid-jwt'), false, 'the JWT is not echoed');
  });
});
