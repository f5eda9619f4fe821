import type { ApiGroup } from './ringcentral/types';

/**
 * A backfill: one pass over a past date range (or everything RingCentral still holds), kept in
 * the ledger so that it resumes after a restart where it stopped.
 *
 * RingCentral lists call-log records and messages newest first, so a part (the account's call
 * log, or one mailbox) is read from its upper bound down to the range's start, and after every
 * page the upper bound moves down to the oldest time on that page, in the same transaction that
 * records the page's items Pending. A restart lists from there again: the page boundary is read
 * twice (the keys make that harmless) and nothing is skipped.
 */

/** The earliest of these times (ISO 8601), or undefined when there is none (an empty page). */
export function oldestTime(times: Iterable<string | undefined>): string | undefined {
  let oldest: number | undefined;
  for (const time of times) {
    const t = Date.parse(time ?? '');
    if (!Number.isNaN(t) && (oldest === undefined || t < oldest)) oldest = t;
  }
  return oldest === undefined ? undefined : new Date(oldest).toISOString();
}

export interface BackfillPart {
  /** Extension id (message mailboxes) or "calls" (one call-log listing). */
  id: string;
  /** For a mailbox: its owner's name and number, so a resumed job needs no extension listing. */
  name?: string;
  extensionNumber?: string;
  /** Everything from here up to the job's dateTo is listed (inclusive bound for the next listing). */
  resumeTo: string;
  done: boolean;
}

export interface BackfillJob {
  v: 1;
  /** What asked for it: "retained", "range" (node settings) or "message"; with the range it names the spec. */
  origin: 'retained' | 'range' | 'message';
  /** Same spec from the node settings: not started again once done. */
  spec: string;
  dateFrom: string;
  dateTo: string;
  startedAt: string;
  completedAt?: string;
  /** Stopped by `msg.backfill = "stop"`: not resumed. */
  stoppedAt?: string;
  /** Listing pages read so far, over every start of the job (for the time estimate). */
  pages: number;
  /** Items the job found new. */
  found: number;
  parts: BackfillPart[];
}

export function backfillCursorName(source: string): string {
  return `backfill:${source}`;
}

export function newBackfillJob(options: {
  origin: BackfillJob['origin'];
  dateFrom: string;
  dateTo: string;
  parts: Array<Omit<BackfillPart, 'resumeTo' | 'done'>>;
  now?: Date;
}): BackfillJob {
  const from = Date.parse(options.dateFrom);
  const to = Date.parse(options.dateTo);
  if (Number.isNaN(from) || Number.isNaN(to))
    throw new Error(`invalid backfill range ${options.dateFrom} … ${options.dateTo}`);
  if (from >= to)
    throw new Error(`backfill dateFrom ${options.dateFrom} is not before dateTo ${options.dateTo}`);
  const dateFrom = new Date(from).toISOString();
  const dateTo = new Date(to).toISOString();
  return {
    v: 1,
    origin: options.origin,
    spec: backfillSpec(options.origin, dateFrom, dateTo),
    dateFrom,
    dateTo,
    startedAt: (options.now ?? new Date()).toISOString(),
    pages: 0,
    found: 0,
    parts: options.parts.map((p) => ({ ...p, resumeTo: dateTo, done: false })),
  };
}

/**
 * What identifies a backfill set in a node's settings: "all retained" is one spec whatever the
 * day (it is done once), a range is its two dates.
 */
export function backfillSpec(origin: BackfillJob['origin'], dateFrom?: string, dateTo?: string): string {
  return origin === 'retained' ? 'retained' : `${origin}:${dateFrom ?? ''}/${dateTo ?? ''}`;
}

/** A stored job, or undefined when the value is missing or not one (never throws). */
export function parseBackfillJob(value: string | undefined): BackfillJob | undefined {
  if (!value) return undefined;
  try {
    const job = JSON.parse(value) as BackfillJob;
    if (job?.v !== 1 || !Array.isArray(job.parts) || typeof job.dateFrom !== 'string') return undefined;
    return job;
  } catch {
    return undefined;
  }
}

/** After a page: the part's upper bound moves down to the oldest time on the page. */
export function afterPage(
  job: BackfillJob,
  partId: string,
  oldest: string | undefined,
  found: number,
): BackfillJob {
  const parts = job.parts.map((p) => {
    if (p.id !== partId || !oldest) return p;
    const at = Date.parse(oldest);
    // Never up: a page can't widen what is left.
    return !Number.isNaN(at) && at < Date.parse(p.resumeTo)
      ? { ...p, resumeTo: new Date(at).toISOString() }
      : p;
  });
  return { ...job, pages: job.pages + 1, found: job.found + found, parts };
}

export function afterPart(job: BackfillJob, partId: string, now = new Date()): BackfillJob {
  const parts = job.parts.map((p) => (p.id === partId ? { ...p, resumeTo: job.dateFrom, done: true } : p));
  const completedAt = parts.every((p) => p.done) ? now.toISOString() : undefined;
  return { ...job, parts, ...(completedAt ? { completedAt } : {}) };
}

export interface BackfillProgress {
  /** 0…1: the share of the job's time range listed, over all parts. */
  listed: number;
  daysListed: number;
  daysTotal: number;
  partsDone: number;
  parts: number;
}

export function backfillProgress(job: BackfillJob): BackfillProgress {
  const from = Date.parse(job.dateFrom);
  const to = Date.parse(job.dateTo);
  const span = Math.max(1, to - from);
  const shares = job.parts.map((p) =>
    p.done ? 1 : Math.min(1, Math.max(0, (to - Math.max(from, Date.parse(p.resumeTo))) / span)),
  );
  const listed = shares.length ? shares.reduce((a, b) => a + b, 0) / shares.length : 1;
  const daysTotal = Math.max(1, Math.round(span / 86_400_000));
  return {
    listed,
    daysListed: Math.min(daysTotal, Math.floor(listed * daysTotal)),
    daysTotal,
    partsDone: job.parts.filter((p) => p.done).length,
    parts: job.parts.length,
  };
}

/** The requests per second a group allows: its limit over its window. */
export interface GroupRate {
  limit: number;
  windowSec: number;
}

/**
 * Seconds until the job is listed and its items downloaded, at the rate budgets as they are now.
 * Listing pages still to read are extrapolated from the pages read per share listed so far (at
 * least one per unfinished part); downloads are the source's Pending items per group. Groups are
 * paced independently, so the slowest one decides.
 */
export function backfillSecondsLeft(options: {
  job: BackfillJob;
  listGroup: ApiGroup;
  pendingDownloads: Partial<Record<ApiGroup, number>>;
  rate(group: ApiGroup): GroupRate;
}): number {
  const { job } = options;
  const progress = backfillProgress(job);
  const requests: Partial<Record<ApiGroup, number>> = { ...options.pendingDownloads };
  if (!job.completedAt) {
    const partsLeft = progress.parts - progress.partsDone;
    const extrapolated =
      progress.listed > 0 && job.pages > 0
        ? Math.ceil((job.pages * (1 - progress.listed)) / progress.listed)
        : 0;
    requests[options.listGroup] = (requests[options.listGroup] ?? 0) + Math.max(partsLeft, extrapolated);
  }
  let seconds = 0;
  for (const [group, count] of Object.entries(requests) as Array<[ApiGroup, number]>) {
    if (!count) continue;
    const { limit, windowSec } = options.rate(group);
    seconds = Math.max(seconds, (count * windowSec) / Math.max(1, limit));
  }
  return Math.ceil(seconds);
}

/** "45 s", "12 min", "3 h 20 min", "2 d 4 h": short enough for a node status. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const min = Math.round(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return min % 60 ? `${h} h ${min % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}
