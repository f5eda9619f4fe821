// The archive log at scale: a ledger of 1,000,000 rows, the sidebar's page query for each of its
// filters, and a full CSV export (Download Logs).
//
// The ledger is filled through Ledger.recordFound (as sources write it, Found events included),
// then its statuses and receipts are set in bulk SQL (a million sink outcomes one by one would
// take long and measure nothing more). Each query is timed many times over random pages; the
// export runs in a fresh child process per size so that its peak RSS is its own, and a tenth
// of the log is exported too, so "flat" is a ratio measured in the same run.
//
//   npm run bench:ledger      (writes its section of BENCHMARKS.md)
//   BENCH_ROWS=100000 npm run bench:ledger   (a smaller ledger; does not write BENCHMARKS.md)
//   BENCH_LEDGER_FILE=/tmp/l.sqlite npm run bench:ledger   (fills that file once and keeps it,
//                                                         later runs measure it again)
import { fork } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ArchiveItem, ItemKind } from '../lib/items';
import { Ledger } from '../lib/ledger/index';
import type { LogFilter } from '../lib/ledger/types';
import { writeLogCsv } from '../lib/log-export';
import { machineLine, writeSection } from './report';

const ROWS = Number(process.env.BENCH_ROWS) || 1_000_000;
const DAYS = 365;
const NOW = Date.UTC(2026, 11, 1);
const DAY = 86_400_000;
const KINDS: Array<[ItemKind, number]> = [
  ['CallRecording', 0.35],
  ['CallLog', 0.35],
  ['SMS', 0.15],
  ['Voicemail', 0.07],
  ['Fax', 0.03],
  ['MMS', 0.04],
  ['TeamMessagingExport', 0.01],
];

/** A small fixed-seed generator, so every run fills the same ledger. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function pickKind(r: number): ItemKind {
  let acc = 0;
  for (const [kind, share] of KINDS) {
    acc += share;
    if (r < acc) return kind;
  }
  return 'CallLog';
}

/**
 * When item i was created. Sources record items in about the order RingCentral made them (each
 * run lists what is new, late records up to a day after), so File Created mostly follows the
 * insertion order; BENCH_ORDER=random spreads it at random instead, the worst case for reading
 * rows in File Created order.
 */
const RANDOM_ORDER = process.env.BENCH_ORDER === 'random';
function createdAtOf(i: number, rnd: () => number): string {
  const span = DAYS * DAY;
  const at = RANDOM_ORDER
    ? NOW - Math.floor(rnd() * span)
    : NOW - span + Math.floor((i / ROWS) * span) - Math.floor(rnd() * DAY);
  return new Date(Math.max(NOW - span, at)).toISOString();
}

function makeItem(i: number, rnd: () => number): ArchiveItem {
  const kind = pickKind(rnd());
  const createdAt = createdAtOf(i, rnd);
  const ext = 100 + Math.floor(rnd() * 400);
  return {
    key: `${kind}:${1_000_000_000 + i}`,
    kind,
    accountId: '37439510',
    extensionId: String(60_000_000 + ext),
    extensionNumber: String(ext),
    ownerName: `User ${ext}`,
    from: `+1650555${String(1000 + (i % 9000))}`,
    to: [`+1415555${String(1000 + ((i * 7) % 9000))}`],
    direction: i % 2 ? 'Inbound' : 'Outbound',
    createdAt,
    fileName: `${createdAt.slice(0, 10)}_${i}.mp3`,
    contentType: kind === 'CallLog' || kind === 'SMS' ? 'application/json' : 'audio/mpeg',
    content: { uri: `https://media.ringcentral.com/restapi/v1.0/account/37439510/recording/${i}/content` },
    record: {
      id: `call-${i}`,
      sessionId: String(400_000_000 + i),
      startTime: createdAt,
      duration: Math.floor(rnd() * 900),
      type: 'Voice',
      direction: i % 2 ? 'Inbound' : 'Outbound',
      result: 'Accepted',
      recording: { id: String(i), type: 'Automatic' },
    },
    rc: 'rc-config-1',
  };
}

function fill(file: string): number {
  const started = performance.now();
  const ledger = Ledger.open(file);
  const rnd = random(42);
  const batch = 10_000;
  for (let at = 0; at < ROWS; at += batch) {
    const items = Array.from({ length: Math.min(batch, ROWS - at) }, (_, j) => makeItem(at + j, rnd));
    ledger.recordFound(items, 'source-1');
  }
  // Outcomes as a long-running archive has them: most Archived, some Failed, Pending and Lost.
  ledger.database.exec(`
    UPDATE items SET status = 'Archived', attempts = 1, storage = 'sftp', sink = 'SFTP archive',
      path = 'RingCentral Archiver/' || key, bytes = 100000 + (rowid % 900000),
      sha256 = printf('%064x', rowid), archived_at = created_at
    WHERE rowid % 100 >= 10;
    UPDATE items SET status = 'Failed', attempts = 3, retries = 3, sink = 'SFTP archive',
      last_error = 'SFTP: connection refused by 127.0.0.1:2222, retried 3 times'
    WHERE rowid % 100 < 5;
    UPDATE items SET status = 'Lost', attempts = 1, last_error = 'RingCentral no longer has this content (404)'
    WHERE rowid % 100 BETWEEN 5 AND 6;
  `);
  ledger.database.pragma('optimize');
  ledger.close();
  return (performance.now() - started) / 1000;
}

interface Timing {
  name: string;
  p50: number;
  p95: number;
  max: number;
  total: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const iso = (t: number) => new Date(t).toISOString();
const lastDays = (d: number): LogFilter => ({ since: iso(NOW - d * DAY), until: iso(NOW + DAY) });

/** The sidebar's filters: its default (the last 7 days), each filter alone and together, the whole year. */
const FILTERS: Array<[string, LogFilter]> = [
  ['last 7 days (the default)', lastDays(7)],
  ['last 7 days, Failed', { ...lastDays(7), status: 'Failed' }],
  ['last 7 days, Call Recording', { ...lastDays(7), kind: 'CallRecording' }],
  ['last 30 days, Voicemail, Failed', { ...lastDays(30), kind: 'Voicemail', status: 'Failed' }],
  ['365 days, no other filter', lastDays(365)],
  ['365 days, Failed', { ...lastDays(365), status: 'Failed' }],
  ['365 days, Archived', { ...lastDays(365), status: 'Archived' }],
  ['365 days, Call Log, Archived', { ...lastDays(365), kind: 'CallLog', status: 'Archived' }],
  ['365 days, Fax', { ...lastDays(365), kind: 'Fax' }],
];

function timeQueries(file: string): Timing[] {
  const ledger = Ledger.open(file);
  const rnd = random(7);
  const sizes = [25, 50, 100];
  const results: Timing[] = [];
  const all: number[] = [];
  for (const [name, filter] of FILTERS) {
    const { total } = ledger.page(filter, 1, 25); // warms the cache as a first look does
    const times: number[] = [];
    for (let i = 0; i < 60; i++) {
      const pageSize = sizes[i % 3];
      const pages = Math.max(1, Math.ceil(total / pageSize));
      // Mostly the first pages, as people page; every fifth one anywhere, down to the last.
      const page = i % 5 === 4 ? 1 + Math.floor(rnd() * pages) : 1 + Math.floor(rnd() * Math.min(pages, 5));
      const t0 = performance.now();
      const result = ledger.page(filter, page, pageSize);
      times.push(performance.now() - t0);
      if (result.total !== total) throw new Error(`${name}: total changed`);
    }
    times.sort((a, b) => a - b);
    all.push(...times);
    results.push({ name, p50: percentile(times, 50), p95: percentile(times, 95), max: times.at(-1)!, total });
  }
  all.sort((a, b) => a - b);
  results.push({
    name: 'all of the above',
    p50: percentile(all, 50),
    p95: percentile(all, 95),
    max: all.at(-1)!,
    total: 0,
  });
  ledger.close();
  return results;
}

interface ExportResult {
  rows: number;
  seconds: number;
  baselineMb: number;
  peakMb: number;
  bytes: number;
}

/** In a child: exports the filter to a file, sampling RSS while it runs. */
async function runExport(file: string, filter: LogFilter, out: string): Promise<void> {
  const ledger = Ledger.open(file);
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const t0 = performance.now();
  const stream = createWriteStream(out);
  const rows = await writeLogCsv(ledger, filter, stream);
  await new Promise<void>((resolve, reject) =>
    stream.end((err?: Error | null) => (err ? reject(err) : resolve())),
  );
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  ledger.close();
  const result: ExportResult = {
    rows,
    seconds,
    baselineMb: Math.round(baseline / 1e5) / 10,
    peakMb: Math.round(peak / 1e5) / 10,
    bytes: statSync(out).size,
  };
  process.send!(result);
}

function exportIn(file: string, filter: LogFilter, out: string): Promise<ExportResult> {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, ['export', file, JSON.stringify(filter), out], { stdio: 'inherit' });
    child.once('message', (m: ExportResult) => resolve(m));
    child.once('exit', (code) => (code ? reject(new Error(`export exited ${code}`)) : undefined));
  });
}

const ms = (n: number) => n.toFixed(1);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(os.tmpdir(), 'rc-bench-ledger-'));
  try {
    const kept = process.env.BENCH_LEDGER_FILE;
    const file = kept || join(dir, 'ledger.sqlite');
    process.stdout.write(`filling a ledger with ${ROWS.toLocaleString('en-US')} rows… `);
    const fillSeconds = kept && existsSync(kept) ? Number.NaN : fill(file);
    const fileMb = Math.round(statSync(file).size / 1e6);
    console.log(`${fillSeconds.toFixed(0)} s, ${fileMb} MB`);

    const timings = timeQueries(file);
    for (const t of timings)
      console.log(
        `${t.name}: p50 ${ms(t.p50)} ms, p95 ${ms(t.p95)} ms, max ${ms(t.max)} ms (${t.total} rows)`,
      );

    const full = await exportIn(file, {}, join(dir, 'all.csv'));
    const tenth = await exportIn(file, lastDays(DAYS / 10), join(dir, 'tenth.csv'));
    for (const [name, r] of [
      ['all rows', full],
      ['a tenth', tenth],
    ] as const)
      console.log(
        `CSV of ${name}: ${r.rows} rows, ${Math.round(r.bytes / 1e6)} MB in ${r.seconds.toFixed(1)} s, peak RSS ${r.peakMb} MB (baseline ${r.baselineMb} MB)`,
      );
    if (full.rows !== ROWS) throw new Error(`the export wrote ${full.rows} rows of ${ROWS}`);

    const p95 = timings.at(-1)!.p95;
    const growth = (r: ExportResult) => r.peakMb - r.baselineMb;
    const body = [
      `${machineLine()}, with \`npm run bench:ledger\` (bench/ledger-scale.ts).`,
      '',
      `A ledger file of ${ROWS.toLocaleString('en-US')} rows (${fileMb} MB; filled in ${fillSeconds.toFixed(0)} s through \`recordFound\`, statuses set in bulk: 90 % Archived, 5 % Failed, 3 % Pending, 2 % Lost; seven data types; File Created spread over ${DAYS} days, ${RANDOM_ORDER ? 'at random (BENCH_ORDER=random: the worst case for reading in File Created order)' : 'in the order sources record items (late records up to a day after)'}). Each filter of the sidebar is asked for 60 pages (sizes 25, 50 and 100; mostly the first five pages, every fifth anywhere down to the last), timing \`ledger.page()\`: the page's rows and the filter's total, as the sidebar's route asks. Targets: p95 under 50 ms; a full CSV export under 15 s with flat memory.`,
      '',
      '| filter | rows matching | p50 ms | p95 ms | max ms |',
      '|---|---|---|---|---|',
      ...timings.map(
        (t) =>
          `| ${t.name} | ${t.total ? t.total.toLocaleString('en-US') : ''} | ${ms(t.p50)} | ${ms(t.p95)} | ${ms(t.max)} |`,
      ),
      '',
      `p95 over all filters: ${ms(p95)} ms (${p95 < 50 ? 'under' : 'NOT under'} 50 ms).`,
      '',
      'CSV export (`writeLogCsv`, the code behind Download Logs, into a file; a fresh process each):',
      '',
      '| export | rows | MB written | seconds | baseline RSS MB | peak RSS MB | growth MB |',
      '|---|---|---|---|---|---|---|',
      ...[
        ['whole log', full],
        [`a tenth (last ${DAYS / 10} days)`, tenth],
      ].map(
        ([name, r]) =>
          `| ${name as string} | ${(r as ExportResult).rows.toLocaleString('en-US')} | ${Math.round((r as ExportResult).bytes / 1e6)} | ${(r as ExportResult).seconds.toFixed(1)} | ${(r as ExportResult).baselineMb} | ${(r as ExportResult).peakMb} | ${growth(r as ExportResult).toFixed(1)} |`,
      ),
      '',
      `The whole log took ${full.seconds.toFixed(1)} s (${full.seconds < 15 ? 'under' : 'NOT under'} 15 s); its memory growth is ${growth(full).toFixed(1)} MB against ${growth(tenth).toFixed(1)} MB for a tenth of the rows: ${growth(full) < growth(tenth) * 2 + 10 ? 'flat' : 'NOT flat'}.`,
    ].join('\n');
    console.log(body);
    if (ROWS === 1_000_000 && !kept && !RANDOM_ORDER) {
      writeSection('The archive log with 1,000,000 rows', body);
      console.log('written to BENCHMARKS.md');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const [role, file, filter, out] = process.argv.slice(2);
if (role === 'export') void runExport(file, JSON.parse(filter) as LogFilter, out);
else void main();
