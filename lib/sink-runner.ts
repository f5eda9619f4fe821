/**
 * What a sink node does with each message, free of Node-RED: checks the item and the sink's
 * settings, hands it to the sink worker (lib/sink-worker.ts: transfers at once, target health),
 * which streams it through lib/archive into the storage and writes the outcome to the ledger, and
 * maps the outcome to the two outputs (archived with its receipt, failed with msg.error), the
 * settling of the message and the status. An outage is one message on the failure output.
 */
import { setMaxListeners, type EventEmitter } from 'node:events';
import { archiveItem, LostContentError } from './archive';
import { archiveEvents, deferred, type ArchiveEvents } from './bus';
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
import { isArchiveItem, type ArchiveItem, type Receipt } from './items';
import type { LedgerApi } from './ledger/types';
import { SINK, settingOf } from './node-defaults';
import type { ContentFetcher } from './ringcentral/types';
import { SinkWorker, type WorkerState } from './sink-worker';
import { fetcherWithGrants, type Scheduler } from './scheduler';
import type { StorageAdapter } from './storage/types';
import { DEFAULT_TEMPLATE, validateTemplate } from './template';

/** A sink's own settings, as its dialog saves them. */
export interface SinkSettings {
  template?: string;
  timeZone?: string;
  sidecar?: boolean;
  concurrency?: string | number;
  [key: string]: unknown;
}

export interface SinkRunnerOptions {
  io: ControllerIO;
  settings: SinkSettings;
  ledger?: LedgerApi;
  ledgerError?: string;
  /** The storage, or an Error that says what is wrong with its configuration. */
  storage(): StorageAdapter;
  /** The rc-config node an item names, if it is deployed; its client is asked for at transfer time. */
  rcConfig(rc: string): RcLogin | undefined;
  clock?: Clock;
  events?: EventEmitter<ArchiveEvents>;
}

/** Downloads through the config's scheduler and pool where it has them, else its one client. */
function fetcherOf(login: RcLogin): ContentFetcher {
  const pool = typeof login.getPool === 'function' ? login.getPool() : undefined;
  return fetcherWithGrants(login.getScheduler?.(), (granted) => {
    const client = granted ? pool?.client(granted) : undefined;
    return client ?? pool ?? login.getClient();
  });
}

/** What a sink needs of an rc-config node. */
export interface RcLogin {
  getClient(): ContentFetcher;
  /** The config's scheduler: a download whose permit rc-rate-limit already holds spends that one. */
  getScheduler?(): Scheduler | undefined;
  /** The config's logins: a download goes to whichever has room, a granted one to its login. */
  getPool?(): ContentFetcher & { client(id: string): ContentFetcher | undefined };
}

interface Job {
  key: string;
  item: ArchiveItem;
  login: RcLogin;
  msg: ControllerMessage;
  send: ControllerSend;
  settle(err?: Error): void;
}

/** Items a sink holds while its target is down; beyond, they wait in the ledger only. */
const MAX_WAITING = 10_000;
const COUNTDOWN_MS = 5000;

function validTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export class SinkRunner {
  readonly setupError: string | undefined;
  private readonly io: ControllerIO;
  private readonly clock: Clock;
  private readonly events: EventEmitter<ArchiveEvents>;
  private readonly abort = new AbortController();
  private readonly inFlight = new Map<string, Promise<Receipt>>();
  private readonly worker: SinkWorker<Job>;
  private readonly template: string;
  private readonly timeZone: string;
  private readonly sidecar: boolean;
  private readonly sinkName: string;
  private readonly sinkRef: { id: string; type: string; name?: string };
  private archived = 0;
  private failed = 0;
  /** Of the failed: content RingCentral no longer has (404), Lost in the ledger. */
  private lost = 0;
  private closed = false;
  private idle: Promise<void> = Promise.resolve();
  private settleIdle: (() => void) | undefined;
  private lastSend: ControllerSend | undefined;
  private countdown: unknown;
  private overflowWarned = false;

  constructor(private readonly o: SinkRunnerOptions) {
    this.io = o.io;
    this.clock = o.clock ?? realClock;
    this.events = o.events ?? archiveEvents;
    const s = o.settings;
    this.template = (s.template || '').trim() || DEFAULT_TEMPLATE;
    this.timeZone = (s.timeZone || '').trim() || SINK.value.timeZone;
    this.sidecar = settingOf(SINK, s, 'sidecar') !== false;
    const concurrency = Math.max(1, Math.min(16, Number(s.concurrency) || SINK.value.concurrency));
    this.sinkName = this.io.name || `${this.io.type}:${this.io.id}`;
    this.sinkRef = { id: this.io.id, type: this.io.type, ...(this.io.name ? { name: this.io.name } : {}) };
    // Each transfer in flight listens to this one signal.
    setMaxListeners(1000, this.abort.signal);
    const configError =
      validateTemplate(this.template) ??
      (validTimeZone(this.timeZone) ? undefined : `unknown time zone "${this.timeZone}"`);
    this.setupError = configError ?? o.ledgerError;
    if (this.setupError) {
      this.io.status({ fill: 'red', shape: 'ring', text: shortText(this.setupError) });
      this.io.error(this.setupError);
    }
    this.worker = new SinkWorker<Job>({
      concurrency,
      clock: this.clock,
      archive: (job) => this.archiveOne(job.item, job.login),
      probe: async (kind) => {
        // A setting of the sink itself is wrong, or the storage config is incomplete: that fails
        // each item with its reason (archiveOne), it is no outage to wait out.
        if (this.setupError) return;
        let storage: StorageAdapter;
        try {
          storage = o.storage();
        } catch {
          return;
        }
        await storage.check({ leaveNoTrace: kind === 'routine' });
      },
      onArchived: (job, receipt) => {
        this.archived++;
        job.msg.receipt = receipt;
        job.send([job.msg, null]);
        job.settle();
        if (this.worker.idle) this.settleIdle?.();
      },
      onFailed: (job, err) => {
        this.fail(job, err);
        if (this.worker.idle) this.settleIdle?.();
      },
      onDown: (outage) => this.onDown(outage),
      onUp: (recovery) => {
        this.io.log(
          this.io.text('log.up', {
            seconds: Math.round(recovery.downForMs / 1000),
            reason: recovery.reason,
            count: recovery.waiting,
          }),
        );
        this.events.emit('targetUp', { sink: this.sinkRef, ...recovery });
        this.overflowWarned = false;
      },
      // While the target is down the items wait in memory; past this many, their sources send them
      // again on their next run (they are Pending in the ledger), so a long outage stays bounded.
      maxWaiting: MAX_WAITING,
      onOverflow: (job) => {
        try {
          const row = o.ledger?.get(job.key);
          if (row?.status === 'Pending' && row.source) deferred.add(row.source, [row.key]);
        } catch {
          // The ledger still says what the item's state is; a Retry from the sidebar reaches it.
        }
        if (!this.overflowWarned) this.io.warn(this.io.text('errors.overflow', { count: MAX_WAITING }));
        this.overflowWarned = true;
        job.settle();
      },
      onState: (state) => {
        // While down, the countdown to the next check stays current.
        if (state.health === 'down') this.startCountdown();
        else this.stopCountdown();
        // An item's own failure stays in view until there is something else to show.
        if (this.failed === this.lost || state.active || state.waiting || state.reason)
          this.showStatus(state);
      },
    });
  }

  private secondsUntil(at: number | undefined): number {
    const now = this.clock.now();
    return Math.max(0, Math.ceil(((at ?? now) - now) / 1000));
  }

  private startCountdown(): void {
    if (this.countdown !== undefined || this.closed) return;
    const tick = () => {
      this.countdown = this.clock.setTimeout(tick, COUNTDOWN_MS);
      this.showStatus();
    };
    this.countdown = this.clock.setTimeout(tick, COUNTDOWN_MS);
  }

  private stopCountdown(): void {
    if (this.countdown !== undefined) this.clock.clearTimeout(this.countdown);
    this.countdown = undefined;
  }

  private showStatus(state: WorkerState = this.worker.state): void {
    if (this.closed) return;
    const t = (key: string, subs?: Record<string, unknown>) => this.io.text(key, subs);
    const busy = state.active + state.waiting;
    if (state.reason && (state.probing || state.health === 'recovering')) {
      this.io.status({ fill: 'yellow', shape: 'ring', text: t('status.checking', { waiting: busy }) });
      return;
    }
    if (state.health === 'down') {
      this.io.status({
        fill: 'red',
        shape: 'ring',
        text: t('status.down', {
          reason: shortText(state.reason ?? '', 40),
          seconds: this.secondsUntil(state.nextProbeAt),
          waiting: busy,
        }),
      });
      return;
    }
    let text = t('status.counts', {
      archived: this.archived,
      failed: this.failed,
      active: busy,
      time: timeOfDayAt(this.clock.now()),
    });
    if (this.lost) {
      const lostText = t('status.lost', { count: this.lost });
      // A catalog without the key answers with the key itself.
      text += ` · ${lostText.endsWith('status.lost') ? `${this.lost} lost` : lostText}`;
    }
    this.io.status({
      fill: this.failed ? 'yellow' : busy ? 'blue' : 'green',
      shape: busy ? 'ring' : 'dot',
      text,
    });
  }

  private async archiveOne(item: ArchiveItem, login: RcLogin): Promise<Receipt> {
    if (this.setupError) throw new Error(this.setupError);
    // The same item twice at once (a resend after a restart while the first is still going):
    // the second waits for the first instead of writing again.
    const running = this.inFlight.get(item.key);
    if (running) return running;
    const work = archiveItem(item, {
      fetcher: fetcherOf(login),
      storage: this.o.storage(),
      ledger: this.o.ledger!,
      sinkName: this.sinkName,
      template: this.template,
      timeZone: this.timeZone,
      sidecar: this.sidecar,
      signal: this.abort.signal,
    });
    this.inFlight.set(item.key, work);
    try {
      return await work;
    } finally {
      this.inFlight.delete(item.key);
    }
  }

  private fail(job: Pick<Job, 'msg' | 'send' | 'settle'>, err: unknown): void {
    const message = errorMessage(err);
    if (this.closed) return job.settle();
    this.failed++;
    const isLost = err instanceof LostContentError;
    if (isLost) this.lost++;
    job.msg.error = {
      message,
      source: { id: this.io.id, type: this.io.type, name: this.io.name },
      ...(isLost ? { lost: true } : {}),
    };
    job.send([null, job.msg]);
    job.settle(new Error(message));
    // Lost content is no fault of the flow: the counts (with "n lost") stay in view.
    if (!isLost) this.io.status({ fill: 'red', shape: 'ring', text: shortText(message) });
    else this.showStatus();
  }

  private onDown(outage: { reason: string; waiting: string[]; since: number; nextProbeAt: number }): void {
    const text = this.io.text('errors.down', {
      reason: outage.reason,
      count: outage.waiting.length,
      seconds: this.secondsUntil(outage.nextProbeAt),
    });
    const since = new Date(outage.since).toISOString();
    const nextCheckAt = new Date(outage.nextProbeAt).toISOString();
    // One message per outage, not one per item: the items are not failed, they wait here.
    const msg: ControllerMessage = {
      topic: 'target-down',
      payload: { sink: this.sinkRef, reason: outage.reason, waiting: outage.waiting, since, nextCheckAt },
      targetDown: true,
      error: {
        message: text,
        target: true,
        source: { id: this.io.id, type: this.io.type, name: this.io.name },
      },
    };
    this.io.error(text, msg);
    (this.lastSend ?? this.io.send)([null, msg]);
    this.events.emit('targetDown', {
      sink: this.sinkRef,
      reason: outage.reason,
      waiting: outage.waiting,
      since,
      nextCheckAt,
    });
  }

  /** Settles when the item is archived (resolves) or failed (rejects with the reason). */
  input(msg: ControllerMessage, send: ControllerSend): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const settle = (err?: Error) => (err ? reject(err) : resolve());
      this.lastSend = send;
      const item = msg.payload;
      // What no storage can fix fails at once, before any probe.
      if (this.setupError) return this.fail({ msg, send, settle }, new Error(this.setupError));
      if (!isArchiveItem(item))
        return this.fail({ msg, send, settle }, new Error(this.io.text('errors.notItem')));
      const login = this.o.rcConfig(item.rc);
      if (!login)
        return this.fail(
          { msg, send, settle },
          new Error(this.io.text('errors.noRc', { key: item.key, rc: item.rc })),
        );
      if (this.worker.idle) this.idle = new Promise((done) => (this.settleIdle = done));
      this.worker.push({ key: item.key, item, login, msg, send, settle });
    });
  }

  /** Queued items stay Pending in the ledger and go out again after the restart. */
  async close(): Promise<void> {
    this.closed = true;
    this.stopCountdown();
    for (const job of this.worker.close()) job.settle();
    if (this.worker.idle) this.settleIdle?.();
    this.abort.abort();
    await this.idle;
  }
}
