import type BetterSqlite3 from 'better-sqlite3';

export type Database = BetterSqlite3.Database;
type DatabaseConstructor = typeof BetterSqlite3;

const REBUILD_HINT =
  'In your Node-RED user directory (usually ~/.node-red) run `npm rebuild better-sqlite3` ' +
  '(npm 11 and later skip unapproved install scripts: run `npm install-scripts approve better-sqlite3` ' +
  'first, or `npm approve-scripts better-sqlite3` on npm 11.16/11.17), then restart Node-RED.';

/** An error whose message is already written for the user: it names the file and what to do. */
export class LedgerOpenError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LedgerOpenError';
  }
}

let constructorCache: DatabaseConstructor | undefined;

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0].trim();
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
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
 * Turns what better-sqlite3 or the file system threw while opening the ledger into a message a
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

/**
 * Loads better-sqlite3 only when a ledger is opened, so that a missing native module becomes a
 * clear error on the node that needs the ledger, not a crash when Node-RED loads the pack.
 */
export function loadDriver(file: string): DatabaseConstructor {
  if (constructorCache) return constructorCache;
  try {
    // A plain require keeps the package external to the bundle and lazy.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    constructorCache = require('better-sqlite3') as DatabaseConstructor;
    return constructorCache;
  } catch (err) {
    throw explainOpenError(err, file);
  }
}
