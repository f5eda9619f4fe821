import { setMaxListeners } from 'node:events';
import {
  afterPage,
  afterPart,
  backfillCursorName,
  backfillProgress,
  backfillSecondsLeft,
  backfillSpec,
  formatDuration,
  newBackfillJob,
  parseBackfillJob,
  type BackfillJob,
  type BackfillPart,
  type GroupRate,
} from '../../lib/backfill';
import { deferred } from '../../lib/bus';
import { downloadGroupOf, type ArchiveItem } from '../../lib/items';
import type { LedgerAdmin } from '../../lib/ledger/types';
import type { ApiGroup } from '../../lib/ringcentral/types';
import { nearDeletion, type RetentionSettings, type RetentionWarning } from '../../lib/retention';
import type { Translate } from './i18n';
import { openLedger } from './ledger';
import type { DoneFn, Node, NodeMessage, RED, SendFn } from './red';
import { closeAfter, errorMessage, shortText, timeOfDay } from './util';

export function positiveNumber(value: unknown, fallback: number): number {
  const n = typeof value === 'number' ? value : Number.parseFloat(String(value ?? ''));
  return Number.isFinite(n) && n >= 0 ? n : fallback;
}

/** A backfill range from the message (msg.backfill or a payload with dateFrom), else undefined. */
export function rangeFrom(msg: NodeMessage): { dateFrom: string; dateTo?: string } | undefined {
  for (const c of [msg.backfill, msg.payload]) {
    if (c && typeof c === 'object' && typeof (c as { dateFrom?: unknown }).dateFrom === 'string') {
      const { dateFrom, dateTo } = c as { dateFrom: string; dateTo?: unknown };
      return { dateFrom, dateTo: typeof dateTo === 'string' ? dateTo : undefined };
    }
  }
  return undefined;
}

/** What a message asks of a source's backfill: start one (a range or all retained), stop it, or nothing. */
export type BackfillRequest =
  { kind: 'range'; dateFrom: string; dateTo?: string } | { kind: 'retained' } | { kind: 'stop' } | undefined;

export function backfillRequestOf(msg: NodeMessage): BackfillRequest {
  const word = typeof msg.backfill === 'string' ? msg.backfill.trim().toLowerCase() : undefined;
  if (word === 'stop') return { kind: 'stop' };
  if (word === 'retained' || word === 'all' || msg.backfill === true) return { kind: 'retained' };
  const range = rangeFrom(msg);
  return range ? { kind: 'range', ...range } : undefined;
}

/** The backfill a node's dialog sets: none, "all retained", or a range (the older settings had only a range). */
export function configuredBackfill(def: {
  backfill?: unknown;
  backfillFrom?: unknown;
  backfillTo?: unknown;
}): SourceBackfill['configured'] {
  const from = typeof def.backfillFrom === 'string' ? def.backfillFrom.trim() : '';
  const to = typeof def.backfillTo === 'string' ? def.backfillTo.trim() : '';
  if (def.backfill === 'retained') return { origin: 'retained' };
  if ((def.backfill === 'range' || def.backfill === undefined) && from)
    return { origin: 'range', dateFrom: from, dateTo: to || undefined };
  return undefined;
}

/** One message per item. */
export function emitItems(send: SendFn, items: ArchiveItem[]): void {
  for (const item of items) send({ topic: item.key, payload: item });
}

export interface SourceRunContext {
  ledger: LedgerAdmin;
  /** Aborted when the node closes: a listing in flight stops at its next request. */
  signal: AbortSignal;
}

/** How a source lists for a backfill; the shared runtime keeps the job, its progress and its resume. */
export interface SourceBackfill {
  /** The backfill set in the node's dialog: started once, when the flows start. */
  configured?: { origin: 'retained' } | { origin: 'range'; dateFrom: string; dateTo?: string };
  /** How many days back "all retained" reaches for what this node archives. */
  retainedDays(): number;
  /** The API group the listing counts in, for the time estimate. */
  listGroup: ApiGroup;
  /** Requests per window each group allows now (the client's budgets). */
  rate(group: ApiGroup): GroupRate;
  /** The parts of a new job: the one call-log listing, or one per mailbox. */
  parts(context: SourceRunContext): Promise<Array<Omit<BackfillPart, 'resumeTo' | 'done'>>>;
  /**
   * Lists one part over the range, newest first, writing `pageCursor(oldest)` with each page's
   * items (same transaction) and calling `onItems` with the new ones.
   */
  listPart(args: {
    part: BackfillPart;
    dateFrom: string;
    dateTo: string;
    context: SourceRunContext;
    pageCursor(oldest: string | undefined): { name: string; value: string };
    onItems(items: ArchiveItem[]): void;
  }): Promise<void>;
}

/** Retention awareness: after each run, what is not archived and near deletion goes to output 2. */
export interface SourceRetention {
  warnDays: number;
  settings(): RetentionSettings;
}

/** At most this many warnings in one message: the oldest, which go first. */
const MAX_WARNINGS = 1000;
const TICK_MS = 5000;

/**
 * What every source node shares: the ledger, runs one after another (a trigger during a run
 * waits for it instead of listing twice), Pending items sent again once the flows start after a
 * restart or crash, a backfill that resumes where it stopped, retention warnings on the second
 * output, errors in the status and to `done`, and a close within Node-RED's budget.
 * `i18n` is the node type whose catalog has the status, log and errors keys used here.
 */
export function createSource(
  RED: RED,
  node: Node,
  options: {
    i18n: string;
    t: Translate;
    configured: boolean;
    run(msg: NodeMessage, send: SendFn, context: SourceRunContext): Promise<void>;
    backfill?: SourceBackfill;
    retention?: SourceRetention;
    /** Once the flows start: work a restart interrupted, run in turn with the regular runs. */
    resume?(send: SendFn, context: SourceRunContext): Promise<void>;
  },
): void {
  const { i18n, t } = options;
  const tr = (key: string, subs?: Record<string, unknown>) => t(`${i18n}.${key}`, subs);
  const abort = new AbortController();
  // Every request of a run listens to this one signal.
  setMaxListeners(1000, abort.signal);
  let ledger: LedgerAdmin | undefined;
  let chain: Promise<void> = Promise.resolve();
  let closed = false;
  const fail = (text: string) => node.status({ fill: 'red', shape: 'ring', text: shortText(text) });

  if (!options.configured) fail(tr('status.noConfig'));
  try {
    ledger = openLedger(RED);
  } catch (err) {
    fail(errorMessage(err));
    node.error(errorMessage(err));
  }

  // ---- retention warnings (output 2)

  const warnNearDeletion = (send: SendFn, since: string): RetentionWarning[] => {
    const retention = options.retention;
    if (!retention || !ledger) return [];
    const settings = retention.settings();
    const rows = (['Pending', 'Failed'] as const).flatMap((status) =>
      ledger!.query({ source: node.id, status, order: 'oldest', limit: MAX_WARNINGS }),
    );
    // Found by this very run: a sink is on them now; the next run reports them if they stay.
    const candidates = rows
      .filter((r) => r.firstSeenAt < since)
      .map((r) => ({
        key: r.key,
        kind: r.kind,
        status: r.status,
        createdAt: r.item.createdAt,
        lastError: r.lastError,
      }));
    if (!candidates.length) return [];
    const now = new Date();
    const recordingsSince = new Date(now.getTime() - settings.recordingDays * 86_400_000).toISOString();
    const held = ledger.count({ kind: 'CallRecording', since: recordingsSince });
    // The count limit only matters near it: spare the per-item counts otherwise.
    const recordings =
      held >= settings.recordingCount / 2
        ? {
            lastWeek: ledger.count({
              kind: 'CallRecording',
              since: new Date(now.getTime() - 7 * 86_400_000).toISOString(),
            }),
            newerThan: (createdAt: string) => ledger!.count({ kind: 'CallRecording', since: createdAt }) - 1,
          }
        : undefined;
    const warnings = nearDeletion(candidates, {
      settings,
      warnDays: retention.warnDays,
      now,
      recordings,
    }).slice(0, MAX_WARNINGS);
    if (!warnings.length) return [];
    node.warn(tr('log.nearDeletion', { count: warnings.length, days: retention.warnDays }));
    send([
      null,
      {
        topic: 'retention',
        payload: { count: warnings.length, warnDays: retention.warnDays, items: warnings },
      },
    ]);
    node.status({
      fill: 'yellow',
      shape: 'ring',
      text: tr('status.nearDeletion', { count: warnings.length, time: timeOfDay() }),
    });
    return warnings;
  };

  // ---- Pending items again after a restart

  let started = false;
  const resendPending = () => {
    if (closed || !ledger) return;
    const pending = ledger.pending(node.id);
    if (!pending.length) return;
    node.log(tr('log.resending', { count: pending.length }));
    emitItems(
      (m) => node.send(m),
      pending.map((row) => row.item),
    );
    node.status({ fill: 'yellow', shape: 'dot', text: tr('status.resent', { count: pending.length }) });
  };

  // ---- backfill

  const backfill = options.backfill;
  let backfillRun: Promise<void> | undefined;
  let ticker: ReturnType<typeof setInterval> | undefined;
  let stopBackfill: AbortController | undefined;
  const cursorName = backfillCursorName(node.id);

  const storedJob = () => (ledger ? parseBackfillJob(ledger.getCursor(cursorName)) : undefined);

  const backfillStatus = (job: BackfillJob) => {
    if (!ledger || !backfill) return;
    const counts = ledger.counts(node.id);
    const found = counts.Pending + counts.Archived + counts.Failed + counts.Lost;
    const done = counts.Archived + counts.Lost;
    if (job.completedAt && counts.Pending === 0) {
      stopTicker();
      node.status({
        fill: counts.Failed ? 'yellow' : 'green',
        shape: 'dot',
        text: tr('status.backfillDone', { count: job.found, failed: counts.Failed, time: timeOfDay() }),
      });
      return;
    }
    const pendingDownloads: Partial<Record<ApiGroup, number>> = {};
    if (counts.Pending) {
      for (const kind of ['CallRecording', 'Voicemail', 'Fax', 'MMS', 'TeamMessagingExport'] as const) {
        const group = downloadGroupOf(kind);
        const n = ledger.count({ source: node.id, status: 'Pending', kind });
        if (group && n) pendingDownloads[group] = (pendingDownloads[group] ?? 0) + n;
      }
    }
    const progress = backfillProgress(job);
    const seconds = backfillSecondsLeft({
      job,
      listGroup: backfill.listGroup,
      pendingDownloads,
      rate: backfill.rate,
    });
    node.status({
      fill: 'blue',
      shape: 'dot',
      text: tr('status.backfill', {
        days: progress.daysListed,
        total: progress.daysTotal,
        done,
        found,
        eta: formatDuration(seconds),
      }),
    });
  };
  const stopTicker = () => {
    if (ticker) clearInterval(ticker);
    ticker = undefined;
  };
  const startTicker = () => {
    stopTicker();
    ticker = setInterval(() => {
      const job = storedJob();
      if (!job || closed) return stopTicker();
      try {
        backfillStatus(job);
      } catch {
        stopTicker();
      }
    }, TICK_MS);
    ticker.unref?.();
  };

  /** Lists what is left of the job, part by part; the ledger has its state after every page. */
  const runBackfill = async (start: BackfillJob, send: SendFn): Promise<void> => {
    if (!ledger || !backfill) return;
    const stop = new AbortController();
    stopBackfill = stop;
    const signal = AbortSignal.any([abort.signal, stop.signal]);
    setMaxListeners(1000, signal);
    const context: SourceRunContext = { ledger, signal };
    let job = start;
    ledger.setCursor(cursorName, JSON.stringify(job));
    startTicker();
    backfillStatus(job);
    const since = new Date().toISOString();
    for (const part of job.parts) {
      if (part.done) continue;
      // A part whose resume point reached the start has nothing left to list.
      if (Date.parse(part.resumeTo) > Date.parse(job.dateFrom))
        await backfill.listPart({
          part,
          dateFrom: job.dateFrom,
          dateTo: part.resumeTo,
          context,
          pageCursor: (oldest) => {
            job = afterPage(job, part.id, oldest, 0);
            return { name: cursorName, value: JSON.stringify(job) };
          },
          onItems: (items) => {
            job = { ...job, found: job.found + items.length };
            emitItems(send, items);
            backfillStatus(job);
          },
        });
      job = afterPart(job, part.id);
      ledger.setCursor(cursorName, JSON.stringify(job));
      backfillStatus(job);
    }
    node.log(tr('log.backfillListed', { count: job.found, from: job.dateFrom, to: job.dateTo }));
    warnNearDeletion(send, since);
  };

  const launchBackfill = (job: BackfillJob, send: SendFn, done?: DoneFn) => {
    const run: Promise<void> = runBackfill(job, send).then(
      () => done?.(),
      (err: unknown) => {
        stopTicker();
        if (closed) return done?.();
        if (stopBackfill?.signal.aborted) {
          node.status({ fill: 'grey', shape: 'ring', text: tr('status.backfillStopped') });
          return done?.();
        }
        const text = errorMessage(err);
        fail(text);
        if (done) done(new Error(text));
        else node.error(text);
      },
    );
    backfillRun = run;
    void run.then(() => {
      if (backfillRun === run) backfillRun = undefined;
    });
  };

  const startBackfill = async (
    request: { origin: BackfillJob['origin']; dateFrom?: string; dateTo?: string },
    send: SendFn,
    done?: DoneFn,
  ) => {
    if (!ledger || !backfill) return;
    const now = new Date();
    const dateFrom =
      request.origin === 'retained'
        ? new Date(now.getTime() - backfill.retainedDays() * 86_400_000).toISOString()
        : request.dateFrom!;
    const parts = await backfill.parts({ ledger, signal: abort.signal });
    const job = newBackfillJob({
      origin: request.origin,
      dateFrom,
      dateTo: request.dateTo ?? now.toISOString(),
      parts,
      now,
    });
    node.log(tr('log.backfillStarted', { from: job.dateFrom, to: job.dateTo, parts: job.parts.length }));
    launchBackfill(job, send, done);
  };

  /** Once the flows run: Pending items out again, then an unfinished backfill goes on, or the configured one starts. */
  const onFlowsStarted = () =>
    setTimeout(() => {
      if (started || closed) return;
      started = true;
      resendPending();
      const resume = options.resume;
      if (resume && ledger && options.configured) {
        const context = { ledger, signal: abort.signal };
        chain = chain.then(() =>
          resume((m) => node.send(m), context).catch((err: unknown) => {
            if (closed) return;
            fail(errorMessage(err));
            // With a message, so that a Catch node sees the failure as it sees a run's.
            node.error(errorMessage(err), { topic: 'resume', payload: 'resume' });
          }),
        );
      }
      if (!ledger || !backfill || !options.configured) return;
      const job = storedJob();
      const send: SendFn = (m) => node.send(m);
      if (job && !job.completedAt && !job.stoppedAt) {
        node.log(tr('log.backfillResumed', { from: job.dateFrom, to: job.dateTo }));
        launchBackfill(job, send);
        return;
      }
      const configured = backfill.configured;
      if (!configured) return;
      const spec =
        configured.origin === 'retained'
          ? backfillSpec('retained')
          : backfillSpec('range', configured.dateFrom, configured.dateTo);
      const doneName = `${cursorName}:configured`;
      if (ledger.getCursor(doneName) === spec) return;
      ledger.setCursor(doneName, spec);
      startBackfill(configured, send).catch((err: unknown) => {
        fail(errorMessage(err));
        node.error(errorMessage(err));
      });
    }, 0);
  RED.events.on('flows:started', onFlowsStarted);

  // ---- input

  const run = async (msg: NodeMessage, send: SendFn) => {
    if (!options.configured) throw new Error(tr('status.noConfig'));
    if (!ledger) throw new Error(tr('errors.noLedger'));
    const since = new Date().toISOString();
    // Items a full rate-limit queue refused go out again first, while they are still Pending.
    const again = deferred
      .take(node.id)
      .map((key) => ledger!.get(key))
      .filter((row) => row?.status === 'Pending');
    emitItems(
      send,
      again.map((row) => row!.item),
    );
    await options.run(msg, send, { ledger, signal: abort.signal });
    warnNearDeletion(send, since);
  };

  node.on('input', (msg: NodeMessage, send: SendFn, done: DoneFn) => {
    const request = backfill ? backfillRequestOf(msg) : undefined;
    if (request) {
      if (!options.configured) return done(new Error(tr('status.noConfig')));
      if (!ledger) return done(new Error(tr('errors.noLedger')));
      if (request.kind === 'stop') {
        const job = storedJob();
        if (job && !job.completedAt)
          ledger.setCursor(cursorName, JSON.stringify({ ...job, stoppedAt: new Date().toISOString() }));
        stopBackfill?.abort();
        node.log(tr('log.backfillStopped'));
        return done();
      }
      if (backfillRun) {
        const job = storedJob();
        const progress = job ? backfillProgress(job) : undefined;
        node.warn(
          tr('errors.backfillRunning', { days: progress?.daysListed ?? 0, total: progress?.daysTotal ?? 0 }),
        );
        return done();
      }
      startBackfill(
        request.kind === 'retained'
          ? { origin: 'retained' }
          : { origin: 'message', dateFrom: request.dateFrom, dateTo: request.dateTo },
        send,
        done,
      ).catch((err: unknown) => {
        const text = errorMessage(err);
        fail(text);
        done(new Error(text));
      });
      return;
    }
    chain = chain.then(() =>
      run(msg, send).then(
        () => done(),
        (err: unknown) => {
          if (closed) return done();
          const text = errorMessage(err);
          fail(text);
          done(new Error(text));
        },
      ),
    );
  });

  node.on('close', (_removed: boolean, done: () => void) => {
    closed = true;
    stopTicker();
    RED.events.removeListener('flows:started', onFlowsStarted);
    abort.abort();
    closeAfter(Promise.allSettled([chain, backfillRun]), () => {
      ledger?.close();
      done();
    });
  });
}
