import type { Database, Driver, Statement } from './driver';

/** The part of `node:sqlite` (Node 22.5+) used here; @types/node 20 does not describe the module. */
interface StatementSync extends Statement {
  setAllowBareNamedParameters?(enabled: boolean): void;
  setAllowUnknownNamedParameters?(enabled: boolean): void;
}

interface DatabaseSync {
  prepare(sql: string): StatementSync;
  exec(sql: string): void;
  close(): void;
  /** Node 22.16 and later. */
  readonly isTransaction?: boolean;
}

interface NodeSqliteModule {
  DatabaseSync: new (path: string, options?: { timeout?: number }) => DatabaseSync;
}

const SAVEPOINT = 'rc_archiver_tx';

/**
 * The subset of better-sqlite3's Database the ledger uses, on Node's built-in `DatabaseSync`:
 * statements bind and return the same way (named parameters without their `@`, extra ones
 * ignored; `run()` gives `{ changes, lastInsertRowid }`); `pragma()` and `transaction()` are
 * rebuilt here as better-sqlite3 does them (a nested transaction becomes a savepoint).
 */
class NodeSqliteDatabase implements Database {
  private isOpen = true;
  /** transaction() calls running: tells nesting apart where Node has no `isTransaction`. */
  private depth = 0;

  constructor(
    private readonly db: DatabaseSync,
    readonly name: string,
  ) {}

  get open(): boolean {
    return this.isOpen;
  }

  prepare(sql: string): Statement {
    const statement = this.db.prepare(sql);
    statement.setAllowBareNamedParameters?.(true);
    statement.setAllowUnknownNamedParameters?.(true);
    return statement;
  }

  exec(sql: string): this {
    this.db.exec(sql);
    return this;
  }

  pragma(source: string, options: { simple?: boolean } = {}): unknown {
    const rows = this.db.prepare(`PRAGMA ${source}`).all() as Record<string, unknown>[];
    return options.simple ? rows[0] && Object.values(rows[0])[0] : rows;
  }

  transaction<T>(fn: () => T): { immediate(): T } {
    return { immediate: () => this.runTransaction(fn, 'BEGIN IMMEDIATE') };
  }

  close(): this {
    if (this.isOpen) {
      this.db.close();
      this.isOpen = false;
    }
    return this;
  }

  private runTransaction<T>(fn: () => T, begin: string): T {
    const nested = this.db.isTransaction ?? this.depth > 0;
    this.db.exec(nested ? `SAVEPOINT ${SAVEPOINT}` : begin);
    this.depth++;
    try {
      const result = fn();
      if (typeof (result as { then?: unknown } | null)?.then === 'function') {
        throw new TypeError('Transaction function cannot return a promise');
      }
      this.db.exec(nested ? `RELEASE ${SAVEPOINT}` : 'COMMIT');
      return result;
    } catch (err) {
      if (this.db.isTransaction ?? true) {
        try {
          this.db.exec(nested ? `ROLLBACK TO ${SAVEPOINT}; RELEASE ${SAVEPOINT}` : 'ROLLBACK');
        } catch {
          // SQLite rolled back already (older Node cannot tell): the first error is the one to report
        }
      }
      throw err;
    } finally {
      this.depth--;
    }
  }
}

/** Throws ERR_UNKNOWN_BUILTIN_MODULE before Node 22.13 (22.5 to 22.12: without --experimental-sqlite). */
/**
 * Requires `node:sqlite` without the ExperimentalWarning Node prints on its first load: the ledger
 * falls back to it on purpose, and a Node-RED user can do nothing about the warning. Every other
 * warning, also another ExperimentalWarning, still goes through.
 */
function requireNodeSqlite(): NodeSqliteModule {
  const emitWarning = process.emitWarning;
  process.emitWarning = function (this: NodeJS.Process, warning: string | Error, ...rest: unknown[]) {
    const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
    const text = typeof warning === 'string' ? warning : warning.message;
    if (type === 'ExperimentalWarning' && /^SQLite is an experimental feature/.test(text)) return;
    return (emitWarning as (...args: unknown[]) => void).call(this, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('node:sqlite') as NodeSqliteModule;
  } finally {
    process.emitWarning = emitWarning;
  }
}

export function loadNodeSqlite(): Driver {
  // Loaded only when chosen.
  const { DatabaseSync } = requireNodeSqlite();
  return {
    name: 'node:sqlite',
    open: (file, timeout) => new NodeSqliteDatabase(new DatabaseSync(file, { timeout }), file),
  };
}
