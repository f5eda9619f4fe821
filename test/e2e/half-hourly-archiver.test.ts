// The example flow, deployed unchanged in a real Node-RED process, with the environment pointing
// at the RingCentral simulator and a real sshd on 127.0.0.1.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Ledger } from '../../lib/ledger';
import { startSimulator, type Simulator } from '../sim/index';
import { root } from '../support/node-red';
import { prepareUserDir, removeDir, startNodeRed, type NodeRedProcess } from '../support/node-red-process';
import { startSshd, type SshdServer } from '../support/sshd';
import { archiverEnv, readLedger, sha256, until, untilSettled, walk } from '../support/e2e';

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
      // Twice the default Heavy budget, so that a restart still lands inside a window it used.
      rateLimits: { Heavy: 20 },
      // The daily compliance export is ready at its first read (5 s after the request).
      exportPollsToComplete: 1,
      // Its posts come in several posts_N.json, as a large export's do.
      exportFileElements: 6,
    });
    env = archiverEnv(sim, sshd, work);
    prepareUserDir(userDir, example);
  });

  after(async () => {
    await red?.kill();
    await sim?.close();
    await sshd?.stop();
    if (work) removeDir(work);
  });

  const ledgerFile = () => join(userDir, 'rc-archiver', 'ledger.sqlite');
  const recordingFiles = () =>
    walk(sshd.root).filter((f) => f.includes('/Call Recordings/') && /\.(mp3|wav)$/.test(f));
  /** Recordings the ledger of the running Node-RED says are Archived (the last step of each). */
  const archivedInLedger = () =>
    readLedger(ledgerFile(), (l) => l.count({ kind: 'CallRecording', status: 'Archived' })) ?? 0;

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
    // The messages of every extension and the call-log records go the same way, each kind into its
    // own folder; until they are done, their uploads may still be `.part` files.
    await untilSettled(ledgerFile(), 120_000, red);
    assertArchiveComplete();
    const folders: Record<string, string> = {
      CallLog: 'Call Log',
      Voicemail: 'Voicemail',
      Fax: 'Fax',
      SMS: 'SMS',
      MMS: 'MMS',
    };
    readLedger(ledgerFile(), (l) => {
      assert.equal(l.counts().Failed, 0, 'nothing failed');
      for (const [kind, folder] of Object.entries(folders)) {
        const rows = l.query({ kind: kind as 'CallLog', limit: 10_000 });
        assert.ok(rows.length > 0, `the example archives ${kind}`);
        for (const row of rows) {
          assert.equal(row.status, 'Archived', `${row.key} archived`);
          assert.ok(row.receipt!.path.includes(`/${folder}/`), `${row.key} is in the ${folder} folder`);
          assert.equal(sha256(join(sshd.root, row.receipt!.path)), row.receipt!.sha256, `${row.key} bytes`);
        }
      }
    });

    // The daily compliance export, started as its 01:30 inject would start it.
    const inject = await fetch(`${red.url}/inject/a1f0c0de0000000e`, { method: 'POST' });
    assert.equal(inject.status, 200);
    const exports = () =>
      readLedger(ledgerFile(), (l) => l.query({ kind: 'TeamMessagingExport', limit: 10_000 })) ?? [];
    await until(
      () => exports().length > 1 && exports().every((r) => r.status === 'Archived'),
      120_000,
      'the compliance export archived and unpacked',
      red,
    );
    const tasks = sim.exportTasksInfo();
    assert.equal(tasks.length, 1, 'one export task for the previous day');
    const zips = exports().filter((r) => r.receipt!.path.endsWith('.zip'));
    assert.equal(zips.length, 1, 'one dataset');
    assert.equal(
      zips[0].receipt!.sha256,
      sim.expectedExport(tasks[0].id).sha256,
      'the dataset as RingCentral made it',
    );
    assert.equal(sha256(join(sshd.root, zips[0].receipt!.path)), zips[0].receipt!.sha256);
    const chatDays = exports().filter((r) => r.key !== zips[0].key);
    assert.ok(chatDays.length > 0, 'the export unpacked into chat-day files');
    // One file per chat per day of the export, holding exactly that day's posts.
    const wanted = new Map<string, string[]>();
    for (const post of sim.team.posts) {
      const at = new Date(post.creationTime).toISOString();
      if (at < tasks[0].timeFrom || at >= tasks[0].timeTo) continue;
      const key = `TeamMessagingExport:chat:${post.chatId}:${at.slice(0, 10)}`;
      wanted.set(key, [...(wanted.get(key) ?? []), post.id]);
    }
    assert.deepEqual(chatDays.map((r) => r.key).sort(), [...wanted.keys()].sort());
    for (const chatDay of chatDays) {
      assert.ok(
        chatDay.receipt!.path.includes('/Team Messaging/'),
        `${chatDay.key} in the Team Messaging folder`,
      );
      assert.ok(chatDay.receipt!.path.endsWith('.json'), `${chatDay.key} is a JSON file`);
      const file = JSON.parse(readFileSync(join(sshd.root, chatDay.receipt!.path), 'utf8')) as {
        posts: Array<{ id: string }>;
      };
      assert.deepEqual(
        file.posts.map((p) => p.id),
        wanted.get(chatDay.key),
        `${chatDay.key} holds that day's posts`,
      );
    }
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
    await untilSettled(ledgerFile(), 120_000, red);
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
