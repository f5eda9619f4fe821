import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { archiveItem } from '../../lib/archive';
import { archiveEvents } from '../../lib/bus';
import type { ArchiveItem, Receipt } from '../../lib/items';
import { Ledger, SCHEMA_VERSION, type DriverName } from '../../lib/ledger';
import { loadDriver, type Database } from '../../lib/ledger/driver';
import { MIGRATIONS } from '../../lib/ledger/schema';
import type { ContentFetcher } from '../../lib/ringcentral/types';
import { FolderStorage } from '../../lib/storage/folder';

const root = resolve(__dirname, '../..');
const tmp = mkdtempSync(join(tmpdir(), 'rc-ledger-batch-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

let fileCounter = 0;
function tempFile(): string {
  const dir = join(tmp, `d${++fileCounter}`);
  mkdirSync(dir, { recursive: true });
  return join(dir, 'ledger.sqlite');
}

function record(i: number, overrides: Partial<ArchiveItem> = {}): ArchiveItem {
  return {
    key: `CallLog:${i}`,
    kind: 'CallLog',
    accountId: '1',
    createdAt: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
    fileName: `${i}.json`,
    contentType: 'application/json',
    content: { json: { id: String(i), legs: [{ pad: 'x'.repeat(1500) }] } },
    record: { id: String(i) },
    rc: 'rc',
    ...overrides,
  };
}

function receipt(path: string): Receipt {
  return {
    provider: 'folder',
    path,
    bytes: 42,
    sha256: 'ab'.repeat(32),
    archivedAt: new Date().toISOString(),
  };
}

const CHOICE: Record<DriverName, string> = { 'better-sqlite3': 'better-sqlite3', 'node:sqlite': 'node' };
const forced = process.env.RC_ARCHIVER_SQLITE?.trim();

function skipReason(driver: DriverName): string | undefined {
  if (forced && forced !== CHOICE[driver] && forced !== driver) return `RC_ARCHIVER_SQLITE=${forced}`;
  try {
    loadDriver('(probe)', CHOICE[driver]);
    return undefined;
  } catch {
    return `${driver} does not load on Node ${process.version}`;
  }
}

/** A second connection to the file, as another process would have: it sees only what is committed. */
function observer(file: string, driver: DriverName): Database {
  return loadDriver(file, CHOICE[driver]).open(file, 1000);
}

/** How many transactions other connections have committed, by SQLite's own count (data_version). */
function commitsSeenBy(db: Database): () => number {
  const start = db.pragma('data_version', { simple: true }) as number;
  // data_version changes once per commit of another connection that this one has not yet seen;
  // reading it after each step makes it count commits, as long as each step reads it.
  let last = start;
  let commits = 0;
  return () => {
    const now = db.pragma('data_version', { simple: true }) as number;
    if (now !== last) commits++;
    last = now;
    return commits;
  };
}

function statusOf(db: Database, key: string): string | undefined {
  return (db.prepare('SELECT status FROM items WHERE key = ?').get(key) as { status: string } | undefined)
    ?.status;
}

function suite(driver: DriverName): void {
  let saved: string | undefined;
  before(() => {
    saved = process.env.RC_ARCHIVER_SQLITE;
    process.env.RC_ARCHIVER_SQLITE = CHOICE[driver];
  });
  after(() => {
    if (saved === undefined) delete process.env.RC_ARCHIVER_SQLITE;
    else process.env.RC_ARCHIVER_SQLITE = saved;
  });

  it('records a listing page of 1,000 in one transaction, and a failure mid-page leaves none of it', () => {
    const file = tempFile();
    const ledger = Ledger.open(file);
    const other = observer(file, driver);
    const commits = commitsSeenBy(other);
    try {
      const page = Array.from({ length: 1000 }, (_, i) => record(i));
      const fresh = ledger.recordFound(page, 'src', { name: 'c', value: 'after page 1' });
      assert.equal(fresh.length, 1000);
      assert.equal(commits(), 1, 'one commit for the page');
      assert.equal((other.prepare('SELECT COUNT(*) AS n FROM items').get() as { n: number }).n, 1000);

      // A look-back page: 500 known, 500 new, the 700th without a kind.
      const next = Array.from({ length: 1000 }, (_, i) =>
        i === 700 ? record(500 + i, { kind: '' as never }) : record(500 + i),
      );
      assert.throws(
        () => ledger.recordFound(next, 'src', { name: 'c', value: 'after page 2' }),
        /has no kind/,
      );
      assert.equal(commits(), 1, 'nothing committed');
      assert.equal(ledger.count({}), 1000, 'none of the failed page');
      assert.equal(ledger.get('CallLog:1000'), undefined);
      assert.equal(ledger.getCursor('c'), 'after page 1', 'the cursor did not move');
      const found = other.prepare(`SELECT COUNT(*) AS n FROM events WHERE event = 'Found'`).get() as {
        n: number;
      };
      assert.equal(found.n, 1000, 'no Found event of the failed page');
    } finally {
      other.close();
      ledger.close();
    }
  });

  it("groups a sink's steps into one commit, and every read of the process sees them at once", async () => {
    const file = tempFile();
    const ledger = Ledger.open(file);
    const second = Ledger.open(file);
    const other = observer(file, driver);
    try {
      const items = Array.from({ length: 40 }, (_, i) => record(i));
      ledger.recordFound(items, 'src');
      const commits = commitsSeenBy(other);
      const changes: string[] = [];
      const listener = (e: { key: string; status: string }) => {
        // Told after the commit: the ledger already says so, to this process and to another.
        assert.equal(statusOf(other, e.key), e.status);
        changes.push(`${e.key}:${e.status}`);
      };
      archiveEvents.on('change', listener);
      const sink = ledger.grouped();
      try {
        for (const [i, item] of items.entries()) {
          sink.markAttempt(item.key, 'folder', item);
          if (i % 4 === 3) sink.markFailed(item.key, 'folder', 'disk full', item);
          else sink.markArchived(item.key, 'folder', receipt(`${i}.json`), item);
        }
        assert.equal(commits(), 0, 'nothing committed yet');
        assert.equal(statusOf(other, 'CallLog:0'), 'Pending', 'another process does not see it yet');

        // This process does, on any handle of the file: the read commits the group first.
        assert.deepEqual(second.counts(), { Pending: 0, Archived: 30, Failed: 10, Lost: 0 });
        assert.equal(commits(), 1, '80 steps, one commit');
        assert.equal(statusOf(other, 'CallLog:0'), 'Archived');
        assert.equal(ledger.get('CallLog:3')?.lastError, 'disk full');
        assert.equal(ledger.get('CallLog:0')?.receipt?.path, '0.json');
        assert.deepEqual(
          ledger.events('CallLog:0').map((e) => e.event),
          ['Found', 'Attempt', 'Archived'],
          'every step in the audit trail',
        );
        assert.equal(changes.length, 40, 'one change per item: its last state');
        assert.ok(changes.includes('CallLog:0:Archived') && changes.includes('CallLog:3:Failed'));

        // A single read of one key commits only when that key waits.
        sink.markAttempt('CallLog:0', 'folder');
        assert.equal(ledger.get('CallLog:1')?.attempts, 1);
        assert.equal(commits(), 1, 'a read of another key does not commit the group');
        assert.equal(ledger.get('CallLog:0')?.attempts, 2);
        assert.equal(commits(), 2);
      } finally {
        archiveEvents.off('change', listener);
      }
    } finally {
      other.close();
      second.close();
      ledger.close();
    }
  });

  it('commits a group by itself within the window; settled() resolves after the commit', async () => {
    const file = tempFile();
    const ledger = Ledger.open(file);
    const other = observer(file, driver);
    try {
      ledger.recordFound([record(1), record(2)], 'src');
      const sink = ledger.grouped();
      sink.markAttempt('CallLog:1', 'folder');
      sink.markArchived('CallLog:1', 'folder', receipt('1.json'));
      const waiting = sink.settled!();
      assert.equal(statusOf(other, 'CallLog:1'), 'Pending');
      await waiting;
      assert.equal(statusOf(other, 'CallLog:1'), 'Archived', 'committed when settled() resolves');
      // Nothing queued: settled at once.
      await sink.settled!();
      // markArchived on the ledger itself still commits before it returns.
      ledger.markArchived('CallLog:2', 'folder', receipt('2.json'));
      assert.equal(statusOf(other, 'CallLog:2'), 'Archived');
    } finally {
      other.close();
      ledger.close();
    }
  });

  it("an item's Attempt waits for its outcome a few turns later and shares its commit; alone, it is committed soon", async () => {
    const file = tempFile();
    const ledger = Ledger.open(file);
    const other = observer(file, driver);
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    try {
      ledger.recordFound([record(1), record(2)], 'src');
      const commits = commitsSeenBy(other);
      const sink = ledger.grouped();
      sink.markAttempt('CallLog:1', 'folder');
      // A small file's transfer: a few turns of the event loop between its two steps.
      for (let i = 0; i < 5; i++) await turn();
      assert.equal(commits(), 0, 'the Attempt alone started no commit');
      sink.markArchived('CallLog:1', 'folder', receipt('1.json'));
      await sink.settled!();
      assert.equal(commits(), 1, 'Attempt and Archived in one commit');
      assert.equal(statusOf(other, 'CallLog:1'), 'Archived');
      assert.deepEqual(
        ledger.events('CallLog:1').map((e) => e.event),
        ['Found', 'Attempt', 'Archived'],
      );

      // A long transfer: its Attempt reaches the file (and another process) without its outcome.
      sink.markAttempt('CallLog:2', 'folder');
      const attempts = () =>
        (other.prepare('SELECT attempts FROM items WHERE key = ?').get('CallLog:2') as { attempts: number })
          .attempts;
      const deadline = Date.now() + 5000;
      while (attempts() === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(attempts(), 1, 'committed on its own after a short wait');
      assert.equal(commits(), 2);
    } finally {
      other.close();
      ledger.close();
    }
  });

  it('commits the queued steps when the last handle closes', () => {
    const file = tempFile();
    const ledger = Ledger.open(file);
    ledger.recordFound([record(1)], 'src');
    ledger.grouped().markArchived('CallLog:1', 'folder', receipt('1.json'));
    ledger.close();
    const other = observer(file, driver);
    try {
      assert.equal(statusOf(other, 'CallLog:1'), 'Archived');
    } finally {
      other.close();
    }
  });

  it('records an item of a flow not ours with its first step that carries it, also behind one that does not', () => {
    const ledger = Ledger.openMemory();
    try {
      const sink = ledger.grouped();
      sink.markAttempt('CallLog:9', 'folder');
      sink.markArchived('CallLog:9', 'folder', receipt('9.json'), record(9));
      sink.markAttempt('CallLog:9', 'folder', record(9));
      const row = ledger.get('CallLog:9');
      assert.equal(row?.status, 'Archived');
      assert.equal(row?.source, undefined, 'no source of ours sends it again');
      assert.deepEqual(
        ledger.events('CallLog:9').map((e) => `${e.event}:${e.status}`),
        ['Attempt:Pending', 'Found:Pending', 'Archived:Archived', 'Attempt:Archived'],
      );
    } finally {
      ledger.close();
    }
  });

  it("writes an item's JSON once, when it is found: no step rewrites it", () => {
    const ledger = Ledger.openMemory();
    try {
      ledger.recordFound([record(1), record(2)], 'src');
      const db = ledger.database;
      db.exec(`
        CREATE TEMP TABLE data_writes (n INTEGER);
        INSERT INTO data_writes VALUES (0);
        CREATE TEMP TRIGGER count_data_writes AFTER UPDATE ON main.item_data BEGIN
          UPDATE data_writes SET n = n + 1;
        END;`);
      const sink = ledger.grouped();
      sink.markAttempt('CallLog:1', 'folder', record(1));
      sink.markArchived('CallLog:1', 'folder', receipt('1.json'), record(1));
      sink.markAttempt('CallLog:2', 'folder', record(2));
      sink.markFailed('CallLog:2', 'folder', 'boom', record(2));
      ledger.markArchived('CallLog:2', 'folder', receipt('2.json'), record(2));
      assert.equal(ledger.get('CallLog:2')?.receipt?.path, '2.json');
      assert.equal((db.prepare('SELECT n FROM data_writes').get() as { n: number }).n, 0);
    } finally {
      ledger.close();
    }
  });

  it('upgrades a ledger of schema 3: its receipts still read, new ones go to their own table', () => {
    const file = tempFile();
    const raw = loadDriver(file, CHOICE[driver]).open(file, 1000);
    for (let v = 0; v < 3; v++) MIGRATIONS[v](raw);
    raw.pragma('user_version = 3');
    raw
      .prepare(
        `INSERT INTO items (id, key, kind, status, created_at, search, first_seen_at, updated_at, path)
         VALUES (1, 'CallLog:1', 'CallLog', 'Archived', '2026-01-01T00:00:00.000Z', '', 'x', 'x', 'old/1.json')`,
      )
      .run();
    raw
      .prepare(`INSERT INTO item_data (id, item, receipt) VALUES (1, @item, @receipt)`)
      .run({ item: JSON.stringify(record(1)), receipt: JSON.stringify(receipt('old/1.json')) });
    raw.close();
    const ledger = Ledger.open(file);
    try {
      assert.equal(ledger.database.pragma('user_version', { simple: true }), SCHEMA_VERSION);
      assert.equal(ledger.get('CallLog:1')?.receipt?.path, 'old/1.json');
      ledger.markArchived('CallLog:1', 'folder', receipt('new/1.json'));
      assert.equal(ledger.get('CallLog:1')?.receipt?.path, 'new/1.json');
      assert.equal(ledger.prune({ olderThanDays: 1, now: new Date(Date.now() + 86_400_000 * 2) }).items, 1);
      const left = ledger.database.prepare('SELECT COUNT(*) AS n FROM item_receipts').get() as { n: number };
      assert.equal(left.n, 0, 'a pruned item takes its receipt along');
    } finally {
      ledger.close();
    }
  });

  // The sink as it runs: archiveItem into a folder with the grouped ledger, printing each item
  // as the flow would be told of it. Killed at a random moment between commit windows.
  const sinkChild = `
    const { Ledger } = require(${JSON.stringify(join(root, 'lib/ledger/index.ts'))});
    const { archiveItem } = require(${JSON.stringify(join(root, 'lib/archive.ts'))});
    const { FolderStorage } = require(${JSON.stringify(join(root, 'lib/storage/folder.ts'))});
    const ledger = Ledger.open(process.env.LEDGER_FILE);
    const storage = new FolderStorage(process.env.ARCHIVE_DIR);
    const items = ledger.pending('src').map((row) => row.item);
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const item = items[next++];
        await archiveItem(item, { fetcher: {}, storage, ledger, sinkName: 'folder', template: '{id}.{ext}', timeZone: 'UTC', sidecar: false });
        process.stdout.write(item.key + '\\n');
      }
    };
    for (let i = 0; i < 4; i++) worker();
  `;

  function runSinkAndKill(file: string, dir: string, afterReports: number): Promise<string[]> {
    return new Promise((resolvePromise, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '-e', sinkChild], {
        cwd: root,
        env: { ...process.env, LEDGER_FILE: file, ARCHIVE_DIR: dir },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const reported: string[] = [];
      let buffer = '';
      let stderr = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the sink made no progress: ${stderr}`));
      }, 60_000);
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.stdout.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        const lines = buffer.split('\n');
        buffer = lines.pop()!;
        reported.push(...lines);
        if (reported.length >= afterReports && !child.killed) child.kill('SIGKILL');
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        if (signal === 'SIGKILL') resolvePromise(reported);
        else reject(new Error(`the sink exited by itself (${code}): ${stderr}`));
      });
    });
  }

  it('a kill between commit windows loses nothing the flow was told was Archived; the rest is found again', async () => {
    const file = tempFile();
    const dir = join(file, '..', 'archive');
    const total = 400;
    const setup = Ledger.open(file);
    setup.recordFound(
      Array.from({ length: total }, (_, i) => record(i)),
      'src',
    );
    setup.close();

    const reported = await runSinkAndKill(file, dir, 100);
    const ledger = Ledger.open(file);
    try {
      for (const key of reported) assert.equal(ledger.get(key)?.status, 'Archived', `${key} was reported`);
      const counts = ledger.counts();
      assert.equal(counts.Archived + counts.Pending, total, 'every item Archived or still Pending');
      assert.ok(counts.Pending > 0, 'killed before the end');
      const written = readdirSync(dir).filter((f) => f.endsWith('.json'));
      // Files whose outcome was not committed yet are on disk while their item is Pending.
      assert.ok(written.length >= counts.Archived);

      // The source sends the Pending items again; a file already there is recognised, not rewritten.
      const storage = new FolderStorage(dir);
      const fetcher = {} as ContentFetcher;
      let alreadyThere = 0;
      for (const row of ledger.pending('src')) {
        const r = await archiveItem(row.item, {
          fetcher,
          storage,
          ledger,
          sinkName: 'folder',
          template: '{id}.{ext}',
          timeZone: 'UTC',
          sidecar: false,
        });
        if (r.alreadyPresent) alreadyThere++;
      }
      assert.equal(alreadyThere, written.length - counts.Archived, 'the files on disk were found again');
      assert.deepEqual(ledger.counts(), { Pending: 0, Archived: total, Failed: 0, Lost: 0 });
      assert.equal(readdirSync(dir).filter((f) => f.endsWith('.json')).length, total);
    } finally {
      ledger.close();
    }
  });
}

for (const driver of ['better-sqlite3', 'node:sqlite'] as const) {
  const skip = skipReason(driver);
  describe(`Ledger batches on ${driver}`, { skip: skip ?? false }, () => suite(driver));
}
