// A pool of logins against one login: recordings downloaded the way the pack downloads them,
// from the simulator, which counts rate limits per app and user like RingCentral. Each download
// asks the Scheduler (lib/scheduler.ts, one queue per API group over the pool's logins) for a
// grant, as rc-rate-limit does, holds it under the item's key, and opens the content through the
// sink's fetcher (`fetcherWithGrants`: the granted login's RcClient, the real @ringcentral/sdk,
// spending the grant's permit). Each download's bytes are hashed and checked against the simulator's.
//
// Two parts, each writing its own section of BENCHMARKS.md:
// - ratio: one login and three logins side by side in one run (each on a simulator of its own),
//   at the default limits (Heavy 10 a window) and a short window; the steady-state rate of the
//   three against three times the one, over repeats (min/median/max), and every 429.
// - hold: RingCentral's archiving guide's example, 40,000 recordings a day (28 a minute), offered
//   at that pace to the logins at the real 60 s window for at least 10 minutes: what was done
//   each minute and the backlog. Side by side: 3 logins through the scheduler (the pack), 3 logins
//   through `LoginPool.openContent` (each download picks the login with room itself), and
//   1 login through the scheduler (the ceiling of one login).
//
//   npm run bench:pool                       (both parts; the hold part takes 10 minutes)
//   BENCH_POOL_PART=ratio npm run bench:pool (BENCH_POOL_PART=hold for the other)
//   BENCH_POOL_REPEATS=5 BENCH_POOL_WINDOW_SEC=20 BENCH_POOL_HOLD_MIN=10 (the defaults: 3, 20, 10)
import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { RcClient } from '../lib/ringcentral/client';
import { LoginPool } from '../lib/ringcentral/pool';
import { fetcherWithGrants, Scheduler } from '../lib/scheduler';
import { startSimulator, type RecordingInfo, type Simulator } from '../test/sim/index';
import { machineLine, writeSection } from './report';

const PART = process.env.BENCH_POOL_PART ?? 'all';
const REPEATS = Number(process.env.BENCH_POOL_REPEATS) || 3;
const WINDOW_SEC = Number(process.env.BENCH_POOL_WINDOW_SEC) || 20;
const STEADY_WINDOWS = 3;
const HOLD_MIN = Number(process.env.BENCH_POOL_HOLD_MIN) || 10;
const GUIDE_PER_MIN = 28;

interface Contender {
  sim: Simulator;
  pool: LoginPool;
  scheduler: Scheduler;
  clients: RcClient[];
  /** Through the scheduler (the pack), or through `LoginPool.openContent`. */
  path: 'scheduler' | 'pool';
}

async function contender(
  logins: number,
  windowSec: number,
  path: Contender['path'] = 'scheduler',
): Promise<Contender> {
  const sim = await startSimulator({
    seed: 40 + logins,
    days: 7,
    callsPerDay: 120,
    extensions: Math.max(5, logins),
    otherExtensions: false,
    recordingFraction: 0.6,
    twoRecordingFraction: 0,
    legOnlyFraction: 0,
    lateFraction: 0,
    lateRecordingFraction: 0,
    recordingBytes: { min: 1_000, max: 5_000 },
    rateWindowSec: windowSec,
  });
  const clients = sim.extensions.slice(0, logins).map(
    (ext, i) =>
      new RcClient({
        ...sim.credentials,
        jwt: sim.jwtFor(ext.id),
        server: sim.platformUrl,
        cachePrefix: `bench-pool-${logins}-${path}-${i}-`,
      }),
  );
  const pool = new LoginPool(clients.map((client, i) => ({ id: `login${i + 1}`, client })));
  // As an rc-config builds it: its logins asked again at every decision.
  const scheduler = new Scheduler({ logins: () => pool.logins() });
  return { sim, pool, scheduler, clients, path };
}

async function close(c: Contender): Promise<void> {
  c.scheduler.dispose();
  c.pool.dispose();
  for (const client of c.clients) await client.dispose();
  await c.sim.close();
}

/**
 * Downloads one recording and checks its bytes; the time it was done. Through the scheduler, as
 * the pack does: rc-rate-limit's grant held under the item's key, the sink's fetcher claims it and
 * sends on the granted login with its permit.
 */
async function download(c: Contender, rec: RecordingInfo, signal: AbortSignal): Promise<number> {
  let body: NodeJS.ReadableStream;
  if (c.path === 'scheduler') {
    const key = `recording/${rec.id}`;
    const grant = await c.scheduler.schedule({ key, group: 'Heavy' }, signal);
    c.scheduler.hold(key, grant);
    const fetcher = fetcherWithGrants(c.scheduler, (login) => (login && c.pool.client(login)) || c.pool);
    ({ body } = await fetcher.openContent(rec.contentUri, { key, group: 'Heavy', signal }));
  } else {
    ({ body } = await c.pool.openContent(rec.contentUri, { group: 'Heavy', signal }));
  }
  const hash = createHash('sha256');
  for await (const chunk of body) hash.update(chunk as Buffer);
  if (hash.digest('hex') !== rec.sha256) throw new Error(`recording ${rec.id}: wrong bytes`);
  return performance.now();
}

/** Workers that take recordings from `next()` until it has none or the signal aborts. */
async function drain(
  c: Contender,
  next: () => Promise<RecordingInfo | undefined>,
  workers: number,
  signal: AbortSignal,
  done: number[],
): Promise<void> {
  const errors: unknown[] = [];
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (!signal.aborted) {
        const rec = await next();
        if (!rec) return;
        try {
          done.push(await download(c, rec, signal));
        } catch (err) {
          if (!signal.aborted) errors.push(err);
        }
      }
    }),
  );
  if (errors.length) throw errors[0];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const mmm = (xs: number[], digits: number) =>
  `${Math.min(...xs).toFixed(digits)} / ${median(xs).toFixed(digits)} / ${Math.max(...xs).toFixed(digits)}`;

interface RatioRun {
  /** Downloads a minute in steady state, per contender (1 login, 3 logins). */
  perMin: [number, number];
  firstMs: [number, number];
  rateLimited: [number, number];
}

/** One login and three logins at once, each with a backlog larger than the run can take. */
async function ratioRun(): Promise<RatioRun> {
  const contenders = [await contender(1, WINDOW_SEC), await contender(3, WINDOW_SEC)];
  const stop = new AbortController();
  setMaxListeners(0, stop.signal);
  const start = performance.now();
  const done: number[][] = [[], []];
  const runs = contenders.map((c, i) => {
    const queue = c.sim.allRecordings();
    return drain(c, async () => queue.shift(), 4 * c.clients.length, stop.signal, done[i]);
  });
  const runMs = (1 + STEADY_WINDOWS + 0.5) * WINDOW_SEC * 1000;
  await new Promise((resolve) => setTimeout(resolve, runMs));
  stop.abort();
  await Promise.allSettled(runs);
  const steadyFrom = start + WINDOW_SEC * 1000;
  const steadyTo = steadyFrom + STEADY_WINDOWS * WINDOW_SEC * 1000;
  const perMin = done.map(
    (times) =>
      (times.filter((t) => t >= steadyFrom && t < steadyTo).length / (STEADY_WINDOWS * WINDOW_SEC)) * 60,
  ) as [number, number];
  const firstMs = done.map((times) => (times.length ? Math.min(...times) - start : NaN)) as [number, number];
  const rateLimited = contenders.map((c) => c.sim.stats.rateLimited) as [number, number];
  for (const c of contenders) await close(c);
  return { perMin, firstMs, rateLimited };
}

async function ratioPart(): Promise<void> {
  const runs: RatioRun[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const run = await ratioRun();
    runs.push(run);
    console.log(
      `ratio repeat ${i + 1}: 1 login ${run.perMin[0].toFixed(1)}/min, 3 logins ${run.perMin[1].toFixed(1)}/min, ` +
        `ratio ${(run.perMin[1] / (3 * run.perMin[0])).toFixed(3)}, 429s ${run.rateLimited.join('/')}`,
    );
  }
  const nominal = (10 / WINDOW_SEC) * 60;
  const ratios = runs.map((r) => r.perMin[1] / (3 * r.perMin[0]));
  const body = [
    `${machineLine()}. Command: \`BENCH_POOL_PART=ratio npm run bench:pool\` (${REPEATS} repeats, min / median / max).`,
    '',
    `The simulator at RingCentral's default limits (Heavy 10 requests a window per app and user) with a ${WINDOW_SEC} s window;`,
    `a backlog of small recordings (1–5 KB) larger than a run can take, downloaded the way the pack does: a grant from`,
    `the Scheduler (one Heavy queue over the pool's logins, the login with room), held under the item's key and claimed`,
    `by the sink's fetcher, which sends on the granted login with its permit (4 downloads at a time per login), each`,
    `checked against the simulator's SHA-256. Both contenders run at once,`,
    `each against a simulator of its own. Steady state: the ${STEADY_WINDOWS} windows after the first.`,
    '',
    '| | 1 login | 3 logins |',
    '|---|---|---|',
    `| recordings a minute, steady state | ${mmm(
      runs.map((r) => r.perMin[0]),
      1,
    )} | ${mmm(
      runs.map((r) => r.perMin[1]),
      1,
    )} |`,
    `| share of the nominal Heavy limit (${nominal} a minute per login) | ${mmm(
      runs.map((r) => r.perMin[0] / nominal),
      3,
    )} | ${mmm(
      runs.map((r) => r.perMin[1] / (3 * nominal)),
      3,
    )} |`,
    `| first recording done after (s) | ${mmm(
      runs.map((r) => r.firstMs[0] / 1000),
      2,
    )} | ${mmm(
      runs.map((r) => r.firstMs[1] / 1000),
      2,
    )} |`,
    `| 429 answers (all repeats) | ${runs.reduce((n, r) => n + r.rateLimited[0], 0)} | ${runs.reduce((n, r) => n + r.rateLimited[1], 0)} |`,
    '',
    `3 logins against 3 × one login's rate: **${mmm(ratios, 3)}**.`,
    '',
    "The share of the nominal limit is the budget's own (one request in reserve only until a login's first answer, then",
    "the server's Remaining used exactly); what the pool adds is the ratio.",
  ].join('\n');
  if (process.env.BENCH_POOL_WRITE !== '0') writeSection('A pool of logins: 3 logins against one', body);
  console.log(body);
}

interface HoldRun {
  label: string;
  logins: number;
  perMinute: number[];
  /** Offered and not yet archived at the end of each minute. */
  backlogByMinute: number[];
  maxBacklog: number;
  endBacklog: number;
  offered: number;
  archived: number;
  rateLimited: number;
}

/** Recordings offered at the guide's pace to three logins for HOLD_MIN minutes at a 60 s window. */
async function holdRun(label: string, logins: number, path: Contender['path']): Promise<HoldRun> {
  const c = await contender(logins, 60, path);
  const all = c.sim.allRecordings();
  const intervalMs = 60_000 / GUIDE_PER_MIN;
  const totalMs = HOLD_MIN * 60_000;
  const start = performance.now();
  const offered: RecordingInfo[] = [];
  let offeredCount = 0;
  const waiting: Array<(rec: RecordingInfo | undefined) => void> = [];
  let ended = false;
  const offer = setInterval(() => {
    if (performance.now() - start >= totalMs || offeredCount >= all.length) return;
    const rec = all[offeredCount++];
    const taker = waiting.shift();
    if (taker) taker(rec);
    else offered.push(rec);
  }, intervalMs);
  const next = () =>
    offered.length || ended
      ? Promise.resolve(offered.shift())
      : new Promise<RecordingInfo | undefined>((resolve) => waiting.push(resolve));
  const stop = new AbortController();
  setMaxListeners(0, stop.signal);
  const done: number[] = [];
  let maxBacklog = 0;
  const backlogByMinute: number[] = [];
  const watch = setInterval(() => {
    maxBacklog = Math.max(maxBacklog, offeredCount - done.length);
  }, 250);
  const minutes = setInterval(() => backlogByMinute.push(offeredCount - done.length), 60_000);
  const run = drain(c, next, 12, stop.signal, done);
  await new Promise((resolve) => setTimeout(resolve, totalMs));
  clearInterval(offer);
  clearInterval(watch);
  clearInterval(minutes);
  const endBacklog = offeredCount - done.length;
  if (backlogByMinute.length < HOLD_MIN) backlogByMinute.push(endBacklog);
  ended = true;
  stop.abort();
  for (const taker of waiting.splice(0)) taker(undefined);
  await run.catch(() => undefined);
  const perMinute = Array.from(
    { length: HOLD_MIN },
    (_, m) => done.filter((t) => t >= start + m * 60_000 && t < start + (m + 1) * 60_000).length,
  );
  const result = {
    label,
    logins,
    perMinute,
    backlogByMinute,
    maxBacklog,
    endBacklog,
    offered: offeredCount,
    archived: done.length,
    rateLimited: c.sim.stats.rateLimited,
  };
  await close(c);
  console.log(JSON.stringify(result));
  return result;
}

/** Held: the backlog at the end is no larger than at half-time (it does not grow). */
function held(r: HoldRun): boolean {
  const half = r.backlogByMinute[Math.floor(r.backlogByMinute.length / 2) - 1] ?? 0;
  return r.endBacklog <= Math.max(half, 2);
}

async function holdPart(): Promise<void> {
  const runs = await Promise.all([
    holdRun('3 logins through the scheduler (the pack)', 3, 'scheduler'),
    holdRun('3 logins through `LoginPool.openContent`', 3, 'pool'),
    holdRun('1 login through the scheduler', 1, 'scheduler'),
  ]);
  const body = [
    `${machineLine()}. Command: \`BENCH_POOL_PART=hold npm run bench:pool\` (one run of ${HOLD_MIN} minutes; the three contenders at once, each on a simulator of its own).`,
    '',
    `RingCentral's archiving guide: 4,000 users with 10 calls a day, 40,000 recordings a day, **${GUIDE_PER_MIN} a minute**.`,
    `The simulator (default limits, the real 60 s window) gets a new recording offered every ${(60 / GUIDE_PER_MIN).toFixed(2)} s;`,
    `the logins (users of one account) download them (12 at a time), each checked by SHA-256: through the Scheduler as the`,
    `pack does (grant held under the item's key, claimed by the sink's fetcher), or each download asking the pool itself.`,
    '',
    "| contender | offered | archived | archived per minute | backlog at each minute's end | held | 429 |",
    '|---|---|---|---|---|---|---|',
    ...runs.map(
      (r) =>
        `| ${r.label} | ${r.offered} | ${r.archived} | ${r.perMinute.join(', ')} | ${r.backlogByMinute.join(', ')} | ${held(r) ? 'yes' : 'no'} | ${r.rateLimited} |`,
    ),
    '',
    'Held: the backlog at the end is no larger than at half-time. Each login brings 10 Heavy requests a minute;',
    `3 logins bring 30 against the guide's ${GUIDE_PER_MIN}, one login 10.`,
  ].join('\n');
  if (process.env.BENCH_POOL_WRITE !== '0')
    writeSection(`A pool of logins: the guide's ${GUIDE_PER_MIN} recordings a minute`, body);
  console.log(body);
}

async function main(): Promise<void> {
  if (PART === 'all' || PART === 'ratio') await ratioPart();
  if (PART === 'all' || PART === 'hold') await holdPart();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
