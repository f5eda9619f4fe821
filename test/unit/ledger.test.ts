import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ArchiveItem, Receipt } from '../../lib/items';
import { Ledger, LedgerOpenError, MAX_ERROR_LENGTH, SCHEMA_VERSION, type DriverName } from '../../lib/ledger';
import { archiveEvents } from '../../lib/bus';
import { explainOpenError, loadDriver } from '../../lib/ledger/driver';
import { MIGRATIONS } from '../../lib/ledger/schema';

const root = resolve(__dirname, '../..');
const tmp = mkdtempSync(join(tmpdir(), 'rc-ledger-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

let fileCounter = 0;
function tempFile(): string {
  return join(tmp, `d${++fileCounter}`, 'ledger.sqlite');
}

function item(id: string, overrides: Partial<ArchiveItem> = {}): ArchiveItem {
  return {
    key: `CallRecording:${id}`,
    kind: 'CallRecording',
    accountId: '111',
    extensionId: '222',
    extensionNumber: '101',
    ownerName: 'Alice Smith',
    from: '+16505550100',
    to: ['+16505550199'],
    direction: 'Inbound',
    createdAt: '2024-05-01T10:00:00.000Z',
    fileName: `${id}.mp3`,
    contentType: 'audio/mpeg',
    content: { uri: `https://media.example/recording/${id}/content` },
    record: { id: `call-${id}` },
    rc: 'rc1',
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

/** What RC_ARCHIVER_SQLITE said when the tests started: the tests then run only that driver. */
const forced = process.env.RC_ARCHIVER_SQLITE?.trim();
const CHOICE: Record<DriverName, string> = { 'better-sqlite3': 'better-sqlite3', 'node:sqlite': 'node' };

/** Why a driver cannot run in this process, or undefined when it can. */
function unavailable(driver: DriverName): string | undefined {
  try {
    loadDriver('(probe)', CHOICE[driver]);
    return undefined;
  } catch (err) {
    const cause = ((err as Error).cause ?? err) as Error;
    return `${driver} does not load on Node ${process.version} (${String(cause.message).split('\n')[0]})`;
  }
}

const nodeSqliteMissing =
  unavailable('node:sqlite') &&
  `node:sqlite is not available on Node ${process.version} (it needs 22.13 or later)`;

const crossSkip = nodeSqliteMissing ?? unavailable('better-sqlite3');

/** Why the suite of a driver is skipped. better-sqlite3 is never skipped for failing to load. */
function skipReason(driver: DriverName): string | undefined {
  if (forced && forced !== CHOICE[driver] && forced !== driver) {
    return `RC_ARCHIVER_SQLITE=${forced} runs only that driver`;
  }
  return driver === 'node:sqlite' ? nodeSqliteMissing : undefined;
}

function withDriver<T>(choice: string | undefined, fn: () => T): T {
  const saved = process.env.RC_ARCHIVER_SQLITE;
  if (choice === undefined) delete process.env.RC_ARCHIVER_SQLITE;
  else process.env.RC_ARCHIVER_SQLITE = choice;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env.RC_ARCHIVER_SQLITE;
    else process.env.RC_ARCHIVER_SQLITE = saved;
  }
}

/** The whole behaviour, once per driver: both must behave the same. */
function ledgerSuite(driver: DriverName): void {
  let saved: string | undefined;
  before(() => {
    saved = process.env.RC_ARCHIVER_SQLITE;
    // The crash test's child processes inherit it too.
    process.env.RC_ARCHIVER_SQLITE = CHOICE[driver];
  });
  after(() => {
    if (saved === undefined) delete process.env.RC_ARCHIVER_SQLITE;
    else process.env.RC_ARCHIVER_SQLITE = saved;
  });

  describe('Ledger.recordFound', () => {
    it('records new items as Pending, returns only those, and moves the cursor', () => {
      const ledger = Ledger.openMemory();
      const first = ledger.recordFound([item('1'), item('2')], 'src', { name: 'c', value: 't1' });
      assert.deepEqual(
        first.map((i) => i.key),
        ['CallRecording:1', 'CallRecording:2'],
      );
      assert.equal(ledger.getCursor('c'), 't1');

      ledger.markArchived('CallRecording:1', 'sink', receipt('a.mp3'));
      // A look-back re-reads 1 and 2; 3 is new; 3 twice in one page counts once.
      const second = ledger.recordFound([item('1'), item('2'), item('3'), item('3')], 'src', {
        name: 'c',
        value: 't2',
      });
      assert.deepEqual(
        second.map((i) => i.key),
        ['CallRecording:3'],
      );
      assert.equal(ledger.getCursor('c'), 't2');
      assert.equal(ledger.get('CallRecording:1')?.status, 'Archived', 'a known item keeps its status');

      const row = ledger.get('CallRecording:3');
      assert.ok(row);
      assert.equal(row.status, 'Pending');
      assert.equal(row.attempts, 0);
      assert.equal(row.source, 'src');
      assert.equal(row.kind, 'CallRecording');
      assert.deepEqual(row.item, item('3'));
      assert.ok(row.firstSeenAt && row.updatedAt);
      assert.equal(ledger.recordFound([], 'src', { name: 'c', value: 't3' }).length, 0);
      assert.equal(ledger.getCursor('c'), 't3');
      ledger.close();
    });

    it('changes nothing, items or cursor, when the transaction fails half way', () => {
      const ledger = Ledger.openMemory();
      ledger.recordFound([item('1')], 'src', { name: 'c', value: 'before' });
      // JSON.stringify throws on a BigInt: the third item fails after two were inserted.
      const poisoned = item('bad', { record: { id: 1n } });
      assert.throws(() =>
        ledger.recordFound([item('2'), item('3'), poisoned, item('4')], 'src', { name: 'c', value: 'after' }),
      );
      assert.equal(ledger.getCursor('c'), 'before');
      assert.equal(ledger.get('CallRecording:2'), undefined);
      assert.equal(ledger.get('CallRecording:3'), undefined);
      assert.deepEqual(ledger.counts(), { Pending: 1, Archived: 0, Failed: 0, Lost: 0 });
      assert.deepEqual(ledger.events('CallRecording:2'), []);

      const keyless = { ...item('5'), key: '' };
      assert.throws(
        () => ledger.recordFound([item('6'), keyless], 'src', { name: 'c', value: 'after' }),
        /without a key/,
      );
      assert.equal(ledger.get('CallRecording:6'), undefined);
      assert.equal(ledger.getCursor('c'), 'before');
      ledger.close();
    });
  });

  describe('Ledger status transitions', () => {
    it('counts attempts, stores errors and receipts, and writes every step to the audit trail', () => {
      const ledger = Ledger.openMemory();
      const key = 'CallRecording:1';
      ledger.recordFound([item('1')], 'src');

      assert.equal(ledger.markAttempt(key, 'sftp'), true);
      assert.equal(ledger.get(key)?.attempts, 1);
      assert.equal(ledger.get(key)?.sink, 'sftp');

      ledger.markFailed(key, 'sftp', `timeout ${'x'.repeat(5000)}`);
      let row = ledger.get(key)!;
      assert.equal(row.status, 'Failed');
      assert.ok(row.lastError?.startsWith('timeout'));
      assert.equal(row.lastError?.length, MAX_ERROR_LENGTH);

      ledger.markAttempt(key, 'sftp');
      row = ledger.get(key)!;
      assert.equal(row.status, 'Pending', 'a retry in progress is Pending again (resent after a crash)');
      assert.equal(row.attempts, 2);

      const r = receipt('RingCentral Archiver/a.mp3');
      ledger.markArchived(key, 'sftp', r);
      row = ledger.get(key)!;
      assert.equal(row.status, 'Archived');
      assert.deepEqual(row.receipt, r);
      assert.equal(row.lastError, undefined);
      assert.equal(row.attempts, 2);

      ledger.markAttempt(key, 'sftp');
      assert.equal(ledger.get(key)?.status, 'Archived', 'an attempt never downgrades an Archived item');

      const events = ledger.events(key);
      assert.deepEqual(
        events.map((e) => [e.event, e.status, e.sink ?? e.source]),
        [
          ['Found', 'Pending', 'src'],
          ['Attempt', 'Pending', 'sftp'],
          ['Failed', 'Failed', 'sftp'],
          ['Attempt', 'Pending', 'sftp'],
          ['Archived', 'Archived', 'sftp'],
          ['Attempt', 'Archived', 'sftp'],
        ],
      );
      assert.ok(events[2].message?.startsWith('timeout'));
      assert.match(events[4].message ?? '', /folder:RingCentral Archiver\/a\.mp3, 42 bytes, sha256 abab/);
      assert.ok(events.every((e, i) => i === 0 || e.id > events[i - 1].id));
      ledger.close();
    });

    it('records an item it did not know when the sink passes it, and audits an unknown key otherwise', () => {
      const ledger = Ledger.openMemory();
      const foreign = item('f1');
      assert.equal(ledger.markAttempt(foreign.key, 'box', foreign), true);
      assert.equal(ledger.markArchived(foreign.key, 'box', receipt('f1.mp3'), foreign), true);
      const row = ledger.get(foreign.key)!;
      assert.equal(row.status, 'Archived');
      assert.equal(row.source, undefined, 'no source of ours resends it');
      assert.equal(row.attempts, 1);
      assert.deepEqual(
        ledger.events(foreign.key).map((e) => e.event),
        ['Found', 'Attempt', 'Archived'],
      );
      assert.deepEqual(ledger.pending(), []);

      const other = item('f2');
      ledger.markFailed(other.key, 'box', 'quota exceeded', other);
      assert.equal(ledger.get(other.key)?.status, 'Failed');
      assert.equal(ledger.get(other.key)?.lastError, 'quota exceeded');

      assert.equal(ledger.markFailed('CallRecording:ghost', 'box', 'nope'), false);
      assert.equal(ledger.get('CallRecording:ghost'), undefined);
      const [ghost] = ledger.events('CallRecording:ghost');
      assert.equal(ghost.event, 'Failed');
      assert.match(ghost.message ?? '', /not in the ledger.*nope/);

      assert.throws(
        () => ledger.markArchived('CallRecording:x', 'box', receipt('x'), item('y')),
        /given for key/,
      );

      assert.equal(ledger.upsert(item('u'), 'src'), true);
      assert.equal(ledger.upsert(item('u'), 'src'), false);
      assert.equal(ledger.get('CallRecording:u')?.source, 'src');
      ledger.close();
    });

    it('marks an item Lost with the reason, counts and queries it, and a later attempt may still archive it', () => {
      const ledger = Ledger.openMemory();
      ledger.recordFound([item('1'), item('2')], 'src');
      ledger.markAttempt('CallRecording:1', 'sink');
      assert.equal(ledger.markLost('CallRecording:1', 'sink', 'gone (404)'), true);
      const row = ledger.get('CallRecording:1')!;
      assert.equal(row.status, 'Lost');
      assert.equal(row.lastError, 'gone (404)');
      assert.equal(row.sink, 'sink');
      assert.deepEqual(
        ledger.events('CallRecording:1').map((e) => [e.event, e.status]),
        [
          ['Found', 'Pending'],
          ['Attempt', 'Pending'],
          ['Lost', 'Lost'],
        ],
      );
      assert.equal(ledger.events('CallRecording:1')[2].message, 'gone (404)');
      assert.deepEqual(ledger.counts(), { Pending: 1, Archived: 0, Failed: 0, Lost: 1 });
      assert.deepEqual(ledger.counts('src'), { Pending: 1, Archived: 0, Failed: 0, Lost: 1 });
      assert.deepEqual(
        ledger.query({ status: 'Lost' }).map((r) => r.key),
        ['CallRecording:1'],
      );
      assert.equal(ledger.count({ status: 'Lost' }), 1);
      assert.deepEqual(
        ledger.pending().map((r) => r.key),
        ['CallRecording:2'],
        'a Lost item is not sent again on start',
      );
      // The source finds it again in a look-back: known, so not new.
      assert.deepEqual(ledger.recordFound([item('1')], 'src'), []);
      // A foreign item is recorded first.
      const foreign = item('f');
      assert.equal(ledger.markLost(foreign.key, 'box', 'gone', foreign), true);
      assert.equal(ledger.get(foreign.key)?.status, 'Lost');
      // A manual retry: the attempt makes it Pending again, a success Archived.
      ledger.markAttempt('CallRecording:1', 'sink');
      assert.equal(ledger.get('CallRecording:1')?.status, 'Pending');
      ledger.markArchived('CallRecording:1', 'sink', receipt('1.mp3'));
      assert.equal(ledger.get('CallRecording:1')?.status, 'Archived');
      ledger.close();
    });

    it('migrates a schema 1 ledger to one that accepts Lost, keeping its rows', () => {
      const file = tempFile();
      mkdirSync(join(file, '..'), { recursive: true });
      const raw = loadDriver(file).open(file, 1000);
      raw
        .transaction(() => {
          MIGRATIONS[0](raw);
          raw.pragma('user_version = 1');
        })
        .immediate();
      const insert = raw.prepare(`
        INSERT INTO items (key, kind, status, attempts, item, source, created_at, search, first_seen_at, updated_at)
        VALUES (@key, 'CallRecording', @status, 0, @item, 'src', @at, @key, @at, @at)`);
      const at = '2024-05-01T10:00:00.000Z';
      for (const id of ['1', '2'])
        insert.run({ key: `CallRecording:${id}`, status: 'Pending', item: JSON.stringify(item(id)), at });
      assert.throws(() =>
        insert.run({ key: 'CallRecording:3', status: 'Lost', item: JSON.stringify(item('3')), at }),
      );
      raw.close();
      const ledger = Ledger.open(file);
      assert.equal(ledger.database.pragma('user_version', { simple: true }), SCHEMA_VERSION);
      assert.deepEqual(ledger.counts(), { Pending: 2, Archived: 0, Failed: 0, Lost: 0 });
      ledger.markLost('CallRecording:1', 'sink', 'gone');
      assert.equal(ledger.get('CallRecording:1')?.status, 'Lost');
      assert.equal(ledger.get('CallRecording:2')?.status, 'Pending');
      ledger.close();
    });
  });

  describe('Ledger reads', () => {
    function seeded(): Ledger {
      const ledger = Ledger.openMemory();
      ledger.recordFound(
        [
          item('a', { createdAt: '2024-05-03T00:00:00Z' }),
          item('b', { createdAt: '2024-05-01T00:00:00Z', ownerName: 'Zoë Brontë' }),
          item('c', {
            createdAt: '2024-05-02T00:00:00Z',
            kind: 'Voicemail',
            key: 'Voicemail:c',
            from: '+442071234567',
          }),
          item('d', { createdAt: '2024-05-01T00:00:00Z' }),
        ],
        'src1',
      );
      ledger.recordFound(
        [item('e', { createdAt: '2024-04-30T23:00:00+02:00', kind: 'Fax', key: 'Fax:e', ownerName: 'Bob' })],
        'src2',
      );
      ledger.markArchived('CallRecording:a', 'sink', receipt('a'));
      ledger.markFailed('CallRecording:d', 'sink', 'boom');
      return ledger;
    }

    it('lists Pending items oldest first, of one source when asked', () => {
      const ledger = seeded();
      assert.deepEqual(
        ledger.pending().map((r) => r.key),
        ['Fax:e', 'CallRecording:b', 'Voicemail:c'],
      );
      assert.deepEqual(
        ledger.pending('src1').map((r) => r.key),
        ['CallRecording:b', 'Voicemail:c'],
      );
      assert.deepEqual(ledger.pending('nobody'), []);
      ledger.close();
    });

    it('filters queries by status, kind, source, text and time, newest first, with paging', () => {
      const ledger = seeded();
      const keys = (q: Parameters<Ledger['query']>[0]) => ledger.query(q).map((r) => r.key);
      assert.deepEqual(keys({}), [
        'CallRecording:a',
        'Voicemail:c',
        'CallRecording:d',
        'CallRecording:b',
        'Fax:e',
      ]);
      assert.deepEqual(keys({ status: 'Pending' }), ['Voicemail:c', 'CallRecording:b', 'Fax:e']);
      assert.deepEqual(keys({ status: 'Failed' }), ['CallRecording:d']);
      assert.deepEqual(keys({ kind: 'Voicemail' }), ['Voicemail:c']);
      assert.deepEqual(keys({ source: 'src2' }), ['Fax:e']);
      assert.deepEqual(keys({ text: 'zoË' }), ['CallRecording:b'], 'case-insensitive, Unicode');
      assert.deepEqual(keys({ text: '2071234' }), ['Voicemail:c'], 'matches the caller number');
      assert.deepEqual(keys({ text: 'fax:' }), ['Fax:e'], 'matches the key');
      assert.deepEqual(keys({ text: '%' }), [], 'no wildcards');
      // createdAt with an offset is stored in UTC: 2024-04-30T21:00Z.
      assert.deepEqual(keys({ since: '2024-05-01T00:00:00Z' }), [
        'CallRecording:a',
        'Voicemail:c',
        'CallRecording:d',
        'CallRecording:b',
      ]);
      assert.deepEqual(keys({ since: '2024-05-01', until: '2024-05-03' }), [
        'Voicemail:c',
        'CallRecording:d',
        'CallRecording:b',
      ]);
      assert.deepEqual(keys({ until: '2024-05-01T00:00:00.000Z' }), ['Fax:e']);
      assert.deepEqual(keys({ status: 'Pending', source: 'src1', since: '2024-05-02' }), ['Voicemail:c']);
      assert.deepEqual(keys({ limit: 2 }), ['CallRecording:a', 'Voicemail:c']);
      assert.deepEqual(keys({ limit: 2, offset: 2 }), ['CallRecording:d', 'CallRecording:b']);
      assert.deepEqual(keys({ limit: 2, offset: 4 }), ['Fax:e']);
      assert.equal(ledger.count({ status: 'Pending' }), 3);
      assert.equal(ledger.count({ text: 'alice', limit: 1 }), 3);
      ledger.close();
    });

    it('counts items by status, of one source when asked', () => {
      const ledger = seeded();
      assert.deepEqual(ledger.counts(), { Pending: 3, Archived: 1, Failed: 1, Lost: 0 });
      assert.deepEqual(ledger.counts('src1'), { Pending: 2, Archived: 1, Failed: 1, Lost: 0 });
      assert.deepEqual(ledger.counts('src2'), { Pending: 1, Archived: 0, Failed: 0, Lost: 0 });
      assert.deepEqual(ledger.counts('none'), { Pending: 0, Archived: 0, Failed: 0, Lost: 0 });
      ledger.close();
    });

    it('keeps cursors', () => {
      const ledger = Ledger.openMemory();
      assert.equal(ledger.getCursor('x'), undefined);
      ledger.setCursor('x', '2024-05-01T00:00:00.000Z');
      ledger.setCursor('x', '2024-05-02T00:00:00.000Z');
      ledger.setCursor('y', 'other');
      assert.equal(ledger.getCursor('x'), '2024-05-02T00:00:00.000Z');
      assert.equal(ledger.getCursor('y'), 'other');
      ledger.close();
    });
  });

  describe('Ledger retention', () => {
    it('prunes old Archived items and events, keeps what is still to do', () => {
      const ledger = Ledger.openMemory();
      ledger.recordFound([item('1'), item('2'), item('3')], 'src');
      ledger.markArchived('CallRecording:1', 's', receipt('1'));
      ledger.markFailed('CallRecording:2', 's', 'boom');

      assert.deepEqual(ledger.prune({}), { items: 0, events: 0 }, 'default: never');
      assert.deepEqual(ledger.prune({ olderThanDays: 0 }), { items: 0, events: 0 });
      assert.deepEqual(
        ledger.prune({ olderThanDays: 30 }),
        { items: 0, events: 0 },
        'nothing is that old yet',
      );

      const later = new Date(Date.now() + 31 * 86_400_000);
      assert.deepEqual(ledger.prune({ olderThanDays: 30, now: later }), { items: 1, events: 2 });
      assert.equal(ledger.get('CallRecording:1'), undefined);
      assert.deepEqual(ledger.events('CallRecording:1'), []);
      assert.equal(ledger.get('CallRecording:2')?.status, 'Failed');
      assert.equal(ledger.events('CallRecording:2').length, 2);
      assert.equal(ledger.events('CallRecording:3').length, 1);
      assert.deepEqual(ledger.counts(), { Pending: 1, Archived: 0, Failed: 1, Lost: 0 });
      ledger.close();
    });
  });

  describe('Ledger archive log', () => {
    const day = (d: number, h = 10) => new Date(Date.UTC(2024, 4, d, h)).toISOString();
    /** 30 items over 10 days: three kinds, a third Archived, a third Failed, the rest Pending. */
    function filled(): Ledger {
      const ledger = Ledger.openMemory();
      const items: ArchiveItem[] = [];
      for (let i = 0; i < 30; i++) {
        const kind = (['CallRecording', 'Voicemail', 'SMS'] as const)[i % 3];
        items.push(item(`${i}`, { key: `${kind}:${i}`, kind, createdAt: day(1 + (i % 10), i % 24) }));
      }
      ledger.recordFound(items, 'src');
      for (let i = 0; i < 30; i++) {
        const key = items[i].key;
        if (i % 3 === 0) ledger.markArchived(key, 'sink', { ...receipt(`p/${i}`), bytes: i });
        else if (i % 3 === 1) ledger.markFailed(key, 'sink', `boom ${i}`);
      }
      return ledger;
    }
    const keysOf = (rows: { key: string }[]) => rows.map((r) => r.key);

    it('pages a filter newest first with the total, the same rows as the full query', () => {
      const ledger = filled();
      const all = ledger.query({ limit: 100 }).map((r) => r.key);
      const pages = [1, 2, 3, 4].flatMap((p) => keysOf(ledger.page({}, p, 8).rows));
      assert.deepEqual(pages, all, 'pages of 8 together are the newest-first list');
      assert.equal(ledger.page({}, 1, 8).total, 30);
      assert.equal(ledger.page({}, 5, 8).rows.length, 0, 'past the end: empty, still with the total');

      const failedVoicemail = ledger.page({ kind: 'Voicemail', status: 'Failed' }, 1, 25);
      assert.equal(failedVoicemail.total, ledger.count({ kind: 'Voicemail', status: 'Failed' }));
      assert.ok(failedVoicemail.rows.every((r) => r.kind === 'Voicemail' && r.status === 'Failed'));
      assert.ok(failedVoicemail.total > 0);

      const range = ledger.page({ since: day(3, 0), until: day(5, 0) }, 1, 100);
      assert.ok(range.rows.every((r) => r.createdAt >= day(3, 0) && r.createdAt < day(5, 0)));
      assert.equal(range.total, ledger.count({ since: day(3, 0), until: day(5, 0) }));
      assert.equal(range.total, 6);
      ledger.close();
    });

    it('counts every filter exactly, also ranges that cut days and after deletes and changes', () => {
      const ledger = filled();
      ledger.markArchived('Voicemail:1', 'sink', receipt('again'));
      ledger.markLost('SMS:2', 'sink', 'gone');
      ledger.prune({ olderThanDays: 1, now: new Date(Date.now() + 2 * 86_400_000) });
      ledger.recordFound(
        [item('x', { createdAt: 'not a date' }), item('y', { createdAt: day(4, 0) })],
        'src',
      );
      const cuts = [undefined, day(2, 0), day(3, 7), day(4, 0), day(4, 1), '2024-05-06', day(11, 0)];
      for (const since of cuts)
        for (const until of cuts)
          for (const status of [undefined, 'Failed', 'Pending', 'Lost'] as const)
            for (const kind of [undefined, 'Voicemail'] as const) {
              const f = { since, until, status, kind };
              const expected = ledger.count(f);
              const { total, rows } = ledger.page(f, 1, 100);
              assert.equal(total, expected, JSON.stringify(f));
              assert.equal(rows.length, expected, JSON.stringify(f));
              // Every page of 3, deep ones included, is the same list.
              const paged = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].flatMap((p) => keysOf(ledger.page(f, p, 3).rows));
              assert.deepEqual(paged, keysOf(rows), JSON.stringify(f));
            }
      ledger.close();
    });

    it('shows what the sidebar needs without the item JSON: parties, archive facts, the error', () => {
      const ledger = filled();
      const [archived] = ledger.rowsOf(['CallRecording:3']);
      assert.equal(archived.status, 'Archived');
      assert.equal(archived.storage, 'folder');
      assert.equal(archived.path, 'p/3');
      assert.equal(archived.bytes, 3);
      assert.equal(archived.sha256, 'ab'.repeat(32));
      assert.ok(archived.archivedAt && Date.parse(archived.archivedAt) > 0);
      assert.equal(archived.from, '+16505550100');
      assert.equal(archived.to, '+16505550199');
      assert.equal(archived.owner, 'Alice Smith');
      const [failed] = ledger.rowsOf(['Voicemail:1']);
      assert.equal(failed.lastError, 'boom 1');
      assert.equal(failed.archivedAt, undefined);
      assert.deepEqual(keysOf(ledger.rowsOf(['SMS:2', 'nope', 'CallRecording:0'])), [
        'SMS:2',
        'CallRecording:0',
      ]);
      ledger.close();
    });

    it('iterates every row of a filter in batches, in page order, ties broken by insertion', () => {
      const ledger = Ledger.openMemory();
      // Many items with one createdAt: the keyset must not skip or repeat across batch edges.
      ledger.recordFound(
        Array.from({ length: 23 }, (_, i) => item(`same${i}`, { createdAt: day(2) })),
        'src',
      );
      ledger.recordFound([item('older', { createdAt: day(1) }), item('newer', { createdAt: day(3) })], 'src');
      const iterated = keysOf([...ledger.iterate({}, 4)]);
      assert.deepEqual(iterated, keysOf(ledger.page({}, 1, 100).rows));
      assert.equal(new Set(iterated).size, 25);
      assert.equal(iterated[0], 'CallRecording:newer');
      assert.equal(iterated.at(-1), 'CallRecording:older');
      assert.deepEqual(keysOf([...ledger.iterate({ since: day(3) }, 4)]), ['CallRecording:newer']);
      ledger.close();
    });

    it('keeps the retry schedule: due, waiting, cleared, reset by an archive, exhausted', () => {
      const ledger = filled();
      ledger.scheduleRetry('Voicemail:1', 'retry1', '2030-01-01T00:05:00.000Z', 1);
      ledger.scheduleRetry('SMS:5', 'retry1', '2030-01-01T00:20:00.000Z', 2);
      ledger.scheduleRetry('CallRecording:4', 'retry2', '2030-01-01T00:01:00.000Z', 1);
      assert.deepEqual(ledger.waitingRetries('retry1'), { count: 2, next: '2030-01-01T00:05:00.000Z' });
      assert.deepEqual(ledger.dueRetries('retry1', '2030-01-01T00:04:59.000Z'), []);
      assert.deepEqual(ledger.dueRetries('retry1', '2030-01-01T00:30:00.000Z'), [
        { key: 'Voicemail:1', retryAt: '2030-01-01T00:05:00.000Z', retries: 1 },
        { key: 'SMS:5', retryAt: '2030-01-01T00:20:00.000Z', retries: 2 },
      ]);
      ledger.clearRetry('Voicemail:1');
      const [sent] = ledger.rowsOf(['Voicemail:1']);
      assert.equal(sent.retryAt, undefined);
      assert.equal(sent.retries, 1, 'clearing keeps the count of tries');
      assert.equal(sent.retryNode, 'retry1');
      assert.deepEqual(ledger.waitingRetries('retry1'), { count: 1, next: '2030-01-01T00:20:00.000Z' });

      ledger.markArchived('SMS:5', 'sink', receipt('x'));
      const [archived] = ledger.rowsOf(['SMS:5']);
      assert.equal(archived.retries, 0);
      assert.equal(archived.retryAt, undefined);
      assert.deepEqual(ledger.waitingRetries('retry1'), { count: 0 });

      ledger.scheduleRetry('Voicemail:1', 'retry1', '2030-01-01T01:00:00.000Z', 3);
      ledger.clearRetry('Voicemail:1');
      assert.equal(ledger.exhaustedRetries('retry1', 3), 1, 'three tries sent, still Failed');
      assert.equal(ledger.exhaustedRetries('retry1', 4), 0);
      ledger.resetRetries('Voicemail:1');
      assert.equal(ledger.rowsOf(['Voicemail:1'])[0].retries, 0);
      assert.equal(ledger.exhaustedRetries('retry1', 3), 0);
      ledger.close();
    });

    it('tells listeners in this process about every status change, after the commit', () => {
      const ledger = Ledger.openMemory();
      const seen: string[] = [];
      const listener = (e: { key: string; status: string }) => {
        // The ledger already says what the event says.
        assert.equal(ledger.get(e.key)?.status, e.status);
        seen.push(`${e.key}:${e.status}`);
      };
      archiveEvents.on('change', listener);
      try {
        ledger.recordFound([item('1'), item('2')], 'src');
        ledger.markAttempt('CallRecording:1', 's');
        ledger.markArchived('CallRecording:1', 's', receipt('1'));
        ledger.markFailed('CallRecording:2', 's', 'x');
        ledger.markLost('CallRecording:2', 's', 'gone');
        ledger.recordFound([item('1')], 'src');
      } finally {
        archiveEvents.off('change', listener);
      }
      assert.deepEqual(seen, [
        'CallRecording:1:Pending',
        'CallRecording:2:Pending',
        'CallRecording:1:Pending',
        'CallRecording:1:Archived',
        'CallRecording:2:Failed',
        'CallRecording:2:Lost',
      ]);
      ledger.close();
    });

    it('moves an older ledger file to the archive-log schema with its receipts', () => {
      const file = tempFile();
      mkdirSync(join(file, '..'), { recursive: true });
      const raw = withDriver(CHOICE[driver], () => loadDriver(file).open(file, 1000));
      for (let v = 0; v < 2; v++) MIGRATIONS[v](raw);
      raw.pragma('user_version = 2');
      raw
        .prepare(
          `INSERT INTO items (key, kind, status, item, created_at, search, first_seen_at, updated_at, receipt)
           VALUES ('CallRecording:9', 'CallRecording', 'Archived', @item, '2024-05-01T10:00:00.000Z', '', 'x', 'x', @receipt)`,
        )
        .run({ item: JSON.stringify(item('9')), receipt: JSON.stringify(receipt('old/9.mp3')) });
      raw.close();
      const ledger = Ledger.open(file);
      const [row] = ledger.rowsOf(['CallRecording:9']);
      assert.equal(row.path, 'old/9.mp3');
      assert.equal(row.storage, 'folder');
      assert.equal(row.bytes, 42);
      assert.equal(row.retries, 0);
      ledger.close();
    });
  });

  describe('Ledger.open', () => {
    it('creates the folder, uses WAL and the current schema version', () => {
      const file = tempFile();
      const ledger = Ledger.open(file);
      assert.equal(ledger.driver, driver);
      assert.equal(ledger.file, file);
      const db = ledger.database;
      assert.equal(db.name, file);
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(db.pragma('synchronous', { simple: true }), 1, 'NORMAL');
      assert.equal(db.pragma('busy_timeout', { simple: true }), 10_000);
      assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
      assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
      const [row] = db.pragma('user_version') as { user_version: number }[];
      assert.equal(row.user_version, SCHEMA_VERSION, 'without simple: the rows');
      ledger.close();
    });

    it('runs transactions as better-sqlite3 does: immediate, undone on error, nested as savepoints', () => {
      const ledger = Ledger.openMemory();
      const db = ledger.database;
      db.exec('CREATE TABLE t (v TEXT)');
      const insert = db.prepare('INSERT INTO t (v) VALUES (@v)');
      const values = () =>
        (db.prepare('SELECT v FROM t ORDER BY rowid').all() as { v: string }[]).map((r) => r.v);
      const inTransaction = () => {
        // BEGIN fails inside a transaction: shows that one is open.
        try {
          db.exec('BEGIN');
        } catch {
          return true;
        }
        db.exec('ROLLBACK');
        return false;
      };
      const result = db
        .transaction(() => {
          assert.equal(inTransaction(), true);
          assert.deepEqual(
            insert.run({ v: 'a', unused: 1 }).changes,
            1,
            'extra named parameters are ignored',
          );
          assert.throws(
            () =>
              db
                .transaction(() => {
                  insert.run({ v: 'b' });
                  throw new Error('inner');
                })
                .immediate(),
            /inner/,
          );
          db.transaction(() => insert.run({ v: 'c' })).immediate();
          return 'done';
        })
        .immediate();
      assert.equal(result, 'done');
      assert.equal(inTransaction(), false);
      assert.deepEqual(values(), ['a', 'c'], 'the failed inner one alone was undone');
      assert.throws(
        () =>
          db
            .transaction(() => {
              insert.run({ v: 'd' });
              db.transaction(() => insert.run({ v: 'e' })).immediate();
              throw new Error('outer');
            })
            .immediate(),
        /outer/,
      );
      assert.deepEqual(values(), ['a', 'c'], 'the outer one undoes its nested ones');
      assert.equal(inTransaction(), false);
      const run = insert.run({ v: 'f' });
      assert.equal(run.changes, 1);
      assert.equal(Number(run.lastInsertRowid), 3);
      assert.equal(db.prepare('SELECT v FROM t WHERE v = ?').get('zzz'), undefined);
      ledger.close();
      assert.equal(db.open, false);
    });

    it('shares one connection per file and closes it with the last handle', () => {
      const file = tempFile();
      const a = Ledger.open(file);
      const b = Ledger.open(relative(process.cwd(), file));
      assert.notEqual(a, b);
      assert.equal(a.database, b.database, 'one connection');
      a.recordFound([item('1')], 'src', { name: 'c', value: 'v' });
      assert.equal(b.get('CallRecording:1')?.status, 'Pending');

      a.close();
      a.close(); // idempotent: must not close the connection under b
      assert.equal(a.closed, true);
      assert.throws(() => a.get('CallRecording:1'), /closed/);
      assert.equal(b.getCursor('c'), 'v');
      assert.ok(Ledger.openFiles().includes(file));
      const db = b.database;
      b.close();
      assert.equal(db.open, false);
      assert.ok(!Ledger.openFiles().includes(file));

      const c = Ledger.open(file);
      assert.notEqual(c.database, db, 'a new connection after the last close');
      assert.equal(c.getCursor('c'), 'v', 'data persists');
      c.close();
    });

    it('refuses a ledger written by a newer schema', () => {
      const file = tempFile();
      const ledger = Ledger.open(file);
      ledger.database.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
      ledger.close();
      assert.throws(
        () => Ledger.open(file),
        (err: Error) => {
          assert.match(err.message, /newer release/);
          assert.ok(err.message.includes(file));
          return true;
        },
      );
      assert.ok(!Ledger.openFiles().includes(file));
    });

    it('says which file cannot be opened and why', () => {
      const blocker = join(tmp, 'a-file');
      writeFileSync(blocker, 'x');
      const underFile = join(blocker, 'ledger.sqlite');
      assert.throws(
        () => Ledger.open(underFile),
        (err: Error) => {
          assert.ok(err.message.includes(underFile), err.message);
          assert.match(err.message, /Cannot open the archive ledger/);
          assert.ok(err instanceof LedgerOpenError);
          return true;
        },
      );

      const notDb = join(tmp, 'not-a-db.sqlite');
      writeFileSync(
        notDb,
        'this is not a database, just text that is long enough to have a header.'.repeat(20),
      );
      assert.throws(
        () => Ledger.open(notDb),
        (err: Error) => {
          assert.ok(err.message.includes(notDb), err.message);
          assert.match(err.message, /not an SQLite database/);
          return true;
        },
      );
      assert.throws(() => Ledger.open(''), /needs a file path/);
    });
  });

  describe('Ledger crash safety', () => {
    const BATCH = 25;
    const childCode = `
    const { Ledger } = require(${JSON.stringify(join(root, 'lib/ledger/index.ts'))});
    const ledger = Ledger.open(process.env.LEDGER_FILE);
    let batch = Number(ledger.getCursor('crash') ?? -1) + 1;
    const step = () => {
      for (let n = 0; n < 20; n++, batch++) {
        const items = [];
        for (let i = 0; i < ${BATCH}; i++) {
          items.push({
            key: 'CallRecording:' + batch + '-' + i, kind: 'CallRecording', accountId: '1',
            createdAt: new Date(Date.UTC(2024, 0, 1) + batch * 60000 + i).toISOString(),
            fileName: 'x.mp3', contentType: 'audio/mpeg', content: { uri: 'u' },
            record: { pad: 'x'.repeat(2000) }, rc: 'rc',
          });
        }
        ledger.recordFound(items, 'crash-src', { name: 'crash', value: String(batch) });
        if (batch > 0) {
          const previous = 'CallRecording:' + (batch - 1) + '-0';
          ledger.markAttempt(previous, 'sink');
          ledger.markArchived(previous, 'sink', { provider: 'folder', path: previous, bytes: 1, sha256: 'a', archivedAt: 'now' });
        }
        process.stdout.write(batch + '\\n');
      }
      setImmediate(step);
    };
    step();
  `;

    function runAndKill(file: string, minBatches: number): Promise<number> {
      return new Promise((resolvePromise, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '-e', childCode], {
          cwd: root,
          env: { ...process.env, LEDGER_FILE: file },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let lastReported = -1;
        let seen = 0;
        let stderr = '';
        let buffer = '';
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`the writer made no progress: ${stderr}`));
        }, 60_000);
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.stdout.on('data', (chunk: Buffer) => {
          buffer += chunk.toString();
          const lines = buffer.split('\n');
          buffer = lines.pop()!;
          for (const line of lines) {
            lastReported = Number(line);
            seen++;
          }
          // Killed while it is writing: almost surely in the middle of a transaction.
          if (seen >= minBatches && child.exitCode === null && !child.killed) child.kill('SIGKILL');
        });
        child.on('exit', (code, signal) => {
          clearTimeout(timer);
          if (signal === 'SIGKILL') resolvePromise(lastReported);
          else reject(new Error(`the writer exited by itself (${code}): ${stderr}`));
        });
      });
    }

    it('loses no committed transaction and stays consistent when the process is killed', async () => {
      const file = tempFile();
      mkdirSync(join(file, '..'), { recursive: true });
      let previousCursor = -1;
      for (let round = 0; round < 5; round++) {
        const reported = await runAndKill(file, 100);
        const ledger = Ledger.open(file);
        const db = ledger.database;
        assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
        const cursor = Number(ledger.getCursor('crash'));
        assert.ok(
          cursor >= reported,
          `cursor ${cursor} is behind what the writer reported committed (${reported})`,
        );
        assert.ok(cursor > previousCursor, 'the writer made progress this round');
        // The items and the cursor moved together: exactly the batches up to the cursor are there.
        const total = ledger.count({});
        assert.equal(total, (cursor + 1) * BATCH);
        const { maxBatch } = db
          .prepare(
            `SELECT MAX(CAST(substr(key, 15, instr(substr(key, 15), '-') - 1) AS INTEGER)) AS maxBatch FROM items`,
          )
          .get() as { maxBatch: number };
        assert.equal(maxBatch, cursor);
        const found = db.prepare(`SELECT COUNT(*) AS n FROM events WHERE event = 'Found'`).get() as {
          n: number;
        };
        assert.equal(found.n, total, 'one Found event per item');
        const archived = ledger.counts().Archived;
        // Each batch archives the first item of the one before; a kill between the two may skip one.
        assert.ok(
          archived <= cursor && archived >= cursor - 1 - round,
          `archived ${archived}, cursor ${cursor}`,
        );
        const badReceipts = db
          .prepare(
            `SELECT COUNT(*) AS n FROM items i JOIN item_data d ON d.id = i.id
             LEFT JOIN item_receipts r ON r.id = i.id
             WHERE i.status = 'Archived' AND (COALESCE(r.receipt, d.receipt) IS NULL OR i.archived_at IS NULL)`,
          )
          .get() as { n: number };
        assert.equal(badReceipts.n, 0);
        previousCursor = cursor;
        ledger.close();
      }
    });
  });
}

for (const driver of ['better-sqlite3', 'node:sqlite'] as const) {
  const skip = skipReason(driver);
  describe(`Ledger on ${driver}`, { skip: skip ?? false }, () => ledgerSuite(driver));
}

describe('Ledger driver choice', () => {
  // In a fresh process whose better-sqlite3 fails as it does after an install that skipped its
  // build script: with a wrong or missing native module, or with the package missing.
  const fallbackChild = `
    const Module = require('node:module');
    const realLoad = Module._load;
    Module._load = function (request, ...rest) {
      if (request !== 'better-sqlite3') return realLoad.call(this, request, ...rest);
      if (process.env.FAKE === 'missing') {
        throw Object.assign(new Error("Cannot find module 'better-sqlite3'\\nRequire stack: x"), { code: 'MODULE_NOT_FOUND' });
      }
      // The package loads; its native module fails with the first connection.
      return function Database() {
        throw Object.assign(
          new Error('The module better_sqlite3.node was compiled against a different Node.js version using NODE_MODULE_VERSION 115.'),
          { code: 'ERR_DLOPEN_FAILED' },
        );
      };
    };
    const { Ledger } = require(${JSON.stringify(join(root, 'lib/ledger/index.ts'))});
    try {
      const ledger = Ledger.open(process.env.LEDGER_FILE);
      ledger.recordFound([${JSON.stringify(item('1'))}], 'src', { name: 'c', value: 'v' });
      console.log(JSON.stringify({ driver: ledger.driver }));
      ledger.close();
    } catch (err) {
      console.log(JSON.stringify({ name: err.name, message: err.message }));
    }
  `;

  for (const fake of ['wrong-abi', 'missing']) {
    it(`uses Node's built-in SQLite when better-sqlite3 cannot load (${fake}), else says what to do`, () => {
      const file = tempFile();
      const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', fallbackChild], {
        cwd: root,
        env: { ...process.env, RC_ARCHIVER_SQLITE: '', LEDGER_FILE: file, FAKE: fake },
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(child.status, 0, child.stderr);
      const out = JSON.parse(child.stdout) as { driver?: string; name?: string; message?: string };
      if (nodeSqliteMissing) {
        assert.equal(out.name, 'LedgerOpenError');
        assert.ok(out.message?.includes(file), out.message);
        assert.match(out.message ?? '', fake === 'missing' ? /not installed/ : /npm rebuild better-sqlite3/);
        assert.match(out.message ?? '', /Node\.js 22\.13 or later/);
        return;
      }
      assert.deepEqual(out, { driver: 'node:sqlite' });
      // The fallback is on purpose and the user can do nothing about Node's warning: it is not shown.
      assert.doesNotMatch(child.stderr, /ExperimentalWarning: SQLite/);
      withDriver('node', () => {
        const ledger = Ledger.open(file);
        assert.equal(ledger.get('CallRecording:1')?.status, 'Pending');
        assert.equal(ledger.getCursor('c'), 'v');
        ledger.close();
      });
    });
  }

  it('reads a ledger file written by the other driver', { skip: crossSkip ?? false }, () => {
    const file = tempFile();
    withDriver('better-sqlite3', () => {
      const ledger = Ledger.open(file);
      assert.equal(ledger.driver, 'better-sqlite3');
      ledger.recordFound([item('1'), item('2')], 'src', { name: 'c', value: 'b' });
      ledger.markArchived('CallRecording:1', 'sink', receipt('1.mp3'));
      ledger.close();
    });
    withDriver('node', () => {
      const ledger = Ledger.open(file);
      assert.equal(ledger.driver, 'node:sqlite');
      assert.equal(ledger.get('CallRecording:1')?.receipt?.path, '1.mp3');
      assert.equal(ledger.getCursor('c'), 'b');
      assert.deepEqual(ledger.counts(), { Pending: 1, Archived: 1, Failed: 0, Lost: 0 });
      ledger.markFailed('CallRecording:2', 'sink', 'boom');
      ledger.recordFound([item('3')], 'src', { name: 'c', value: 'n' });
      ledger.close();
    });
    withDriver('better-sqlite3', () => {
      const ledger = Ledger.open(file);
      assert.equal(ledger.driver, 'better-sqlite3');
      assert.equal(ledger.database.pragma('integrity_check', { simple: true }), 'ok');
      assert.equal(ledger.database.pragma('user_version', { simple: true }), SCHEMA_VERSION);
      assert.deepEqual(ledger.counts(), { Pending: 1, Archived: 1, Failed: 1, Lost: 0 });
      assert.equal(ledger.getCursor('c'), 'n');
      assert.deepEqual(
        ledger.events('CallRecording:2').map((e) => e.event),
        ['Found', 'Failed'],
      );
      ledger.close();
    });
  });

  it('takes RC_ARCHIVER_SQLITE as better-sqlite3 or node, and refuses anything else', () => {
    assert.throws(
      () => loadDriver('/data/ledger.sqlite', 'sqlite3'),
      (err: Error) => {
        assert.ok(err instanceof LedgerOpenError);
        assert.match(err.message, /RC_ARCHIVER_SQLITE is "sqlite3": it must be better-sqlite3 or node/);
        assert.match(err.message, /\/data\/ledger\.sqlite/);
        return true;
      },
    );
    assert.throws(() => loadDriver('f', 'constructor'), LedgerOpenError);
    if (nodeSqliteMissing) {
      assert.throws(() => loadDriver('/data/ledger.sqlite', 'node'), /needs Node\.js 22\.13 or later/);
    } else {
      assert.equal(loadDriver('f', 'node').name, 'node:sqlite');
      assert.equal(loadDriver('f', ' Node:SQLite ').name, 'node:sqlite');
    }
    const builtinMissing = Object.assign(new Error('No such built-in module: node:sqlite'), {
      code: 'ERR_UNKNOWN_BUILTIN_MODULE',
    });
    const message = explainOpenError(builtinMissing, '/data/ledger.sqlite').message;
    assert.match(message, /RC_ARCHIVER_SQLITE=node/);
    assert.match(message, /22\.13 or later/);
    assert.match(message, /\/data\/ledger\.sqlite/);
  });

  it('tells the user how to rebuild a missing native module', () => {
    const missing = new Error(
      'Could not locate the bindings file. Tried:\n → /x/node_modules/better-sqlite3/build/better_sqlite3.node',
    );
    const message = explainOpenError(missing, '/data/ledger.sqlite').message;
    assert.match(message, /\/data\/ledger\.sqlite/);
    assert.match(message, /npm rebuild better-sqlite3/);
    assert.match(message, /npm install-scripts approve better-sqlite3/);
    assert.match(message, /Could not locate the bindings file/);
    assert.doesNotMatch(message, /build\/better_sqlite3\.node/, 'first line only');

    const wrongAbi = Object.assign(
      new Error('The module was compiled against a different Node.js version using NODE_MODULE_VERSION 115.'),
      { code: 'ERR_DLOPEN_FAILED' },
    );
    assert.match(explainOpenError(wrongAbi, 'f').message, /npm rebuild better-sqlite3/);

    const io = Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_WRITE' });
    assert.match(explainOpenError(io, 'f').message, /input\/output error/);

    // node:sqlite: code ERR_SQLITE_ERROR, the SQLite code as a number (extended: SQLITE_IOERR_WRITE).
    const sqliteError = (errcode: number, text: string) =>
      Object.assign(new Error(text), { code: 'ERR_SQLITE_ERROR', errcode, errstr: text });
    assert.match(
      explainOpenError(sqliteError(26, 'file is not a database'), 'f').message,
      /not an SQLite database/,
    );
    assert.match(explainOpenError(sqliteError(778, 'disk I/O error'), 'f').message, /input\/output error/);
    assert.match(
      explainOpenError(sqliteError(1, 'no such table: x'), 'f').message,
      /^Cannot open .*no such table/,
    );
  });
});
