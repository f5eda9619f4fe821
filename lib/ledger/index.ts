import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { ArchiveItem, ItemStatus, Receipt } from '../items';
import { explainOpenError, loadDriver, type Database, type DriverName } from './driver';
import { migrate } from './schema';
import { archiveEvents } from '../bus';
import type {
  LedgerApi,
  LedgerEvent,
  LedgerEventType,
  LedgerQuery,
  LedgerRow,
  LogFilter,
  LogLedger,
  LogPage,
  LogExportRow,
  LogRow,
  PruneOptions,
  RetryEntry,
} from './types';

export type * from './types';
export { SCHEMA_VERSION } from './schema';
export { LedgerOpenError, type DriverName } from './driver';

/** Errors and event messages are cut here: enough to diagnose, not a stack dump per row. */
export const MAX_ERROR_LENGTH = 2000;
const DEFAULT_QUERY_LIMIT = 1000;
const BUSY_TIMEOUT_MS = 10_000;
/** A group commit starts at once when this many outcomes are queued. */
export const COMMIT_MAX_ROWS = 256;
/** How long a queued Attempt waits at most for an outcome to share its commit. */
const ATTEMPT_WAIT_MS = 250;

/**
 * How long the first queued outcome waits for others to share its commit: by default until the
 * event loop has run the callbacks that were ready with it (setImmediate), which adds no delay
 * when the sinks are idle and groups more as they get busier; RC_ARCHIVER_LEDGER_COMMIT_MS sets
 * a window in milliseconds instead, 0 commits each outcome on its own.
 */
function commitWindow(): number | 'turn' {
  const text = process.env.RC_ARCHIVER_LEDGER_COMMIT_MS?.trim();
  const ms = text ? Number(text) : NaN;
  return Number.isFinite(ms) && ms >= 0 ? Math.min(ms, 1000) : 'turn';
}

interface ItemDbRow {
  key: string;
  kind: string;
  status: ItemStatus;
  attempts: number;
  last_error: string | null;
  receipt: string | null;
  item: string;
  source: string | null;
  sink: string | null;
  first_seen_at: string;
  updated_at: string;
}

interface EventDbRow {
  id: number;
  key: string;
  at: string;
  event: LedgerEventType;
  status: ItemStatus;
  source: string | null;
  sink: string | null;
  message: string | null;
}

interface LogDbRow {
  rid: number;
  key: string;
  kind: string;
  status: ItemStatus;
  owner: string | null;
  from_party: string | null;
  to_parties: string | null;
  created_at: string;
  archived_at: string | null;
  storage: string | null;
  path: string | null;
  bytes: number | null;
  sha256: string | null;
  sink: string | null;
  attempts: number;
  last_error: string | null;
  retries: number;
  retry_at: string | null;
  retry_node: string | null;
  source: string | null;
  updated_at: string;
}

const LOG_COLUMNS =
  'id AS rid, key, kind, status, owner, from_party, to_parties, created_at, archived_at, storage, path, ' +
  'bytes, sha256, sink, attempts, last_error, retries, retry_at, retry_node, source, updated_at';

/** The columns of LogExportRow, and the id for the keyset. */
const EXPORT_COLUMNS =
  'id AS rid, key, kind, status, owner, from_party, to_parties, created_at, archived_at, storage, path, ' +
  'bytes, sha256, attempts, last_error';

/** Page sizes the log serves in one query; the sidebar offers 25, 50 and 100. */
export const MAX_PAGE_SIZE = 1000;
const DEFAULT_BATCH = 500;

/** The first moment of a UTC day ("2026-12-02"), as created_at writes it. */
function dayStart(day: string): string {
  return `${day}T00:00:00.000Z`;
}

/** The first moment of the next UTC day; undefined for a day that is not a date. */
function nextDayStart(day: string): string | undefined {
  const start = Date.parse(dayStart(day));
  return Number.isNaN(start) ? undefined : new Date(start + 86_400_000).toISOString();
}

/**
 * The filter narrowed to [since, until), each side the tighter of the filter's and the given one:
 * one bound per side, because SQLite ranges an index by one of two bounds on a column and checks
 * the other row by row.
 */
function withinRange(filter: LogFilter, since: string | undefined, until: string | undefined): LogFilter {
  const own = {
    since: filter.since && isoOrSame(filter.since),
    until: filter.until && isoOrSame(filter.until),
  };
  return {
    ...filter,
    since: !own.since || (since !== undefined && since > own.since) ? (since ?? own.since) : own.since,
    until: !own.until || (until !== undefined && until < own.until) ? (until ?? own.until) : own.until,
  };
}

type ExportDbRow = Pick<
  LogDbRow,
  | 'rid'
  | 'key'
  | 'kind'
  | 'status'
  | 'owner'
  | 'from_party'
  | 'to_parties'
  | 'created_at'
  | 'archived_at'
  | 'storage'
  | 'path'
  | 'bytes'
  | 'sha256'
  | 'attempts'
  | 'last_error'
>;

function toExportRow(r: ExportDbRow): LogExportRow {
  const row: LogExportRow = {
    key: r.key,
    kind: r.kind as LogRow['kind'],
    status: r.status,
    createdAt: r.created_at,
    attempts: r.attempts,
  };
  if (r.owner !== null) row.owner = r.owner;
  if (r.from_party !== null) row.from = r.from_party;
  if (r.to_parties !== null) row.to = r.to_parties;
  if (r.archived_at !== null) row.archivedAt = r.archived_at;
  if (r.storage !== null) row.storage = r.storage;
  if (r.path !== null) row.path = r.path;
  if (r.bytes !== null) row.bytes = r.bytes;
  if (r.sha256 !== null) row.sha256 = r.sha256;
  if (r.last_error !== null) row.lastError = r.last_error;
  return row;
}

function toLogRow(r: LogDbRow): LogRow {
  const row: LogRow = { ...toExportRow(r), retries: r.retries, updatedAt: r.updated_at };
  if (r.sink !== null) row.sink = r.sink;
  if (r.retry_at !== null) row.retryAt = r.retry_at;
  if (r.retry_node !== null) row.retryNode = r.retry_node;
  if (r.source !== null) row.source = r.source;
  return row;
}

const ITEM_COLUMNS =
  'i.key, i.kind, i.status, i.attempts, i.last_error, COALESCE(r.receipt, d.receipt) AS receipt, d.item, ' +
  'i.source, i.sink, i.first_seen_at, i.updated_at';
/** Items with their JSON (the log's own queries read `items` alone); receipts of schema 3 are in item_data. */
const ITEMS_WITH_DATA = 'items i JOIN item_data d ON d.id = i.id LEFT JOIN item_receipts r ON r.id = i.id';

function truncate(text: string, max = MAX_ERROR_LENGTH): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** ISO 8601 UTC when the text is a date, so that text comparison orders correctly. */
function isoOrSame(value: string): string {
  const time = Date.parse(value);
  return Number.isNaN(time) ? value : new Date(time).toISOString();
}

function toRow(r: ItemDbRow): LedgerRow {
  const row: LedgerRow = {
    key: r.key,
    kind: r.kind as LedgerRow['kind'],
    status: r.status,
    attempts: r.attempts,
    item: JSON.parse(r.item) as ArchiveItem,
    firstSeenAt: r.first_seen_at,
    updatedAt: r.updated_at,
  };
  if (r.last_error !== null) row.lastError = r.last_error;
  if (r.receipt !== null) row.receipt = JSON.parse(r.receipt) as Receipt;
  if (r.source !== null) row.source = r.source;
  if (r.sink !== null) row.sink = r.sink;
  return row;
}

function toEvent(r: EventDbRow): LedgerEvent {
  const event: LedgerEvent = { id: r.id, key: r.key, at: r.at, event: r.event, status: r.status };
  if (r.source !== null) event.source = r.source;
  if (r.sink !== null) event.sink = r.sink;
  if (r.message !== null) event.message = r.message;
  return event;
}

function checkItem(item: ArchiveItem): void {
  if (!item || typeof item !== 'object' || typeof item.key !== 'string' || !item.key) {
    throw new Error('ledger: an item without a key cannot be recorded');
  }
  if (typeof item.kind !== 'string' || !item.kind) throw new Error(`ledger: item ${item.key} has no kind`);
}

function describeReceipt(receipt: Receipt): string {
  const parts = [`${receipt.provider}:${receipt.path}`, `${receipt.bytes} bytes`, `sha256 ${receipt.sha256}`];
  if (receipt.alreadyPresent) parts.push('already present');
  return truncate(parts.join(', '));
}

/** Inserts a new item as Pending with its Found event; false when the key is known. */
function insertItem(
  s: ReturnType<typeof prepareStatements>,
  item: ArchiveItem,
  source: string | undefined,
  at: string,
): boolean {
  checkItem(item);
  const to = Array.isArray(item.to) ? item.to.filter((v) => typeof v === 'string') : [];
  const search = [item.key, item.ownerName, item.extensionNumber, item.from, ...to]
    .filter((v): v is string => typeof v === 'string' && v !== '')
    .join('\n')
    .toLowerCase();
  const inserted = s.insertItem.get({
    key: item.key,
    kind: item.kind,
    source: source ?? null,
    createdAt: isoOrSame(String(item.createdAt ?? '')),
    owner: item.ownerName ?? null,
    from: item.from ?? null,
    to: to.length ? to.join(', ') : null,
    search,
    at,
  });
  if (!inserted) return false;
  s.insertData.run({ id: (inserted as { id: number }).id, item: JSON.stringify(item) });
  s.insertEvent.run({
    key: item.key,
    at,
    event: 'Found',
    status: 'Pending',
    source: source ?? null,
    sink: null,
    message: source === undefined ? 'recorded from a message, not found by a source' : null,
  });
  return true;
}

function prepareStatements(db: Database) {
  return {
    insertItem: db.prepare(`
      INSERT INTO items (key, kind, status, attempts, source, created_at, owner, from_party, to_parties,
                         search, first_seen_at, updated_at)
      VALUES (@key, @kind, 'Pending', 0, @source, @createdAt, @owner, @from, @to, @search, @at, @at)
      ON CONFLICT (key) DO NOTHING RETURNING id`),
    insertData: db.prepare(`INSERT INTO item_data (id, item) VALUES (@id, @item)`),
    // Its own row: the item JSON in item_data is not rewritten for it.
    setReceipt: db.prepare(`
      INSERT INTO item_receipts (id, receipt) VALUES (@id, @receipt)
      ON CONFLICT (id) DO UPDATE SET receipt = excluded.receipt`),
    known: db.prepare(`SELECT 1 FROM items WHERE key = ?`),
    getItem: db.prepare(`SELECT ${ITEM_COLUMNS} FROM ${ITEMS_WITH_DATA} WHERE i.key = ?`),
    attempt: db.prepare(`
      UPDATE items SET attempts = attempts + 1, sink = @sink, updated_at = @at,
        status = CASE status WHEN 'Failed' THEN 'Pending' WHEN 'Lost' THEN 'Pending' ELSE status END
      WHERE key = @key RETURNING status, kind`),
    archived: db.prepare(`
      UPDATE items SET status = 'Archived', last_error = NULL, sink = @sink,
        attempts = MAX(attempts, 1), updated_at = @at,
        archived_at = @archivedAt, storage = @storage, path = @path, bytes = @bytes, sha256 = @sha256,
        retries = 0, retry_at = NULL
      WHERE key = @key RETURNING id, status, kind`),
    failed: db.prepare(`
      UPDATE items SET status = 'Failed', last_error = @error, sink = @sink,
        attempts = MAX(attempts, 1), updated_at = @at
      WHERE key = @key RETURNING status, kind`),
    lost: db.prepare(`
      UPDATE items SET status = 'Lost', last_error = @error, sink = @sink,
        attempts = MAX(attempts, 1), updated_at = @at, retries = 0, retry_at = NULL
      WHERE key = @key RETURNING status, kind`),
    insertEvent: db.prepare(`
      INSERT INTO events (key, at, event, status, source, sink, message)
      VALUES (@key, @at, @event, @status, @source, @sink, @message)`),
    events: db.prepare(
      `SELECT id, key, at, event, status, source, sink, message FROM events WHERE key = ? ORDER BY id`,
    ),
    pendingAll: db.prepare(
      `SELECT ${ITEM_COLUMNS} FROM ${ITEMS_WITH_DATA} WHERE i.status = 'Pending' ORDER BY i.created_at, i.id`,
    ),
    pendingOf: db.prepare(
      `SELECT ${ITEM_COLUMNS} FROM ${ITEMS_WITH_DATA} WHERE i.status = 'Pending' AND i.source = ? ORDER BY i.created_at, i.id`,
    ),
    countsAll: db.prepare(`SELECT status, COUNT(*) AS n FROM items GROUP BY status`),
    countsOf: db.prepare(`SELECT status, COUNT(*) AS n FROM items WHERE source = ? GROUP BY status`),
    getCursor: db.prepare(`SELECT value FROM cursors WHERE name = ?`),
    setCursor: db.prepare(`
      INSERT INTO cursors (name, value, updated_at) VALUES (@name, @value, @at)
      ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`),
    pruneEvents: db.prepare(`
      DELETE FROM events WHERE at < @cutoff
        AND key NOT IN (SELECT key FROM items WHERE status <> 'Archived')`),
    pruneItems: db.prepare(`DELETE FROM items WHERE status = 'Archived' AND updated_at < @cutoff`),
    logOf: db.prepare(`SELECT ${LOG_COLUMNS} FROM items WHERE key = ?`),
    scheduleRetry: db.prepare(
      `UPDATE items SET retry_node = @node, retry_at = @retryAt, retries = @retries WHERE key = @key`,
    ),
    clearRetry: db.prepare(`UPDATE items SET retry_at = NULL WHERE key = ?`),
    resetRetries: db.prepare(`UPDATE items SET retry_at = NULL, retries = 0 WHERE key = ?`),
    dueRetries: db.prepare(`
      SELECT key, retry_at, retries FROM items
      WHERE retry_node = @node AND retry_at IS NOT NULL AND retry_at <= @now
      ORDER BY retry_at, rowid LIMIT @limit`),
    waitingRetries: db.prepare(`
      SELECT COUNT(*) AS n, MIN(retry_at) AS next FROM items
      WHERE retry_node = @node AND retry_at IS NOT NULL`),
    exhaustedRetries: db.prepare(`
      SELECT COUNT(*) AS n FROM items
      WHERE retry_node = @node AND status = 'Failed' AND retry_at IS NULL AND retries >= @max`),
  };
}

type MarkEvent = Exclude<LedgerEventType, 'Found'>;

/** A sink's step, queued for the next group commit. */
interface QueuedMark {
  event: MarkEvent;
  key: string;
  sink: string;
  item: ArchiveItem | undefined;
  params: Record<string, string | number | null>;
  message: string | undefined;
  /** When the sink reported it, not when it was committed. */
  at: string;
}

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * The connection and statements behind every handle on one file, and its queue of outcomes.
 *
 * A sink's steps (the mark* methods of Ledger.grouped()) are committed in groups: the first queued
 * one waits for the window (see commitWindow; or until COMMIT_MAX_ROWS are queued) so that the
 * steps of several transfers share one transaction (an Attempt waits up to ATTEMPT_WAIT_MS for an
 * outcome to go with). Nothing reads around the queue: a read of a
 * queued key, every aggregate read, any other write to a queued key and a close commit it first,
 * so the process sees each outcome at once. A crash loses at most the steps of the last window
 * (and the Attempts of the last ATTEMPT_WAIT_MS); archiveItem tells the flow only after the commit (settled), and an item whose step was lost is
 * still Pending, so its source sends it again and the sink's "identical file is already there"
 * rule records it Archived without writing it twice.
 */
class LedgerCore {
  refs = 0;
  readonly s: ReturnType<typeof prepareStatements>;
  readonly windowMs = commitWindow();
  private queue: QueuedMark[] = [];
  /** The keys of the queued steps. */
  private queuedKeys = new Set<string>();
  private queuedItems = new Set<string>();
  private waiters: Waiter[] = [];
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  /** The timer is an Attempt's (ATTEMPT_WAIT_MS), not the window's. */
  private lazyTimer = false;
  /** A process that ends without closing the ledger still commits what it reported. */
  private readonly onExit = () => {
    try {
      this.flush();
    } catch {
      // exiting: the items stay Pending and are archived again (see above)
    }
  };

  constructor(
    readonly db: Database,
    readonly file: string,
    readonly driver: DriverName,
  ) {
    this.s = prepareStatements(db);
  }

  get queued(): number {
    return this.queue.length;
  }

  isQueued(key: string): boolean {
    return this.queuedKeys.has(key);
  }

  /** A queued step records this item (its key was not in the ledger). */
  willRecord(key: string): boolean {
    return this.queuedItems.has(key);
  }

  /** Queues a step; `grouped: false` commits it (with what is queued) before returning. */
  enqueue(mark: QueuedMark, grouped: boolean): void {
    this.queue.push(mark);
    this.queuedKeys.add(mark.key);
    if (mark.item) this.queuedItems.add(mark.key);
    if (!grouped || this.windowMs === 0 || this.queue.length >= COMMIT_MAX_ROWS) {
      this.flush();
      return;
    }
    if (this.queue.length === 1) process.once('exit', this.onExit);
    // Nothing waits on an Attempt: in a turn-long window it rides with the next outcome's commit
    // (a transfer of a small file ends a few turns later), which halves a backlog's commits.
    const lazy = this.windowMs === 'turn' && mark.event === 'Attempt';
    if (this.timer && (lazy || !this.lazyTimer)) return;
    this.clearTimer();
    const commit = () => {
      this.timer = undefined;
      try {
        this.flush();
      } catch {
        // settled() has told whoever waits; the items keep their previous state
      }
    };
    this.lazyTimer = lazy;
    // Unref'd: the exit handler commits it should the process end first.
    if (lazy) this.timer = setTimeout(commit, ATTEMPT_WAIT_MS).unref();
    else this.timer = this.windowMs === 'turn' ? setImmediate(commit) : setTimeout(commit, this.windowMs);
  }

  private clearTimer(): void {
    if (!this.timer) return;
    if (this.windowMs === 'turn' && !this.lazyTimer) clearImmediate(this.timer as NodeJS.Immediate);
    else clearTimeout(this.timer as NodeJS.Timeout);
    this.timer = undefined;
  }

  /** Resolves once every step queued so far is committed; rejects when its commit failed. */
  settled(): Promise<void> {
    if (!this.queue.length) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /**
   * Commits the queued steps in one transaction. When that fails, each step is tried on its own so
   * that one bad row costs only itself; the waiters learn the first error. Throws it too.
   */
  flush(): void {
    this.clearTimer();
    if (!this.queue.length) return;
    const batch = this.queue;
    const waiters = this.waiters;
    this.queue = [];
    this.queuedKeys = new Set();
    this.queuedItems = new Set();
    this.waiters = [];
    process.removeListener('exit', this.onExit);
    let changes: Array<{ key: string; status: ItemStatus; kind: string }> = [];
    let failure: unknown;
    try {
      changes = this.db.transaction(() => batch.flatMap((mark) => this.write(mark) ?? [])).immediate();
    } catch (err) {
      changes = [];
      for (const mark of batch) {
        try {
          const change = this.db.transaction(() => this.write(mark)).immediate();
          if (change) changes.push(change);
        } catch (own) {
          failure ??= own;
        }
      }
      if (failure === undefined) failure = err;
    }
    // Told after the commit, so a listener that reads the ledger sees the new state: one event
    // per key, its last state (an Attempt committed together with its outcome is no news).
    const last = new Map(changes.map((change) => [change.key, change]));
    for (const change of changes) if (last.get(change.key) === change) archiveEvents.emit('change', change);
    for (const w of waiters) {
      if (failure === undefined) w.resolve();
      else w.reject(failure);
    }
    if (failure !== undefined) throw failure;
  }

  /** One step inside the commit's transaction: the item's new state, or undefined for an unknown key. */
  private write(mark: QueuedMark): { key: string; status: ItemStatus; kind: string } | undefined {
    const { event, key, sink, item, params, message, at } = mark;
    const s = this.s;
    if (item) insertItem(s, item, undefined, at);
    const statement = { Attempt: s.attempt, Archived: s.archived, Failed: s.failed, Lost: s.lost }[event];
    const updated = statement.get({ ...params, key, at }) as
      { id?: number; status: ItemStatus; kind: string } | undefined;
    if (updated && event === 'Archived') s.setReceipt.run({ id: updated.id, receipt: params.receipt });
    s.insertEvent.run({
      key,
      at,
      event,
      // An unknown key has no row; the event still tells the auditor what the sink reported.
      status: updated?.status ?? (event === 'Attempt' ? 'Pending' : event),
      source: null,
      sink,
      message: updated ? (message ?? null) : truncate(`not in the ledger. ${message ?? ''}`.trim()),
    });
    return updated && { key, status: updated.status, kind: updated.kind };
  }
}

const shared = new Map<string, LedgerCore>();

function openCore(file: string): LedgerCore {
  const memory = file === ':memory:';
  if (!memory) {
    try {
      mkdirSync(dirname(file), { recursive: true });
    } catch (err) {
      throw explainOpenError(err, file);
    }
  }
  const driver = loadDriver(file);
  let db: Database | undefined;
  try {
    db = driver.open(file, BUSY_TIMEOUT_MS);
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    if (!memory) db.pragma('journal_mode = WAL');
    // With WAL, NORMAL loses no committed transaction when the process dies (kill -9, a crash):
    // the WAL is in the OS's hands at commit. Only a power loss or OS crash can lose the last
    // transactions, and never corrupts the file. The sources re-read a look-back window anyway.
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    migrate(db, file);
    return new LedgerCore(db, file, driver.name);
  } catch (err) {
    try {
      db?.close();
    } catch {
      // already failing: the first error is the one to report
    }
    throw explainOpenError(err, file);
  }
}

/**
 * The archive ledger on SQLite (WAL), through better-sqlite3 or, when its native module cannot load,
 * Node's built-in `node:sqlite` (see loadDriver). `Ledger.open(file)` hands out one handle per
 * caller over one shared connection per file: several Node-RED nodes share it, and the connection
 * closes when the last handle does. A handle's `close()` is idempotent and only ends that handle.
 *
 * All methods are synchronous. A listing page is one transaction (recordFound); the sinks' steps
 * (mark*) are committed in groups, an event-loop turn apart, and `settled()` says when (see
 * LedgerCore). Every read sees them at once.
 */
export class Ledger implements LogLedger {
  private core: LedgerCore | undefined;

  private constructor(core: LedgerCore) {
    core.refs++;
    this.core = core;
  }

  /** Opens (creating the folder and the database when needed) the ledger at `file`. */
  static open(file: string): Ledger {
    if (typeof file !== 'string' || !file.trim()) throw new Error('The archive ledger needs a file path');
    const path = resolve(file);
    let core = shared.get(path);
    if (!core) {
      core = openCore(path);
      shared.set(path, core);
    }
    return new Ledger(core);
  }

  /** A private in-memory ledger (tests, dry runs); not shared. */
  static openMemory(): Ledger {
    return new Ledger(openCore(':memory:'));
  }

  /** The files with an open connection in this process (for tests and diagnostics). */
  static openFiles(): string[] {
    return [...shared.keys()];
  }

  get file(): string {
    return this.c.file;
  }

  /** The SQLite driver behind this ledger's connection, for the log. */
  get driver(): DriverName {
    return this.c.driver;
  }

  get closed(): boolean {
    return this.core === undefined;
  }

  /** The core, for writes that touch no queued key. */
  private get c(): LedgerCore {
    if (!this.core) throw new Error('The archive ledger handle is closed');
    return this.core;
  }

  /** The core with every queued outcome committed: for reads that may cover any row. */
  private current(): LedgerCore {
    const c = this.c;
    c.flush();
    return c;
  }

  /** The core with the queued outcomes of these keys committed. */
  private currentFor(keys: Iterable<string>): LedgerCore {
    const c = this.c;
    if (c.queued) {
      for (const key of keys) {
        if (c.isQueued(key)) {
          c.flush();
          break;
        }
      }
    }
    return c;
  }

  /** The underlying connection, for diagnostics and tests; do not write through it. */
  get database(): Database {
    return this.current().db;
  }

  /**
   * Resolves once every outcome this process has reported to the ledger so far is committed;
   * rejects when that commit failed. A sink tells its flow after this, never before.
   */
  settled(): Promise<void> {
    return this.c.settled();
  }

  /** Commits the queued outcomes now. */
  flush(): void {
    this.c.flush();
  }

  close(): void {
    const core = this.core;
    if (!core) return;
    this.core = undefined;
    try {
      core.flush();
    } catch {
      // settled() told whoever waited; the items keep their previous state and are sent again
    }
    core.refs--;
    if (core.refs > 0) return;
    if (shared.get(core.file) === core) shared.delete(core.file);
    try {
      core.db.pragma('optimize');
    } catch {
      // closing anyway
    }
    core.db.close();
  }

  /**
   * One listing page in one transaction: every new item Pending with its Found event, then the
   * cursor. A page that fails anywhere (an item without a key) leaves nothing of itself behind.
   */
  recordFound(items: ArchiveItem[], source: string, cursor?: { name: string; value: string }): ArchiveItem[] {
    const c = this.currentFor(items.map((item) => item?.key));
    const found = c.db
      .transaction(() => {
        const at = new Date().toISOString();
        const fresh: ArchiveItem[] = [];
        for (const item of items) {
          if (insertItem(c.s, item, source, at)) fresh.push(item);
        }
        if (cursor) c.s.setCursor.run({ name: cursor.name, value: cursor.value, at });
        return fresh;
      })
      .immediate();
    for (const item of found)
      archiveEvents.emit('change', { key: item.key, status: 'Pending', kind: item.kind });
    return found;
  }

  upsert(item: ArchiveItem, source?: string): boolean {
    const c = this.currentFor([item?.key]);
    const fresh = c.db.transaction(() => insertItem(c.s, item, source, new Date().toISOString())).immediate();
    if (fresh) archiveEvents.emit('change', { key: item.key, status: 'Pending', kind: item.kind });
    return fresh;
  }

  get(key: string): LedgerRow | undefined {
    const r = this.currentFor([key]).s.getItem.get(key) as ItemDbRow | undefined;
    return r && toRow(r);
  }

  /** Each mark* method commits its step before it returns; see grouped() for a sink's steps. */
  markAttempt(key: string, sink: string, item?: ArchiveItem, grouped = false): boolean {
    return this.mark('Attempt', key, sink, item, { sink }, undefined, grouped);
  }

  markArchived(key: string, sink: string, receipt: Receipt, item?: ArchiveItem, grouped = false): boolean {
    return this.mark(
      'Archived',
      key,
      sink,
      item,
      {
        sink,
        receipt: JSON.stringify(receipt),
        archivedAt: isoOrSame(String(receipt.archivedAt ?? '')) || new Date().toISOString(),
        storage: String(receipt.provider ?? ''),
        path: String(receipt.path ?? ''),
        bytes: Number.isFinite(receipt.bytes) ? receipt.bytes : null,
        sha256: receipt.sha256 ? String(receipt.sha256) : null,
      },
      describeReceipt(receipt),
      grouped,
    );
  }

  markFailed(key: string, sink: string, error: string, item?: ArchiveItem, grouped = false): boolean {
    const message = truncate(String(error ?? '') || 'unknown error');
    return this.mark('Failed', key, sink, item, { sink, error: message }, message, grouped);
  }

  markLost(key: string, sink: string, reason: string, item?: ArchiveItem, grouped = false): boolean {
    const message = truncate(String(reason ?? '') || 'the content is gone at RingCentral');
    return this.mark('Lost', key, sink, item, { sink, error: message }, message, grouped);
  }

  /**
   * This ledger for a sink: its mark* steps are queued and committed in groups with the other
   * transfers' (see LedgerCore), and `settled()` resolves once they are. Everything else, and
   * every read, is this handle's. Closing the view closes nothing.
   */
  grouped(): LedgerApi & { settled(): Promise<void> } {
    return {
      recordFound: (items, source, cursor) => this.recordFound(items, source, cursor),
      get: (key) => this.get(key),
      markAttempt: (key, sink, item) => void this.markAttempt(key, sink, item, true),
      markArchived: (key, sink, receipt, item) => void this.markArchived(key, sink, receipt, item, true),
      markFailed: (key, sink, error, item) => void this.markFailed(key, sink, error, item, true),
      markLost: (key, sink, reason, item) => void this.markLost(key, sink, reason, item, true),
      settled: () => this.settled(),
      pending: (source) => this.pending(source),
      query: (q) => this.query(q),
      counts: (source) => this.counts(source),
      getCursor: (name) => this.getCursor(name),
      setCursor: (name, value) => this.setCursor(name, value),
      close: () => undefined,
    };
  }

  pending(source?: string): LedgerRow[] {
    const s = this.current().s;
    const rows = (source === undefined ? s.pendingAll.all() : s.pendingOf.all(source)) as ItemDbRow[];
    return rows.map(toRow);
  }

  query(q: LedgerQuery = {}): LedgerRow[] {
    const { where, params } = this.filters(q);
    const limit = q.limit === undefined ? DEFAULT_QUERY_LIMIT : Math.max(0, Math.floor(q.limit));
    const offset = Math.max(0, Math.floor(q.offset ?? 0));
    const direction = q.order === 'oldest' ? 'ASC' : 'DESC';
    const rows = this.current()
      .db.prepare(
        `SELECT ${ITEM_COLUMNS} FROM ${ITEMS_WITH_DATA} ${where} ORDER BY i.created_at ${direction}, i.id ${direction} LIMIT @limit OFFSET @offset`,
      )
      .all({ ...params, limit, offset }) as ItemDbRow[];
    return rows.map(toRow);
  }

  count(q: LedgerQuery = {}): number {
    const { where, params } = this.filters(q);
    const row = this.current().db.prepare(`SELECT COUNT(*) AS n FROM items ${where}`).get(params) as {
      n: number;
    };
    return row.n;
  }

  counts(source?: string): Record<ItemStatus, number> {
    const s = this.current().s;
    const rows = (source === undefined ? s.countsAll.all() : s.countsOf.all(source)) as {
      status: ItemStatus;
      n: number;
    }[];
    const counts: Record<ItemStatus, number> = { Pending: 0, Archived: 0, Failed: 0, Lost: 0 };
    for (const r of rows) counts[r.status] = r.n;
    return counts;
  }

  events(key: string): LedgerEvent[] {
    return (this.currentFor([key]).s.events.all(key) as EventDbRow[]).map(toEvent);
  }

  getCursor(name: string): string | undefined {
    const r = this.c.s.getCursor.get(name) as { value: string } | undefined;
    return r?.value;
  }

  setCursor(name: string, value: string): void {
    this.c.s.setCursor.run({ name, value, at: new Date().toISOString() });
  }

  prune(options: PruneOptions = {}): { items: number; events: number } {
    const days = options.olderThanDays;
    if (days === undefined || !Number.isFinite(days) || days <= 0) return { items: 0, events: 0 };
    const cutoff = new Date((options.now ?? new Date()).getTime() - days * 86_400_000).toISOString();
    const c = this.current();
    return c.db
      .transaction(() => {
        const items = c.s.pruneItems.run({ cutoff }).changes;
        const events = c.s.pruneEvents.run({ cutoff }).changes;
        return { items, events };
      })
      .immediate();
  }

  // ---- the archive log

  page(filter: LogFilter, page: number, pageSize: number): LogPage {
    const size = Math.min(MAX_PAGE_SIZE, Math.max(1, Math.floor(pageSize) || 25));
    const number = Math.max(1, Math.floor(page) || 1);
    const db = this.current().db;
    const days = this.dayCounts(filter);
    let total: number;
    let skip = (number - 1) * size;
    let bounded = filter;
    if (days) {
      total = days.reduce((sum, d) => sum + d.n, 0);
      // Rows of days newer than the page's first day need no reading: the OFFSET then skips
      // index entries of one day at most, however deep the page.
      const first = days.find((d) => {
        if (skip < d.n) return true;
        skip -= d.n;
        return false;
      });
      if (!first) return { rows: [], total, page: number, pageSize: size };
      bounded = withinRange(filter, undefined, nextDayStart(first.day));
    } else {
      const { where, params } = this.filters(filter);
      total = (db.prepare(`SELECT COUNT(*) AS n FROM items ${where}`).get(params) as { n: number }).n;
    }
    const { where, params } = this.filters(bounded);
    const rows = db
      .prepare(
        `SELECT ${LOG_COLUMNS} FROM items WHERE id IN (
           SELECT id FROM items ${where} ORDER BY created_at DESC, id DESC LIMIT @limit OFFSET @offset)
         ORDER BY created_at DESC, id DESC`,
      )
      .all({ ...params, limit: size, offset: skip }) as LogDbRow[];
    return { rows: rows.map(toLogRow), total, page: number, pageSize: size };
  }

  /**
   * How many items of the filter each UTC day holds, newest day first, from item_counts; the days
   * the range cuts are counted exactly from the index. Undefined for a text filter, which only a
   * scan can count.
   */
  private dayCounts(filter: LogFilter): Array<{ day: string; n: number }> | undefined {
    if (filter.text && filter.text.trim()) return undefined;
    const since = filter.since ? isoOrSame(filter.since) : undefined;
    const until = filter.until ? isoOrSame(filter.until) : undefined;
    // item_counts has the kind and status columns of items: the same conditions apply.
    const { clauses, params } = this.conditions({ kind: filter.kind, status: filter.status });
    this.current();
    if (since) {
      clauses.push('day >= @sinceDay');
      params.sinceDay = since.slice(0, 10);
    }
    if (until) {
      clauses.push('day <= @untilDay');
      params.untilDay = until.slice(0, 10);
    }
    const db = this.c.db;
    const days = db
      .prepare(
        `SELECT day, SUM(n) AS n FROM item_counts ${clauses.length ? `WHERE ${clauses.join(' AND ')}` : ''}
         GROUP BY day HAVING SUM(n) > 0 ORDER BY day DESC`,
      )
      .all(params) as Array<{ day: string; n: number }>;
    for (const d of days) {
      const cut =
        (since !== undefined && d.day === since.slice(0, 10) && since > dayStart(d.day)) ||
        (until !== undefined && d.day === until.slice(0, 10));
      if (!cut) continue;
      const { where, params: exact } = this.filters(
        withinRange(filter, dayStart(d.day), nextDayStart(d.day)),
      );
      d.n = (db.prepare(`SELECT COUNT(*) AS n FROM items ${where}`).get(exact) as { n: number }).n;
    }
    return days.filter((d) => d.n > 0);
  }

  *iterate(filter: LogFilter, batchSize = DEFAULT_BATCH): IterableIterator<LogExportRow> {
    const { where, params } = this.filters(filter);
    const limit = Math.max(1, Math.floor(batchSize));
    const after = `${where ? `${where} AND` : 'WHERE'} (created_at, id) < (@lastCreated, @lastRid)`;
    const first = this.current().db.prepare(
      `SELECT ${EXPORT_COLUMNS} FROM items ${where} ORDER BY created_at DESC, id DESC LIMIT @limit`,
    );
    const next = this.c.db.prepare(
      `SELECT ${EXPORT_COLUMNS} FROM items ${after} ORDER BY created_at DESC, id DESC LIMIT @limit`,
    );
    let batch = first.all({ ...params, limit }) as ExportDbRow[];
    while (batch.length) {
      for (const r of batch) yield toExportRow(r);
      if (batch.length < limit) return;
      const last = batch[batch.length - 1];
      this.current();
      batch = next.all({
        ...params,
        limit,
        lastCreated: last.created_at,
        lastRid: last.rid,
      }) as ExportDbRow[];
    }
  }

  rowsOf(keys: string[]): LogRow[] {
    const s = this.currentFor(keys).s;
    const rows: LogRow[] = [];
    for (const key of keys) {
      const r = s.logOf.get(key) as LogDbRow | undefined;
      if (r) rows.push(toLogRow(r));
    }
    return rows;
  }

  scheduleRetry(key: string, node: string, retryAt: string, retries: number): void {
    this.currentFor([key]).s.scheduleRetry.run({
      key,
      node,
      retryAt: isoOrSame(retryAt),
      retries: Math.max(0, Math.floor(retries)),
    });
  }

  clearRetry(key: string): void {
    this.currentFor([key]).s.clearRetry.run(key);
  }

  resetRetries(key: string): void {
    this.currentFor([key]).s.resetRetries.run(key);
  }

  dueRetries(node: string, now: string, limit = 1000): RetryEntry[] {
    const rows = this.current().s.dueRetries.all({ node, now: isoOrSame(now), limit }) as {
      key: string;
      retry_at: string;
      retries: number;
    }[];
    return rows.map((r) => ({ key: r.key, retryAt: r.retry_at, retries: r.retries }));
  }

  waitingRetries(node: string): { count: number; next?: string } {
    const r = this.current().s.waitingRetries.get({ node }) as { n: number; next: string | null };
    return r.next === null ? { count: r.n } : { count: r.n, next: r.next };
  }

  exhaustedRetries(node: string, maxRetries: number): number {
    return (this.current().s.exhaustedRetries.get({ node, max: maxRetries }) as { n: number }).n;
  }

  private mark(
    event: MarkEvent,
    key: string,
    sink: string,
    item: ArchiveItem | undefined,
    params: Record<string, string | number | null>,
    message: string | undefined,
    grouped = false,
  ): boolean {
    const c = this.c;
    if (item) {
      if (item.key !== key) throw new Error(`ledger: item ${item.key} given for key ${key}`);
      checkItem(item);
    }
    // Known now or by the time it is committed: the step updates a row (else it is only audited).
    // The item is recorded first only when the ledger lacks it (a sink fed by a flow not ours).
    const recorded = c.s.known.get(key) !== undefined;
    const record = recorded ? undefined : item;
    const known = recorded || item !== undefined || c.willRecord(key);
    c.enqueue({ event, key, sink, item: record, params, message, at: new Date().toISOString() }, grouped);
    return known;
  }

  private filters(q: LedgerQuery | LogFilter): { where: string; params: Record<string, string> } {
    const { clauses, params } = this.conditions(q);
    return { where: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', params };
  }

  /** The SQL conditions of a query or filter, ANDed by the caller, with their parameters. */
  private conditions(q: LedgerQuery | LogFilter): { clauses: string[]; params: Record<string, string> } {
    const clauses: string[] = [];
    const params: Record<string, string> = {};
    if (q.status) {
      clauses.push('status = @status');
      params.status = q.status;
    }
    if (q.kind) {
      clauses.push('kind = @kind');
      params.kind = q.kind;
    }
    if ('source' in q && q.source) {
      clauses.push('source = @source');
      params.source = q.source;
    }
    if (q.text && q.text.trim()) {
      clauses.push('instr(search, @text) > 0');
      params.text = q.text.trim().toLowerCase();
    }
    if (q.since) {
      clauses.push('created_at >= @since');
      params.since = isoOrSame(q.since);
    }
    if (q.until) {
      clauses.push('created_at < @until');
      params.until = isoOrSame(q.until);
    }
    return { clauses, params };
  }
}
