// How much of RingCentral's rate budget each strategy spends, against the simulator (test/sim),
// three contenders side by side in the same run, each with a simulator of its own (so each has
// the whole budget of one login):
//   - the pack: RcClient + the scheduler, as rc-rate-limit and a sink use them (grant, hold,
//     the download claims the permit);
//   - a naive @ringcentral/sdk loop: one request after the other, waiting out Retry-After on 429;
//   - a fixed-sleep loop: 6.5 s after each Heavy request (1.6 s after a Medium one), the strategy
//     of the best open-source peer.
// Two backlogs run at once: recordings only (Heavy), and recordings mixed with voicemail, fax
// and MMS attachments (Heavy and Medium). Each run lasts BENCH_WINDOWS windows; the first window
// is the start, the rest is the steady state whose share of the budget is reported.
//
//   npm run bench:budget                 (writes its section of BENCHMARKS.md)
//   BENCH_REPEATS=1 BENCH_WINDOWS=3 npm run bench:budget   (a quick look; does not write it)
import { SDK } from '@ringcentral/sdk';
import { RcClient } from '../lib/ringcentral/client';
import type { ApiGroup } from '../lib/ringcentral/types';
import { fetcherWithGrants, schedulerForClient } from '../lib/scheduler';
import { startSimulator, type Simulator } from '../test/sim/index';
import { machineLine, writeSection } from './report';

const REPEATS = Number(process.env.BENCH_REPEATS) || 3;
const WINDOWS = Number(process.env.BENCH_WINDOWS) || 5;
/** The 60 s window is the real one; it runs once and shorter. */
const LONG_WINDOWS =
  process.env.BENCH_LONG_WINDOWS !== undefined ? Number(process.env.BENCH_LONG_WINDOWS) : 4;
const WRITE = !process.env.BENCH_REPEATS && !process.env.BENCH_WINDOWS && !process.env.BENCH_LONG_WINDOWS;
const LIMITS: Record<'Heavy' | 'Medium', number> = { Heavy: 10, Medium: 40 };

interface Job {
  key: string;
  uri: string;
  group: 'Heavy' | 'Medium';
  createdAt: string;
}

type Contender = 'pack' | 'naive SDK loop' | 'sleep 6.5 s loop';
const CONTENDERS: Contender[] = ['pack', 'naive SDK loop', 'sleep 6.5 s loop'];

interface Outcome {
  contender: Contender;
  backlog: 'Heavy' | 'mixed';
  windowSec: number;
  /** Steady-state share of each group's budget (requests answered 200 / what the limit allows). */
  share: Partial<Record<ApiGroup, number>>;
  /** From the start to the first Heavy request at the server, seconds. */
  firstHeavySec: number;
  rateLimited: number;
  downloads: number;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

async function simulator(windowSec: number, mixed: boolean): Promise<Simulator> {
  return startSimulator({
    seed: 31,
    days: 7,
    callsPerDay: 40,
    recordingFraction: 1,
    recordingBytes: { min: 1_000, max: 5_000 },
    messagesPerDay: mixed ? 70 : 0,
    messageFractions: { VoiceMail: 0.4, Fax: 0.3, MMS: 0.3, SMS: 0, Pager: 0 },
    rateWindowSec: windowSec,
    // Retry-After as RingCentral's: the penalty lasts a window.
    penaltySec: windowSec,
  });
}

/** The backlog as sources would send it: recordings and attachments interleaved by creation time. */
function jobsOf(sim: Simulator, mixed: boolean): Job[] {
  const jobs: Job[] = sim.allRecordings().map((r) => ({
    key: `CallRecording:${r.id}`,
    uri: r.contentUri,
    group: 'Heavy' as const,
    createdAt: r.startTime,
  }));
  if (mixed) {
    for (const m of sim.allMessages({ availability: ['Alive'] })) {
      for (const a of m.attachments)
        jobs.push({
          key: `${m.type}:${m.id}:${a.id}`,
          uri: a.uri,
          group: 'Medium',
          createdAt: m.creationTime,
        });
    }
  }
  return jobs.sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt));
}

async function drain(body: NodeJS.ReadableStream): Promise<void> {
  for await (const chunk of body) void chunk;
}

/** The pack: every item handed to the scheduler; each grant's download claims its permit. */
async function runPack(sim: Simulator, jobs: Job[], signal: AbortSignal): Promise<void> {
  const client = new RcClient({ ...sim.credentials, log: () => undefined });
  const scheduler = schedulerForClient('bench', () => client);
  const fetcher = fetcherWithGrants(scheduler, () => client);
  await Promise.all(
    jobs.map(async (job) => {
      try {
        const grant = await scheduler.schedule(
          { key: job.key, group: job.group, createdAt: job.createdAt },
          signal,
        );
        scheduler.hold(job.key, grant);
        const response = await fetcher.openContent(job.uri, { key: job.key, group: job.group, signal });
        await drain(response.body);
      } catch {
        // stopped at the end of the run
      }
    }),
  );
  scheduler.dispose();
  await client.dispose();
}

/** One request after the other; on 429 it waits out Retry-After and sends the same again. */
async function runLoop(
  sim: Simulator,
  jobs: Job[],
  signal: AbortSignal,
  pauseAfter?: Record<'Heavy' | 'Medium', number>,
): Promise<void> {
  const sdk = new SDK({
    server: sim.credentials.server,
    clientId: sim.credentials.clientId,
    clientSecret: sim.credentials.clientSecret,
    cachePrefix: `bench-${Math.random()}`,
    handleRateLimit: false,
  });
  const platform = sdk.platform();
  await platform.login({ jwt: sim.credentials.jwt });
  for (const job of jobs) {
    while (!signal.aborted) {
      try {
        const response = await platform.get(job.uri);
        await response.arrayBuffer();
        break;
      } catch (err) {
        const response = (err as { response?: Response }).response;
        if (response?.status !== 429) throw err;
        const seconds = Number(response.headers.get('retry-after'));
        await sleep((Number.isFinite(seconds) ? seconds : 60) * 1000, signal);
      }
    }
    if (signal.aborted) break;
    if (pauseAfter) await sleep(pauseAfter[job.group], signal);
  }
  await platform.logout().catch(() => undefined);
}

/** Requests answered 200 in the steady state (after the first window) over what the limit allows there. */
function shareOf(
  sim: Simulator,
  group: 'Heavy' | 'Medium',
  from: number,
  to: number,
  windowSec: number,
): number {
  const done = sim.requestLog.filter(
    (e) => e.host === 'media' && e.group === group && e.status === 200 && e.at >= from && e.at < to,
  ).length;
  return done / ((LIMITS[group] * (to - from)) / (windowSec * 1000));
}

async function runOne(
  contender: Contender,
  backlog: 'Heavy' | 'mixed',
  windowSec: number,
  windows: number,
): Promise<Outcome> {
  const mixed = backlog === 'mixed';
  const sim = await simulator(windowSec, mixed);
  try {
    const jobs = jobsOf(sim, mixed);
    const heavyJobs = jobs.filter((j) => j.group === 'Heavy').length;
    const mediumJobs = jobs.length - heavyJobs;
    if (heavyJobs < LIMITS.Heavy * (windows + 1) || (mixed && mediumJobs < LIMITS.Medium * (windows + 1)))
      throw new Error(`backlog too small for ${windows} windows: ${heavyJobs} Heavy, ${mediumJobs} Medium`);
    sim.resetStats();
    const stop = new AbortController();
    const start = Date.now();
    const end = start + windows * windowSec * 1000;
    const timer = setTimeout(() => stop.abort(), end - start);
    const run =
      contender === 'pack'
        ? runPack(sim, jobs, stop.signal)
        : runLoop(
            sim,
            jobs,
            stop.signal,
            contender === 'naive SDK loop' ? undefined : { Heavy: 6_500, Medium: 1_600 },
          );
    await run;
    clearTimeout(timer);
    const heavyAt = sim.requestLog.filter((e) => e.group === 'Heavy').map((e) => e.at);
    const steadyFrom = start + windowSec * 1000;
    const share: Outcome['share'] = { Heavy: shareOf(sim, 'Heavy', steadyFrom, end, windowSec) };
    if (mixed) share.Medium = shareOf(sim, 'Medium', steadyFrom, end, windowSec);
    return {
      contender,
      backlog,
      windowSec,
      share,
      firstHeavySec: heavyAt.length ? (Math.min(...heavyAt) - start) / 1000 : Number.NaN,
      rateLimited: sim.stats.rateLimited,
      downloads: sim.stats.downloads.completed,
    };
  } finally {
    await sim.close();
  }
}

/** Every contender with both backlogs at once: one run. */
async function runAll(windowSec: number, windows: number): Promise<Outcome[]> {
  const runs: Array<Promise<Outcome>> = [];
  for (const backlog of ['Heavy', 'mixed'] as const)
    for (const contender of CONTENDERS) runs.push(runOne(contender, backlog, windowSec, windows));
  return Promise.all(runs);
}

function stats(values: number[], digits = 3): string {
  const sorted = [...values].filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (!sorted.length) return '–';
  const fmt = (v: number) => v.toFixed(digits);
  const median = sorted[Math.floor(sorted.length / 2)];
  return sorted.length === 1 ? fmt(median) : `${fmt(sorted[0])} / ${fmt(median)} / ${fmt(sorted.at(-1)!)}`;
}

function table(outcomes: Outcome[], windowSec: number, repeats: number): string {
  const rows = [
    `Window ${windowSec} s, ${repeats} run${repeats > 1 ? 's' : ''} of ${windowSec === 60 ? LONG_WINDOWS : WINDOWS} windows` +
      (repeats > 1 ? ' (min / median / max)' : '') +
      ':',
    '',
    '| backlog | contender | Heavy share | Medium share | first Heavy request (s) | 429 answers | downloads |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const backlog of ['Heavy', 'mixed'] as const) {
    for (const contender of CONTENDERS) {
      const mine = outcomes.filter(
        (o) => o.backlog === backlog && o.contender === contender && o.windowSec === windowSec,
      );
      rows.push(
        `| ${backlog === 'Heavy' ? 'recordings' : 'recordings + voicemail, fax, MMS'} | ${contender} | ${stats(
          mine.map((o) => o.share.Heavy ?? Number.NaN),
        )} | ${backlog === 'mixed' ? stats(mine.map((o) => o.share.Medium ?? Number.NaN)) : '–'} | ${stats(
          mine.map((o) => o.firstHeavySec),
        )} | ${stats(
          mine.map((o) => o.rateLimited),
          0,
        )} | ${stats(
          mine.map((o) => o.downloads),
          0,
        )} |`,
      );
    }
  }
  return rows.join('\n');
}

async function main(): Promise<void> {
  const outcomes: Outcome[] = [];
  for (let i = 0; i < REPEATS; i++) {
    console.log(`window 20 s, run ${i + 1} of ${REPEATS}`);
    outcomes.push(...(await runAll(20, WINDOWS)));
  }
  if (LONG_WINDOWS > 0) {
    console.log('window 60 s, one run');
    outcomes.push(...(await runAll(60, LONG_WINDOWS)));
  }
  const body = [
    `${machineLine()}. Command: \`npm run bench:budget\` (bench/budget.ts).`,
    '',
    "Limits as RingCentral's defaults (Heavy 10, Medium 40 a window, a 429 penalty of one window); " +
      'each contender against a simulator of its own, all at the same time. Share: requests answered in the ' +
      'steady state (after the first window) over what the limit allows in that time. First Heavy request: ' +
      'from the start (login included) to the first Heavy request the server saw. The naive loop reaches the ' +
      'limit too, but by running into it: a 429 every window, whose Retry-After it then waits out.',
    '',
    table(outcomes, 20, REPEATS),
    ...(LONG_WINDOWS > 0 ? ['', table(outcomes, 60, 1)] : []),
  ].join('\n');
  console.log(body);
  if (WRITE) writeSection('Rate budget: share of Heavy and Medium used', body);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
