import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { ArchiveItem } from '../../lib/items';
import { Ledger } from '../../lib/ledger/index';
import { RcApiError, RcClient } from '../../lib/ringcentral';
import {
  alignRange,
  ChatDays,
  complianceCursorName,
  DAY_MS,
  downloadTo,
  isExportNotEnabled,
  parseChatIds,
  parseContacts,
  parseState,
  runComplianceExport,
  splitRange,
  startOfUtcDay,
  type ComplianceRunOptions,
  type DataExportTask,
  type ExportClient,
  type ExportProgress,
} from '../../lib/sources/compliance-export';
import { ZipReader } from '../../lib/zip';
import { startSimulator, storedZip, type Simulator, type SimulatorOptions } from '../sim/index';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'rc-compliance-unit-'));
const sims: Simulator[] = [];
const clients: RcClient[] = [];
after(async () => {
  for (const c of clients) await c.dispose();
  for (const s of sims) await s.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function simulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const s = await startSimulator({
    seed: 5,
    days: 3,
    extensions: 3,
    callsPerDay: 1,
    messagesPerDay: 1,
    postsPerDay: 12,
    rateWindowSec: 2,
    ...options,
  });
  sims.push(s);
  return s;
}

function client(s: Simulator): RcClient {
  const c = new RcClient({ ...s.credentials, server: s.platformUrl, cachePrefix: `ce-${clients.length}-` });
  clients.push(c);
  return c;
}

const day = (iso: string) => iso.slice(0, 10);
const today = () => startOfUtcDay(new Date()).toISOString();
const daysBefore = (n: number) => new Date(Date.parse(today()) - n * DAY_MS).toISOString();

function run(
  s: Simulator,
  c: ExportClient,
  ledger: Ledger,
  extra: Partial<ComplianceRunOptions> = {},
): Promise<{
  result: Awaited<ReturnType<typeof runComplianceExport>>;
  items: ArchiveItem[];
  progress: ExportProgress[];
}> {
  const items: ArchiveItem[] = [];
  const progress: ExportProgress[] = [];
  return runComplianceExport({
    client: c,
    ledger,
    source: 'node-1',
    rc: 'rc-1',
    initialDays: 2,
    pollMs: 20,
    tmpDir: tmp,
    onItems: (found) => items.push(...found),
    onProgress: (p) => progress.push(p),
    ...extra,
  }).then((result) => ({ result, items, progress }));
}

describe('compliance export: ranges', () => {
  it('cuts a 400-day range into contiguous pieces of at most 180 days', () => {
    const from = '2025-01-01T00:00:00.000Z';
    const to = new Date(Date.parse(from) + 400 * DAY_MS).toISOString();
    const pieces = splitRange(from, to);
    assert.equal(pieces.length, 3);
    assert.equal(pieces[0].from, from);
    assert.equal(pieces.at(-1)!.to, to);
    let total = 0;
    for (let i = 0; i < pieces.length; i++) {
      const length = Date.parse(pieces[i].to) - Date.parse(pieces[i].from);
      assert.ok(length > 0 && length <= 180 * DAY_MS, `piece ${i} is ${length / DAY_MS} days`);
      assert.equal(length % DAY_MS, 0, 'whole days');
      if (i > 0) assert.equal(pieces[i].from, pieces[i - 1].to, 'no gap, no overlap');
      total += length;
    }
    assert.equal(total, 400 * DAY_MS);
    assert.deepEqual(splitRange(from, from), []);
    assert.equal(splitRange(from, new Date(Date.parse(from) + 180 * DAY_MS)).length, 1);
  });

  it('aligns a range to whole UTC days, never past the start of today', () => {
    const now = new Date('2026-03-10T15:00:00Z');
    assert.deepEqual(
      alignRange({ dateFrom: '2026-03-01T13:45:00+02:00', dateTo: '2026-03-03T00:00:01Z' }, now),
      {
        from: '2026-03-01T00:00:00.000Z',
        to: '2026-03-04T00:00:00.000Z',
      },
    );
    assert.deepEqual(alignRange({ dateFrom: '2026-03-08T00:00:00Z', dateTo: '2026-03-09T00:00:00Z' }, now), {
      from: '2026-03-08T00:00:00.000Z',
      to: '2026-03-09T00:00:00.000Z',
    });
    assert.deepEqual(alignRange({ dateFrom: '2026-03-08T10:00:00Z' }, now), {
      from: '2026-03-08T00:00:00.000Z',
      to: '2026-03-10T00:00:00.000Z',
    });
    assert.throws(
      () => alignRange({ dateFrom: '2026-03-05', dateTo: '2026-03-05' }, now),
      /at or after its end/,
    );
    assert.throws(
      () => alignRange({ dateFrom: '2026-03-06', dateTo: '2026-03-05' }, now),
      /at or after its end/,
    );
    assert.throws(() => alignRange({ dateFrom: 'yesterday' }, now), /not a date/);
    assert.throws(
      () => alignRange({ dateFrom: '2026-03-10T01:00:00Z' }, now),
      /no whole UTC day before today/,
    );
  });

  it('parses contacts and chat ids, refusing bad values', () => {
    assert.deepEqual(parseContacts(' 101, a.b@example.com ;101 '), [
      { id: '101' },
      { email: 'a.b@example.com' },
    ]);
    assert.deepEqual(parseContacts(''), []);
    assert.deepEqual(parseChatIds('3001001,3001002'), ['3001001', '3001002']);
    assert.throws(() => parseContacts('101, bob'), /contact "bob" is neither/);
    assert.throws(() => parseChatIds('abc'), /chat id "abc" is not a numeric id/);
    assert.throws(
      () => parseChatIds(Array.from({ length: 11 }, (_, i) => String(i + 1)).join(',')),
      /at most 10/,
    );
  });
});

describe('compliance export with the simulator', { timeout: 120_000 }, () => {
  let sim: Simulator;
  let rc: RcClient;
  before(async () => {
    // Seven elements a file: the posts of two days span several posts_N.json.
    sim = await simulator({ exportFileElements: 7 });
    rc = client(sim);
  });

  it('requests, waits for, downloads and unpacks an export; a second run the same day adds nothing', async () => {
    const ledger = Ledger.openMemory();
    const before = sim.exportTasksInfo().length;
    const { result, items, progress } = await run(sim, rc, ledger, { unpack: true });
    const tasks = sim.exportTasksInfo().slice(before);
    assert.equal(tasks.length, 1, 'one task');
    const task = tasks[0];
    assert.equal(task.status, 'Completed');
    assert.equal(task.timeFrom, daysBefore(2));
    assert.equal(task.timeTo, today());
    assert.deepEqual(result.exported, { from: daysBefore(2), to: today() });
    assert.deepEqual(result.problems, []);
    // Progress: asked, waited (polled), downloaded, unpacked, recorded.
    const phases = progress.map((p) => p.phase);
    for (const phase of ['requesting', 'waiting', 'downloading', 'unpacking', 'recorded'])
      assert.ok(phases.includes(phase as ExportProgress['phase']), phase);
    assert.ok(progress.some((p) => p.phase === 'waiting' && p.status === 'InProgress' && p.polls === 1));
    assert.ok(progress.every((p) => p.piece === 1 && p.pieces === 1));

    // The dataset item: its uri gives the zip the simulator made.
    const zipItem = items.find((i) => i.key === `TeamMessagingExport:${task.id}:${task.id}-1`);
    assert.ok(zipItem, 'the dataset item');
    assert.equal(zipItem.contentType, 'application/zip');
    assert.equal(zipItem.fileName, `team-messaging_${day(daysBefore(2))}_${day(daysBefore(1))}.zip`);
    assert.equal(zipItem.createdAt, daysBefore(2));
    const expected = sim.expectedExport(task.id);
    assert.equal(zipItem.size, expected.bytes);
    assert.equal((zipItem.record as DataExportTask).id, task.id);
    const file = path.join(tmp, 'check.zip');
    const got = await downloadTo(rc, (zipItem.content as { uri: string }).uri, file);
    assert.equal(got.sha256, expected.sha256);
    const zip = await ZipReader.open(file);
    try {
      await zip.verify();
      const postFiles = zip.entries.filter((e) => /^posts\/posts_\d+\.json$/.test(e.name));
      assert.ok(postFiles.length > 1, `posts in ${postFiles.length} numbered files`);
      for (const entry of zip.entries) {
        const sha = createHash('sha256')
          .update(await zip.read(entry))
          .digest('hex');
        assert.equal(sha, expected.entries[entry.name], entry.name);
      }
    } finally {
      await zip.close();
    }
    assert.deepEqual(
      readdirSync(tmp).filter((f) => f.startsWith('rc-compliance-export-')),
      [],
      'the temp download is gone',
    );

    // One item per chat per day, with exactly that day's posts (the simulator's own list).
    const chatItems = items.filter((i) => i.key.startsWith('TeamMessagingExport:chat:'));
    const want = new Map<string, string[]>();
    for (const post of sim.team.posts) {
      const d = new Date(post.creationTime).toISOString();
      if (d < daysBefore(2) || d >= today()) continue;
      const key = `TeamMessagingExport:chat:${post.chatId}:${day(d)}`;
      want.set(key, [...(want.get(key) ?? []), post.id]);
    }
    assert.ok(want.size >= 4, 'the simulator has posts in several chats and days');
    assert.deepEqual(chatItems.map((i) => i.key).sort(), [...want.keys()].sort());
    for (const item of chatItems) {
      const json = (
        item.content as { json: { chat: { id: string }; day: string; posts: Array<{ id: string }> } }
      ).json;
      assert.deepEqual(
        json.posts.map((p) => p.id),
        want.get(item.key),
        item.key,
      );
      assert.equal(item.createdAt, `${json.day}T00:00:00.000Z`);
      assert.equal(item.fileName.endsWith(`_${json.day}.json`), true);
      assert.equal(item.extensionNumber, json.chat.id);
    }
    assert.ok(chatItems.some((i) => i.ownerName === 'All Hands'));
    assert.equal(result.newItems, items.length);
    assert.equal(ledger.counts('node-1').Pending, items.length, 'every item Pending in the ledger');

    // The cursor: exported to the start of today, no task in progress.
    assert.deepEqual(parseState(ledger.getCursor(complianceCursorName('node-1'))), { exportedTo: today() });
    const again = await run(sim, rc, ledger, { unpack: true });
    assert.equal(again.result.pieces, 0);
    assert.deepEqual(again.items, []);
    assert.equal(sim.exportTasksInfo().length, before + 1, 'no second task');
    ledger.close();
  });

  it('exports a long range in pieces of at most 180 days and leaves the cursor alone', async () => {
    const ledger = Ledger.openMemory();
    ledger.setCursor(complianceCursorName('node-1'), JSON.stringify({ exportedTo: daysBefore(1) }));
    const before = sim.exportTasksInfo().length;
    const dateFrom = new Date(Date.parse(daysBefore(400)) + 3_600_000).toISOString();
    const { result, items, progress } = await run(sim, rc, ledger, { range: { dateFrom } });
    const tasks = sim.exportTasksInfo().slice(before);
    assert.equal(tasks.length, 3);
    assert.equal(result.pieces, 3);
    assert.equal(tasks[0].timeFrom, daysBefore(400));
    assert.equal(tasks[2].timeTo, today());
    for (let i = 0; i < tasks.length; i++) {
      assert.ok(Date.parse(tasks[i].timeTo) - Date.parse(tasks[i].timeFrom) <= 180 * DAY_MS);
      if (i > 0) assert.equal(tasks[i].timeFrom, tasks[i - 1].timeTo);
    }
    assert.deepEqual([...new Set(progress.map((p) => `${p.piece}/${p.pieces}`))], ['1/3', '2/3', '3/3']);
    assert.equal(items.length, 3, 'one zip per piece (not unpacked)');
    assert.deepEqual(parseState(ledger.getCursor(complianceCursorName('node-1'))), {
      exportedTo: daysBefore(1),
    });
    ledger.close();
  });

  it('limits the export to the chats and contacts given', async () => {
    const ledger = Ledger.openMemory();
    const { items } = await run(sim, rc, ledger, {
      unpack: true,
      chatIds: ['3001002'],
      contacts: [{ id: sim.extensions[0].id }, { email: 'nobody@example.com' }],
    });
    const task = items[0].record as DataExportTask;
    assert.deepEqual(task.specific?.chatIds, ['3001002']);
    assert.deepEqual(task.specific?.contacts, [
      { id: sim.extensions[0].id },
      { email: 'nobody@example.com' },
    ]);
    const chats = items.filter((i) => i.key.startsWith('TeamMessagingExport:chat:'));
    const own = sim.extensions[0].id;
    const want = new Set(
      sim.team.posts
        .filter((p) => p.chatId === '3001002' && p.creatorId === own)
        .map((p) => new Date(p.creationTime).toISOString())
        .filter((t) => t >= daysBefore(2) && t < today())
        .map((t) => `TeamMessagingExport:chat:3001002:${day(t)}`),
    );
    assert.deepEqual(chats.map((i) => i.key).sort(), [...want].sort());
    for (const item of chats) {
      const posts = (item.content as { json: { posts: Array<{ creatorId: string }> } }).json.posts;
      assert.ok(posts.every((p) => p.creatorId === own));
    }
    ledger.close();
  });

  it('after a crash polls the task in progress instead of asking for a second one', async () => {
    const ledger = Ledger.openMemory();
    const before = sim.exportTasksInfo().length;
    const crash = new AbortController();
    await assert.rejects(
      run(sim, rc, ledger, {
        signal: crash.signal,
        onProgress: (p) => {
          if (p.phase === 'waiting') crash.abort(new Error('crash'));
        },
      }),
    );
    const state = parseState(ledger.getCursor(complianceCursorName('node-1')));
    const created = sim.exportTasksInfo().slice(before);
    assert.equal(created.length, 1);
    assert.equal(state.task?.id, created[0].id, 'the cursor holds the task in progress');
    assert.equal(state.exportedTo, daysBefore(2), 'not moved yet');
    assert.equal(ledger.counts('node-1').Pending, 0);

    const resumed = await run(sim, rc, ledger, { range: 'resume' });
    assert.equal(sim.exportTasksInfo().length, before + 1, 'no second task');
    assert.equal(resumed.result.tasks[0], created[0].id);
    assert.deepEqual(
      resumed.items.map((i) => i.key),
      [`TeamMessagingExport:${created[0].id}:${created[0].id}-1`],
    );
    assert.deepEqual(parseState(ledger.getCursor(complianceCursorName('node-1'))), { exportedTo: today() });
    ledger.close();
  });

  it('asks again for a stored task RingCentral no longer knows', async () => {
    const ledger = Ledger.openMemory();
    const cursor = complianceCursorName('node-1');
    ledger.setCursor(
      cursor,
      JSON.stringify({
        exportedTo: daysBefore(1),
        task: { id: '999', timeFrom: daysBefore(1), timeTo: today(), origin: 'scheduled' },
      }),
    );
    const before = sim.exportTasksInfo().length;
    const { items } = await run(sim, rc, ledger);
    assert.equal(sim.exportTasksInfo().length, before + 1);
    assert.equal(items.length, 1);
    assert.deepEqual(parseState(ledger.getCursor(cursor)), { exportedTo: today() });
    ledger.close();
  });

  it('waits for a free export slot when two tasks are unfinished', async () => {
    const ledger = Ledger.openMemory();
    const others: DataExportTask[] = [];
    for (let i = 0; i < 2; i++)
      others.push(await rc.request<DataExportTask>('POST', '/team-messaging/v1/data-export', { body: {} }));
    const seen: ExportProgress[] = [];
    const running = run(sim, rc, ledger, {
      onProgress: (p) => {
        seen.push(p);
        if (p.phase !== 'slot' || seen.filter((s) => s.phase === 'slot').length > 1) return;
        // Someone else's tasks finish meanwhile (each read is a poll in the simulator).
        for (const t of others) {
          void rc.request('GET', `/team-messaging/v1/data-export/${t.id}`);
          void rc.request('GET', `/team-messaging/v1/data-export/${t.id}`);
        }
      },
    });
    const { items } = await running;
    assert.ok(seen.some((p) => p.phase === 'slot'));
    assert.equal(items.length, 1);
    ledger.close();
  });

  it('says when compliance export is not enabled on the account, and records nothing', async () => {
    const off = await simulator({ complianceExportEnabled: false });
    const ledger = Ledger.openMemory();
    const err = await run(off, client(off), ledger).then(
      () => assert.fail('should fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof RcApiError);
    assert.equal(isExportNotEnabled(err), true);
    assert.equal(isExportNotEnabled(new RcApiError('x', { status: 403, errorCode: 'CMN-401' })), false);
    // Only RingCentral's answer says so: another error that merely looks like one does not.
    const lookalike = Object.assign(new Error('x'), {
      name: 'RcApiError',
      status: 403,
      errorCode: 'FeatureNotAvailable',
    });
    assert.equal(isExportNotEnabled(lookalike), false);
    assert.equal(ledger.counts('node-1').Pending, 0);
    assert.equal(parseState(ledger.getCursor(complianceCursorName('node-1'))).task, undefined);
    ledger.close();
  });
});

describe('compliance export: failures and the zip', () => {
  /** A client whose task ends Failed. */
  function failing(): ExportClient & { posts: number } {
    return {
      posts: 0,
      async request<T>(method: string) {
        if (method === 'POST') {
          this.posts++;
          return { id: '77', status: 'Accepted' } as T;
        }
        return { id: '77', status: 'Failed' } as T;
      },
      async openContent() {
        throw new Error('no content');
      },
    };
  }

  it('a Failed task is a clear error and is not polled again', async () => {
    const ledger = Ledger.openMemory();
    const fake = failing();
    await assert.rejects(
      run(undefined as never, fake, ledger),
      /task 77 ended with status Failed; the next run asks for these days again/,
    );
    const state = parseState(ledger.getCursor(complianceCursorName('node-1')));
    assert.equal(state.task, undefined);
    assert.equal(state.exportedTo, daysBefore(2));
    await assert.rejects(
      run(undefined as never, fake, ledger, { range: { dateFrom: daysBefore(3) } }),
      /send the range again/,
    );
    assert.equal(parseState(ledger.getCursor(complianceCursorName('node-1'))).range, undefined);
    assert.equal(fake.posts, 2);
    ledger.close();
  });

  const json = (v: unknown) => Buffer.from(JSON.stringify(v));
  const piece = { from: '2026-01-01T00:00:00.000Z', to: '2026-01-03T00:00:00.000Z' };
  let zips = 0;

  /** The chat days a zip of these files unpacks into (for the days of `piece`). */
  async function unpacked(files: Array<{ name: string; data: Buffer }>): Promise<ChatDays> {
    const file = path.join(tmp, `layout-${++zips}.zip`);
    writeFileSync(file, storedZip(files, Date.now()));
    const reader = await ZipReader.open(file);
    const days = new ChatDays(piece);
    try {
      await reader.verify();
      await days.addZip(reader, 'test');
    } finally {
      await reader.close();
    }
    return days;
  }
  const postsOf = (items: ArchiveItem[]) =>
    items.map((i) => [
      i.key,
      i.fileName,
      (i.content as { json: { posts: Array<{ id: string }> } }).json.posts.map((p) => p.id),
    ]);
  /** RingCentral's documented layout: request_info.json and numbered files in eight folders. */
  const documented = (posts: Buffer[], extra: Array<{ name: string; data: Buffer }> = []) => [
    { name: 'request_info.json', data: json({ timeFrom: piece.from, timeTo: piece.to }) },
    {
      name: 'chats/chats_1.json',
      data: json([
        { id: '10', type: 'Direct', members: [{ id: '1' }, { id: '2' }] },
        { id: '20', type: 'Team', name: 'Sales' },
      ]),
    },
    { name: 'members/members_1.json', data: json([{ id: '1', firstName: 'Ann', lastName: 'Lee' }]) },
    { name: 'guests/guests_1.json', data: json([{ id: '2', firstName: 'Bo' }]) },
    ...posts.map((data, i) => ({ name: `posts/posts_${i + 1}.json`, data })),
    ...['events', 'tasks', 'notes', 'files'].map((f) => ({ name: `${f}/${f}_1.json`, data: json([]) })),
    ...extra,
  ];

  it('unpacks the documented layout: every posts_N.json, one file per chat per UTC day, boundary post to the next day', async () => {
    const days = await unpacked(
      documented(
        [
          json([
            { id: 'a', groupId: '10', creatorId: '1', creationTime: '2026-01-01T00:00:00.000Z' },
            { id: 'b', groupId: '20', creatorId: '1', creationTime: '2026-01-01T09:00:00.000Z' },
            { id: 'c', groupId: '10', creatorId: '2', creationTime: '2026-01-01T23:59:59.999Z' },
          ]),
          json([
            { id: 'd', groupId: '10', creatorId: '2', creationTime: '2026-01-01T12:00:00.000Z' },
            { id: 'e', groupId: '20', creatorId: '2', creationTime: '2026-01-02T10:00:00.000Z' },
          ]),
          // An object with a list (as RingCentral's lists are) reads as well.
          json({
            records: [
              { id: 'f', groupId: '10', creatorId: '1', creationTime: '2026-01-02T08:00:00.000Z' },
              { id: 'g', groupId: '10', creatorId: '1', creationTime: '2026-01-03T00:00:00.000Z' },
              { id: 'a', groupId: '10', creatorId: '1', creationTime: '2026-01-01T00:00:00.000Z' },
            ],
          }),
        ],
        // A folder the unpack does not know, and posts elsewhere than posts/, stay in the zip only.
        [
          { name: 'reactions/reactions_1.json', data: json([{ id: 'x', groupId: '10' }]) },
          {
            name: 'notes/posts_1.json',
            data: json([{ id: 'n', groupId: '10', creationTime: '2026-01-01T01:00:00.000Z' }]),
          },
        ],
      ),
    );
    assert.deepEqual(days.problems, []);
    assert.equal(days.noPosts(), undefined);
    const items = days.items({ id: '5' }, { rc: 'rc' });
    assert.deepEqual(postsOf(items), [
      // Posts of one chat from two files, in time order; the duplicate once.
      ['TeamMessagingExport:chat:10:2026-01-01', 'Ann Lee, Bo_2026-01-01.json', ['a', 'd', 'c']],
      ['TeamMessagingExport:chat:20:2026-01-01', 'Sales_2026-01-01.json', ['b']],
      ['TeamMessagingExport:chat:10:2026-01-02', 'Ann Lee, Bo_2026-01-02.json', ['f']],
      ['TeamMessagingExport:chat:20:2026-01-02', 'Sales_2026-01-02.json', ['e']],
    ]);
    // The people who posted that day, from members/ and guests/.
    const first = items[0].content as { json: { users: Array<{ id: string; firstName?: string }> } };
    assert.deepEqual(
      first.json.users.map((u) => [u.id, u.firstName]),
      [
        ['1', 'Ann'],
        ['2', 'Bo'],
      ],
    );
  });

  it('reports a numbered file that is not JSON by name and still unpacks the others', async () => {
    const days = await unpacked(
      documented([
        // With a byte-order mark, which is still JSON.
        Buffer.concat([
          Buffer.from('\uFEFF'),
          json([{ id: 'a', groupId: '10', creatorId: '1', creationTime: '2026-01-01T10:00:00.000Z' }]),
        ]),
        Buffer.from('[{"id": "b", "groupId": "10", '),
        json([
          { id: 'c', groupId: '10', creationTime: '2026-01-02T10:00:00.000Z' },
          { id: 'd', creationTime: '2026-01-02T11:00:00.000Z' },
          { id: 'e', groupId: '10' },
        ]),
        json({ unexpected: true }),
      ]),
    );
    assert.deepEqual(days.problems, [
      'test: posts/posts_2.json is not valid JSON; what it holds is in the zip only',
      'test: 2 post(s) in posts/posts_3.json have no chat id (groupId) or no creation time; they are in the zip only',
      'test: posts/posts_4.json holds no list of posts; what it holds is in the zip only',
    ]);
    assert.equal(days.noPosts(), undefined);
    assert.deepEqual(
      postsOf(days.items({ id: '5' }, { rc: 'rc' })).map(([key, , ids]) => [key, ids]),
      [
        ['TeamMessagingExport:chat:10:2026-01-01', ['a']],
        ['TeamMessagingExport:chat:10:2026-01-02', ['c']],
      ],
    );
  });

  it('an export without readable posts says why; days without posts are no error', async () => {
    // The layout the unpack once read, which RingCentral does not make.
    const invented = await unpacked([
      { name: 'users.json', data: json([{ id: '1', firstName: 'Ann' }]) },
      { name: 'chats.json', data: json([{ id: '10', type: 'Direct' }]) },
      {
        name: 'chats/10/posts.json',
        data: json([{ id: 'a', creatorId: '1', creationTime: '2026-01-01T10:00:00.000Z' }]),
      },
    ]);
    assert.deepEqual(invented.items({ id: '5' }, { rc: 'rc' }), []);
    assert.deepEqual(invented.noPosts(), {
      reason: 'no-post-files',
      detail: 'users.json, chats.json, chats/10/posts.json',
    });

    const broken = await unpacked(
      documented([Buffer.from('not json'), json([{ id: 'a', text: 'no chat, no time' }])]),
    );
    assert.deepEqual(broken.noPosts(), {
      reason: 'no-readable-post',
      detail: '1 of 2 posts file(s) read, 1 element(s) in them',
    });
    assert.equal(broken.problems.length, 2);

    const quiet = await unpacked(documented([json([])]));
    assert.equal(quiet.noPosts(), undefined);
    assert.deepEqual(quiet.problems, []);
    assert.deepEqual(quiet.items({ id: '5' }, { rc: 'rc' }), []);
  });

  it('a run whose export holds no readable post records the zip and names the piece', async () => {
    const zip = storedZip(
      [{ name: 'chats/10/posts.json', data: json([{ id: 'a', creationTime: '2026-01-01T10:00:00.000Z' }]) }],
      Date.now(),
    );
    let downloads = 0;
    const fake: ExportClient = {
      async request<T>(method: string) {
        const task = {
          id: '88',
          status: method === 'POST' ? 'Accepted' : 'Completed',
          datasets: [{ id: '88-1', uri: 'http://127.0.0.1:9/88-1', size: zip.length }],
        };
        return task as T;
      },
      async openContent() {
        downloads++;
        return { body: Readable.from([zip]), contentLength: zip.length };
      },
    };
    const ledger = Ledger.openMemory();
    const { result, items } = await run(undefined as never, fake, ledger, { unpack: true, pollMs: 1 });
    assert.equal(downloads, 1);
    assert.deepEqual(result.noPosts, [
      {
        taskId: '88',
        from: daysBefore(2),
        to: today(),
        reason: 'no-post-files',
        detail: 'chats/10/posts.json',
      },
    ]);
    assert.deepEqual(
      items.map((i) => i.key),
      ['TeamMessagingExport:88:88-1'],
      'the zip is archived as it is',
    );
    assert.equal(ledger.counts('node-1').Pending, 1);
    ledger.close();
  });
});
