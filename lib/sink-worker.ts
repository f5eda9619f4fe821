/**
 * The sink worker: how many items a sink transfers at once, and the health of its storage target.
 * A target-level failure (see lib/storage/target.ts) pauses the sink once: the items wait, Pending,
 * without opening RingCentral downloads or spending retries, while the target is probed with a
 * growing pause; when a probe succeeds the backlog goes out by itself. Free of Node-RED: the node
 * hands in the archiving, the probe, the clock and what to tell the user.
 */
import type { Receipt } from './items';
import { isItemFailure, isTargetFailure } from './storage/target';

export interface WorkerClock {
  now(): number;
  setTimeout(run: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: WorkerClock = {
  now: () => Date.now(),
  setTimeout: (run, ms) => {
    const timer = setTimeout(run, ms);
    // A pending probe alone does not keep the process alive.
    timer.unref?.();
    return timer;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** What the sink looks like now, for its status. */
export interface WorkerState {
  /** unknown: not probed yet; recovering: a probe passed, one item at a time until one goes through. */
  health: 'unknown' | 'up' | 'down' | 'recovering';
  /** Items waiting in the queue (not yet started). */
  waiting: number;
  active: number;
  /** While down: the target's own reason and when it is probed next (clock time). */
  reason?: string;
  nextProbeAt?: number;
  probing: boolean;
}

export interface Outage {
  reason: string;
  /** Keys of the items that wait for the target. */
  waiting: string[];
  since: number;
  /** Clock time of the first probe. */
  nextProbeAt: number;
}

/**
 * routine: health not known yet or not confirmed lately (before a run's first item); it leaves no
 * trace on the target, so a half-hourly run leaves no probe files behind (an Object Lock bucket would
 * keep each one). recovery: the target is down; a write is proved before a download is spent.
 */
export type ProbeKind = 'routine' | 'recovery';

export interface SinkWorkerOptions<J extends { key: string }> {
  concurrency: number;
  /** Archives one job. A rejection that isTargetFailure() recognises pauses the sink. */
  archive(job: J): Promise<Receipt>;
  /**
   * Checks that the target is reachable and writable (StorageAdapter.check). Any failure counts as
   * the target's, except one marked `target: false` (see isItemFailure).
   */
  probe(kind: ProbeKind): Promise<void>;
  clock?: WorkerClock;
  onArchived(job: J, receipt: Receipt): void;
  /** A failure of the item itself (a name refused, a conflicting file, content gone). */
  onFailed(job: J, err: unknown): void;
  /** Once per outage. */
  onDown(outage: Outage): void;
  /** Once per outage, when the target works again. */
  onUp(recovery: { reason: string; downForMs: number; waiting: number }): void;
  /** Something the status shows changed. */
  onState?(state: WorkerState): void;
  /** Items held at most; beyond, onOverflow gets the job (it stays Pending in the ledger). */
  maxWaiting?: number;
  onOverflow?(job: J): void;
  /** First pause before probing a failed target (default 5 s), doubled up to maxProbeDelayMs (5 min). */
  firstProbeDelayMs?: number;
  maxProbeDelayMs?: number;
  /** Health not confirmed for this long is probed before new work starts from idle (default 60 s). */
  staleAfterMs?: number;
}

export function reasonOf(err: unknown): string {
  const e = err as { reason?: unknown; message?: unknown } | undefined;
  if (e && typeof e.reason === 'string' && e.reason) return e.reason;
  if (e && typeof e.message === 'string' && e.message) return e.message;
  return String(err);
}

/** Tries right after a passing probe before a target-level failure counts as the item's own. */
const MAX_STRIKES = 3;

export class SinkWorker<J extends { key: string }> {
  private readonly clock: WorkerClock;
  private readonly queue: J[] = [];
  private readonly running = new Set<J>();
  /** Target-level failures of an item tried right after a passing probe. */
  private readonly strikes = new Map<string, number>();
  private health: WorkerState['health'] = 'unknown';
  private active = 0;
  private probing = false;
  private closed = false;
  private lastHealthyAt = Number.NEGATIVE_INFINITY;
  private outage: { reason: string; since: number; delayMs: number; nextProbeAt: number } | undefined;
  private probeTimer: unknown;

  constructor(private readonly o: SinkWorkerOptions<J>) {
    this.clock = o.clock ?? realClock;
  }

  get state(): WorkerState {
    return {
      health: this.health,
      waiting: this.queue.length,
      active: this.active,
      probing: this.probing,
      ...(this.outage ? { reason: this.outage.reason, nextProbeAt: this.outage.nextProbeAt } : {}),
    };
  }

  /** True when nothing is queued or running. */
  get idle(): boolean {
    return this.active === 0 && this.queue.length === 0;
  }

  push(job: J): void {
    if (this.closed) return;
    if (this.queue.length >= (this.o.maxWaiting ?? Number.POSITIVE_INFINITY) && this.o.onOverflow) {
      this.o.onOverflow(job);
      return;
    }
    this.queue.push(job);
    this.pump();
    this.changed();
  }

  /** Stops probing and hands back the jobs that never started (they stay Pending in the ledger). */
  close(): J[] {
    this.closed = true;
    if (this.probeTimer !== undefined) this.clock.clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    return this.queue.splice(0);
  }

  private changed(): void {
    if (!this.closed) this.o.onState?.(this.state);
  }

  private get limit(): number {
    if (this.health === 'up') return Math.max(1, this.o.concurrency);
    // One trial at a time: a target that passes the probe but still refuses writes costs one download.
    if (this.health === 'recovering') return 1;
    return 0;
  }

  private pump(): void {
    if (this.closed || this.probing || !this.queue.length) return;
    if (this.health === 'down') return;
    const stale = this.clock.now() - this.lastHealthyAt > (this.o.staleAfterMs ?? 60_000);
    // Probing first means a target that is down costs no RingCentral download.
    if (this.health === 'unknown' || (this.health === 'up' && this.active === 0 && stale)) {
      this.runProbe();
      return;
    }
    while (this.active < this.limit && this.queue.length) this.start(this.queue.shift()!);
  }

  private start(job: J): void {
    this.active++;
    this.running.add(job);
    this.o.archive(job).then(
      (receipt) => {
        this.active--;
        this.running.delete(job);
        this.strikes.delete(job.key);
        this.lastHealthyAt = this.clock.now();
        this.confirmUp();
        this.o.onArchived(job, receipt);
        this.afterJob();
      },
      (err: unknown) => {
        this.active--;
        this.running.delete(job);
        if (this.closed) {
          this.o.onFailed(job, err);
          return;
        }
        const trial = this.health === 'recovering';
        const strikes = trial ? (this.strikes.get(job.key) ?? 0) + 1 : 0;
        if (trial) this.strikes.set(job.key, strikes);
        if (isTargetFailure(err) && strikes < MAX_STRIKES) {
          // Back to the front: it goes first when the target works again.
          this.queue.unshift(job);
          this.down(err);
        } else {
          // The item's own failure; also a target-level one that came right after MAX_STRIKES
          // passing probes, so that one file the target keeps refusing cannot hold the others back.
          const struckOut = strikes >= MAX_STRIKES;
          this.strikes.delete(job.key);
          if (this.health === 'recovering' && !struckOut) this.confirmUp();
          this.o.onFailed(job, err);
        }
        this.afterJob();
      },
    );
  }

  private afterJob(): void {
    this.pump();
    this.changed();
  }

  private runProbe(): void {
    this.probing = true;
    this.changed();
    let probe: Promise<void>;
    try {
      probe = this.o.probe(this.health === 'down' ? 'recovery' : 'routine');
    } catch (err) {
      probe = Promise.reject(err);
    }
    probe.then(
      () => {
        this.probing = false;
        if (this.closed) return;
        this.lastHealthyAt = this.clock.now();
        if (this.health === 'down') {
          this.health = 'recovering';
          // Nothing to try it on: the probe is the proof.
          if (!this.queue.length && !this.active) this.confirmUp();
        } else this.health = 'up';
        this.pump();
        this.changed();
      },
      (err: unknown) => {
        this.probing = false;
        if (this.closed) return;
        // The probe failed on something the adapter counts as each item's own failure: let the
        // items go and fail with it.
        if (isItemFailure(err) && this.health !== 'down') {
          this.health = 'up';
          this.lastHealthyAt = this.clock.now();
          this.pump();
          this.changed();
          return;
        }
        this.down(err);
      },
    );
  }

  /** The first failure opens an outage (and says so); later ones only push the next probe out. */
  private down(err: unknown): void {
    const reason = reasonOf(err);
    const now = this.clock.now();
    const first = this.o.firstProbeDelayMs ?? 5000;
    const max = this.o.maxProbeDelayMs ?? 300_000;
    const wasDown = this.health === 'down';
    const isNew = !this.outage;
    if (wasDown && this.probeTimer !== undefined) {
      // Another transfer that was under way failed too: the probe is already due.
      this.outage!.reason = reason;
      this.changed();
      return;
    }
    const delayMs = this.outage ? Math.min(max, this.outage.delayMs * 2) : first;
    this.outage = { reason, since: this.outage?.since ?? now, delayMs, nextProbeAt: now + delayMs };
    this.health = 'down';
    this.probeTimer = this.clock.setTimeout(() => {
      this.probeTimer = undefined;
      if (!this.closed) this.runProbe();
    }, delayMs);
    if (isNew)
      this.o.onDown({
        reason,
        // The transfers still under way meet the same target: they will wait too.
        waiting: [...new Set([...this.queue, ...this.running].map((j) => j.key))],
        since: this.outage.since,
        nextProbeAt: this.outage.nextProbeAt,
      });
    this.changed();
  }

  /** The outage is over once an item goes through (or a probe passed with nothing to try). */
  private confirmUp(): void {
    if (this.health === 'down') return;
    const outage = this.outage;
    this.health = 'up';
    if (!outage) return;
    this.outage = undefined;
    this.o.onUp({
      reason: outage.reason,
      downForMs: this.clock.now() - outage.since,
      waiting: this.queue.length,
    });
  }
}
