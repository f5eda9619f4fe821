import { EventEmitter } from 'node:events';
import type { ApiGroup, BudgetSnapshot } from './types';

export type { BudgetSnapshot } from './types';

/** RingCentral's default limits per app and user; raised limits arrive in the response headers. */
export const DEFAULT_GROUP_LIMITS: Readonly<Record<ApiGroup, { limit: number; windowSec: number }>> = {
  Light: { limit: 50, windowSec: 60 },
  Medium: { limit: 40, windowSec: 60 },
  Heavy: { limit: 10, windowSec: 60 },
  Auth: { limit: 5, windowSec: 60 },
};

/** Pause after a 429 that carries no Retry-After. */
export const DEFAULT_PENALTY_SEC = 30;

export interface RateBudgetOptions {
  /** Requests per window until the server's headers say otherwise. */
  limit?: number;
  windowSec?: number;
  /**
   * Requests kept in reserve below the limit until the server's X-Rate-Limit-Remaining has said
   * what is left (at the start, and after a restart within the window): another process may
   * still be counted. Once the server has said, its Remaining is used exactly. Default 1.
   */
  margin?: number;
  /** Pause after a 429 without Retry-After, in seconds (default 30). */
  defaultPenaltySec?: number;
  /** Added to every pause, for clocks and latency (default 250 ms). */
  penaltySlackMs?: number;
  onChange?: (snapshot: BudgetSnapshot) => void;
  /**
   * Send one request at a time until the group's first answer arrives (its headers say what the
   * server already counted, e.g. requests of a process that was just restarted). Needs every
   * permit to be settled with done() or cancel(), as the client does.
   */
  firstAnswerGate?: boolean;
  /**
   * What the budget had spent before a restart (see `state()`): the server still counts those
   * requests, so the new process starts from them instead of sending blind.
   */
  restore?: BudgetState;
}

/**
 * What one group has spent, kept across a restart. Times are epoch milliseconds; a request still
 * unanswered when the state was taken is in `pending` with the time it was sent.
 */
export interface BudgetState {
  limit: number;
  windowSec: number;
  spent: number[];
  pending?: number[];
  /** After a 429: nothing is sent before this. */
  pausedUntil?: number;
  /** After Remaining=0: nothing is sent before this. */
  blockedUntil?: number;
}

/** What `acquire` hands out: tell the budget when the answer's headers arrived (or not sent). */
export interface BudgetPermit {
  /** The request goes out now (a permit may be taken some time before it is used). */
  sending?(): void;
  /**
   * True when the permit was kept unused for longer than a window: its slot has gone back to the
   * window, so it no longer gives the right to send (cancel it and acquire another).
   */
  expired?(): boolean;
  /** The server has answered: the request counts from now (the server saw it no earlier). */
  done(): void;
  /** The request was not sent after all: give the slot back. */
  cancel(): void;
}

/** Anything headers can be read from: fetch/node-fetch Headers, a Map, or a plain object (any case). */
export type HeaderSource =
  | { get(name: string): string | null | undefined }
  | Record<string, string | string[] | number | undefined | null>;

export interface RateLimitHeaders {
  group?: string;
  limit?: number;
  remaining?: number;
  windowSec?: number;
  retryAfterSec?: number;
}

function headerValue(headers: HeaderSource | null | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  const lower = name.toLowerCase();
  let value: unknown;
  if (typeof (headers as { get?: unknown }).get === 'function') {
    const get = (headers as { get(n: string): unknown }).get.bind(headers);
    value = get(name) ?? get(lower);
    if (value == null && headers instanceof Map) {
      for (const [key, v] of headers as Map<unknown, unknown>) {
        if (typeof key === 'string' && key.toLowerCase() === lower) value = v;
      }
    }
  } else {
    for (const key of Object.keys(headers)) {
      if (key.toLowerCase() === lower) value = (headers as Record<string, unknown>)[key];
    }
  }
  if (Array.isArray(value)) value = value[0];
  if (value == null) return undefined;
  const text = String(value).trim();
  return text === '' ? undefined : text;
}

function numberOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text.replace(/s$/i, ''));
  return Number.isFinite(n) ? n : undefined;
}

/** The rate-limit headers of an answer: X-Rate-Limit-Group/Limit/Remaining/Window and Retry-After. */
export function readRateLimitHeaders(headers: HeaderSource | null | undefined): RateLimitHeaders {
  const out: RateLimitHeaders = {};
  const group = headerValue(headers, 'X-Rate-Limit-Group');
  if (group) out.group = group;
  const limit = numberOf(headerValue(headers, 'X-Rate-Limit-Limit'));
  if (limit !== undefined && limit > 0) out.limit = Math.floor(limit);
  const remaining = numberOf(headerValue(headers, 'X-Rate-Limit-Remaining'));
  if (remaining !== undefined) out.remaining = Math.max(0, Math.floor(remaining));
  const windowSec = numberOf(headerValue(headers, 'X-Rate-Limit-Window'));
  if (windowSec !== undefined && windowSec > 0) out.windowSec = windowSec;
  const retryAfter = headerValue(headers, 'Retry-After');
  if (retryAfter !== undefined) {
    const seconds = numberOf(retryAfter);
    if (seconds !== undefined && seconds >= 0) out.retryAfterSec = seconds;
    else {
      const at = Date.parse(retryAfter);
      if (Number.isFinite(at)) out.retryAfterSec = Math.max(0, (at - Date.now()) / 1000);
    }
  }
  return out;
}

/** The group an answer says it was counted in, as an ApiGroup (undefined when absent or unknown). */
export function apiGroupOf(name: string | undefined): ApiGroup | undefined {
  if (!name) return undefined;
  const lower = name.toLowerCase();
  return (['Light', 'Medium', 'Heavy', 'Auth'] as const).find((g) => g.toLowerCase() === lower);
}

export function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error) return reason;
  const error = new Error(typeof reason === 'string' ? reason : 'The operation was aborted');
  error.name = 'AbortError';
  return error;
}

/**
 * One abort listener per signal however many requests or waiters share it (a rate-limit node's
 * thousands of items share its one signal): no MaxListeners warnings. Returns the unsubscribe.
 */
const abortFanout = new WeakMap<AbortSignal, Set<() => void>>();

export function onAbort(signal: AbortSignal, listener: () => void): () => void {
  let listeners = abortFanout.get(signal);
  if (!listeners) {
    const set = new Set<() => void>();
    listeners = set;
    abortFanout.set(signal, set);
    signal.addEventListener(
      'abort',
      () => {
        for (const fn of [...set]) fn();
        set.clear();
      },
      { once: true },
    );
  }
  listeners.add(listener);
  return () => listeners.delete(listener);
}

interface Entry {
  /** When it was taken; once `done`, when its answer arrived (the server saw it no later). */
  t: number;
  done: boolean;
  /** When the request went out, once it has. */
  sentAt?: number;
}

/**
 * Entries stay this long past their window, so that an answer's Remaining can be compared with
 * what this budget had in the window when the request went out (not when its answer arrived).
 */
const RECONCILE_MS = 10_000;

/** A request sent whose permit is never settled (a caller's bug) gives its slot back after this long. */
const PENDING_MAX_MS = 600_000;

interface Waiter {
  consume: boolean;
  resolve(permit: BudgetPermit | undefined): void;
  reject(error: Error): void;
  cleanup(): void;
}

/**
 * The request budget of one API group for one login (one RcClient). It paces requests so that the
 * server never has reason to answer 429: a sliding window of the requests sent, a limit and window
 * taken from the server's X-Rate-Limit-* headers, a margin below the limit until the server's
 * Remaining has been seen (then Remaining is used exactly), and after a 429 the whole group waits out Retry-After (every request sent
 * during a penalty restarts it). Waiters are served first come, first served.
 *
 * Emits "change" with a snapshot whenever its state changes, "penalty" on a 429, and "spent"
 * whenever what `state()` returns has changed (a request sent, answered or given back, the
 * server's count or a pause learned).
 */
export class RateBudget extends EventEmitter {
  readonly group: ApiGroup;
  private limit: number;
  private windowMs: number;
  private readonly margin: number;
  private readonly defaultPenaltyMs: number;
  private readonly slackMs: number;
  private entries: Entry[] = [];
  private pausedUntil = 0;
  private blockedUntil = 0;
  private penalties = 0;
  private queue: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;
  private disposed = false;
  /**
   * Until the first answer of the group arrives, only one request is out: after a restart the
   * server may still count what the previous process sent, and the first answer's headers say so.
   */
  private answered: boolean;
  /** The server's Remaining has been seen: it, not the margin, says what is left. */
  private serverCounted = false;

  constructor(group: ApiGroup, options: RateBudgetOptions = {}) {
    super();
    this.group = group;
    const defaults = DEFAULT_GROUP_LIMITS[group];
    this.limit = Math.max(1, Math.floor(options.limit ?? defaults.limit));
    this.windowMs = Math.max(1, (options.windowSec ?? defaults.windowSec) * 1000);
    this.margin = Math.max(0, Math.floor(options.margin ?? 1));
    this.defaultPenaltyMs = (options.defaultPenaltySec ?? DEFAULT_PENALTY_SEC) * 1000;
    this.slackMs = options.penaltySlackMs ?? 250;
    this.answered = !options.firstAnswerGate;
    if (options.restore) this.restore(options.restore);
    if (options.onChange) this.on('change', options.onChange);
  }

  /** What this group has spent in its window, and its pauses, for keeping across a restart. */
  state(): BudgetState {
    const now = Date.now();
    this.prune(now);
    const live = this.live(now);
    const state: BudgetState = {
      limit: this.limit,
      windowSec: this.windowMs / 1000,
      spent: live.filter((e) => e.done).map((e) => e.t),
    };
    const pending = live.filter((e) => !e.done).map((e) => e.t);
    if (pending.length) state.pending = pending;
    if (this.pausedUntil > now) state.pausedUntil = this.pausedUntil;
    if (this.blockedUntil > now) state.blockedUntil = this.blockedUntil;
    return state;
  }

  /**
   * Takes over a state kept by an earlier process. It may come from a damaged or edited file:
   * anything that is not a plausible number is ignored, and nothing lies further ahead than a
   * window (or, for a pause, a day).
   */
  private restore(state: BudgetState): void {
    if (!state || typeof state !== 'object') return;
    const now = Date.now();
    const positive = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n > 0;
    if (positive(state.limit)) this.limit = Math.max(1, Math.floor(state.limit));
    if (positive(state.windowSec)) this.windowMs = Math.min(86_400_000, state.windowSec * 1000);
    const times = (list: unknown): number[] =>
      Array.isArray(list) ? list.filter(positive).filter((t) => t <= now + this.windowMs) : [];
    for (const t of times(state.spent)) if (t + this.windowMs > now) this.entries.push({ t, done: true });
    // Sent but unanswered when the process ended: the server saw it no later than now.
    for (const t of times(state.pending)) {
      if (t + this.windowMs + 60_000 > now) this.entries.push({ t: now, done: true });
    }
    const until = (n: unknown) => (positive(n) ? Math.min(n, now + 86_400_000) : 0);
    this.pausedUntil = Math.max(this.pausedUntil, until(state.pausedUntil));
    this.blockedUntil = Math.max(this.blockedUntil, Math.min(until(state.blockedUntil), now + this.windowMs));
  }

  /** Resolves when a request of this group may be sent now, and counts it as sent. */
  acquire(signal?: AbortSignal): Promise<BudgetPermit> {
    return this.wait(true, signal) as Promise<BudgetPermit>;
  }

  /**
   * A permit now when one may be sent now and nobody waits before, else undefined (for a
   * scheduler that picks among several budgets).
   */
  tryAcquire(): BudgetPermit | undefined {
    if (this.disposed) return undefined;
    const now = Date.now();
    if (this.queue.length || this.waitMs(now) > 0) return undefined;
    const permit = this.take(now);
    this.emit('change', this.snapshot());
    return permit;
  }

  /** Milliseconds until `tryAcquire` could succeed (0: now); Infinity once disposed. */
  msUntilFree(): number {
    return this.disposed ? Number.POSITIVE_INFINITY : this.waitMs(Date.now());
  }

  /** No answer of this group has arrived yet: one request at a time (see firstAnswerGate). */
  get awaitingFirstAnswer(): boolean {
    return !this.answered;
  }

  /**
   * Resolves when a request could be sent now, without counting one (for holding messages until
   * the group has room). Waits its turn behind earlier `acquire` calls.
   */
  ready(signal?: AbortSignal): Promise<void> {
    return this.wait(false, signal).then(() => undefined);
  }

  /**
   * Resolves once no 429 penalty or server-side block is in force (does not wait for the window);
   * true when it had to wait.
   */
  async unpaused(signal?: AbortSignal): Promise<boolean> {
    let waited = false;
    for (;;) {
      if (this.disposed) throw this.disposedError();
      if (signal?.aborted) throw abortReason(signal);
      const wait = Math.max(this.pausedUntil, this.blockedUntil) - Date.now();
      if (wait <= 0) return waited;
      waited = true;
      await sleep(wait, signal);
    }
  }

  /**
   * Learns from the headers the server sent with an answer (success or error) of this group:
   * X-Rate-Limit-Limit, -Window and -Remaining. Headers of another group are ignored (returns false).
   */
  observe(headers: HeaderSource | null | undefined): boolean {
    if (!headers) return false;
    return this.observeParsed(readRateLimitHeaders(headers));
  }

  /**
   * `observe` for headers already read with `readRateLimitHeaders`. `sentAt`: when the request
   * that brought them went out; the server's count is compared with this budget's at that time.
   */
  observeParsed(info: RateLimitHeaders, sentAt?: number): boolean {
    if (this.disposed) return false;
    if (info.group && info.group.toLowerCase() !== this.group.toLowerCase()) return false;
    if (info.limit === undefined && info.windowSec === undefined && info.remaining === undefined)
      return false;
    this.answered = true;
    if (info.limit !== undefined && info.limit > 0) this.limit = info.limit;
    if (info.windowSec !== undefined && info.windowSec > 0) this.windowMs = info.windowSec * 1000;
    if (info.remaining !== undefined) {
      const now = Date.now();
      this.prune(now);
      this.serverCounted = true;
      // What this budget had in the server's window when the request went out: answered ones
      // still in the window then, and ones sent before it.
      const since = Math.max(now - RECONCILE_MS, Math.min(now, sentAt ?? now));
      const ours = this.entries.filter(
        (e) => this.expiry(e) > since && (e.done || (e.sentAt !== undefined && e.sentAt <= since)),
      ).length;
      // Requests the server counted that this budget did not send (another process, another
      // node with the same login): count them too, from now, the latest the server can have seen them.
      const serverUsed = this.limit - info.remaining;
      for (let used = ours; used < serverUsed; used++) this.entries.push({ t: now, done: true });
      // Nothing is known of when those leave the server's window: with none left, wait it out.
      if (info.remaining <= 0 && serverUsed > ours)
        this.blockedUntil = Math.max(this.blockedUntil, now + this.windowMs);
    }
    this.emit('spent');
    this.pump();
    return true;
  }

  /**
   * The server answered 429: nothing in this group is sent for Retry-After seconds (or 30 s when
   * it is absent), because a request during the penalty restarts it.
   */
  penalize(retryAfterSec?: number): void {
    if (this.disposed) return;
    const ms =
      typeof retryAfterSec === 'number' && Number.isFinite(retryAfterSec) && retryAfterSec >= 0
        ? retryAfterSec * 1000
        : this.defaultPenaltyMs;
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + ms + this.slackMs);
    this.penalties++;
    this.emit('penalty', { group: this.group, until: this.pausedUntil });
    this.emit('spent');
    this.pump();
  }

  snapshot(): BudgetSnapshot {
    const now = Date.now();
    this.prune(now);
    const paused = Math.max(this.pausedUntil, this.blockedUntil);
    const used = this.live(now).length;
    return {
      group: this.group,
      limit: this.limit,
      windowSec: this.windowMs / 1000,
      usedInWindow: used,
      remaining: Math.max(0, this.capacity() - used),
      pausedUntil: paused > now ? paused : null,
      queued: this.queue.length,
      penalties: this.penalties,
    };
  }

  /** Rejects every waiter and stops the timer; later calls reject. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const waiters = this.queue.splice(0);
    for (const w of waiters) {
      w.cleanup();
      w.reject(this.disposedError());
    }
    this.emit('change', this.snapshot());
    this.removeAllListeners();
  }

  private disposedError(): Error {
    return new Error(`RingCentral rate budget (${this.group}) is closed`);
  }

  private capacity(): number {
    return this.serverCounted ? this.limit : Math.max(1, this.limit - this.margin);
  }

  /**
   * When an entry leaves the window. A request sent and not yet answered holds its slot until it
   * is (a slow answer may outlast a short window), at most PENDING_MAX_MS.
   */
  private expiry(entry: Entry): number {
    if (entry.done || entry.sentAt === undefined) return entry.t + this.windowMs;
    return entry.t + Math.max(this.windowMs, PENDING_MAX_MS);
  }

  private prune(now: number): void {
    const gone = now - RECONCILE_MS;
    if (this.entries.some((e) => this.expiry(e) <= gone)) {
      this.entries = this.entries.filter((e) => this.expiry(e) > gone);
    }
  }

  /** The entries the window holds at `now`. */
  private live(now: number): Entry[] {
    return this.entries.filter((e) => this.expiry(e) > now);
  }

  /** Milliseconds until one more request may be sent. */
  private waitMs(now: number): number {
    this.prune(now);
    let until = Math.max(this.pausedUntil, this.blockedUntil);
    const live = this.live(now);
    // The permit's done() pumps the queue again; the timer is only a safety net.
    if (!this.answered && live.some((e) => !e.done)) until = Math.max(until, now + 250);
    const cap = this.capacity();
    if (live.length >= cap) {
      const expiries = live.map((e) => this.expiry(e)).sort((a, b) => a - b);
      until = Math.max(until, expiries[live.length - cap]);
    }
    return Math.max(0, until - now);
  }

  private take(now: number): BudgetPermit {
    const entry: Entry = { t: now, done: false };
    this.entries.push(entry);
    this.emit('spent');
    let settled = false;
    return {
      sending: () => {
        if (!settled) entry.sentAt ??= Date.now();
      },
      expired: () => !settled && entry.sentAt === undefined && this.expiry(entry) <= Date.now(),
      done: () => {
        if (settled || this.disposed) return;
        settled = true;
        this.answered = true;
        entry.done = true;
        entry.t = Math.max(entry.t, Date.now());
        if (!this.entries.includes(entry)) this.entries.push(entry);
        this.emit('spent');
        this.pump();
      },
      cancel: () => {
        if (settled || this.disposed) return;
        settled = true;
        const i = this.entries.indexOf(entry);
        if (i >= 0) this.entries.splice(i, 1);
        this.emit('spent');
        this.pump();
      },
    };
  }

  private wait(consume: boolean, signal?: AbortSignal): Promise<BudgetPermit | undefined> {
    if (this.disposed) return Promise.reject(this.disposedError());
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const now = Date.now();
    if (this.queue.length === 0 && this.waitMs(now) === 0) {
      const permit = consume ? this.take(now) : undefined;
      this.emit('change', this.snapshot());
      return Promise.resolve(permit);
    }
    return new Promise<BudgetPermit | undefined>((resolve, reject) => {
      const onAbort = () => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        reject(abortReason(signal));
        this.pump();
      };
      const waiter: Waiter = {
        consume,
        resolve,
        reject,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
      this.pump();
    });
  }

  private pump(): void {
    if (this.disposed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const now = Date.now();
    while (this.queue.length) {
      const wait = this.waitMs(now);
      if (wait > 0) {
        this.timer = setTimeout(
          () => {
            this.timer = undefined;
            this.pump();
          },
          Math.min(wait + 1, 2_147_000_000),
        );
        this.timer.unref();
        break;
      }
      const waiter = this.queue.shift() as Waiter;
      waiter.cleanup();
      waiter.resolve(waiter.consume ? this.take(now) : undefined);
    }
    this.emit('change', this.snapshot());
  }
}

/** Waits ms (timer unref'd); rejects when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal));
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    timer.unref();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
