import { LedgerOpenError, type Database } from './driver';

/**
 * The ledger's schema, as a list of migrations: migration i takes the database from
 * schema version i to i + 1 (SQLite's `user_version`). A release that changes the schema appends a
 * migration and never edits one that has shipped. Each runs in its own transaction together with
 * the version bump, so a crash leaves the database at the old or the new version, never between.
 */
export const MIGRATIONS: ReadonlyArray<(db: Database) => void> = [
  // 1: items, cursors, events.
  (db) => {
    db.exec(`
      CREATE TABLE items (
        key           TEXT PRIMARY KEY,
        kind          TEXT NOT NULL,
        status        TEXT NOT NULL CHECK (status IN ('Pending', 'Archived', 'Failed')),
        attempts      INTEGER NOT NULL DEFAULT 0,
        last_error    TEXT,
        receipt       TEXT,            -- Receipt as JSON
        item          TEXT NOT NULL,   -- ArchiveItem as JSON
        source        TEXT,            -- node that found it; NULL for items of flows not ours
        sink          TEXT,            -- sink of the last attempt
        created_at    TEXT NOT NULL,   -- the item's createdAt, ISO 8601 UTC, for filtering
        owner         TEXT,
        from_party    TEXT,
        to_parties    TEXT,
        search        TEXT NOT NULL,   -- lower-cased key, owner, extension, from, to
        first_seen_at TEXT NOT NULL,
        updated_at    TEXT NOT NULL
      );
      CREATE INDEX items_status_created ON items (status, created_at);
      CREATE INDEX items_source_status_created ON items (source, status, created_at);
      CREATE INDEX items_created ON items (created_at);
      CREATE INDEX items_kind_created ON items (kind, created_at);

      CREATE TABLE cursors (
        name       TEXT PRIMARY KEY,
        value      TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );

      CREATE TABLE events (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        key     TEXT NOT NULL,
        at      TEXT NOT NULL,
        event   TEXT NOT NULL,   -- Found, Attempt, Archived, Failed
        status  TEXT NOT NULL,   -- the item's status after the event
        source  TEXT,
        sink    TEXT,
        message TEXT
      );
      CREATE INDEX events_key ON events (key, id);
      CREATE INDEX events_at ON events (at);
    `);
  },
  // 2: status 'Lost' (content deleted at RingCentral). SQLite cannot alter a CHECK constraint, so
  // the items table is rebuilt with the same columns and indexes.
  (db) => {
    db.exec(`
      CREATE TABLE items_v2 (
        key           TEXT PRIMARY KEY,
        kind          TEXT NOT NULL,
        status        TEXT NOT NULL CHECK (status IN ('Pending', 'Archived', 'Failed', 'Lost')),
        attempts      INTEGER NOT NULL DEFAULT 0,
        last_error    TEXT,
        receipt       TEXT,
        item          TEXT NOT NULL,
        source        TEXT,
        sink          TEXT,
        created_at    TEXT NOT NULL,
        owner         TEXT,
        from_party    TEXT,
        to_parties    TEXT,
        search        TEXT NOT NULL,
        first_seen_at TEXT NOT NULL,
        updated_at    TEXT NOT NULL
      );
      INSERT INTO items_v2 (key, kind, status, attempts, last_error, receipt, item, source, sink, created_at,
                            owner, from_party, to_parties, search, first_seen_at, updated_at)
        SELECT key, kind, status, attempts, last_error, receipt, item, source, sink, created_at,
               owner, from_party, to_parties, search, first_seen_at, updated_at
        FROM items ORDER BY rowid;
      DROP TABLE items;
      ALTER TABLE items_v2 RENAME TO items;
      CREATE INDEX items_status_created ON items (status, created_at);
      CREATE INDEX items_source_status_created ON items (source, status, created_at);
      CREATE INDEX items_created ON items (created_at);
      CREATE INDEX items_kind_created ON items (kind, created_at);
    `);
  },
  // 3: the archive log at scale. What the sidebar shows and filters on gets columns of its own
  // (File Archived, storage, path, bytes, hash) while the item and receipt JSON move to item_data:
  // a page or a CSV export of a million rows then reads small rows and never parses JSON. The id
  // is explicit so that it stays stable (VACUUM may renumber an implicit rowid). item_counts
  // keeps, per UTC day, data type and status, how many items there are (kept by triggers), so the
  // sidebar's totals and deep pages need no scan of a million index entries. rc-retry's schedule
  // lives here so that it survives a restart.
  (db) => {
    db.exec(`
      CREATE TABLE items_v3 (
        id            INTEGER PRIMARY KEY,
        key           TEXT NOT NULL UNIQUE,
        kind          TEXT NOT NULL,
        status        TEXT NOT NULL CHECK (status IN ('Pending', 'Archived', 'Failed', 'Lost')),
        attempts      INTEGER NOT NULL DEFAULT 0,
        last_error    TEXT,
        source        TEXT,
        sink          TEXT,
        created_at    TEXT NOT NULL,
        owner         TEXT,
        from_party    TEXT,
        to_parties    TEXT,
        search        TEXT NOT NULL,
        first_seen_at TEXT NOT NULL,
        updated_at    TEXT NOT NULL,
        archived_at   TEXT,            -- File Archived (the receipt's archivedAt)
        storage       TEXT,            -- the receipt's provider
        path          TEXT,
        bytes         INTEGER,
        sha256        TEXT,
        retries       INTEGER NOT NULL DEFAULT 0,  -- automatic retries sent or scheduled
        retry_at      TEXT,            -- the next automatic retry, NULL when none is due
        retry_node    TEXT             -- the rc-retry node that schedules it
      );
      INSERT INTO items_v3 (id, key, kind, status, attempts, last_error, source, sink, created_at, owner,
                            from_party, to_parties, search, first_seen_at, updated_at,
                            archived_at, storage, path, bytes, sha256)
        SELECT rowid, key, kind, status, attempts, last_error, source, sink, created_at, owner,
               from_party, to_parties, search, first_seen_at, updated_at,
               json_extract(receipt, '$.archivedAt'), json_extract(receipt, '$.provider'),
               json_extract(receipt, '$.path'), json_extract(receipt, '$.bytes'), json_extract(receipt, '$.sha256')
        FROM items ORDER BY rowid;
      CREATE TABLE item_data (
        id      INTEGER PRIMARY KEY,   -- items.id
        item    TEXT NOT NULL,         -- ArchiveItem as JSON
        receipt TEXT                   -- Receipt as JSON
      );
      INSERT INTO item_data (id, item, receipt) SELECT rowid, item, receipt FROM items ORDER BY rowid;
      DROP TABLE items;
      ALTER TABLE items_v3 RENAME TO items;

      CREATE INDEX items_status_created ON items (status, created_at);
      CREATE INDEX items_source_status_created ON items (source, status, created_at);
      CREATE INDEX items_created ON items (created_at);
      CREATE INDEX items_kind_created ON items (kind, created_at);
      CREATE INDEX items_kind_status_created ON items (kind, status, created_at);
      CREATE INDEX items_retry ON items (retry_node, retry_at) WHERE retry_at IS NOT NULL;
      CREATE INDEX items_retry_node_status ON items (retry_node, status) WHERE retry_node IS NOT NULL;

      CREATE TRIGGER items_delete_data AFTER DELETE ON items BEGIN
        DELETE FROM item_data WHERE id = old.id;
      END;

      CREATE TABLE item_counts (
        day    TEXT NOT NULL,          -- substr(created_at, 1, 10): the UTC day
        kind   TEXT NOT NULL,
        status TEXT NOT NULL,
        n      INTEGER NOT NULL,
        PRIMARY KEY (day, kind, status)
      ) WITHOUT ROWID;
      INSERT INTO item_counts (day, kind, status, n)
        SELECT substr(created_at, 1, 10), kind, status, COUNT(*) FROM items GROUP BY 1, 2, 3;
      CREATE TRIGGER items_count_insert AFTER INSERT ON items BEGIN
        INSERT OR IGNORE INTO item_counts VALUES (substr(new.created_at, 1, 10), new.kind, new.status, 0);
        UPDATE item_counts SET n = n + 1
          WHERE day = substr(new.created_at, 1, 10) AND kind = new.kind AND status = new.status;
      END;
      CREATE TRIGGER items_count_delete AFTER DELETE ON items BEGIN
        UPDATE item_counts SET n = n - 1
          WHERE day = substr(old.created_at, 1, 10) AND kind = old.kind AND status = old.status;
      END;
      CREATE TRIGGER items_count_update AFTER UPDATE OF status, kind, created_at ON items
        WHEN old.status IS NOT new.status OR old.kind IS NOT new.kind OR old.created_at IS NOT new.created_at
      BEGIN
        UPDATE item_counts SET n = n - 1
          WHERE day = substr(old.created_at, 1, 10) AND kind = old.kind AND status = old.status;
        INSERT OR IGNORE INTO item_counts VALUES (substr(new.created_at, 1, 10), new.kind, new.status, 0);
        UPDATE item_counts SET n = n + 1
          WHERE day = substr(new.created_at, 1, 10) AND kind = new.kind AND status = new.status;
      END;
    `);
  },
  // 4: the receipt in a table of its own. Sharing a row with the item JSON, each Archived outcome
  // rewrote that JSON (a call-log record's whole record) only to add the receipt; now the item
  // JSON is written once, when the item is found. Receipts written before stay in item_data and
  // are read from there (moving them would rewrite every row of a large ledger while it opens).
  (db) => {
    db.exec(`
      CREATE TABLE item_receipts (
        id      INTEGER PRIMARY KEY,   -- items.id
        receipt TEXT NOT NULL          -- Receipt as JSON
      );
      CREATE TRIGGER items_delete_receipt AFTER DELETE ON items BEGIN
        DELETE FROM item_receipts WHERE id = old.id;
      END;
    `);
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Brings the database to SCHEMA_VERSION; refuses a database written by a newer release. */
export function migrate(db: Database, file: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw new LedgerOpenError(
      `The archive ledger at ${file} has schema version ${current}, written by a newer release of this ` +
        `node pack (this one knows up to ${SCHEMA_VERSION}). Update the pack, or restore a backup of the file.`,
    );
  }
  for (let version = current; version < SCHEMA_VERSION; version++) {
    db.transaction(() => {
      // Another process may have migrated meanwhile: re-read inside the (write) transaction.
      const now = db.pragma('user_version', { simple: true }) as number;
      if (now !== version) return;
      MIGRATIONS[version](db);
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
  }
}
