import type BetterSqlite3 from 'better-sqlite3';
import { loadNodeSqlite } from './node-sqlite';

/** A prepared statement: the part of better-sqlite3's Statement the ledger uses. */
export interface Statement {
  /** Named parameters come as one object (keys without `@`), positional ones as arguments. */
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}

/**
 * A connection: the part of better-sqlite3's Database the ledger uses. better-sqlite3's Database
 * is one as it is; on Node's built-in SQLite an adapter provides it (node-sqlite.ts).
 */
export interface Database {
  readonly open: boolean;
  /** The file name as given. */
  readonly name: string;
  prepare(sql: string): Statement;
  exec(sql: string): unknown;
  /** `PRAGMA source`: all rows, or with `simple` the first column of the first row. */
  pragma(source: string, options?: { simple?: boolean }): unknown;
  /** `immediate()` runs fn in BEGIN IMMEDIATE … COMMIT (ROLLBACK when it throws); nested: a savepoint. */
  transaction<T>(fn: () => T): { immediate(): T };
  close(): unknown;
}

export type DriverName = 'better-sqlite3' | 'node:sqlite';

export interface Driver {
  readonly name: DriverName;
  open(file: string, timeoutMs: number): Database;
}

const REBUILD_HINT =
  'In your Node-RED user directory (usually ~/.node-red) run `npm rebuild better-sqlite3` ' +
  '(npm 11 and later skip unapproved install scripts: run `npm install-scripts approve better-sqlite3` ' +
  'first, or `npm approve-scripts better-sqlite3` on npm 11.16/11.17), then restart Node-RED.';

const NODE_SQLITE_HINT =
  'Or run Node-RED on Node.js 22.13 or later: the ledger then uses its built-in SQLite and needs no native build.';

/** An error whose message is already written for the user: it names the file and what to do. */
export class LedgerOpenError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LedgerOpenError';
  }
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0].trim();
}

/** SQLite's primary result codes that explainOpenError knows, by number (node:sqlite gives numbers). */
const SQLITE_CODES: Record<number, string> = {
  5: 'SQLITE_BUSY',
  8: 'SQLITE_READONLY',
  10: 'SQLITE_IOERR',
  11: 'SQLITE_CORRUPT',
  13: 'SQLITE_FULL',
  14: 'SQLITE_CANTOPEN',
  26: 'SQLITE_NOTADB',
};

function codeOf(err: unknown): string | undefined {
  const { code, errcode } = (err ?? {}) as { code?: unknown; errcode?: unknown };
  // better-sqlite3 names the SQLite code; node:sqlite has ERR_SQLITE_ERROR and the number.
  if (code === 'ERR_SQLITE_ERROR' && typeof errcode === 'number') return SQLITE_CODES[errcode & 0xff] ?? code;
  return typeof code === 'string' ? code : undefined;
}

/** True for the errors Node gives when a native addon is absent or built for another Node. */
export function isBindingError(err: unknown): boolean {
  const text = err instanceof Error ? err.message : String(err);
  return (
    codeOf(err) === 'ERR_DLOPEN_FAILED' ||
    /Could not locate the bindings file/i.test(text) ||
    /NODE_MODULE_VERSION/.test(text) ||
    /was compiled against a different Node\.js version/i.test(text) ||
    /better_sqlite3\.node/.test(text)
  );
}

/**
 * Turns what the SQLite driver or the file system threw while opening the ledger into a message a
 * Node-RED user can act on: it names the file and says what to do.
 */
export function explainOpenError(err: unknown, file: string): LedgerOpenError {
  if (err instanceof LedgerOpenError) return err;
  if (isBindingError(err)) {
    return new LedgerOpenError(
      `The archive ledger (${file}) needs better-sqlite3, whose native module is missing or was built ` +
        `for another Node.js than ${process.version}. ${REBUILD_HINT} (${firstLine(err)})`,
      { cause: err },
    );
  }
  const code = codeOf(err);
  if (code === 'ERR_UNKNOWN_BUILTIN_MODULE' && /sqlite/.test(firstLine(err))) {
    return new LedgerOpenError(
      `The archive ledger (${file}) is set to use Node's built-in SQLite (RC_ARCHIVER_SQLITE=node), which ` +
        `Node.js ${process.version} does not have: it needs Node.js 22.13 or later. Unset RC_ARCHIVER_SQLITE ` +
        `to use better-sqlite3. (${firstLine(err)})`,
      { cause: err },
    );
  }
  if (code === 'MODULE_NOT_FOUND' && /better-sqlite3/.test(firstLine(err))) {
    return new LedgerOpenError(
      `The archive ledger (${file}) needs the package better-sqlite3, which is not installed. ` +
        'Reinstall this node pack from the Palette Manager or run `npm install` in your Node-RED user directory.',
      { cause: err },
    );
  }
  const reasons: Record<string, string> = {
    EACCES: 'permission denied: the user running Node-RED may not write there',
    EPERM: 'permission denied: the user running Node-RED may not write there',
    EROFS: 'the file system is read-only',
    ENOTDIR: 'a part of the path is a file, not a folder',
    EEXIST: 'a part of the path is a file, not a folder',
    ENOSPC: 'the disk is full',
    SQLITE_CANTOPEN: 'SQLite cannot open the file (does the folder exist and may Node-RED write to it?)',
    SQLITE_NOTADB: 'the file is not an SQLite database (or it is encrypted or damaged)',
    SQLITE_CORRUPT: 'the database file is damaged',
    SQLITE_READONLY: 'the file or its folder is read-only',
    SQLITE_BUSY: 'another process holds a lock on it for too long',
    SQLITE_FULL: 'the disk is full',
    SQLITE_IOERR: 'an input/output error occurred',
  };
  // Extended SQLite codes (SQLITE_IOERR_WRITE) fall back to their primary code (SQLITE_IOERR).
  let reason: string | undefined;
  for (let c = code; c && !reason; c = c.includes('_') ? c.slice(0, c.lastIndexOf('_')) : undefined) {
    reason = reasons[c];
  }
  const detail = firstLine(err);
  return new LedgerOpenError(
    `Cannot open the archive ledger at ${file}: ${reason ? `${reason} (${detail})` : detail}`,
    { cause: err },
  );
}

function loadBetterSqlite3(): Driver {
  // A plain require keeps the package external to the bundle and lazy.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const BetterSqlite = require('better-sqlite3') as typeof BetterSqlite3;
  // better-sqlite3 loads its native module with the first connection: find out now.
  new BetterSqlite(':memory:').close();
  return { name: 'better-sqlite3', open: (file, timeout) => new BetterSqlite(file, { timeout }) };
}

const loaded = new Map<DriverName, Driver>();

function load(name: DriverName): Driver {
  let driver = loaded.get(name);
  if (!driver) {
    driver = name === 'better-sqlite3' ? loadBetterSqlite3() : loadNodeSqlite();
    loaded.set(name, driver);
  }
  return driver;
}

/**
 * Picks the SQLite driver when a ledger is opened, so that a missing native module becomes a
 * clear error on the node that needs the ledger, not a crash when Node-RED loads the pack.
 *
 * better-sqlite3 when it loads, else Node's built-in `node:sqlite` (Node 22.13+, or with
 * --experimental-sqlite): npm 11 skips install scripts that the Node-RED user directory did not
 * approve, which leaves better-sqlite3 without its native module. `choice` (by default the
 * environment variable RC_ARCHIVER_SQLITE) `better-sqlite3` or `node` forces one, with no fallback.
 */
export function loadDriver(file: string, choice = process.env.RC_ARCHIVER_SQLITE): Driver {
  const wanted = choice?.trim().toLowerCase();
  if (wanted) {
    let name: DriverName;
    if (wanted === 'better-sqlite3') name = 'better-sqlite3';
    else if (wanted === 'node' || wanted === 'node:sqlite') name = 'node:sqlite';
    else {
      throw new LedgerOpenError(
        `RC_ARCHIVER_SQLITE is "${choice}": it must be better-sqlite3 or node, or be unset ` +
          `(better-sqlite3 when it loads, else Node's built-in SQLite). The archive ledger ${file} was not opened.`,
      );
    }
    try {
      return load(name);
    } catch (err) {
      throw explainOpenError(err, file);
    }
  }
  try {
    return load('better-sqlite3');
  } catch (err) {
    try {
      return load('node:sqlite');
    } catch {
      const explained = explainOpenError(err, file);
      throw new LedgerOpenError(`${explained.message} ${NODE_SQLITE_HINT}`, { cause: err });
    }
  }
}
