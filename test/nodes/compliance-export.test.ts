import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import type { ArchiveItem, Receipt } from '../../lib/items';
import { Ledger } from '../../lib/ledger';
import { RcClient } from '../../lib/ringcentral';
import { complianceCursorName, parseState, startOfUtcDay } from '../../lib/sources/compliance-export';
import { ZipReader } from '../../lib/zip';
import { startSimulator, type Simulator } from '../sim/index';
import { createHelper } from '../support/helper';
import { builtNode } from '../support/node-red';
import { statuses, waitFor } from '../support/wait';

const { helper, userDir } = createHelper();
const allNodes = ['rc-config', 'rc-compliance-export', 'rc-rate-limit', 'rc-folder-sink'].map(builtNode);
const DAY = 86_400_000;
const today = () => startOfUtcDay(new Date()).toISOString();
const daysBefore = (n: number) => new Date(Date.parse(today()) - n * DAY).toISOString();

function withLedger<T>(fn: (ledger: Ledger) => T): T {
  const ledger = Ledger.open(process.env.RC_ARCHIVER_LEDGER!);
  try {
    return fn(ledger);
  } finally {
    ledger.close();
  }
}

interface Archived {
  payload: ArchiveItem;
  receipt: Receipt;
}

describe('rc-compliance-export with the simulator', { timeout: 180_000 }, () => {
  let sim: Simulator;
  let off: Simulator;
  /** Exports complete at the first read: many pieces in little time. */
  let quick: Simulator;
  let n = 0;
  let archive = '';

  before(async () => {
    await new Promise<void>((resolve) => helper.startServer().then(resolve));
    const small = { seed: 21, days: 3, extensions: 3, callsPerDay: 1, messagesPerDay: 1, rateWindowSec: 3 };
    // Ten elements a file: the export's posts come in several posts_N.json.
    sim = await startSimulator({
      ...small,
      postsPerDay: 15,
      exportPollsToComplete: 3,
      exportFileElements: 10,
    });
    off = await startSimulator({ ...small, complianceExportEnabled: false });
    quick = await startSimulator({ ...small, postsPerDay: 1, exportPollsToComplete: 1 });
  });
  after(async () => {
    await sim.close();
    await off.close();
    await quick.close();
    await helper.stopServer();
    rmSync(userDir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await helper.unload();
  });

  function flow(s: Simulator, config: Record<string, unknown> = {}) {
    n++;
    archive = join(userDir, `export-${n}`);
    process.env.RC_ARCHIVER_LEDGER = join(userDir, `export-ledger-${n}.sqlite`);
    return {
      flow: [
        {
          id: 'src',
          type: 'rc-compliance-export',
          rc: 'rc',
          initialDays: 2,
          pollSeconds: 1,
          unpack: false,
          contacts: '',
          chatIds: '',
          ...config,
          wires: [['rl']],
        },
        { id: 'rl', type: 'rc-rate-limit', group: 'auto', wires: [['sink']] },
        {
          id: 'sink',
          type: 'rc-folder-sink',
          directory: archive,
          timeZone: 'UTC',
          sidecar: true,
          wires: [['ok'], ['bad']],
        },
        { id: 'ok', type: 'helper' },
        { id: 'bad', type: 'helper' },
        { id: 'rc', type: 'rc-config', server: 'custom', serverUrl: s.platformUrl },
      ],
      credentials: { rc: { ...s.credentials } },
    };
  }

  async function start(s: Simulator, config: Record<string, unknown> = {}) {
    const { flow: f, credentials } = flow(s, config);
    await helper.load(allNodes, f, credentials);
    const received: Archived[] = [];
    const failed: unknown[] = [];
    const errors: string[] = [];
    helper.getNode('ok').on('input', (m: never) => received.push(m));
    helper.getNode('bad').on('input', (m: never) => failed.push(m));
    const src = helper.getNode('src');
    src.on('call:error', (call: { args: unknown[] }) => errors.push(String(call.args[0])));
    const seen = statuses(src);
    return { src, seen, received, failed, errors };
  }

  it('requests, waits for, downloads and unpacks an export; a second trigger the same day adds nothing', async () => {
    const before = sim.exportTasksInfo().length;
    const { src, seen, received, failed, errors } = await start(sim, { unpack: true });
    src.receive({ payload: 1 });
    await waitFor(() => seen.some((s) => s.fill === 'green' || s.fill === 'red'), 60_000, 'export done');
    assert.deepEqual(errors, []);
    const texts = seen.map((s) => s.text ?? '');
    assert.ok(texts.includes('export 1/1: requesting…'), texts.join(' | '));
    assert.ok(texts.includes('export 1/1: InProgress (poll 1)'), texts.join(' | '));
    assert.ok(texts.includes('export 1/1: downloading'), texts.join(' | '));
    assert.match(seen.at(-1)!.text!, /^\d+ new from 1 export\(s\) · \d\d:\d\d$/);

    const tasks = sim.exportTasksInfo().slice(before);
    assert.equal(tasks.length, 1);
    const task = tasks[0];
    assert.equal(task.timeFrom, daysBefore(2));
    assert.equal(task.timeTo, today());
    const expected = sim.expectedExport(task.id);
    const count = withLedger((l) => l.counts('src'));
    const total = count.Pending + count.Archived + count.Failed + count.Lost;
    await waitFor(() => received.length + failed.length >= total, 60_000, 'every item archived');
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(failed, []);
    assert.equal(received.length, total);

    // The zip, byte for byte.
    const zipMsg = received.find((m) => m.payload.key === `TeamMessagingExport:${task.id}:${task.id}-1`);
    assert.ok(zipMsg, 'the zip was archived');
    assert.equal(zipMsg.receipt.sha256, expected.sha256);
    assert.equal(zipMsg.receipt.bytes, expected.bytes);
    const zipPath = join(archive, zipMsg.receipt.path);
    assert.equal(createHash('sha256').update(readFileSync(zipPath)).digest('hex'), expected.sha256);
    assert.match(
      zipMsg.receipt.path,
      new RegExp(
        `^RingCentral Archiver/Compliance Export_${task.id}/${daysBefore(2).slice(0, 10)}/Team Messaging/` +
          `${daysBefore(2).slice(0, 10)}_000000UTC_TeamMessaging_${task.id}_${task.id}-1\\.zip$`,
      ),
    );

    // One JSON file per chat per day, holding that day's posts of all the zip's posts/posts_N.json.
    const zip = await ZipReader.open(zipPath);
    const posts: Array<{ id: string; groupId: string; creationTime: string }> = [];
    let postFiles = 0;
    try {
      await zip.verify();
      for (const entry of zip.entries) {
        if (!/^posts\/posts_\d+\.json$/.test(entry.name)) continue;
        postFiles++;
        posts.push(...JSON.parse((await zip.read(entry)).toString('utf8')));
      }
    } finally {
      await zip.close();
    }
    assert.ok(postFiles > 1, `the posts in ${postFiles} files`);
    const wanted = new Map<string, string[]>();
    for (const post of posts.sort((a, b) => Date.parse(a.creationTime) - Date.parse(b.creationTime))) {
      const day = new Date(post.creationTime).toISOString().slice(0, 10);
      if (day >= today().slice(0, 10)) continue; // the boundary post belongs to the next export
      const key = `TeamMessagingExport:chat:${post.groupId}:${day}`;
      wanted.set(key, [...(wanted.get(key) ?? []), post.id]);
    }
    assert.ok(wanted.size >= 4, 'posts in several chats and days');
    const chatMsgs = received.filter((m) => m.payload.key.startsWith('TeamMessagingExport:chat:'));
    assert.deepEqual(chatMsgs.map((m) => m.payload.key).sort(), [...wanted.keys()].sort());
    for (const m of chatMsgs) {
      const file = JSON.parse(readFileSync(join(archive, m.receipt.path), 'utf8')) as {
        chat: { id: string; name?: string };
        day: string;
        posts: Array<{ id: string; creationTime: string }>;
      };
      assert.deepEqual(
        file.posts.map((p) => p.id),
        wanted.get(m.payload.key),
        m.payload.key,
      );
      assert.ok(file.posts.every((p) => p.creationTime.startsWith(file.day)));
      assert.ok(
        m.receipt.path.startsWith(
          `RingCentral Archiver/${m.payload.ownerName}_${file.chat.id}/${file.day}/Team Messaging/`,
        ),
        m.receipt.path,
      );
    }
    assert.ok(chatMsgs.some((m) => m.receipt.path.includes('/All Hands_3001001/')));
    withLedger((l) => {
      for (const m of received) assert.equal(l.get(m.payload.key)?.status, 'Archived', m.payload.key);
      assert.deepEqual(parseState(l.getCursor(complianceCursorName('src'))), { exportedTo: today() });
    });

    // The same day again: nothing new, no second task.
    seen.length = 0;
    src.receive({ payload: 2 });
    await waitFor(() => seen.some((s) => s.fill === 'green' || s.fill === 'red'), 30_000, 'second run done');
    assert.match(seen.at(-1)!.text!, /^nothing new to export/);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(received.length, total);
    assert.equal(sim.exportTasksInfo().length, before + 1);
    assert.equal(sim.stats.rateLimited, 0, 'no 429 was provoked');
  });

  it('an export whose zip holds no readable post is an error; the zip is archived as it is', async () => {
    const before = sim.exportTasksInfo().length;
    // A zip without RingCentral's posts folder (another layout): nothing the unpack can read.
    sim.rewriteExports((files) => files.filter((f) => !f.name.startsWith('posts/')));
    try {
      const { src, seen, received, failed, errors } = await start(sim, { unpack: true });
      src.receive({ payload: 1 });
      await waitFor(() => errors.length > 0, 60_000, 'the error');
      const [task] = sim.exportTasksInfo().slice(before);
      assert.match(
        errors[0],
        new RegExp(
          `^(Error: )?The export task ${task.id} \\(${daysBefore(2).slice(0, 10)} to ${daysBefore(1).slice(0, 10)}\\) ` +
            'holds no posts that can be unpacked: it has no posts/posts_N\\.json \\(it holds request_info\\.json, ' +
            'chats/chats_1\\.json, members/members_1\\.json, guests/guests_1\\.json, events/events_1\\.json\\)\\. ' +
            'The zip is archived as it is; no chat file was written$',
        ),
      );
      await waitFor(() => seen.at(-1)?.text === 'no readable posts in the export', 5_000, 'the status');
      assert.equal(seen.at(-1)?.fill, 'red');
      await waitFor(() => received.length + failed.length >= 1, 30_000, 'the zip archived');
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(failed, []);
      assert.deepEqual(
        received.map((m) => m.payload.key),
        [`TeamMessagingExport:${task.id}:${task.id}-1`],
      );
      assert.equal(received[0].receipt.sha256, sim.expectedExport(task.id).sha256);
    } finally {
      sim.rewriteExports();
    }
  });

  it('exports a range from msg.backfill and leaves its position alone', async () => {
    const before = sim.exportTasksInfo().length;
    const { src, seen, received, errors } = await start(sim);
    src.receive({ backfill: { dateFrom: daysBefore(3), dateTo: daysBefore(2) } });
    await waitFor(() => seen.some((s) => s.fill === 'green' || s.fill === 'red'), 60_000, 'export done');
    assert.deepEqual(errors, []);
    await waitFor(() => received.length >= 1, 30_000, 'the zip archived');
    const [task] = sim.exportTasksInfo().slice(before);
    assert.equal(task.timeFrom, daysBefore(3));
    assert.equal(task.timeTo, daysBefore(2));
    assert.equal(received[0].receipt.sha256, sim.expectedExport(task.id).sha256);
    // No position was set: the range moved none.
    assert.deepEqual(
      withLedger((l) => parseState(l.getCursor(complianceCursorName('src')))),
      {},
    );
  });

  it('"retained" exports ten years in pieces of at most six months, with the time left in the status', async () => {
    const before = quick.exportTasksInfo().length;
    const { src, seen, errors } = await start(quick);
    src.receive({ backfill: 'retained' });
    await waitFor(() => seen.some((s) => s.fill === 'green' || s.fill === 'red'), 240_000, 'export done');
    assert.deepEqual(errors, []);
    const tasks = quick.exportTasksInfo().slice(before);
    const DAY = 86_400_000;
    assert.ok(tasks.length >= 20, `ten years in ${tasks.length} pieces`);
    for (const t of tasks) assert.ok(Date.parse(t.timeTo) - Date.parse(t.timeFrom) <= 183 * DAY);
    assert.ok(
      seen.some((s) => /^export \d+\/\d+: .* · ~.+ left$/.test(s.text ?? '')),
      `pieces done of all and the time left: ${seen.map((s) => s.text).join(' | ')}`,
    );
  });

  it('after a restart polls the task it had asked for instead of asking again', async () => {
    const { flow: f, credentials } = flow(sim);
    // A task asked for before the restart, still unfinished.
    const rc = new RcClient({ ...sim.credentials, server: sim.platformUrl, cachePrefix: 'restart-' });
    const task = await rc.request<{ id: string }>('POST', '/team-messaging/v1/data-export', {
      body: { timeFrom: daysBefore(1), timeTo: today() },
    });
    await rc.dispose();
    withLedger((l) =>
      l.setCursor(
        complianceCursorName('src'),
        JSON.stringify({
          exportedTo: daysBefore(1),
          task: { id: task.id, timeFrom: daysBefore(1), timeTo: today(), origin: 'scheduled' },
        }),
      ),
    );
    const before = sim.exportTasksInfo().length;
    const received: Archived[] = [];
    await helper.load(allNodes, f, credentials);
    helper.getNode('ok').on('input', (m: never) => received.push(m));
    await waitFor(() => received.length >= 1, 60_000, 'the resumed export archived');
    assert.equal(received[0].payload.key, `TeamMessagingExport:${task.id}:${task.id}-1`);
    assert.equal(received[0].receipt.sha256, sim.expectedExport(task.id).sha256);
    assert.equal(sim.exportTasksInfo().length, before, 'no second task');
    assert.deepEqual(
      withLedger((l) => parseState(l.getCursor(complianceCursorName('src')))),
      { exportedTo: today() },
    );
  });

  it('a bad chat id is an error, nothing asked for, nothing sent', async () => {
    const before = sim.exportTasksInfo().length;
    const { src, seen, received, errors } = await start(sim, { chatIds: '3001001, general' });
    src.receive({ payload: 1 });
    await waitFor(() => errors.length > 0, 10_000, 'the error');
    assert.match(errors[0], /chat id "general" is not a numeric id/);
    assert.equal(seen.at(-1)?.fill, 'red');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(received, []);
    assert.equal(sim.exportTasksInfo().length, before);
  });

  it('says when compliance export is not enabled on the account; nothing is sent', async () => {
    const { src, seen, received, errors } = await start(off);
    src.receive({ payload: 1 });
    await waitFor(() => errors.length > 0, 30_000, 'the error');
    assert.match(
      errors[0],
      /^(Error: )?Compliance export is not enabled on this RingCentral account: an admin enables it in the Admin Portal$/,
    );
    await waitFor(
      () => seen.at(-1)?.text === 'compliance export not enabled on this account',
      5_000,
      'the status',
    );
    assert.equal(seen.at(-1)?.fill, 'red');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(received, []);
    withLedger((l) => assert.equal(l.counts('src').Pending, 0));
  });
});
