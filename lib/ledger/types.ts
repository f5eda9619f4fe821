import type { ArchiveItem, ItemKind, ItemStatus, Receipt } from '../items';

export interface LedgerRow {
  key: string;
  kind: ItemKind;
  status: ItemStatus;
  attempts: number;
  lastError?: string;
  receipt?: Receipt;
  item: ArchiveItem;
  /** Id of the source node that found the item; on start it sends its own Pending items again. */
  source?: string;
  /** Name of the sink that archived or failed it. */
  sink?: string;
  firstSeenAt: string;
  updatedAt: string;
}

export interface LedgerQuery {
  status?: ItemStatus;
  kind?: ItemKind;
  source?: string;
  /** Substring match on key, owner, from/to. */
  text?: string;
  /** On the item's createdAt (ISO 8601): since <= createdAt < until. */
  since?: string;
  until?: string;
  /** Default 1000. */
  limit?: number;
  /** By the item's createdAt: newest first (default) or oldest first. */
  order?: 'newest' | 'oldest';
  offset?: number;
}

/**
 * The archive ledger: the truth about every item. Sources and sinks write it themselves, so an
 * item's state is right whatever the wiring.
 */
export interface LedgerApi {
  /**
   * In one transaction: records as Pending every item not yet known, then moves the cursor.
   * Returns only the items that were new (a look-back overlap re-reads known ones).
   */
  recordFound(items: ArchiveItem[], source: string, cursor?: { name: string; value: string }): ArchiveItem[];
  get(key: string): LedgerRow | undefined;
  /**
   * Counts an attempt (a sink starting on the item).
   *
   * Every mark* method takes the item as an optional last argument: when the key is not in the
   * ledger (a sink fed by a flow that is not ours), the item is recorded first, with no source,
   * so that the log still shows it. Without the item an unknown key only leaves an event in the
   * audit trail: bookkeeping never turns a good upload into a failure.
   */
  markAttempt(key: string, sink: string, item?: ArchiveItem): void;
  markArchived(key: string, sink: string, receipt: Receipt, item?: ArchiveItem): void;
  markFailed(key: string, sink: string, error: string, item?: ArchiveItem): void;
  /** The content is gone at RingCentral (404): the item is Lost, with the reason. */
  markLost(key: string, sink: string, reason: string, item?: ArchiveItem): void;
  /**
   * Resolves once the steps reported so far are committed; rejects when that commit failed.
   * Absent: each step is committed when its method returns.
   */
  settled?(): Promise<void>;
  /**
   * The ledger as a sink writes it: mark* steps committed in groups with other transfers' (at the
   * next turn of the event loop), settled() saying when. Absent: the ledger itself.
   */
  grouped?(): LedgerApi;
  /** Items still Pending, oldest first; of one source when given. */
  pending(source?: string): LedgerRow[];
  query(q: LedgerQuery): LedgerRow[];
  counts(source?: string): Record<ItemStatus, number>;
  getCursor(name: string): string | undefined;
  setCursor(name: string, value: string): void;
  close(): void;
}

/** What happened to an item, one row per step: the audit trail. Never updated, only pruned. */
export type LedgerEventType = 'Found' | 'Attempt' | 'Archived' | 'Failed' | 'Lost';

export interface LedgerEvent {
  id: number;
  key: string;
  at: string;
  event: LedgerEventType;
  /** The item's status after the step. */
  status: ItemStatus;
  source?: string;
  sink?: string;
  /** The error for Failed and Lost, the stored path and hash for Archived. */
  message?: string;
}

export interface PruneOptions {
  /** Events and Archived items older than this many days go; absent, 0 or negative: keep all. */
  olderThanDays?: number;
  now?: Date;
}

/**
 * The ledger with what the archive log and the sidebar need beyond the sources' and sinks' view.
 * Kept apart from LedgerApi so that fakes of LedgerApi stay small.
 */
export interface LedgerAdmin extends LedgerApi {
  /** Records the item as Pending when its key is new; true when it was. */
  upsert(item: ArchiveItem, source?: string): boolean;
  /** How many rows match the filters of `query` (limit and offset ignored), for paging. */
  count(q: LedgerQuery): number;
  /** The audit trail of one item, oldest first. */
  events(key: string): LedgerEvent[];
  /** Retention: deletes old events (of items that are Archived or gone) and old Archived items. */
  prune(options: PruneOptions): { items: number; events: number };
}

// ---- The archive log (sidebar, CSV, retry schedule) ------------------------------------------

/** One row of the archive log as the sidebar and the CSV show it: no item JSON, no receipt JSON. */
export interface LogRow {
  key: string;
  kind: ItemKind;
  status: ItemStatus;
  /** The item's owner (`ownerName`, else the extension number). */
  owner?: string;
  from?: string;
  /** The item's `to` parties joined by ", ". */
  to?: string;
  /** The item's createdAt (File Created), ISO 8601 UTC. */
  createdAt: string;
  /** When the sink stored it (File Archived), ISO 8601 UTC; only for Archived rows. */
  archivedAt?: string;
  /** The storage service of the last attempt, e.g. "sftp", "dropbox", "flow" (a sink not of this pack). */
  storage?: string;
  /** Where it was stored, relative to the storage root. */
  path?: string;
  bytes?: number;
  sha256?: string;
  /** The sink of the last attempt. */
  sink?: string;
  attempts: number;
  lastError?: string;
  /**
   * Automatic retries sent or scheduled by rc-retry (the k-th retry is scheduled with k); back to 0
   * when the item is Archived or retried by hand.
   */
  retries: number;
  /** When rc-retry sends it next, ISO 8601 UTC; absent when no automatic retry is due. */
  retryAt?: string;
  /** The rc-retry node that schedules it (manual Retry re-enters the flow there). */
  retryNode?: string;
  /** The source node that found it. */
  source?: string;
  updatedAt: string;
}

/** What the CSV export (Download Logs) reads of each row: fewer columns, a faster million rows. */
export type LogExportRow = Pick<
  LogRow,
  | 'key'
  | 'kind'
  | 'status'
  | 'owner'
  | 'from'
  | 'to'
  | 'createdAt'
  | 'archivedAt'
  | 'storage'
  | 'path'
  | 'bytes'
  | 'sha256'
  | 'attempts'
  | 'lastError'
>;

/** The sidebar's filters: data type, status and a File Created range. */
export interface LogFilter {
  kind?: ItemKind;
  status?: ItemStatus;
  /** since <= createdAt < until, ISO 8601. */
  since?: string;
  until?: string;
  /** Substring of key, owner, extension, from, to (case-insensitive). */
  text?: string;
}

export interface LogPage {
  rows: LogRow[];
  /** How many rows match the filter in all. */
  total: number;
  /** 1-based. */
  page: number;
  pageSize: number;
}

/** An automatic retry that is due or waiting. */
export interface RetryEntry {
  key: string;
  /** ISO 8601 UTC. */
  retryAt: string;
  /** Which automatic retry this is, 1-based. */
  retries: number;
}

/**
 * What the sidebar, rc-retry and rc-archive-log need of the ledger. Newest first is by createdAt,
 * then insertion order; every query here is served by an index (see schema.ts), so a page of a
 * filter over a million rows stays fast.
 */
export interface LogLedger extends LedgerAdmin {
  /** One page (1-based) of the filter, newest first, with the total. pageSize is 1..1000. */
  page(filter: LogFilter, page: number, pageSize: number): LogPage;
  /**
   * Every row of the filter, newest first, read in batches (keyset paging, never OFFSET), so that
   * a CSV of a million rows streams with flat memory. The iterator holds no read transaction
   * between batches.
   */
  iterate(filter: LogFilter, batchSize?: number): IterableIterator<LogExportRow>;
  /** The log rows of these keys (unknown keys left out), in the order given. */
  rowsOf(keys: string[]): LogRow[];

  /** rc-retry: the `retries`-th automatic retry of `key` goes out at `retryAt` (ISO), from `node`. */
  scheduleRetry(key: string, node: string, retryAt: string, retries: number): void;
  /** No automatic retry is due any more (sent, or given up); `retries` and the node are kept. */
  clearRetry(key: string): void;
  /**
   * Back to a fresh schedule (a manual Retry): retries = 0, no retryAt. markArchived and markLost
   * do the same on their own.
   */
  resetRetries(key: string): void;
  /** The node's retries due at `now` (retryAt <= now), oldest first. */
  dueRetries(node: string, now: string, limit?: number): RetryEntry[];
  /** How many of the node's items wait for an automatic retry, and the earliest retryAt. */
  waitingRetries(node: string): { count: number; next?: string };
  /** The node's items that exhausted their automatic retries and stay Failed, for its status. */
  exhaustedRetries(node: string, maxRetries: number): number;
}
