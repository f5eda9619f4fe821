/**
 * The state machine around a source's listing (lib/sources/*.ts): runs one after another, items
 * deferred by a full rate-limit queue sent again, Pending items sent again once the flows start,
 * a backfill job that resumes where it stopped, retention warnings on the second output, and the
 * entrance a manual Retry uses when no rc-retry node is deployed. Free of Node-RED: the node hands
 * in the ledger, a clock and what to tell the user (lib/controller.ts).
 */
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
} from './backfill';
import { deferred, registerEntrance } from './bus';
import {
  errorMessage,
  realClock,
  shortText,
  timeOfDayAt,
  type Clock,
  type ControllerIO,
  type ControllerMessage,
  type ControllerSend,
} from './controller';
import { downloadGroupOf, type ArchiveItem } from './items';
import type { LedgerAdmin } from './ledger/types';
import { nearDeletion, type RetentionSettings, type RetentionWarning } from './retention';
import type { ApiGroup } from './ringcentral/types';

export function positiveNumber(value: unknown, fallback: number): number {
  const n = typeof value === 'number' ? value : Number.parseFloat(String(value ?? ''));
  return Number.isFinite(n) && n >= 0 ? n : fallback;
}

/** A backfill range from the message (msg.backfill or a payload with dateFrom), else undefined. */
export function rangeFrom(msg: ControllerMessage): { dateFrom: string; dateTo?: string } | undefined {
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

export function backfillRequestOf(msg: ControllerMessage): BackfillRequest {
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
export function emitItems(send: ControllerSend, items: ArchiveItem[]): void {
  for (const item of items) send({ topic: item.key, payload: item });
}

export interface SourceRunContext {
  ledger: LedgerAdmin;
  /** Aborted when the node closes: a listing in flight stops at its next request. */
  signal: AbortSignal;
  /** The node's status, log and words, for what the listing has to say. */
  io: ControllerIO;
}

/** How a source lists for a backfill; the runner keeps the job, its progress and its resume. */
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

export interface SourceRunnerOptions {
  io: ControllerIO;
  /** Undefined when it could not be opened: `ledgerError` says why. */
  ledger?: LedgerAdmin;
  ledgerError?: string;
  /** False without a RingCentral config: every run fails with status.noConfig. */
  configured: boolean;
  clock?: Clock;
  /** One regular run: lists from the cursor and sends what is new. */
  run(msg: ControllerMessage, send: ControllerSend, context: SourceRunContext): Promise<void>;
  backfill?: SourceBackfill;
  retention?: SourceRetention;
  /** Once the flows start: work a restart interrupted, run in turn with the regular runs. */
  resume?(send: ControllerSend, context: SourceRunContext): Promise<void>;
}

/** At most this many warnings in one message: the oldest, which go first. */
const MAX_WARNINGS = 1000;
const TICK_MS = 5000;
const DAY_MS = 86_400_000;

export class SourceRunner {
  private readonly io: ControllerIO;
  private readonly ledger?: LedgerAdmin;
  private readonly clock: Clock;
  private readonly abort = new AbortController();
  private readonly cursorName: string;
  private readonly unregister: () => void;
  /** Runs and resumes one after another: a trigger during a run waits for it instead of listing twice. */
  private chain: Promise<void> = Promise.resolve();
  private backfillRun: Promise<void> | undefined;
  private stopBackfill: AbortController | undefined;
  private ticker: unknown;
  private ticking = false;
  private started = false;
  private closed = false;

  constructor(private readonly o: SourceRunnerOptions) {
    this.io = o.io;
    this.ledger = o.ledger;
    this.clock = o.clock ?? realClock;
    this.cursorName = backfillCursorName(o.io.id);
    // Every request of a run listens to this one signal.
    setMaxListeners(1000, this.abort.signal);
    if (!o.configured) this.fail(this.tr('status.noConfig'));
    if (o.ledgerError) {
      this.fail(o.ledgerError);
      this.io.error(o.ledgerError);
    }
    // A manual Retry comes here when no rc-retry node is deployed.
    this.unregister = registerEntrance({
      nodeId: o.io.id,
      kind: 'source',
      send: (items) => this.retry(items.map((i) => i.key)),
    });
  }

  private tr(key: string, subs?: Record<string, unknown>): string {
    return this.io.text(key, subs);
  }

  private fail(text: string): void {
    this.io.status({ fill: 'red', shape: 'ring', text: shortText(text) });
  }

  private get context(): SourceRunContext {
    return { ledger: this.ledger!, signal: this.abort.signal, io: this.io };
  }

  private now(): Date {
    return new Date(this.clock.now());
  }

  /**
   * Items a manual Retry gives back to this source: each is read again from the ledger (its latest
   * item, not the copy the caller holds) and sent while it is not Archived or Lost.
   */
  retry(keys: string[]): number {
    if (this.closed || !this.ledger) return 0;
    let sent = 0;
    for (const key of keys) {
      const row = this.ledger.get(key);
      if (!row || row.status === 'Archived' || row.status === 'Lost') continue;
      this.io.send({ topic: key, payload: row.item, retry: { manual: true } });
      sent++;
    }
    if (sent) {
      this.io.log(this.tr('log.retrying', { count: sent }));
      this.io.status({ fill: 'yellow', shape: 'dot', text: this.tr('status.retrying', { count: sent }) });
    }
    return sent;
  }

  // ---- retention warnings (output 2)

  private warnNearDeletion(send: ControllerSend, since: string): RetentionWarning[] {
    const retention = this.o.retention;
    const ledger = this.ledger;
    if (!retention || !ledger) return [];
    const settings = retention.settings();
    const rows = (['Pending', 'Failed'] as const).flatMap((status) =>
      ledger.query({ source: this.io.id, status, order: 'oldest', limit: MAX_WARNINGS }),
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
    const now = this.now();
    const recordingsSince = new Date(now.getTime() - settings.recordingDays * DAY_MS).toISOString();
    const held = ledger.count({ kind: 'CallRecording', since: recordingsSince });
    // The count limit only matters near it: spare the per-item counts otherwise.
    const recordings =
      held >= settings.recordingCount / 2
        ? {
            lastWeek: ledger.count({
              kind: 'CallRecording',
              since: new Date(now.getTime() - 7 * DAY_MS).toISOString(),
            }),
            newerThan: (createdAt: string) => ledger.count({ kind: 'CallRecording', since: createdAt }) - 1,
          }
        : undefined;
    const warnings = nearDeletion(candidates, {
      settings,
      warnDays: retention.warnDays,
      now,
      recordings,
    }).slice(0, MAX_WARNINGS);
    if (!warnings.length) return [];
    this.io.warn(this.tr('log.nearDeletion', { count: warnings.length, days: retention.warnDays }));
    send([
      null,
      {
        topic: 'retention',
        payload: { count: warnings.length, warnDays: retention.warnDays, items: warnings },
      },
    ]);
    this.io.status({
      fill: 'yellow',
      shape: 'ring',
      text: this.tr('status.nearDeletion', { count: warnings.length, time: timeOfDayAt(this.clock.now()) }),
    });
    return warnings;
  }

  // ---- Pending items again after a restart

  private resendPending(): void {
    if (this.closed || !this.ledger) return;
    const pending = this.ledger.pending(this.io.id);
    if (!pending.length) return;
    this.io.log(this.tr('log.resending', { count: pending.length }));
    emitItems(
      this.io.send,
      pending.map((row) => row.item),
    );
    this.io.status({
      fill: 'yellow',
      shape: 'dot',
      text: this.tr('status.resent', { count: pending.length }),
    });
  }

  // ---- backfill

  private storedJob(): BackfillJob | undefined {
    return this.ledger ? parseBackfillJob(this.ledger.getCursor(this.cursorName)) : undefined;
  }

  private backfillStatus(job: BackfillJob): void {
    const ledger = this.ledger;
    const backfill = this.o.backfill;
    if (!ledger || !backfill) return;
    const id = this.io.id;
    const counts = ledger.counts(id);
    const found = counts.Pending + counts.Archived + counts.Failed + counts.Lost;
    const done = counts.Archived + counts.Lost;
    if (job.completedAt && counts.Pending === 0) {
      this.stopTicker();
      this.io.status({
        fill: counts.Failed ? 'yellow' : 'green',
        shape: 'dot',
        text: this.tr('status.backfillDone', {
          count: job.found,
          failed: counts.Failed,
          time: timeOfDayAt(this.clock.now()),
        }),
      });
      return;
    }
    const pendingDownloads: Partial<Record<ApiGroup, number>> = {};
    if (counts.Pending) {
      for (const kind of ['CallRecording', 'Voicemail', 'Fax', 'MMS', 'TeamMessagingExport'] as const) {
        const group = downloadGroupOf(kind);
        const n = ledger.count({ source: id, status: 'Pending', kind });
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
    this.io.status({
      fill: 'blue',
      shape: 'dot',
      text: this.tr('status.backfill', {
        days: progress.daysListed,
        total: progress.daysTotal,
        done,
        found,
        eta: formatDuration(seconds),
      }),
    });
  }

  private stopTicker(): void {
    this.ticking = false;
    if (this.ticker !== undefined) this.clock.clearTimeout(this.ticker);
    this.ticker = undefined;
  }

  /** The backfill's status every few seconds, also while its downloads go on after the listing. */
  private startTicker(): void {
    this.stopTicker();
    this.ticking = true;
    const tick = () => {
      this.ticker = undefined;
      const job = this.storedJob();
      if (!job || this.closed) return this.stopTicker();
      try {
        this.backfillStatus(job);
      } catch {
        return this.stopTicker();
      }
      // backfillStatus stops the ticker once the job is done and nothing is Pending.
      if (this.ticking) this.ticker = this.clock.setTimeout(tick, TICK_MS);
    };
    this.ticker = this.clock.setTimeout(tick, TICK_MS);
  }

  /** Lists what is left of the job, part by part; the ledger has its state after every page. */
  private async runBackfill(start: BackfillJob, send: ControllerSend): Promise<void> {
    const ledger = this.ledger;
    const backfill = this.o.backfill;
    if (!ledger || !backfill) return;
    const stop = new AbortController();
    this.stopBackfill = stop;
    const signal = AbortSignal.any([this.abort.signal, stop.signal]);
    setMaxListeners(1000, signal);
    const context: SourceRunContext = { ledger, signal, io: this.io };
    const cursorName = this.cursorName;
    let job = start;
    ledger.setCursor(cursorName, JSON.stringify(job));
    this.startTicker();
    this.backfillStatus(job);
    const since = this.now().toISOString();
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
            this.backfillStatus(job);
          },
        });
      job = afterPart(job, part.id);
      ledger.setCursor(cursorName, JSON.stringify(job));
      this.backfillStatus(job);
    }
    this.io.log(this.tr('log.backfillListed', { count: job.found, from: job.dateFrom, to: job.dateTo }));
    this.warnNearDeletion(send, since);
  }

  /** Starts the job; the promise settles when its listing ends (rejects only for the message that asked). */
  private launchBackfill(job: BackfillJob, send: ControllerSend, byMessage: boolean): Promise<void> {
    const run: Promise<void> = this.runBackfill(job, send).catch((err: unknown) => {
      this.stopTicker();
      if (this.closed) return;
      if (this.stopBackfill?.signal.aborted) {
        this.io.status({ fill: 'grey', shape: 'ring', text: this.tr('status.backfillStopped') });
        return;
      }
      const text = errorMessage(err);
      this.fail(text);
      if (byMessage) throw new Error(text);
      this.io.error(text);
    });
    const tracked = run.catch(() => undefined);
    this.backfillRun = tracked;
    void tracked.then(() => {
      if (this.backfillRun === tracked) this.backfillRun = undefined;
    });
    return run;
  }

  private async startBackfill(
    request: { origin: BackfillJob['origin']; dateFrom?: string; dateTo?: string },
    send: ControllerSend,
    byMessage: boolean,
  ): Promise<void> {
    const backfill = this.o.backfill;
    if (!this.ledger || !backfill) return;
    const now = this.now();
    const dateFrom =
      request.origin === 'retained'
        ? new Date(now.getTime() - backfill.retainedDays() * DAY_MS).toISOString()
        : request.dateFrom!;
    const parts = await backfill.parts(this.context);
    const job = newBackfillJob({
      origin: request.origin,
      dateFrom,
      dateTo: request.dateTo ?? now.toISOString(),
      parts,
      now,
    });
    this.io.log(
      this.tr('log.backfillStarted', { from: job.dateFrom, to: job.dateTo, parts: job.parts.length }),
    );
    return this.launchBackfill(job, send, byMessage);
  }

  /** Once the flows run: Pending items out again, then an unfinished backfill goes on, or the configured one starts. */
  flowsStarted(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.resendPending();
    const ledger = this.ledger;
    const resume = this.o.resume;
    const send = this.io.send;
    if (resume && ledger && this.o.configured) {
      this.chain = this.chain.then(() =>
        resume(send, this.context).catch((err: unknown) => {
          if (this.closed) return;
          this.fail(errorMessage(err));
          // With a message, so that a Catch node sees the failure as it sees a run's.
          this.io.error(errorMessage(err), { topic: 'resume', payload: 'resume' });
        }),
      );
    }
    const backfill = this.o.backfill;
    if (!ledger || !backfill || !this.o.configured) return;
    const job = this.storedJob();
    if (job && !job.completedAt && !job.stoppedAt) {
      this.io.log(this.tr('log.backfillResumed', { from: job.dateFrom, to: job.dateTo }));
      void this.launchBackfill(job, send, false);
      return;
    }
    const configured = backfill.configured;
    if (!configured) return;
    const spec =
      configured.origin === 'retained'
        ? backfillSpec('retained')
        : backfillSpec('range', configured.dateFrom, configured.dateTo);
    const doneName = `${this.cursorName}:configured`;
    if (ledger.getCursor(doneName) === spec) return;
    ledger.setCursor(doneName, spec);
    this.startBackfill(configured, send, false).catch((err: unknown) => {
      this.fail(errorMessage(err));
      this.io.error(errorMessage(err));
    });
  }

  // ---- input

  private async runOnce(msg: ControllerMessage, send: ControllerSend): Promise<void> {
    if (!this.o.configured) throw new Error(this.tr('status.noConfig'));
    const ledger = this.ledger;
    if (!ledger) throw new Error(this.tr('errors.noLedger'));
    const since = this.now().toISOString();
    // Items a full rate-limit queue refused go out again first, while they are still Pending.
    const again = deferred
      .take(this.io.id)
      .map((key) => ledger.get(key))
      .filter((row) => row?.status === 'Pending');
    emitItems(
      send,
      again.map((row) => row!.item),
    );
    await this.o.run(msg, send, this.context);
    this.warnNearDeletion(send, since);
  }

  /**
   * A message: a backfill request (start, stop) or a run. Settles when the node may call `done`:
   * a run when it ends, a backfill when its listing ends; rejects with the error the user sees.
   */
  input(msg: ControllerMessage, send: ControllerSend): Promise<void> {
    const request = this.o.backfill ? backfillRequestOf(msg) : undefined;
    if (request) return this.backfillInput(request, send);
    const run = this.chain.then(() =>
      this.runOnce(msg, send).catch((err: unknown) => {
        if (this.closed) return;
        const text = errorMessage(err);
        this.fail(text);
        throw new Error(text);
      }),
    );
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async backfillInput(request: NonNullable<BackfillRequest>, send: ControllerSend): Promise<void> {
    if (!this.o.configured) throw new Error(this.tr('status.noConfig'));
    const ledger = this.ledger;
    if (!ledger) throw new Error(this.tr('errors.noLedger'));
    if (request.kind === 'stop') {
      const job = this.storedJob();
      if (job && !job.completedAt)
        ledger.setCursor(this.cursorName, JSON.stringify({ ...job, stoppedAt: this.now().toISOString() }));
      this.stopBackfill?.abort();
      this.io.log(this.tr('log.backfillStopped'));
      return;
    }
    if (this.backfillRun) {
      const job = this.storedJob();
      const progress = job ? backfillProgress(job) : undefined;
      this.io.warn(
        this.tr('errors.backfillRunning', {
          days: progress?.daysListed ?? 0,
          total: progress?.daysTotal ?? 0,
        }),
      );
      return;
    }
    try {
      await this.startBackfill(
        request.kind === 'retained'
          ? { origin: 'retained' }
          : { origin: 'message', dateFrom: request.dateFrom, dateTo: request.dateTo },
        send,
        true,
      );
    } catch (err) {
      const text = errorMessage(err);
      this.fail(text);
      throw new Error(text);
    }
  }

  /** Stops listing (requests in flight are aborted) and settles once the runs have ended. */
  async close(): Promise<void> {
    this.closed = true;
    this.stopTicker();
    this.unregister();
    this.abort.abort();
    await Promise.allSettled([this.chain, this.backfillRun]);
  }
}
