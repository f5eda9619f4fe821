/**
 * rc-archive-log's decisions, free of Node-RED: what outcome a message reports (from a sink of
 * this pack or any other), the run summary, and the alert for an item whose automatic retries are
 * used up.
 */
import type { ArchiveItem, ItemKind, ItemStatus, Receipt } from './items';
import type { LedgerRow } from './ledger/types';
import { ARCHIVE_LOG } from './node-defaults';
import { nearDeletion, type RetentionSettings } from './retention';

/** Default retention of log rows: RingCentral Archiver keeps its logs 6 months. */
export const DEFAULT_KEEP_DAYS = ARCHIVE_LOG.value.keepDays;

export type OutcomeStatus = Exclude<ItemStatus, 'Pending'>;

/** What a message says happened to its item. */
export interface Outcome {
  status: OutcomeStatus;
  /** Where it went (a storage name or path), for Archived. */
  target?: string;
  error?: string;
  bytes?: number;
  sha256?: string;
  /** Said by `msg.archive` (a sink not of this pack), not by msg.error / msg.receipt. */
  explicit: boolean;
  /** The receipt a sink of this pack attached. */
  receipt?: Receipt;
}

function isReceipt(value: unknown): value is Receipt {
  return !!value && typeof value === 'object' && typeof (value as Receipt).path === 'string';
}

const STATUSES: readonly OutcomeStatus[] = ['Archived', 'Failed', 'Lost'];

/**
 * Reads the outcome: `msg.archive = { status, target?, error?, bytes?, sha256? }` from any sink
 * first; else `msg.error` (failed, `lost: true` for content gone) or `msg.receipt` of our sinks;
 * a message with none of them counts as archived (a node that passes on what it stored).
 * Returns an error text for a `msg.archive` that cannot be read.
 */
export function outcomeOf(msg: Record<string, unknown>): Outcome | { invalid: string } {
  if (msg.archive !== undefined) {
    const a = msg.archive as Record<string, unknown> | null;
    if (!a || typeof a !== 'object') return { invalid: 'msg.archive must be an object with a status' };
    const status = STATUSES.find((s) => s.toLowerCase() === String(a.status ?? '').toLowerCase());
    if (!status)
      return { invalid: `msg.archive.status must be Archived, Failed or Lost, not "${String(a.status)}"` };
    const bytes = Number(a.bytes);
    return {
      status,
      target: typeof a.target === 'string' ? a.target : undefined,
      error: typeof a.error === 'string' ? a.error : a.error instanceof Error ? a.error.message : undefined,
      bytes: a.bytes !== undefined && Number.isFinite(bytes) && bytes >= 0 ? bytes : undefined,
      sha256: typeof a.sha256 === 'string' ? a.sha256 : undefined,
      explicit: true,
    };
  }
  if (msg.error) {
    const e = msg.error as { message?: unknown; lost?: unknown; source?: unknown };
    return {
      status: e.lost === true ? 'Lost' : 'Failed',
      error: typeof e.message === 'string' ? e.message : undefined,
      explicit: false,
    };
  }
  if (isReceipt(msg.receipt)) {
    return {
      status: 'Archived',
      target: msg.receipt.path,
      bytes: msg.receipt.bytes,
      sha256: msg.receipt.sha256,
      receipt: msg.receipt,
      explicit: false,
    };
  }
  return { status: 'Archived', explicit: false };
}

/**
 * Whether the ledger still needs this outcome. Sinks of this pack write the ledger themselves, so
 * their msg.error / msg.receipt only fill in what is missing; an explicit `msg.archive` failure is
 * always recorded (each try of another sink is a step in the trail). Lost is never turned back
 * into Failed, and an archived item is never failed by a message.
 */
export function needsRecording(outcome: Outcome, current: ItemStatus | undefined): boolean {
  if (outcome.status === 'Archived') return current !== 'Archived';
  if (current === 'Lost') return false;
  if (outcome.explicit) return current !== 'Archived';
  return current !== 'Failed';
}

/** The receipt recorded for an item a sink not of this pack stored. */
export function flowReceipt(item: ArchiveItem, outcome: Outcome, now = new Date()): Receipt {
  return {
    provider: 'flow',
    path: outcome.target ?? '',
    bytes: outcome.bytes ?? item.size ?? 0,
    sha256: outcome.sha256 ?? '',
    archivedAt: now.toISOString(),
  };
}

type StatusCounts = Record<OutcomeStatus, number>;

export interface RunSummary {
  startedAt: string;
  endedAt: string;
  durationMs: number;
  /** Items this run, by status. */
  archived: number;
  failed: number;
  lost: number;
  /** By data type, then by status. */
  byKind: Partial<Record<ItemKind, StatusCounts>>;
  /** Bytes of the archived items. */
  bytes: number;
  /** The ledger's totals by status at the end of the run. */
  ledger?: Record<ItemStatus, number>;
}

/** Counts one run: messages until a quiet period. */
export class RunCounter {
  private startedAt = 0;
  private byKind: Partial<Record<ItemKind, StatusCounts>> = {};
  private totals: StatusCounts = { Archived: 0, Failed: 0, Lost: 0 };
  private bytes = 0;

  get empty(): boolean {
    return this.startedAt === 0;
  }

  add(kind: ItemKind, outcome: Pick<Outcome, 'status' | 'bytes'>, now = Date.now()): void {
    if (!this.startedAt) this.startedAt = now;
    const counts = (this.byKind[kind] ??= { Archived: 0, Failed: 0, Lost: 0 });
    counts[outcome.status]++;
    this.totals[outcome.status]++;
    if (outcome.status === 'Archived') this.bytes += outcome.bytes ?? 0;
  }

  /** The summary of the run so far; the counter starts a new run. */
  finish(ledger: Record<ItemStatus, number> | undefined, now = Date.now()): RunSummary {
    const started = this.startedAt || now;
    const summary: RunSummary = {
      startedAt: new Date(started).toISOString(),
      endedAt: new Date(now).toISOString(),
      durationMs: now - started,
      archived: this.totals.Archived,
      failed: this.totals.Failed,
      lost: this.totals.Lost,
      byKind: this.byKind,
      bytes: this.bytes,
      ...(ledger ? { ledger } : {}),
    };
    this.startedAt = 0;
    this.byKind = {};
    this.totals = { Archived: 0, Failed: 0, Lost: 0 };
    this.bytes = 0;
    return summary;
  }
}

/** One message per item whose automatic retries are used up, for e-mail or chat. */
export interface ExhaustedAlert {
  key: string;
  kind: ItemKind;
  owner?: string;
  from?: string;
  to?: string[];
  createdAt: string;
  attempts: number;
  retries: number;
  lastError?: string;
  /** The rc-retry node that gave up (a manual Retry re-enters there). */
  retryNode: string;
  /** When RingCentral is expected to delete the content (ISO 8601), when its retention says. */
  deletesAt?: string;
  daysLeft?: number;
  /** A line for the subject of an e-mail or a chat message. */
  text: string;
}

export function exhaustedAlert(
  event: { row: LedgerRow; retryNode: string; retries: number },
  retention?: RetentionSettings,
  now = new Date(),
): ExhaustedAlert {
  const { row } = event;
  const item = row.item;
  const owner = item.ownerName || item.extensionNumber || undefined;
  const [warning] = retention
    ? nearDeletion([{ key: row.key, kind: row.kind, status: 'Failed', createdAt: item.createdAt }], {
        settings: retention,
        // Any horizon: the alert tells when, however far off.
        warnDays: 36_500,
        now,
      })
    : [];
  const when = warning ? `; RingCentral deletes it ${warning.deletesAt.slice(0, 10)}` : '';
  return {
    key: row.key,
    kind: row.kind,
    ...(owner ? { owner } : {}),
    ...(item.from ? { from: item.from } : {}),
    ...(item.to ? { to: item.to } : {}),
    createdAt: item.createdAt,
    attempts: row.attempts,
    retries: event.retries,
    ...(row.lastError ? { lastError: row.lastError } : {}),
    retryNode: event.retryNode,
    ...(warning ? { deletesAt: warning.deletesAt, daysLeft: warning.daysLeft } : {}),
    text: `${row.kind} ${row.key} is not archived after ${row.attempts} attempts (${event.retries} automatic retries): ${
      row.lastError ?? 'failed'
    }${when}`,
  };
}

/** One message per outage of a sink's storage target: the sink pauses, its items wait Pending. */
export interface TargetDownAlert {
  alert: 'targetDown';
  sink: { id: string; type: string; name?: string };
  reason: string;
  /** How many items wait, and their keys. */
  waiting: number;
  keys: string[];
  since: string;
  nextCheckAt: string;
  /** A line for the subject of an e-mail or a chat message. */
  text: string;
}

export function targetDownAlert(event: {
  sink: { id: string; type: string; name?: string };
  reason: string;
  waiting: string[];
  since: string;
  nextCheckAt: string;
}): TargetDownAlert {
  const name = event.sink.name || `${event.sink.type} ${event.sink.id}`;
  return {
    alert: 'targetDown',
    sink: event.sink,
    reason: event.reason,
    waiting: event.waiting.length,
    keys: event.waiting,
    since: event.since,
    nextCheckAt: event.nextCheckAt,
    text: `${name} paused: its storage target failed (${event.reason}); ${event.waiting.length} items wait, Pending, and go out when it works again`,
  };
}
