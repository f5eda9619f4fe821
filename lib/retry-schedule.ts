/**
 * rc-retry's decisions, free of Node-RED: the schedule text ("5m, 20m, 1h"), what to do with a
 * failed item, and how long the one timer may sleep. Also bundled into the edit dialog, so it
 * imports nothing from Node.
 */
import type { ItemStatus } from './items';

export const DEFAULT_SCHEDULE = '5m, 20m, 1h';
/** More automatic tries than this is a loop, not a schedule. */
export const MAX_SCHEDULE_ENTRIES = 20;
/** A year: longer than RingCentral keeps anything, so a longer delay can only be a typo. */
export const MAX_DELAY_MS = 365 * 86_400_000;
/** setTimeout fires at once for delays of 2^31 ms or more: long waits sleep in chunks below it. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export type ParsedSchedule = { delays: number[]; error?: undefined } | { delays?: undefined; error: string };

/**
 * "5m, 20m, 1h" → [300000, 1200000, 3600000]. Each entry is a number with a unit (s, m, h, d);
 * units can combine ("1h30m"). Commas, semicolons or spaces separate entries.
 */
export function parseSchedule(text: unknown): ParsedSchedule {
  const source = typeof text === 'string' ? text : text === undefined || text === null ? '' : String(text);
  const entries = source
    .split(/[,;\s]+/)
    .map((e) => e.trim())
    .filter(Boolean);
  if (!entries.length) return { error: 'the schedule is empty: give at least one delay, e.g. "5m, 20m, 1h"' };
  if (entries.length > MAX_SCHEDULE_ENTRIES)
    return { error: `at most ${MAX_SCHEDULE_ENTRIES} delays, not ${entries.length}` };
  const delays: number[] = [];
  for (const entry of entries) {
    const ms = parseDelay(entry);
    if (ms === undefined)
      return { error: `"${entry}" is not a delay: use a number and s, m, h or d, e.g. "5m" or "1h30m"` };
    if (ms <= 0) return { error: `"${entry}" is no delay: each must be longer than 0` };
    if (ms > MAX_DELAY_MS) return { error: `"${entry}" is longer than a year` };
    delays.push(ms);
  }
  return { delays };
}

function parseDelay(entry: string): number | undefined {
  const lower = entry.toLowerCase();
  if (!/^(?:\d+(?:\.\d+)?[smhd])+$/.test(lower)) return undefined;
  let ms = 0;
  for (const [, amount, unit] of lower.matchAll(/(\d+(?:\.\d+)?)([smhd])/g))
    ms += Number(amount) * UNITS[unit];
  return Math.round(ms);
}

/** What rc-retry does with a failed item that reaches it. */
export type RetryDecision =
  /** Archived meanwhile (another attempt won): nothing to do. */
  | { action: 'archived' }
  /** The content is gone at RingCentral: no retry can bring it back. */
  | { action: 'lost' }
  /** Already waiting for its next automatic try: the schedule stands (a duplicate failure). */
  | { action: 'waiting' }
  /** The `retries`-th automatic try goes out at `retryAt`. */
  | { action: 'schedule'; retryAt: string; retries: number; delayMs: number }
  /** Every automatic try is used up: it waits as Failed for a manual Retry. */
  | { action: 'exhausted'; retries: number };

export function decideRetry(input: {
  status: ItemStatus | undefined;
  /** msg.error.lost from a sink of this pack (content gone, 404). */
  lost?: boolean;
  /** The automatic tries sent or scheduled so far (LogRow.retries). */
  retries: number;
  /** Set when a try is already scheduled. */
  retryAt?: string;
  delays: readonly number[];
  now: number;
}): RetryDecision {
  if (input.status === 'Archived') return { action: 'archived' };
  if (input.status === 'Lost' || input.lost === true) return { action: 'lost' };
  if (input.retryAt) return { action: 'waiting' };
  const done = Math.max(0, Math.floor(input.retries || 0));
  if (done >= input.delays.length) return { action: 'exhausted', retries: done };
  const delayMs = input.delays[done];
  return {
    action: 'schedule',
    retryAt: new Date(input.now + delayMs).toISOString(),
    retries: done + 1,
    delayMs,
  };
}

/**
 * How long the timer sleeps until the earliest try (`next`, ISO): 0 when it is due, never more
 * than setTimeout can wait; undefined when nothing waits. Waking early is harmless: the node asks
 * the ledger what is due and sleeps again.
 */
export function timerDelay(next: string | undefined, now: number): number | undefined {
  if (!next) return undefined;
  const at = Date.parse(next);
  if (Number.isNaN(at)) return 0;
  return Math.min(MAX_TIMER_MS, Math.max(0, at - now));
}

/** "14:05" today, "Nov 3 14:05" on another day: when the next try is, in local time. */
export function whenText(next: string | undefined, now: number): string {
  if (!next) return '';
  const at = new Date(next);
  if (Number.isNaN(at.getTime())) return next;
  const time = at.toTimeString().slice(0, 5);
  if (at.toDateString() === new Date(now).toDateString()) return time;
  return `${at.toLocaleDateString('en-US', { month: 'short', day: 'numeric' })} ${time}`;
}
