import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { parseBackfillJob, type BackfillJob } from '../../lib/backfill';
import { Ledger } from '../../lib/ledger';
import { startSimulator, type Simulator } from '../sim/index';
import { createHelper } from '../support/helper';
import { builtNode } from '../support/node-red';
import { statuses, waitFor } from '../support/wait';

const { helper, userDir } = createHelper();
const allNodes = [
  'rc-config',
  'rc-call-log-source',
  'rc-message-source',
  'rc-rate-limit',
  'rc-folder-sink',
].map(builtNode);
const DAY = 86_400_000;

function withLedger<T>(fn: (ledger: Ledger) => T): T {
  const ledger = Ledger.open(process.env.RC_ARCHIVER_LEDGER!);
  try {
    return fn(ledger);
  } finally {
    ledger.close();
  }
}

function storedJob(source: string): BackfillJob | undefined {
  return withLedger((l) => parseBackfillJob(l.getCursor(`backfill:${source}`)));
}

/** Archived files: those with a sidecar beside them (the sink writes one for each). */
function archivedFiles(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .filter((f) => existsSync(`${f}.json`))
    .sort();
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

describe('backfill and retention with the simulator', { timeout: 300_000 }, () => {
  let sim: Simulator;
  let n = 0;

  before(async () => {
    await new Promise<void>((resolve) => helper.startServer().then(resolve));
    // 30 days of calls, five records a page: a backfill takes many pages.
    sim = await startSimulator({
      seed: 21,
      days: 30,
      callsPerDay: 3,
      recordingFraction: 0.5,
      messagesPerDay: 2,
      maxPerPage: 5,
      rateWindowSec: 2,
      // Twice the default Heavy budget: still paced, the backfill still spans many windows.
      rateLimits: { Heavy: 20 },
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

  function flow(archive: string, source: Record<string, unknown>, sink: Record<string, unknown> = {}) {
    return {
      flow: [
        {
          id: 'src',
          type: 'rc-call-log-source',
          rc: 'rc',
          scope: 'account',
          archive: 'both',
          initialDays: 1,
          lookBackMinutes: 60,
          wires: [['rl'], ['near']],
          ...source,
        },
        { id: 'rl', type: 'rc-rate-limit', group: 'auto', wires: [['sink']] },
        {
          id: 'sink',
          type: 'rc-folder-sink',
          directory: archive,
          timeZone: 'UTC',
          sidecar: true,
          wires: [['ok'], ['bad']],
          ...sink,
        },
        { id: 'ok', type: 'helper' },
        { id: 'bad', type: 'helper' },
        { id: 'near', type: 'helper' },
        { id: 'rc', type: 'rc-config', server: 'custom', serverUrl: sim.platformUrl },
      ],
      credentials: { rc: { ...sim.credentials } },
    };
  }

  it('a backfill stopped mid-way by a redeploy resumes where it stopped: every item once, no gap', async () => {
    n++;
    const archive = join(userDir, `backfill-${n}`);
    process.env.RC_ARCHIVER_LEDGER = join(userDir, `backfill-ledger-${n}.sqlite`);
    const now = sim.now();
    const range = { dateFrom: new Date(now - 30 * DAY).toISOString(), dateTo: new Date(now).toISOString() };
    const calls = sim.allCalls().filter((c) => Date.parse(c.startTime) >= Date.parse(range.dateFrom));
    const recordings = sim
      .allRecordings()
      .filter((r) => Date.parse(r.startTime) >= Date.parse(range.dateFrom));
    assert.ok(calls.length > 60 && recordings.length > 20, 'enough data for many pages');

    const { flow: f, credentials } = flow(archive, {});
    await helper.load(allNodes, f, credentials);
    const src = helper.getNode('src');
    const srcStatus = statuses(src);
    src.receive({ backfill: range });
    await waitFor(() => (storedJob('src')?.pages ?? 0) >= 4, 60_000, 'some pages listed');
    const before = storedJob('src')!;
    assert.equal(before.completedAt, undefined, 'not finished yet: the test stops it mid-way');
    assert.ok(Date.parse(before.parts[0].resumeTo) < Date.parse(range.dateTo), 'the resume point moved down');
    assert.ok(
      srcStatus.some((s) => /^backfill \d+\/30 d · \d+\/\d+ archived · ~/.test(s.text ?? '')),
      `progress with days, items and time left in the status: ${JSON.stringify(srcStatus.at(-1))}`,
    );
    await helper.unload();

    // The same flow again: the flows start, the job resumes from its stored resume point.
    const stopped = storedJob('src')!;
    sim.requestLog.length = 0;
    const { flow: f2, credentials: c2 } = flow(archive, {});
    await helper.load(allNodes, f2, c2);
    const src2 = helper.getNode('src');
    const status2 = statuses(src2);
    await waitFor(() => Boolean(storedJob('src')?.completedAt), 120_000, 'backfill listed to the end');
    await waitFor(
      () => status2.some((s) => /^backfill done/.test(s.text ?? '')),
      120_000,
      'everything found is archived',
    );
    const firstListing = sim.requestLog.find((e) => e.path.includes('/call-log'));
    assert.ok(firstListing, 'the resumed job listed');
    const dateTo = new URL(firstListing.path, 'http://x').searchParams.get('dateTo');
    assert.equal(dateTo, stopped.parts[0].resumeTo, 'the listing went on from where it stopped');

    const files = archivedFiles(archive);
    const recordingFiles = files.filter((f) => !f.endsWith('.json'));
    const recordFiles = files.filter((f) => f.endsWith('.json'));
    assert.equal(recordingFiles.length, recordings.length, 'every recording once');
    assert.deepEqual(
      new Set(recordingFiles.map(sha256)),
      new Set(recordings.map((r) => sim.expectedContent(r.id).sha256)),
    );
    const recordIds = recordFiles
      .map((f) => (JSON.parse(readFileSync(f, 'utf8')) as { id: string }).id)
      .sort();
    assert.deepEqual(recordIds, calls.map((c) => c.id).sort(), 'every call-log record once, no gap');
    withLedger((l) => {
      const counts = l.counts('src');
      assert.equal(counts.Pending, 0);
      assert.equal(counts.Failed, 0);
      assert.equal(counts.Archived, recordings.length + calls.length);
    });
    assert.equal(sim.stats.rateLimited, 0, 'no 429 was provoked');
  });

  it('items near deletion that are not archived go to the second output and the status', async () => {
    n++;
    process.env.RC_ARCHIVER_LEDGER = join(userDir, `retention-ledger-${n}.sqlite`);
    // An account that keeps recordings 32 days: the 30-day-old ones are 2 days from deletion. The
    // sink cannot write (its directory is a file), so everything stays Failed.
    const blocked = join(userDir, `blocked-${n}`);
    writeFileSync(blocked, 'not a directory');
    const { flow: f, credentials } = flow(blocked, { archive: 'recordings', initialDays: 30, warnDays: 5 });
    (f.find((x) => x.id === 'rc') as Record<string, unknown>).retentionRecordingDays = 32;
    await helper.load(allNodes, f, credentials);
    const src = helper.getNode('src');
    const near: Array<{ payload: { count: number; items: Array<Record<string, unknown>> } }> = [];
    helper.getNode('near').on('input', (m: never) => near.push(m));
    let failed = 0;
    helper.getNode('bad').on('input', () => failed++);
    const srcStatus = statuses(src);
    const recordings = sim.allRecordings();
    const due = recordings.filter((r) => Date.parse(r.startTime) < sim.now() - 27 * DAY);
    assert.ok(due.length > 0 && due.length < recordings.length);

    src.receive({ payload: 1 });
    await waitFor(() => failed >= recordings.length, 60_000, 'every recording failed in the sink');
    assert.equal(near.length, 0, 'items found by the run itself are not reported by it');
    src.receive({ payload: 2 });
    await waitFor(() => near.length > 0, 30_000, 'a retention warning');
    const warning = near[0].payload;
    assert.deepEqual(
      warning.items.map((w) => w.key).sort(),
      due.map((r) => `CallRecording:${r.id}`).sort(),
      'exactly the recordings within 5 days of deletion',
    );
    for (const w of warning.items) {
      assert.equal(w.status, 'Failed');
      assert.ok((w.daysLeft as number) <= 5 && (w.daysLeft as number) >= 0);
      assert.ok(typeof w.lastError === 'string' && w.lastError.length > 0);
    }
    assert.equal(warning.count, due.length);
    await waitFor(
      () => srcStatus.some((s) => s.fill === 'yellow' && /near deletion/.test(s.text ?? '')),
      5_000,
      'the status says it',
    );
  });

  it('"retained" backfills a mailbox by the account figures and the status ends with done', async () => {
    n++;
    const archive = join(userDir, `messages-${n}`);
    process.env.RC_ARCHIVER_LEDGER = join(userDir, `messages-ledger-${n}.sqlite`);
    const { flow: f, credentials } = flow(archive, {});
    const src = f.find((x) => x.id === 'src') as Record<string, unknown>;
    Object.assign(src, {
      type: 'rc-message-source',
      scope: 'extension',
      initialDays: 0,
      backfill: 'retained',
    });
    delete src.archive;
    await helper.load(allNodes, f, credentials);
    const node = helper.getNode('src');
    const status = statuses(node);
    await waitFor(() => status.some((s) => /^backfill done/.test(s.text ?? '')), 120_000, 'backfill done');
    const job = storedJob('src')!;
    assert.equal(job.origin, 'retained');
    // Texts have no time limit: ten years back.
    assert.equal(Math.round((Date.parse(job.dateTo) - Date.parse(job.dateFrom)) / DAY), 3650);
    const own = sim.allMessages({ extensionId: sim.adminExtension.id, availability: ['Alive', 'Deleted'] });
    assert.ok(own.length > 0);
    withLedger((l) => {
      for (const m of own) {
        const keys = l.query({ text: String(m.id), source: 'src' });
        if (m.type === 'Pager') continue;
        assert.ok(keys.length > 0, `message ${m.id} (${m.type}) archived`);
        for (const row of keys) assert.equal(row.status, 'Archived');
      }
    });
    // Deployed again, the configured backfill is not run twice.
    await helper.unload();
    sim.requestLog.length = 0;
    await helper.load(allNodes, f, credentials);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(storedJob('src')!.startedAt, job.startedAt, 'the same job, done once');
  });
});
