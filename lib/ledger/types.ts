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
