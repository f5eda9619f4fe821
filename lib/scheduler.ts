/**
 * The download scheduler of one RingCentral account (one rc-config): a queue per API group over
 * the budgets of its logins. Each group is served on its own, so a backlog in one never holds
 * another back; within a group the item RingCentral deletes soonest goes first, then the oldest.
 * A grant carries a permit already taken from the chosen login's budget: it is the right to send
 * that one request, handed to the download through `hold` and `claim` (no polling).
 */
import { retentionDays, type RetentionSettings } from './retention';
import type { ArchiveItem } from './items';
import type { BudgetPermit, RateBudget } from './ringcentral/budget';
import { onAbort as onAbortSignal } from './ringcentral/budget';
import type { ApiGroup, BudgetSnapshot, ContentFetcher } from './ringcentral/types';

/** One login of the account, with its own budgets. */
export interface SchedulerLogin {
  id: string;
  budget(group: ApiGroup): RateBudget;
}

export interface SchedulerClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface ScheduleRequest {
  /** The item's key: a grant is held and claimed under it. */
  key: string;
  group: ApiGroup;
  /** When RingCentral is expected to delete the content (epoch ms); none: after those that have one. */
  deleteAt?: number;
  /** When the item was created (epoch ms or ISO 8601): the older first among equal deletion times. */
  createdAt?: number | string;
}

/** The right to send one request of `group` with login `login`. */
export interface Grant {
  login: string;
  group: ApiGroup;
  permit: BudgetPermit;
}

export interface SchedulerOptions {
  /** The logins that may download now; asked again at every decision (a pool can change). */
  logins: () => SchedulerLogin[];
  clock?: SchedulerClock;
  /** How long a held grant waits to be claimed before its permit is given back. Default 30 s. */
  holdMs?: number;
  /**
   * The same while the group has had no answer yet: then a held permit holds the whole group
   * back (one request at a time), so it is given back sooner. Default 1 s.
   */
  firstAnswerHoldMs?: number;
}

/** Thrown to waiters when the scheduler is closed (its rc-config stopped). */
export class SchedulerClosedError extends Error {
  override name = 'SchedulerClosedError';
  constructor() {
    super('the RingCentral download scheduler is closed');
  }
}

/** With no login to ask, look again this much later (a pool may have gained one). */
const NO_LOGIN_RETRY_MS = 1_000;

const systemClock: SchedulerClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return timer;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

interface Waiter {
  key: string;
  deleteAt: number;
  createdAt: number;
  seq: number;
  settled: boolean;
  resolve(grant: Grant): void;
  reject(error: Error): void;
  cleanup(): void;
}

function timeOf(value: number | string | undefined): number {
  if (typeof value === 'number') return Number.isFinite(value) ? value : Number.POSITIVE_INFINITY;
  const parsed = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  return Number.isNaN(parsed) ? Number.POSITIVE_INFINITY : parsed;
}

/** Nearest deletion first, then the oldest, then the first to ask. */
function before(a: Waiter, b: Waiter): boolean {
  if (a.deleteAt !== b.deleteAt) return a.deleteAt < b.deleteAt;
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt;
  return a.seq < b.seq;
}

/** A binary heap of waiters; settled ones are dropped when they reach the top. */
class WaiterHeap {
  private readonly items: Waiter[] = [];
  /** Waiters not yet settled. */
  size = 0;

  push(waiter: Waiter): void {
    const items = this.items;
    items.push(waiter);
    this.size++;
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(items[i], items[parent])) break;
      [items[i], items[parent]] = [items[parent], items[i]];
      i = parent;
    }
  }

  peek(): Waiter | undefined {
    while (this.items.length && this.items[0].settled) this.removeTop();
    return this.items[0];
  }

  /** Removes the top; settles nothing itself. */
  removeTop(): void {
    const items = this.items;
    const last = items.pop() as Waiter;
    if (items.length === 0) return;
    items[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let best = i;
      if (left < items.length && before(items[left], items[best])) best = left;
      if (right < items.length && before(items[right], items[best])) best = right;
      if (best === i) break;
      [items[i], items[best]] = [items[best], items[i]];
      i = best;
    }
  }

  drain(): Waiter[] {
    const all = this.items.splice(0).filter((w) => !w.settled);
    this.size = 0;
    return all;
  }
}

interface Held {
  grant: Grant;
  timer: unknown;
}

export class Scheduler {
  private readonly logins: () => SchedulerLogin[];
  private readonly clock: SchedulerClock;
  private readonly holdMs: number;
  private readonly firstAnswerHoldMs: number;
  private readonly queues = new Map<ApiGroup, WaiterHeap>();
  private readonly timers = new Map<ApiGroup, unknown>();
  private readonly pumpQueued = new Set<ApiGroup>();
  private readonly held = new Map<string, Held>();
  private readonly watched = new Map<RateBudget, () => void>();
  private seq = 0;
  private disposed = false;

  constructor(options: SchedulerOptions) {
    this.logins = options.logins;
    this.clock = options.clock ?? systemClock;
    this.holdMs = options.holdMs ?? 30_000;
    this.firstAnswerHoldMs = options.firstAnswerHoldMs ?? 1_000;
  }

  /**
   * Resolves with a grant as soon as a login has budget in the group and no item before it in
   * that group is waiting. Rejects when the signal aborts (the place is given back) or the
   * scheduler closes.
   */
  schedule(request: ScheduleRequest, signal?: AbortSignal): Promise<Grant> {
    if (this.disposed) return Promise.reject(new SchedulerClosedError());
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const { group } = request;
    let queue = this.queues.get(group);
    if (!queue) {
      queue = new WaiterHeap();
      this.queues.set(group, queue);
    }
    const groupQueue = queue;
    return new Promise<Grant>((resolve, reject) => {
      const onAbort = () => {
        if (waiter.settled) return;
        waiter.settled = true;
        groupQueue.size--;
        reject(abortError(signal));
        this.queuePump(group);
      };
      const waiter: Waiter = {
        key: request.key,
        deleteAt: timeOf(request.deleteAt),
        createdAt: timeOf(request.createdAt),
        seq: ++this.seq,
        settled: false,
        resolve,
        reject,
        cleanup: () => {},
      };
      if (signal) waiter.cleanup = onAbortSignal(signal, onAbort);
      groupQueue.push(waiter);
      // Decided now, not later: a grant that is possible at once is taken at once.
      this.pump(group);
    });
  }

  /** Items waiting for a grant in each group (groups without any are left out). */
  queued(): Partial<Record<ApiGroup, number>> {
    const out: Partial<Record<ApiGroup, number>> = {};
    for (const [group, queue] of this.queues) if (queue.size) out[group] = queue.size;
    return out;
  }

  /**
   * The group's budget over every login: limits and room added up, paused only while every
   * login is; undefined without a login.
   */
  snapshot(group: ApiGroup): BudgetSnapshot | undefined {
    const snapshots = this.availableLogins().map((login) => login.budget(group).snapshot());
    if (!snapshots.length) return undefined;
    const paused = snapshots.every((s) => s.pausedUntil !== null);
    return {
      group,
      limit: snapshots.reduce((n, s) => n + s.limit, 0),
      windowSec: Math.max(...snapshots.map((s) => s.windowSec)),
      usedInWindow: snapshots.reduce((n, s) => n + s.usedInWindow, 0),
      remaining: snapshots.reduce((n, s) => n + (s.pausedUntil === null ? s.remaining : 0), 0),
      pausedUntil: paused ? Math.min(...snapshots.map((s) => s.pausedUntil as number)) : null,
      queued: this.queues.get(group)?.size ?? 0,
      penalties: snapshots.reduce((n, s) => n + s.penalties, 0),
    };
  }

  /**
   * Parks a grant for the download of `key` (see `claim`). Unclaimed, its permit is given back
   * after `holdMs` (sooner while the group awaits its first answer), so a message that never
   * reaches a download costs no budget.
   */
  hold(key: string, grant: Grant): void {
    if (this.disposed) {
      grant.permit.cancel();
      return;
    }
    this.release(key);
    let awaiting = false;
    try {
      awaiting = this.loginById(grant.login)?.budget(grant.group).awaitingFirstAnswer ?? false;
    } catch {
      // the login is gone: the short hold then
      awaiting = true;
    }
    const timer = this.clock.setTimeout(
      () => {
        if (this.held.get(key)?.grant !== grant) return;
        this.held.delete(key);
        grant.permit.cancel();
      },
      awaiting ? this.firstAnswerHoldMs : this.holdMs,
    );
    this.held.set(key, { grant, timer });
  }

  /** The grant held for `key`, now the caller's to use (or cancel); undefined when none is. */
  claim(key: string): Grant | undefined {
    const held = this.held.get(key);
    if (!held) return undefined;
    this.held.delete(key);
    this.clock.clearTimeout(held.timer);
    return held.grant;
  }

  /** Gives back the grant held for `key`, if any. */
  release(key: string): void {
    this.claim(key)?.permit.cancel();
  }

  /** Grants held and not yet claimed. */
  get holding(): number {
    return this.held.size;
  }

  /** Looks again at every group now (e.g. a login joined or left the pool). */
  refresh(): void {
    for (const group of this.queues.keys()) this.queuePump(group);
  }

  /** Rejects every waiter, gives back every held permit; later calls reject. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const timer of this.timers.values()) this.clock.clearTimeout(timer);
    this.timers.clear();
    for (const key of [...this.held.keys()]) this.release(key);
    for (const [budget, listener] of this.watched) budget.off('spent', listener);
    this.watched.clear();
    for (const queue of this.queues.values()) {
      for (const waiter of queue.drain()) {
        waiter.settled = true;
        waiter.cleanup();
        waiter.reject(new SchedulerClosedError());
      }
    }
  }

  private availableLogins(): SchedulerLogin[] {
    try {
      return this.logins();
    } catch {
      // A login whose settings are incomplete cannot download; the nodes say why.
      return [];
    }
  }

  private loginById(id: string): SchedulerLogin | undefined {
    return this.availableLogins().find((login) => login.id === id);
  }

  /** Budgets tell when they free a slot (an answer, a cancelled permit): look again then. */
  private watch(budget: RateBudget, group: ApiGroup): void {
    if (this.watched.has(budget)) return;
    const listener = () => this.queuePump(group);
    this.watched.set(budget, listener);
    budget.on('spent', listener);
  }

  private queuePump(group: ApiGroup): void {
    if (this.disposed || this.pumpQueued.has(group)) return;
    this.pumpQueued.add(group);
    queueMicrotask(() => {
      this.pumpQueued.delete(group);
      this.pump(group);
    });
  }

  /** Hands grants out in the group's order while a login has room; else waits for the next slot. */
  private pump(group: ApiGroup): void {
    if (this.disposed) return;
    const pending = this.timers.get(group);
    if (pending !== undefined) this.clock.clearTimeout(pending);
    this.timers.delete(group);
    const queue = this.queues.get(group);
    while (queue?.peek()) {
      const waiter = queue.peek() as Waiter;
      const { grant, waitMs } = this.take(group);
      if (!grant) {
        if (Number.isFinite(waitMs)) {
          const timer = this.clock.setTimeout(
            () => {
              this.timers.delete(group);
              this.pump(group);
            },
            Math.min(Math.max(1, waitMs + 1), 2_147_000_000),
          );
          this.timers.set(group, timer);
        }
        return;
      }
      queue.removeTop();
      queue.size--;
      waiter.settled = true;
      waiter.cleanup();
      waiter.resolve(grant);
    }
  }

  /** A permit from the login with the most room in the group, or how long until one has room. */
  private take(group: ApiGroup): { grant?: Grant; waitMs: number } {
    const logins = this.availableLogins();
    if (!logins.length) return { waitMs: NO_LOGIN_RETRY_MS };
    const candidates = logins
      .map((login) => {
        const budget = login.budget(group);
        this.watch(budget, group);
        return { login, budget, remaining: budget.snapshot().remaining };
      })
      .sort((a, b) => b.remaining - a.remaining);
    let waitMs = Number.POSITIVE_INFINITY;
    for (const { login, budget } of candidates) {
      const permit = budget.tryAcquire();
      if (permit) return { grant: { login: login.id, group, permit }, waitMs: 0 };
      waitMs = Math.min(waitMs, budget.msUntilFree());
    }
    return { waitMs };
  }
}

function abortError(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error) return reason;
  const error = new Error('The operation was aborted');
  error.name = 'AbortError';
  return error;
}

/** When RingCentral is expected to delete the item's content by its age (epoch ms), if it does. */
export function deletionTime(
  item: Pick<ArchiveItem, 'kind' | 'createdAt'>,
  retention: RetentionSettings,
): number | undefined {
  const days = retentionDays(item.kind, retention);
  const created = Date.parse(item.createdAt);
  if (days === undefined || Number.isNaN(created)) return undefined;
  return created + days * 86_400_000;
}

/** The scheduler of one rc-config with one login: its client's budgets. */
export function schedulerForClient(
  id: string,
  client: () => { budget(group: ApiGroup): RateBudget },
): Scheduler {
  return new Scheduler({ logins: () => [{ id, budget: (group) => client().budget(group) }] });
}

/**
 * The sink's content fetcher: a download whose item has a grant held (rc-rate-limit released it)
 * uses that grant's login and permit; any other download acquires as it always did.
 */
export function fetcherWithGrants(
  scheduler: Scheduler | undefined,
  fetcherOf: (login?: string) => ContentFetcher,
): ContentFetcher {
  return {
    openContent: (uri, options = {}) => {
      let grant = options.key && !options.permit ? scheduler?.claim(options.key) : undefined;
      // Released for another group (a fixed group in rc-rate-limit): no use to this request.
      if (grant && grant.group !== (options.group ?? 'Heavy')) {
        grant.permit.cancel();
        grant = undefined;
      }
      try {
        const fetcher = fetcherOf(grant?.login);
        return fetcher.openContent(uri, grant ? { ...options, permit: grant.permit } : options);
      } catch (err) {
        grant?.permit.cancel();
        throw err;
      }
    },
  };
}
