// A 90-day backfill in a real Node-RED process, killed with SIGKILL while it lists and restarted:
// it goes on from where the ledger says it was, and the SFTP root ends with every recording and
// every call-log record of the range exactly once.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseBackfillJob, type BackfillJob } from '../../lib/backfill';
import { startSimulator, type Simulator } from '../sim/index';
import { archiverEnv, readLedger, sha256, until, walk } from '../support/e2e';
import { prepareUserDir, removeDir, startNodeRed, type NodeRedProcess } from '../support/node-red-process';
import { startSshd, type SshdServer } from '../support/sshd';

const DAY = 86_400_000;

describe('a 90-day backfill survives kill -9', { timeout: 600_000 }, () => {
  let sim: Simulator;
  let sshd: SshdServer;
  let work: string;
  let userDir: string;
  let env: Record<string, string>;
  let red: NodeRedProcess | undefined;
  let range: { dateFrom: string; dateTo: string };

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'rc-archiver-backfill-'));
    userDir = join(work, 'node-red');
    sshd = await startSshd();
    // 90 days of calls, served five records a page, so that the listing alone takes dozens of
    // Heavy requests and the kill lands in the middle of it.
    sim = await startSimulator({
      seed: 90,
      days: 90,
      callsPerDay: 2,
      recordingFraction: 0.5,
      maxPerPage: 5,
      rateWindowSec: 2,
      // Twice the default Heavy budget: still paced, the listing still spans many windows.
      rateLimits: { Heavy: 20 },
    });
    env = archiverEnv(sim, sshd, work);
    const now = sim.now();
    range = {
      dateFrom: new Date(now - 90 * DAY - 3_600_000).toISOString(),
      dateTo: new Date(now).toISOString(),
    };
    // The backfill is set in the node's dialog: it starts by itself when the flows start.
    prepareUserDir(userDir, [
      { id: 'tab', type: 'tab', label: 'backfill' },
      {
        id: 'src',
        type: 'rc-call-log-source',
        z: 'tab',
        rc: 'rc',
        scope: 'account',
        archive: 'both',
        initialDays: 1,
        lookBackMinutes: 60,
        backfill: 'range',
        backfillFrom: range.dateFrom,
        backfillTo: range.dateTo,
        warnDays: 7,
        wires: [['rl'], []],
      },
      { id: 'rl', type: 'rc-rate-limit', z: 'tab', group: 'auto', wires: [['sink']] },
      {
        id: 'sink',
        type: 'rc-sftp-sink',
        z: 'tab',
        server: 'sftp',
        template: '',
        timeZone: 'UTC',
        sidecar: true,
        concurrency: 4,
        wires: [[], []],
      },
      { id: 'rc', type: 'rc-config', name: 'env', server: '', serverUrl: '' },
      { id: 'sftp', type: 'rc-sftp-server', name: 'env', host: '', port: '', username: '', root: '' },
    ]);
  });

  after(async () => {
    await red?.kill();
    await sim?.close();
    await sshd?.stop();
    if (work) removeDir(work);
  });

  const ledgerFile = () => join(userDir, 'rc-archiver', 'ledger.sqlite');
  const job = (): BackfillJob | undefined =>
    readLedger(ledgerFile(), (l) => parseBackfillJob(l.getCursor('backfill:src')));
  const counts = () => readLedger(ledgerFile(), (l) => l.counts('src'));

  it('resumes from the stored page after SIGKILL: every item of the range once, no gap, no 429', async () => {
    const calls = sim.allCalls().filter((c) => c.startTime >= range.dateFrom);
    const recordings = sim.allRecordings().filter((r) => r.startTime >= range.dateFrom);
    assert.ok(calls.length >= 150 && recordings.length >= 50, `enough data (${calls.length} calls)`);

    red = await startNodeRed({ userDir, env });
    await until(() => (job()?.pages ?? 0) >= 12, 120_000, 'a dozen pages listed', red);
    await red.kill();
    red = undefined;
    const stopped = job()!;
    assert.equal(stopped.completedAt, undefined, 'killed while it was listing');
    const files = walk(sshd.root).filter((f) => !f.endsWith('.json') && !f.endsWith('.part'));
    assert.ok(files.length < recordings.length, 'killed before everything was archived');

    sim.requestLog.length = 0;
    red = await startNodeRed({ userDir, env });
    await until(() => Boolean(job()?.completedAt), 180_000, 'the backfill listed to the end', red);
    await until(() => counts()?.Pending === 0, 180_000, 'every item found is archived', red);
    const firstListing = sim.requestLog.find((e) => e.path.includes('/call-log'));
    assert.ok(firstListing, 'the restarted node listed');
    assert.equal(
      new URL(firstListing.path, 'http://sim').searchParams.get('dateTo'),
      stopped.parts[0].resumeTo,
      'it went on from the page it had reached, not from the top',
    );
    await red.stop();
    red = undefined;

    const all = walk(sshd.root);
    assert.deepEqual(
      all.filter((f) => f.endsWith('.part')),
      [],
      'no partial uploads left',
    );
    // Data files are the ones with a sidecar beside them.
    const data = all.filter((f) => all.includes(`${f}.json`));
    const media = data.filter((f) => !f.endsWith('.json'));
    const records = data.filter((f) => f.endsWith('.json'));
    assert.deepEqual(
      media.map((f) => sha256(join(sshd.root, f))).sort(),
      recordings.map((r) => sim.expectedContent(r.id).sha256).sort(),
      'every recording of the range exactly once, with its bytes',
    );
    assert.deepEqual(
      records.map((f) => (JSON.parse(readFileSync(join(sshd.root, f), 'utf8')) as { id: string }).id).sort(),
      calls.map((c) => c.id).sort(),
      'every call-log record of the range exactly once',
    );
    const final = counts()!;
    assert.equal(final.Archived, calls.length + recordings.length);
    assert.equal(final.Failed + final.Lost, 0);
    assert.equal(sim.stats.rateLimited, 0, 'the simulator answered no request with 429');
  });
});
