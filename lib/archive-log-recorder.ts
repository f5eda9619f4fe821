/**
 * rc-archive-log's state machine, free of Node-RED: it records the outcome each message reports
 * (for sinks not of this pack), sends a run summary after a quiet period, turns the retry and
 * outage events into alerts, and prunes the log's old rows at start and once a day.
 */
import type { EventEmitter } from 'node:events';
import {
  exhaustedAlert,
  flowReceipt,
  needsRecording,
  outcomeOf,
  RunCounter,
  targetDownAlert,
} from './archive-log';
import { archiveEvents, type ArchiveEvents } from './bus';
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
import { isArchiveItem } from './items';
import type { LedgerAdmin } from './ledger/types';
import type { RetentionSettings } from './retention';

/** Items of sinks not of this pack are recorded under this sink name (the log's "flow" storage). */
export const FLOW_SINK = 'flow';
const DAY_MS = 86_400_000;

export interface ArchiveLogRecorderOptions {
  io: ControllerIO;
  ledger?: LedgerAdmin;
  /** Why the ledger could not be opened. */
  ledgerError?: string;
  /** Quiet time after the last outcome before the run's summary goes out. */
  summaryDelayMs: number;
  /** Log rows older than this are pruned; 0 keeps every row. */
  keepDays: number;
  /** The retention of an rc-config, for the deletion date an alert tells. */
  retentionOf?(rc: string): RetentionSettings | undefined;
  clock?: Clock;
  events?: EventEmitter<ArchiveEvents>;
}

export class ArchiveLogRecorder {
  private readonly io: ControllerIO;
  private readonly ledger?: LedgerAdmin;
  private readonly options: ArchiveLogRecorderOptions;
  private readonly clock: Clock;
  private readonly events: EventEmitter<ArchiveEvents>;
  private readonly run = new RunCounter();
  private summaryTimer: unknown;
  private pruneTimer: unknown;
  /** The send of the last outcome: the summary goes out as its follow-up. */
  private lastSend: ControllerSend | undefined;
  private alerts = 0;
  private closed = false;

  constructor(options: ArchiveLogRecorderOptions) {
    this.options = options;
    this.io = options.io;
    this.ledger = options.ledger;
    this.clock = options.clock ?? realClock;
    this.events = options.events ?? archiveEvents;
    if (options.ledgerError !== undefined) {
      this.io.status({ fill: 'red', shape: 'ring', text: shortText(options.ledgerError) });
      this.io.error(options.ledgerError);
    }
    this.prune();
    this.events.on('exhausted', this.onExhausted);
    this.events.on('targetDown', this.onTargetDown);
  }

  /** Records the message's outcome when no sink of the pack did, and counts it in the run. */
  input(msg: ControllerMessage, send: ControllerSend): void {
    // A sink's outage notice: its items are waiting, not failed; the alert comes from the event.
    if (msg.targetDown === true) return;
    const item = msg.payload;
    if (!isArchiveItem(item)) throw new Error(this.io.text('errors.notItem'));
    const outcome = outcomeOf(msg);
    if ('invalid' in outcome) throw new Error(outcome.invalid);
    const ledger = this.ledger;
    try {
      if (ledger && needsRecording(outcome, ledger.get(item.key)?.status)) {
        const reason = outcome.error || outcome.status.toLowerCase();
        if (outcome.status === 'Archived')
          ledger.markArchived(
            item.key,
            FLOW_SINK,
            outcome.receipt ?? flowReceipt(item, outcome, new Date(this.clock.now())),
            item,
          );
        else if (outcome.status === 'Lost') ledger.markLost(item.key, FLOW_SINK, reason, item);
        else ledger.markFailed(item.key, FLOW_SINK, reason, item);
      }
    } catch (err) {
      throw new Error(errorMessage(err));
    }
    this.run.add(item.kind, { status: outcome.status, bytes: outcome.bytes ?? item.size }, this.clock.now());
    this.lastSend = send;
    if (this.summaryTimer !== undefined) this.clock.clearTimeout(this.summaryTimer);
    this.summaryTimer = this.clock.setTimeout(() => this.summarize(), this.options.summaryDelayMs);
  }

  close(): Promise<void> {
    this.closed = true;
    if (this.summaryTimer !== undefined) this.clock.clearTimeout(this.summaryTimer);
    if (this.pruneTimer !== undefined) this.clock.clearTimeout(this.pruneTimer);
    this.summaryTimer = this.pruneTimer = undefined;
    this.events.removeListener('exhausted', this.onExhausted);
    this.events.removeListener('targetDown', this.onTargetDown);
    return Promise.resolve();
  }

  private summarize(): void {
    this.summaryTimer = undefined;
    let counts: ReturnType<LedgerAdmin['counts']> | undefined;
    try {
      counts = this.ledger?.counts();
    } catch (err) {
      this.io.warn(errorMessage(err));
    }
    const now = this.clock.now();
    const payload = this.run.finish(counts, now);
    this.io.status({
      fill: payload.failed ? 'yellow' : 'green',
      shape: 'dot',
      text: this.io.text('status.summary', {
        archived: payload.archived,
        failed: payload.failed + payload.lost,
        pending: counts?.Pending ?? 0,
        time: timeOfDayAt(now),
      }),
    });
    this.lastSend?.([{ topic: 'summary', payload }, null]);
  }

  /** Retention of the log: at start, then once a day; 0 keeps every row. */
  private prune(): void {
    this.pruneTimer = undefined;
    const { keepDays } = this.options;
    if (this.closed || !this.ledger || keepDays <= 0) return;
    try {
      const pruned = this.ledger.prune({ olderThanDays: keepDays, now: new Date(this.clock.now()) });
      if (pruned.items || pruned.events)
        this.io.log(this.io.text('log.pruned', { ...pruned, days: keepDays }));
    } catch (err) {
      this.io.warn(errorMessage(err));
    }
    this.pruneTimer = this.clock.setTimeout(() => this.prune(), DAY_MS);
  }

  private readonly onExhausted = (event: ArchiveEvents['exhausted'][0]): void => {
    const retention = this.options.retentionOf?.(event.row.item.rc);
    const alert = exhaustedAlert(event, retention, new Date(this.clock.now()));
    this.alerts++;
    this.io.status({
      fill: 'red',
      shape: 'dot',
      text: shortText(this.io.text('status.alert', { count: this.alerts, key: alert.key })),
    });
    this.io.send([null, { topic: alert.key, payload: alert }]);
  };

  private readonly onTargetDown = (event: ArchiveEvents['targetDown'][0]): void => {
    const alert = targetDownAlert(event);
    this.alerts++;
    this.io.status({
      fill: 'red',
      shape: 'dot',
      text: shortText(
        this.io.text('status.targetDown', { count: this.alerts, sink: event.sink.name || event.sink.type }),
      ),
    });
    this.io.send([null, { topic: `target-down:${event.sink.id}`, payload: alert }]);
  };
}
