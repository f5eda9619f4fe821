// The example flow, deployed unchanged in a real Node-RED process, with the environment pointing
// at the RingCentral simulator and a real sshd on 127.0.0.1.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Ledger } from '../../lib/ledger';
import { startSimulator, type Simulator } from '../sim/index';
import { root } from '../support/node-red';
import { prepareUserDir, removeDir, startNodeRed, type NodeRedProcess } from '../support/node-red-process';
import { startSshd, type SshdServer } from '../support/sshd';
import { readLedger, sha256, until, walk } from '../support/e2e';

const example = JSON.parse(
  readFileSync(join(root, 'examples', 'half-hourly-archiver.json'), 'utf8'),
) as unknown[];

describe('example flow end to end: RingCentral simulator → Node-RED → sshd', { timeout: 600_000 }, () => {
  let sim: Simulator;
  let sshd: SshdServer;
  let work: string;
  let userDir: string;
  let env: Record<string, string>;
  let red: NodeRedProcess | undefined;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'rc-archiver-e2e-'));
    userDir = join(work, 'node-red');
    sshd = await startSshd();
    // A short rate window keeps the test quick; the pacing rules are RingCentral's.
    sim = await startSimulator({
      seed: 42,
      days: 2,
      callsPerDay: 15,
      recordingFraction: 0.6,
      rateWindowSec: 4,
    });
    const keyFile = join(work, 'id_sftp');
    writeFileSync(keyFile, sshd.privateKey, { mode: 0o600 });
    env = {
      RC_SERVER: sim.platformUrl,
      RC_CLIENT_ID: sim.credentials.clientId,
      RC_CLIENT_SECRET: sim.credentials.clientSecret,
      RC_JWT: sim.credentials.jwt,
      SFTP_HOST: sshd.host,
      SFTP_PORT: String(sshd.port),
      SFTP_USER: sshd.username,
      SFTP_PRIVATE_KEY_FILE: keyFile,
      SFTP_HOST_FINGERPRINT: sshd.hostFingerprint,
      SFTP_ROOT: sshd.root,
    };
    prepareUserDir(userDir, example);
  });

  after(async () => {
    await red?.kill();
    await sim?.close();
    await sshd?.stop();
    if (work) removeDir(work);
  });

  const recordingFiles = () => walk(sshd.root).filter((f) => /\.(mp3|wav)$/.test(f));
  /** Items the ledger of the running Node-RED says are Archived (the last step of each). */
  const archivedInLedger = () => {
    return readLedger(join(userDir, 'rc-archiver', 'ledger.sqlite'), (l) => l.counts().Archived) ?? 0;
  };

  function assertArchiveComplete() {
    const files = recordingFiles();
    const expected = sim.allRecordings();
    const byHash = new Map<string, string[]>();
    for (const f of files) {
      const h = sha256(join(sshd.root, f));
      byHash.set(h, [...(byHash.get(h) ?? []), f]);
    }
    for (const rec of expected) {
      const want = sim.expectedContent(rec.id).sha256;
      const found = byHash.get(want) ?? [];
      assert.equal(
        found.length,
        1,
        `recording ${rec.id} is in the SFTP root exactly once (found ${found.length})`,
      );
      const sidecar = JSON.parse(readFileSync(join(sshd.root, `${found[0]}.json`), 'utf8'));
      assert.equal(sidecar.archive?.sha256, want, `sidecar of ${found[0]} holds the hash`);
    }
    assert.equal(files.length, expected.length, 'no extra files');
    const leftovers = walk(sshd.root).filter((f) => f.endsWith('.part'));
    assert.deepEqual(leftovers, [], 'no partial uploads left');
  }

  it('one cycle archives every recording exactly once, with sidecars and no 429', async () => {
    red = await startNodeRed({ userDir, env });
    const expected = sim.allRecordings().length;
    assert.ok(expected >= 10, `the simulator has recordings (${expected})`);
    await until(() => archivedInLedger() >= expected, 120_000, `${expected} recordings archived`, red);
    assertArchiveComplete();
    assert.equal(sim.stats.rateLimited, 0, 'the simulator answered no request with 429');
    await red.stop();
    red = undefined;
  });

  it('kill -9 in the middle of a larger cycle: after a restart nothing is missing and nothing is written twice', async () => {
    const before = recordingFiles().length;
    sim.addCalls(60, { withRecording: true });
    const expected = sim.allRecordings().length;
    red = await startNodeRed({ userDir, env });
    // Let part of the new recordings arrive, then kill the process without warning.
    await until(() => recordingFiles().length >= before + 10, 120_000, 'the second cycle under way', red);
    await red.kill();
    red = undefined;
    assert.ok(recordingFiles().length < expected, 'the kill happened before the cycle finished');

    red = await startNodeRed({ userDir, env });
    await until(
      () => archivedInLedger() >= expected,
      180_000,
      `all ${expected} recordings after the restart`,
      red,
    );
    assertArchiveComplete();
    assert.equal(sim.stats.rateLimited, 0, 'still no 429');
    await red.stop();
    red = undefined;

    const ledger = Ledger.open(join(userDir, 'rc-archiver', 'ledger.sqlite'));
    try {
      for (const rec of sim.allRecordings()) {
        assert.equal(ledger.get(`CallRecording:${rec.id}`)?.status, 'Archived', `ledger row of ${rec.id}`);
      }
    } finally {
      ledger.close();
    }
  });
});
