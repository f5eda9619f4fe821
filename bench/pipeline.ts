// The pipeline with RingCentral's limits lifted: how many items a second the real nodes carry
// from a source through rc-rate-limit into the folder sink, when the API is not what holds them.
//
//   (a) call-log records: rc-call-log-source (archive: records) → rc-rate-limit → rc-folder-sink
//   (b) small recordings (1–5 KB): rc-call-log-source (archive: recordings) → rc-rate-limit → rc-folder-sink
//
// Each run loads the built nodes (dist/, as Node-RED loads them) into an in-process Node-RED
// (node-red-node-test-helper), with a fresh ledger file and archive folder, triggers the source
// once and times from the trigger to the last item on the sink's "archived" output. Every file is
// then checked against the simulator (count, and bytes for the recordings). The contenders run
// side by side in each repeat: the ledger's group commit of outcomes on, and off
// (RC_ARCHIVER_LEDGER_COMMIT_MS=0: each outcome its own transaction, as before), and the
// folder sink with 16 transfers at once instead of 4.
//
//   node build.mjs && npm run bench:pipeline          (writes its section of BENCHMARKS.md)
//   BENCH_REPEATS=1 BENCH_RECORDS=2000 BENCH_RECORDINGS=300 npm run bench:pipeline   (a quick look; no write)
//   BENCH_ONLY=records npm run bench:pipeline         (one scenario; no write)
//   BENCH_CONTENDER="concurrency 16" BENCH_ONLY=records node --cpu-prof --import tsx bench/pipeline.ts
//                                                     (one contender, for a profile; no write)
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ArchiveItem } from '../lib/items';
import { Ledger } from '../lib/ledger/index';
import { startSimulator, type Simulator } from '../test/sim/index';
import { builtNode } from '../test/support/node-red';
import { createHelper } from '../test/support/helper';
import { machineLine, writeSection } from './report';

const REPEATS = Number(process.env.BENCH_REPEATS) || 3;
const RECORDS = Number(process.env.BENCH_RECORDS) || 5_000;
const RECORDINGS = Number(process.env.BENCH_RECORDINGS) || 1_000;
const ONLY = process.env.BENCH_ONLY;
/** One contender by name (a profile of one setting); no write. */
const CONTENDER = process.env.BENCH_CONTENDER;
const DEFAULTS =
  !process.env.BENCH_REPEATS &&
  !process.env.BENCH_RECORDS &&
  !process.env.BENCH_RECORDINGS &&
  !ONLY &&
  !CONTENDER;
// Far above what any run here asks: the API never holds the pipeline.
const LIFTED = { Light: 1_000_000, Medium: 1_000_000, Heavy: 1_000_000, Auth: 1_000_000 };

interface Scenario {
  name: string;
  archive: 'records' | 'recordings';
  sim: Simulator;
  /** The keys the sink must archive. */
  expected: number;
  verify(dir: string): string | undefined;
}

interface Contender {
  name: string;
  env: Record<string, string>;
  /** Settings of the folder sink beyond the defaults. */
  sink?: Record<string, unknown>;
}

const CONTENDERS = (
  [
    { name: 'group commit (default)', env: {} },
    { name: 'one transaction per outcome', env: { RC_ARCHIVER_LEDGER_COMMIT_MS: '0' } },
    // Where the sink waits on the disk (an fsync per file), more transfers at once show it.
    { name: 'group commit, sink concurrency 16', env: {}, sink: { concurrency: 16 } },
  ] as Contender[]
).filter((c) => !CONTENDER || c.name.includes(CONTENDER));

const nodes = ['rc-config', 'rc-call-log-source', 'rc-rate-limit', 'rc-folder-sink'].map(builtNode);

function filesIn(dir: string, pattern: RegExp): string[] {
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => pattern.test(f));
}

async function scenarios(): Promise<Scenario[]> {
  const list: Scenario[] = [];
  if (!ONLY || ONLY === 'records') {
    // One day of calls without recordings: one call-log record (JSON) per call.
    const sim = await startSimulator({
      seed: 31,
      days: 1,
      callsPerDay: RECORDS,
      recordingFraction: 0,
      lateFraction: 0,
      rateLimits: LIFTED,
    });
    const expected = sim.allCalls().length;
    list.push({
      name: 'call-log records',
      archive: 'records',
      sim,
      expected,
      verify(dir) {
        const n = filesIn(dir, /\.json$/).filter((f) => !f.endsWith('.json.json')).length;
        return n === expected ? undefined : `${n} record files, expected ${expected}`;
      },
    });
  }
  if (!ONLY || ONLY === 'recordings') {
    const sim = await startSimulator({
      seed: 32,
      days: 1,
      callsPerDay: RECORDINGS,
      recordingFraction: 1,
      twoRecordingFraction: 0,
      legOnlyFraction: 0,
      lateFraction: 0,
      lateRecordingFraction: 0,
      recordingBytes: { min: 1024, max: 5120 },
      rateLimits: LIFTED,
    });
    const recordings = sim.allRecordings();
    const hashes = new Set(recordings.map((r) => sim.expectedContent(r.id).sha256));
    list.push({
      name: 'recordings of 1–5 KB',
      archive: 'recordings',
      sim,
      expected: recordings.length,
      verify(dir) {
        const files = filesIn(dir, /\.(mp3|wav)$/);
        if (files.length !== recordings.length) return `${files.length} files, expected ${recordings.length}`;
        for (const f of files) {
          const sha = createHash('sha256')
            .update(readFileSync(join(dir, f)))
            .digest('hex');
          if (!hashes.has(sha)) return `${f} has bytes no recording has`;
        }
        return undefined;
      },
    });
  }
  return list;
}

interface Result {
  scenario: string;
  contender: string;
  items: number;
  seconds: number;
  perSecond: number;
}

async function runOnce(
  helper: ReturnType<typeof createHelper>['helper'],
  userDir: string,
  scenario: Scenario,
  contender: Contender,
  run: number,
): Promise<Result> {
  const dir = join(userDir, `archive-${run}`);
  const saved = { ...process.env };
  process.env.RC_ARCHIVER_LEDGER = join(userDir, `ledger-${run}.sqlite`);
  Object.assign(process.env, contender.env);
  try {
    await helper.load(
      nodes,
      [
        {
          id: 'src',
          type: 'rc-call-log-source',
          rc: 'rc',
          scope: 'account',
          initialDays: 2,
          lookBackMinutes: 60,
          archive: scenario.archive,
          wires: [['rl']],
        },
        // A queue long enough for the whole backlog: the run measures the pipeline, not the overflow rule.
        { id: 'rl', type: 'rc-rate-limit', group: 'auto', maxQueue: 1_000_000, wires: [['sink']] },
        {
          id: 'sink',
          type: 'rc-folder-sink',
          directory: dir,
          timeZone: 'UTC',
          sidecar: true,
          wires: [['ok'], ['bad']],
          ...contender.sink,
        },
        { id: 'ok', type: 'helper' },
        { id: 'bad', type: 'helper' },
        { id: 'rc', type: 'rc-config', server: 'custom', serverUrl: scenario.sim.platformUrl },
      ],
      { rc: { ...scenario.sim.credentials } },
    );
    let archived = 0;
    let failed = 0;
    let lastAt = 0;
    let settle: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (settle = resolve));
    const count = () => {
      if (archived + failed >= scenario.expected) settle();
    };
    helper.getNode('ok').on('input', () => {
      archived++;
      lastAt = performance.now();
      count();
    });
    helper.getNode('bad').on('input', () => {
      failed++;
      count();
    });
    const started = performance.now();
    helper.getNode('src').receive({ payload: Date.now() });
    const timeout = setTimeout(settle, 15 * 60_000);
    await finished;
    clearTimeout(timeout);
    if (failed || archived !== scenario.expected) {
      throw new Error(`${scenario.name}: ${archived} archived, ${failed} failed of ${scenario.expected}`);
    }
    const seconds = (lastAt - started) / 1000;
    await helper.unload();
    const problem = scenario.verify(dir);
    if (problem) throw new Error(`${scenario.name}: ${problem}`);
    return {
      scenario: scenario.name,
      contender: contender.name,
      items: archived,
      seconds,
      perSecond: archived / seconds,
    };
  } finally {
    process.env = saved;
    rmSync(dir, { recursive: true, force: true });
    for (const suffix of ['', '-wal', '-shm'])
      rmSync(join(userDir, `ledger-${run}.sqlite${suffix}`), { force: true });
  }
}

/**
 * The ledger alone, without Node-RED or a disk write: a listing page of 1,000 in one transaction
 * (recordFound), then each item's Attempt and Archived from 4 transfers at once, as a sink writes
 * them, each transfer waiting for its outcome to be committed before it takes the next item.
 */
async function ledgerAlone(
  dir: string,
  grouped: boolean,
  n: number,
): Promise<{ found: number; steps: number }> {
  const file = join(dir, `ledger-alone-${grouped ? 'grouped' : 'single'}.sqlite`);
  const ledger = Ledger.open(file);
  try {
    const items: ArchiveItem[] = Array.from({ length: n }, (_, i) => ({
      key: `CallLog:${i}`,
      kind: 'CallLog',
      accountId: '1',
      createdAt: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
      fileName: `${i}.json`,
      contentType: 'application/json',
      content: { json: { id: String(i), legs: [{ pad: 'x'.repeat(1500) }] } },
      record: { id: String(i) },
      rc: 'rc',
    }));
    let started = performance.now();
    for (let i = 0; i < n; i += 1000) ledger.recordFound(items.slice(i, i + 1000), 'src');
    const found = n / ((performance.now() - started) / 1000);
    const book = grouped ? ledger.grouped() : ledger;
    let next = 0;
    started = performance.now();
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < n) {
          const item = items[next++];
          book.markAttempt(item.key, 'folder', item);
          await new Promise((resolve) => setImmediate(resolve));
          book.markArchived(
            item.key,
            'folder',
            {
              provider: 'folder',
              path: `${item.key}.json`,
              bytes: 1,
              sha256: 'ab',
              archivedAt: new Date().toISOString(),
            },
            item,
          );
          await book.settled?.();
        }
      }),
    );
    return { found, steps: (2 * n) / ((performance.now() - started) / 1000) };
  } finally {
    ledger.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
  }
}

function stats(values: number[]): { min: number; median: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0], median: sorted[Math.floor(sorted.length / 2)], max: sorted[sorted.length - 1] };
}

async function main(): Promise<void> {
  const { helper, userDir } = createHelper();
  const alone: Array<{ grouped: boolean; found: number; steps: number }> = [];
  if (!ONLY || ONLY === 'ledger') {
    for (let repeat = 1; repeat <= REPEATS; repeat++) {
      for (const grouped of repeat % 2 ? [true, false] : [false, true]) {
        const r = await ledgerAlone(userDir, grouped, RECORDS);
        alone.push({ grouped, ...r });
        console.log(
          `repeat ${repeat} · ledger alone · ${grouped ? 'group commit' : 'one transaction per step'}: ` +
            `${r.found.toFixed(0)} found/s, ${r.steps.toFixed(0)} steps/s`,
        );
      }
    }
  }
  if (ONLY === 'ledger') return;
  await helper.startServer();
  const list = await scenarios();
  const results: Result[] = [];
  let run = 0;
  try {
    for (let repeat = 1; repeat <= REPEATS; repeat++) {
      for (const scenario of list) {
        // Alternating the order spreads a busy moment of the shared machine over all.
        const order = repeat % 2 ? CONTENDERS : [...CONTENDERS].reverse();
        for (const contender of order) {
          const r = await runOnce(helper, userDir, scenario, contender, ++run);
          results.push(r);
          console.log(
            `repeat ${repeat} · ${r.scenario} · ${r.contender}: ${r.items} in ${r.seconds.toFixed(2)} s = ${r.perSecond.toFixed(0)}/s`,
          );
        }
      }
    }
  } finally {
    for (const s of list) await s.sim.close();
    await helper.stopServer();
    rmSync(userDir, { recursive: true, force: true });
  }

  const rows = list.flatMap((s) =>
    CONTENDERS.map((c) => {
      const mine = results.filter((r) => r.scenario === s.name && r.contender === c.name);
      const rate = stats(mine.map((r) => r.perSecond));
      const secs = stats(mine.map((r) => r.seconds));
      return `| ${s.name} | ${c.name} | ${mine[0]?.items ?? 0} | ${rate.min.toFixed(0)} | ${rate.median.toFixed(0)} | ${rate.max.toFixed(0)} | ${secs.median.toFixed(2)} |`;
    }),
  );
  const ledgerRows = [true, false].map((grouped) => {
    const mine = alone.filter((r) => r.grouped === grouped);
    const found = stats(mine.map((r) => r.found));
    const steps = stats(mine.map((r) => r.steps));
    return `| ${grouped ? 'group commit (default)' : 'one transaction per step'} | ${found.min.toFixed(0)} / ${found.median.toFixed(0)} / ${found.max.toFixed(0)} | ${steps.min.toFixed(0)} / ${steps.median.toFixed(0)} / ${steps.max.toFixed(0)} |`;
  });
  const ledgerTable = [
    '| outcomes | items found a second, pages of 1,000 (min / median / max) | steps a second, 4 transfers (min / median / max) |',
    '|---|---|---|',
    ...ledgerRows,
  ].join('\n');
  console.log(`\n${ledgerTable}`);
  const table = [
    '| items | contender | items per run | per second min | median | max | seconds (median) |',
    '|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
  console.log(`\n${table}`);
  if (!DEFAULTS) return;
  writeSection(
    'The pipeline with the limits lifted',
    `${machineLine()}, with \`node build.mjs && npm run bench:pipeline\` (bench/pipeline.ts), ${REPEATS} repeats, the contenders side by side in each.

The real nodes in an in-process Node-RED (node-red-node-test-helper, the bundles of dist/): rc-call-log-source → rc-rate-limit (group auto) → rc-folder-sink (with its JSON sidecar), against the simulator with every rate limit at 1,000,000 a window, a fresh ledger file and folder per run. Timed from the trigger to the last item on the sink's archived output; every file is checked afterwards (the count, and each recording's bytes by SHA-256). ${os.cpus().length} cores shared with other work: single runs vary.

${table}

The ledger alone (${RECORDS} call-log items of about 1.7 KB of JSON, a file on disk, no Node-RED): listing pages of 1,000 through \`recordFound\`, then an Attempt and an Archived per item from 4 transfers at once, each waiting for its outcome's commit (\`settled()\`) before the next.

${ledgerTable}

${process.env.BENCH_NOTES ?? ''}`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
