/**
 * rc-rate-limit's state machine, free of Node-RED: it holds each item until its rc-config's
 * scheduler (lib/scheduler.ts) grants the download, parks the grant for the sink, refuses what
 * does not fit the queue bound and puts every message it lets go of back where it came from.
 */
import { deferred as defaultDeferred, type Deferred } from './bus';
import {
  errorMessage,
  realClock,
  shortText,
  type Clock,
  type ControllerIO,
  type ControllerMessage,
  type ControllerSend,
} from './controller';
import { contentGroupFor, isArchiveItem, type ArchiveItem } from './items';
import type { LogLedger } from './ledger/types';
import { queueStatus, type QueueStatus } from './rate-limit';
import type { RetentionSettings } from './retention';
import type { ApiGroup } from './ringcentral/types';
import { deletionTime, SchedulerClosedError, type Scheduler } from './scheduler';

/** A Failed item refused by a full queue goes back to its rc-retry this much later. */
export const REFUSED_RETRY_MS = 60_000;
/** The status is redrawn at most this often: a burst of a thousand items is one redraw. */
export const STATUS_EVERY_MS = 250;
/** The status says "queue full" this long after the last refusal. */
const FULL_SHOWN_MS = 60_000;

/** What the rate limiter asks of a scheduler. */
export type GrantScheduler = Pick<Scheduler, 'schedule' | 'hold' | 'snapshot'>;

/** The scheduler an item's download waits on, and the retention that says when it is deleted. */
export interface SchedulerOfItem {
  scheduler: GrantScheduler;
  retention: RetentionSettings;
}

export interface RateLimiterOptions {
  io: ControllerIO;
  /** The rc-config's scheduler for an item; throws with the user's words when there is none. */
  schedulerFor(item: ArchiveItem): SchedulerOfItem;
  /** Held messages at most; one more is refused. */
  maxQueue: number;
  /** The API group of every item; else each item's own (Heavy for recordings). */
  group?: ApiGroup;
  /** Only for a refused or put-back item: which source or rc-retry sends it again. */
  ledger?: LogLedger;
  clock?: Clock;
  deferred?: Deferred;
}

interface Held {
  msg: ControllerMessage;
  group: ApiGroup;
  settle(): void;
}

export class RateLimiter {
  private readonly io: ControllerIO;
  private readonly options: RateLimiterOptions;
  private readonly clock: Clock;
  private readonly deferred: Deferred;
  private readonly abort = new AbortController();
  private readonly held = new Set<Held>();
  /** The scheduler each group's items went to last: its budgets are what the status shows. */
  private readonly schedulerOfGroup = new Map<ApiGroup, GrantScheduler>();
  private released = 0;
  private refused = 0;
  private lastRefusedAt: number | undefined;
  private statusTimer: unknown;

  constructor(options: RateLimiterOptions) {
    this.options = options;
    this.io = options.io;
    this.clock = options.clock ?? realClock;
    this.deferred = options.deferred ?? defaultDeferred;
    this.drawStatus();
  }

  /** Items held per group, waiting for their grant. */
  queued(): Partial<Record<ApiGroup, number>> {
    const counts: Partial<Record<ApiGroup, number>> = {};
    for (const h of this.held) counts[h.group] = (counts[h.group] ?? 0) + 1;
    return counts;
  }

  /**
   * Settles once the message has gone on (its grant parked for the sink's download) or has been
   * put back on close; rejects on a full queue (the item put back) or a missing config.
   */
  input(msg: ControllerMessage, send: ControllerSend): Promise<void> {
    const item = msg.payload;
    if (!isArchiveItem(item)) {
      // Nothing to download: nothing to wait for.
      return this.pass(msg, send);
    }
    const group = this.options.group ?? contentGroupFor(item);
    if (!group) return this.pass(msg, send);
    if (this.held.size >= this.options.maxQueue) return Promise.reject(this.refuse(msg));
    let target: SchedulerOfItem;
    try {
      target = this.options.schedulerFor(item);
    } catch (err) {
      return Promise.reject(this.fail(err));
    }
    const { scheduler } = target;
    this.schedulerOfGroup.set(group, scheduler);
    return new Promise<void>((resolve, reject) => {
      const entry: Held = { msg, group, settle: resolve };
      this.held.add(entry);
      this.showStatus();
      const request = {
        key: item.key,
        group,
        deleteAt: deletionTime(item, target.retention),
        createdAt: item.createdAt,
      };
      scheduler.schedule(request, this.abort.signal).then(
        (grant) => {
          if (!this.held.delete(entry)) return grant.permit.cancel(); // put back on close meanwhile
          // The sink's download claims the grant under the item's key (lib/scheduler.ts).
          scheduler.hold(item.key, grant);
          this.released++;
          send(msg);
          this.showStatus();
          resolve();
        },
        (err: unknown) => {
          if (!this.held.delete(entry)) return;
          this.showStatus();
          // The config stopped under the queue: the item goes back, as on close.
          if (err instanceof SchedulerClosedError) {
            this.putBack(msg, 0);
            return resolve();
          }
          reject(this.fail(err));
        },
      );
    });
  }

  /** Stops the timers and puts every held item back (its source or rc-retry sends it again). */
  close(): Promise<void> {
    this.abort.abort();
    if (this.statusTimer !== undefined) this.clock.clearTimeout(this.statusTimer);
    this.statusTimer = undefined;
    for (const entry of [...this.held]) {
      this.held.delete(entry);
      this.putBack(entry.msg, 0);
      entry.settle();
    }
    return Promise.resolve();
  }

  private pass(msg: ControllerMessage, send: ControllerSend): Promise<void> {
    this.released++;
    send(msg);
    this.showStatus();
    return Promise.resolve();
  }

  private fail(err: unknown): Error {
    const message = errorMessage(err);
    this.io.status({ fill: 'red', shape: 'ring', text: shortText(message) });
    return new Error(message);
  }

  /** A full queue refuses the message with a clear error; the item is put back, not lost. */
  private refuse(msg: ControllerMessage): Error {
    this.refused++;
    this.lastRefusedAt = this.clock.now();
    const item = msg.payload;
    const key = isArchiveItem(item) ? item.key : String(msg.topic ?? '');
    const fate = this.putBack(msg, REFUSED_RETRY_MS);
    this.drawStatus();
    return new Error(this.io.text('errors.full', { max: this.options.maxQueue, key, fate }));
  }

  /**
   * Makes sure a message this node lets go of does not lose its item: a Pending item is sent
   * again by its source on its next run, a Failed one goes back to its rc-retry `delayMs` later.
   * Returns what the user is told.
   */
  private putBack(msg: ControllerMessage, delayMs: number): string {
    const item = msg.payload;
    const ledger = this.options.ledger;
    try {
      const row = ledger && isArchiveItem(item) ? ledger.get(item.key) : undefined;
      if (ledger && row?.status === 'Pending' && row.source) {
        this.deferred.add(row.source, [row.key]);
        return this.io.text('errors.fullPending');
      }
      if (ledger && row?.status === 'Failed') {
        const [log] = ledger.rowsOf([row.key]);
        if (!log?.retryNode) return this.io.text('errors.fullManual');
        if (!log.retryAt)
          ledger.scheduleRetry(
            row.key,
            log.retryNode,
            new Date(this.clock.now() + delayMs).toISOString(),
            log.retries,
          );
        return this.io.text('errors.fullFailed');
      }
    } catch (err) {
      return errorMessage(err);
    }
    return this.io.text('errors.fullOther');
  }

  private showStatus(): void {
    if (this.statusTimer !== undefined || this.abort.signal.aborted) return;
    this.statusTimer = this.clock.setTimeout(() => this.drawStatus(), STATUS_EVERY_MS);
  }

  /** "12 queued · Heavy 34 s", or per group "43 queued · Heavy 40 · Medium 3". */
  private drawStatus(): void {
    if (this.statusTimer !== undefined) this.clock.clearTimeout(this.statusTimer);
    this.statusTimer = undefined;
    if (this.abort.signal.aborted) return;
    const now = this.clock.now();
    const status = queueStatus(
      this.queued(),
      (group) => {
        try {
          return this.schedulerOfGroup.get(group)?.snapshot(group);
        } catch {
          return undefined; // the config is gone: its items say so when they fail
        }
      },
      now,
    );
    const full = this.lastRefusedAt !== undefined && now - this.lastRefusedAt < FULL_SHOWN_MS;
    let text = this.describe(status);
    if (full)
      text = `${this.io.text('status.full', { max: this.options.maxQueue, refused: this.refused })} · ${text}`;
    const holding = this.held.size > 0;
    this.io.status({
      fill: full ? 'yellow' : holding ? 'blue' : 'green',
      shape: holding ? 'ring' : 'dot',
      text,
    });
  }

  private describe(status: QueueStatus): string {
    const { io } = this;
    if (status.groups.length === 0) return io.text('status.queue', { queued: 0, released: this.released });
    if (status.groups.length === 1) {
      const { group, seconds, paused } = status.groups[0];
      return io.text(`status.${paused ? 'paused' : 'wait'}`, { queued: status.queued, group, seconds });
    }
    const groups = status.groups
      .map(({ group, count, paused }) =>
        io.text(`status.${paused ? 'groupPaused' : 'group'}`, { group, count }),
      )
      .join(' · ');
    return io.text('status.groups', { queued: status.queued, groups });
  }
}
