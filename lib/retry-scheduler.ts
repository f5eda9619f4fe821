/**
 * rc-retry's state machine, free of Node-RED: each failure that reaches it gets its next try
 * written to the ledger (lib/retry-schedule.ts decides when), one timer sends what is due, so that
 * a schedule survives a restart, and the manual and bulk Retry of the sidebar (lib/retry.ts) enter
 * here with a fresh schedule.
 */
import type { EventEmitter } from 'node:events';
import { archiveEvents, registerEntrance, type ArchiveEvents } from './bus';
import {
  errorMessage,
  realClock,
  shortText,
  type Clock,
  type ControllerIO,
  type ControllerMessage,
} from './controller';
import { isArchiveItem } from './items';
import type { LogLedger } from './ledger/types';
import { decideRetry, parseSchedule, timerDelay, whenText } from './retry-schedule';

/** Due items sent per wake; the rest follow a moment later, so that a backlog is no burst. */
const BATCH = 100;
const BATCH_PAUSE_MS = 1000;
/**
 * The timer sleeps at most this long, then asks the ledger again: a try scheduled by someone else
 * (a full rate-limit queue puts a retry back) is picked up without a message to this node.
 */
const MAX_SLEEP_MS = 60_000;

export interface RetrySchedulerOptions {
  io: ControllerIO;
  /** The schedule as the user wrote it ("5m, 20m, 1h"). */
  schedule: string;
  ledger?: LogLedger;
  /** Why the ledger could not be opened. */
  ledgerError?: string;
  clock?: Clock;
  events?: EventEmitter<ArchiveEvents>;
}

export class RetryScheduler {
  /** The delays of the automatic tries, in order. */
  readonly delays: readonly number[];
  /** A schedule that does not parse or a ledger that did not open: every message fails with it. */
  readonly setupError: string | undefined;
  private readonly io: ControllerIO;
  private readonly ledger?: LogLedger;
  private readonly clock: Clock;
  private readonly events: EventEmitter<ArchiveEvents>;
  private readonly unregister: () => void;
  private timer: unknown;
  private closed = false;
  private started = false;
  /** Failures of content RingCentral no longer has, since the node started. */
  private lost = 0;

  constructor(o: RetrySchedulerOptions) {
    this.io = o.io;
    this.ledger = o.ledger;
    this.clock = o.clock ?? realClock;
    this.events = o.events ?? archiveEvents;
    const parsed = parseSchedule(o.schedule);
    this.delays = parsed.delays ?? [];
    this.setupError = parsed.error
      ? this.io.text('errors.schedule', { error: parsed.error })
      : o.ledgerError !== undefined || !o.ledger
        ? this.io.text('errors.noLedger', { error: o.ledgerError ?? '' })
        : undefined;
    this.unregister = registerEntrance({
      nodeId: this.io.id,
      kind: 'retry',
      send: (items) => {
        for (const item of items) this.io.send({ topic: item.key, payload: item, retry: { manual: true } });
        if (this.started) this.arm();
      },
    });
    if (this.setupError) {
      this.fail(this.setupError);
      this.io.error(this.setupError);
    }
  }

  private fail(text: string): void {
    this.io.status({ fill: 'red', shape: 'ring', text: shortText(text) });
  }

  private showStatus(waiting: { count: number; next?: string }): void {
    if (!this.ledger || this.setupError) return;
    const gaveUp = this.ledger.exhaustedRetries(this.io.id, this.delays.length);
    const parts = [
      waiting.count
        ? this.io.text('status.waiting', {
            count: waiting.count,
            time: whenText(waiting.next, this.clock.now()),
          })
        : this.io.text('status.idle'),
    ];
    if (gaveUp) parts.push(this.io.text('status.gaveUp', { count: gaveUp }));
    if (this.lost) parts.push(this.io.text('status.lost', { count: this.lost }));
    this.io.status({
      fill: gaveUp ? 'yellow' : waiting.count ? 'blue' : 'green',
      shape: waiting.count ? 'ring' : 'dot',
      text: parts.join(' · '),
    });
  }

  /** One timer, for the earliest try the ledger holds for this node. */
  private arm(minDelay = 0): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (this.closed || !this.ledger || this.setupError) return;
    const waiting = this.ledger.waitingRetries(this.io.id);
    this.showStatus(waiting);
    const delay = timerDelay(waiting.next, this.clock.now());
    this.timer = this.clock.setTimeout(
      () => this.wake(),
      Math.max(minDelay, Math.min(delay ?? MAX_SLEEP_MS, MAX_SLEEP_MS)),
    );
  }

  private wake(): void {
    this.timer = undefined;
    const ledger = this.ledger;
    if (this.closed || !ledger) return;
    let full = false;
    try {
      const due = ledger.dueRetries(this.io.id, new Date(this.clock.now()).toISOString(), BATCH);
      full = due.length >= BATCH;
      for (const entry of due) {
        // Cleared before it goes out: the sink's next failure schedules the try after it.
        ledger.clearRetry(entry.key);
        const row = ledger.get(entry.key);
        if (!row || row.status === 'Archived' || row.status === 'Lost') continue;
        this.io.send({
          topic: entry.key,
          payload: row.item,
          retry: { attempt: entry.retries, of: this.delays.length },
        });
      }
    } catch (err) {
      this.fail(errorMessage(err));
      this.io.error(errorMessage(err));
    }
    this.arm(full ? BATCH_PAUSE_MS : 0);
  }

  /** Tries that fell due while Node-RED was down go out once the flow can carry them. */
  flowsStarted(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.arm();
  }

  /** A sink's failure: its next try is scheduled, or it is Lost, or its tries are used up (one alert). */
  input(msg: ControllerMessage): void {
    const ledger = this.ledger;
    if (this.setupError || !ledger) throw new Error(this.setupError);
    // A sink's outage notice: its items wait in the sink and spend no retry.
    if (msg.targetDown === true) return;
    const item = msg.payload;
    if (!isArchiveItem(item)) throw new Error(this.io.text('errors.notItem'));
    const failure = msg.error as { message?: unknown; lost?: unknown } | undefined;
    try {
      let row = ledger.get(item.key);
      if (!row) {
        // A failure from a sink that is not ours, of an item the ledger never saw: recorded, so
        // that its schedule has a row to live in.
        const reason =
          typeof failure?.message === 'string' ? failure.message : this.io.text('errors.unknownFailure');
        ledger.markFailed(item.key, 'flow', reason, item);
        row = ledger.get(item.key);
      }
      const [logRow] = ledger.rowsOf([item.key]);
      const decision = decideRetry({
        status: row?.status,
        lost: failure?.lost === true,
        retries: logRow?.retries ?? 0,
        retryAt: logRow?.retryAt,
        delays: this.delays,
        now: this.clock.now(),
      });
      switch (decision.action) {
        case 'lost':
          this.lost++;
          break;
        case 'schedule':
          ledger.scheduleRetry(item.key, this.io.id, decision.retryAt, decision.retries);
          break;
        case 'exhausted': {
          ledger.clearRetry(item.key);
          const current = ledger.get(item.key);
          this.io.warn(this.io.text('log.exhausted', { key: item.key, retries: decision.retries }));
          if (current)
            this.events.emit('exhausted', { row: current, retryNode: this.io.id, retries: decision.retries });
          break;
        }
        default:
          break;
      }
    } catch (err) {
      this.fail(errorMessage(err));
      throw new Error(errorMessage(err));
    }
    // A message means the flows run, whatever the order of events at start.
    this.started = true;
    this.arm();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.unregister();
  }
}
