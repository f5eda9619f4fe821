import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, it, mock } from 'node:test';
import type * as Bus from '../../lib/bus';
import { Ledger } from '../../lib/ledger';
import type { ArchiveItem } from '../../lib/items';
import type { RcClient } from '../../lib/ringcentral/client';
import { startSimulator } from '../sim/index';
import { createHelper } from '../support/helper';
import { builtLib, builtNode } from '../support/node-red';
import { statuses, waitFor } from '../support/wait';

// The bus the deployed nodes use.
const { deferred } = builtLib<typeof Bus>('bus');
const { helper, userDir } = createHelper();
const nodes = ['rc-config', 'rc-call-log-source', 'rc-rate-limit', 'rc-archive-log'].map(builtNode);
const credentials = { rc: { clientId: 'id', clientSecret: 'secret', jwt: 'jwt' } };
const offlineRc = { id: 'rc', type: 'rc-config', server: 'custom', serverUrl: 'http://127.0.0.1:9' };

interface Hooks {
  add(name: string, fn: (event: { node?: { id: string } }) => void): void;
  remove(name: string): void;
}
const hooks = (helper as unknown as { _RED: { hooks: Hooks } })._RED.hooks;

function item(
  id: string,
  content: ArchiveItem['content'] = { json: { id } },
  kind: ArchiveItem['kind'] = 'CallLog',
): ArchiveItem {
  return {
    key: `${kind}:${id}`,
    kind,
    accountId: '1',
    createdAt: '2026-11-01T10:00:00.000Z',
    fileName: `${id}.json`,
    contentType: 'application/json',
    content,
    record: { id },
    rc: 'rc',
  };
}

describe('rc-archive-log and rc-rate-limit', { timeout: 60_000 }, () => {
  before(async () => {
    await helper.startServer();
  });
  after(async () => {
    await helper.stopServer();
    rmSync(userDir, { recursive: true, force: true });
  });
  let n = 0;
  /** A ledger of its own for the test. */
  function freshLedger(): string {
    n++;
    process.env.RC_ARCHIVER_LEDGER = join(userDir, `ledger-${n}.sqlite`);
    return process.env.RC_ARCHIVER_LEDGER;
  }
  function withLedger<T>(read: (l: Ledger) => T): T {
    const ledger = Ledger.open(
      process.env.RC_ARCHIVER_LEDGER ?? join(userDir, 'rc-archiver', 'ledger.sqlite'),
    );
    try {
      return read(ledger);
    } finally {
      ledger.close();
    }
  }
  afterEach(async () => {
    mock.timers.reset();
    hooks.remove('*.rctest');
    await helper.unload();
    delete process.env.RC_ARCHIVER_LEDGER;
  });

  it('records outcomes of sinks that are not ours and sends a run summary', async () => {
    await helper.load(nodes, [
      { id: 'log', type: 'rc-archive-log', summaryDelay: 0.2, wires: [['out']] },
      { id: 'out', type: 'helper' },
    ]);
    const summary = new Promise<{ payload: { archived: number; failed: number } }>((resolve) =>
      helper.getNode('out').on('input', (m: never) => resolve(m)),
    );
    const log = helper.getNode('log');
    log.receive({
      payload: item('a'),
      receipt: { provider: 'other', path: 'x/a.json', bytes: 3, sha256: 'abc', archivedAt: 'now' },
    });
    log.receive({ payload: item('b'), error: { message: 'disk full' } });
    const msg = await summary;
    assert.equal(msg.payload.archived, 1);
    assert.equal(msg.payload.failed, 1);
    const ledger = Ledger.open(join(userDir, 'rc-archiver', 'ledger.sqlite'));
    try {
      assert.equal(ledger.get('CallLog:a')?.status, 'Archived');
      assert.equal(ledger.get('CallLog:b')?.status, 'Failed');
      assert.match(ledger.get('CallLog:b')?.lastError ?? '', /disk full/);
    } finally {
      ledger.close();
    }
  });

  it('rc-archive-log rejects a message that is not an item', async () => {
    await helper.load(nodes, [{ id: 'log', type: 'rc-archive-log', wires: [[]] }]);
    const log = helper.getNode('log');
    const errored = new Promise<string>((resolve) =>
      log.on('call:error', (call: never) => resolve(String((call as { args: unknown[] }).args[0]))),
    );
    log.receive({ payload: 42 });
    assert.match(await errored, /not an ArchiveItem/);
  });

  it('rc-rate-limit passes items that need no download at once, in order', async () => {
    await helper.load(nodes, [
      { id: 'rl', type: 'rc-rate-limit', group: 'auto', wires: [['out']] },
      { id: 'out', type: 'helper' },
    ]);
    const got: string[] = [];
    helper.getNode('out').on('input', (m: never) => got.push((m as { payload: ArchiveItem }).payload.key));
    for (const id of ['1', '2', '3']) helper.getNode('rl').receive({ payload: item(id) });
    const started = Date.now();
    while (got.length < 3 && Date.now() - started < 5000) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(got, ['CallLog:1', 'CallLog:2', 'CallLog:3']);
  });

  it('rc-rate-limit says which RingCentral config is missing', async () => {
    await helper.load(nodes, [{ id: 'rl', type: 'rc-rate-limit', group: 'auto', wires: [[]] }]);
    const rl = helper.getNode('rl');
    const errored = new Promise<string>((resolve) =>
      rl.on('call:error', (call: never) => resolve(String((call as { args: unknown[] }).args[0]))),
    );
    rl.receive({ payload: item('x', { uri: 'http://127.0.0.1:9/content' }) });
    assert.match(await errored, /rc.*not deployed/);
  });

  it('records the outcome a sink that is not ours gives in msg.archive', async () => {
    freshLedger();
    await helper.load(nodes, [
      { id: 'log', type: 'rc-archive-log', summaryDelay: 0.2, keepDays: 0, wires: [['out'], []] },
      { id: 'out', type: 'helper' },
    ]);
    const summary = new Promise<{ payload: Record<string, unknown> }>((resolve) =>
      helper.getNode('out').on('input', (m: never) => resolve(m)),
    );
    const log = helper.getNode('log');
    const errors: string[] = [];
    log.on('call:error', (call: never) => errors.push(String((call as { args: unknown[] }).args[0])));
    const rec = item('r1', { uri: 'http://127.0.0.1:9/r1' }, 'CallRecording');
    log.receive({
      payload: rec,
      archive: { status: 'Archived', target: 'postgres:recordings/r1', bytes: 4096, sha256: 'ab12' },
    });
    log.receive({
      payload: item('c1'),
      archive: { status: 'Archived', target: 'postgres:calls/c1', bytes: 100 },
    });
    log.receive({ payload: item('c2'), archive: { status: 'Failed', error: 'connection refused' } });
    log.receive({ payload: item('c3'), archive: { status: 'Lost', error: 'gone' } });
    log.receive({ payload: item('c4'), archive: { status: 'done' } });
    const msg = await summary;
    assert.equal(errors.length, 1);
    assert.match(errors[0], /msg\.archive\.status must be Archived, Failed or Lost/);
    const p = msg.payload;
    assert.deepEqual(p.byKind, {
      CallRecording: { Archived: 1, Failed: 0, Lost: 0 },
      CallLog: { Archived: 1, Failed: 1, Lost: 1 },
    });
    assert.equal(p.archived, 2);
    assert.equal(p.failed, 1);
    assert.equal(p.lost, 1);
    assert.equal(p.bytes, 4196);
    assert.equal(typeof p.durationMs, 'number');
    assert.deepEqual(p.ledger, { Pending: 0, Archived: 2, Failed: 1, Lost: 1 });
    withLedger((l) => {
      const [r1, c1, c2, c3] = l.rowsOf([rec.key, 'CallLog:c1', 'CallLog:c2', 'CallLog:c3']);
      assert.equal(r1.status, 'Archived');
      assert.equal(r1.storage, 'flow');
      assert.equal(r1.path, 'postgres:recordings/r1');
      assert.equal(r1.bytes, 4096);
      assert.equal(r1.sha256, 'ab12');
      assert.equal(c1.status, 'Archived');
      assert.equal(c2.status, 'Failed');
      assert.equal(c2.lastError, 'connection refused');
      assert.equal(c3.status, 'Lost');
      assert.equal(l.get('CallLog:c4'), undefined, 'an unreadable outcome records nothing');
    });

    // The other sink fails the same item again on a retry: each failure is a step in the trail.
    log.receive({ payload: item('c2'), archive: { status: 'Failed', error: 'timeout' } });
    await waitFor(
      () => withLedger((l) => l.get('CallLog:c2')?.lastError === 'timeout'),
      5000,
      'second failure',
    );
  });

  it('keeps log rows as long as the setting says (0: forever)', async () => {
    freshLedger();
    const old = (id: string) => item(id);
    // Rows from 200 days ago: the ledger takes its time stamps from the (fake) clock.
    mock.timers.enable({ apis: ['Date'], now: Date.now() - 200 * 86_400_000 });
    withLedger((l) => {
      l.recordFound([old('old-archived'), old('old-failed')], 'src');
      l.markArchived('CallLog:old-archived', 'sink', {
        provider: 'folder',
        path: 'a.json',
        bytes: 1,
        sha256: 'x',
        archivedAt: new Date().toISOString(),
      });
      l.markFailed('CallLog:old-failed', 'sink', 'disk full');
    });
    mock.timers.reset();
    withLedger((l) => {
      l.recordFound([item('new-archived')], 'src');
      l.markArchived('CallLog:new-archived', 'sink', {
        provider: 'folder',
        path: 'b.json',
        bytes: 1,
        sha256: 'y',
        archivedAt: new Date().toISOString(),
      });
    });
    const keys = ['CallLog:old-archived', 'CallLog:old-failed', 'CallLog:new-archived'];

    await helper.load(nodes, [{ id: 'log', type: 'rc-archive-log', keepDays: 0, wires: [[], []] }]);
    assert.equal(
      withLedger((l) => l.rowsOf(keys).length),
      3,
      'keepDays 0 keeps every row',
    );
    await helper.unload();

    await helper.load(nodes, [{ id: 'log', type: 'rc-archive-log', wires: [[], []] }]);
    assert.deepEqual(
      withLedger((l) => l.rowsOf(keys).map((r) => r.key)),
      ['CallLog:old-failed', 'CallLog:new-archived'],
      'the default (183 days) prunes the old archived row, never a failed one',
    );
  });

  it('rc-rate-limit refuses a message when its queue is full; the item stays Pending and the next run sends it', async () => {
    freshLedger();
    const sim = await startSimulator({
      seed: 11,
      days: 1,
      callsPerDay: 8,
      recordingFraction: 1,
      rateWindowSec: 2,
    });
    try {
      await helper.load(
        nodes,
        [
          {
            id: 'src',
            type: 'rc-call-log-source',
            rc: 'rc',
            scope: 'account',
            initialDays: 3,
            lookBackMinutes: 60,
            archive: 'recordings',
            wires: [['rl'], []],
          },
          // Medium: the listing (Heavy) goes on while the held downloads wait.
          { id: 'rl', type: 'rc-rate-limit', group: 'Medium', maxQueue: 2, wires: [['out']] },
          { id: 'out', type: 'helper' },
          { id: 'rc', type: 'rc-config', server: 'custom', serverUrl: sim.platformUrl },
        ],
        { rc: { ...sim.credentials } },
      );
      const expected = sim.allRecordings().length;
      assert.ok(expected >= 5, `the simulator has recordings (${expected})`);
      const rc = helper.getNode('rc') as unknown as { getClient(): RcClient };
      const rl = helper.getNode('rl');
      const seen = statuses(rl);
      const errors: string[] = [];
      rl.on('call:error', (call: never) => errors.push(String((call as { args: unknown[] }).args[0])));
      const got: string[] = [];
      helper.getNode('out').on('input', (m: never) => got.push((m as { payload: ArchiveItem }).payload.key));

      // A 429 right after the first item reaches the rate limit: the first goes, two wait, the rest overflow.
      let penalized = false;
      rl.on('input', () => {
        if (!penalized) rc.getClient().budget('Medium').penalize(2);
        penalized = true;
      });
      helper.getNode('src').receive({ payload: 'run 1' });
      await waitFor(() => errors.length === expected - 3, 10_000, 'the overflow errors');
      assert.match(
        errors[0],
        /Rate-limit queue full \(2 held\): CallRecording:\S+ not queued; it stays Pending and its source sends it again on its next run/,
      );
      await waitFor(
        () => seen.some((s) => /queue full: \d+ refused/.test(s.text ?? '')),
        5000,
        'warning status',
      );
      assert.ok(
        seen.some((s) => /2 queued · Medium paused \d+ s/.test(s.text ?? '')),
        'queue and wait shown',
      );
      withLedger((l) =>
        assert.equal(l.counts('src').Pending, expected, 'nothing failed, every item Pending'),
      );

      // Each run sends again what the queue refused before, until every item has gone through once.
      for (let run = 2; got.length < expected && run < 20; run++) {
        await waitFor(
          () => got.length >= Math.min(expected, 2 * (run - 1)),
          15_000,
          `released before run ${run}`,
        );
        if (got.length >= expected) break;
        helper.getNode('src').receive({ payload: `run ${run}` });
      }
      await waitFor(() => got.length >= expected, 15_000, 'every item released');
      assert.equal(new Set(got).size, expected, 'every recording went through');
      assert.equal(got.length, expected, 'none twice');
      assert.deepEqual(deferred.take('src'), [], 'nothing left deferred');
    } finally {
      await sim.close();
    }
  });

  it('rc-rate-limit closes fast with 1000 queued messages and completes every one', async () => {
    freshLedger();
    await helper.load(
      nodes,
      [
        { id: 'rl', type: 'rc-rate-limit', group: 'Heavy', wires: [['out']] },
        { id: 'out', type: 'helper' },
        offlineRc,
      ],
      credentials,
    );
    const rc = helper.getNode('rc') as unknown as { getClient(): RcClient };
    rc.getClient().budget('Heavy').penalize(600);
    let completed = 0;
    hooks.add('onComplete.rctest', (e) => {
      if (e.node?.id === 'rl') completed++;
    });
    const rl = helper.getNode('rl');
    const seen = statuses(rl);
    for (let i = 0; i < 1000; i++)
      rl.receive({ payload: item(`q${i}`, { uri: `http://127.0.0.1:9/q${i}` }, 'CallRecording') });
    await waitFor(
      () => seen.some((s) => /^1000 queued · Heavy paused \d+ s/.test(s.text ?? '')),
      5000,
      '1000 queued',
    );
    assert.equal(completed, 0);
    const started = Date.now();
    await helper.unload();
    const took = Date.now() - started;
    assert.ok(took < 3000, `closed in ${took} ms`);
    assert.equal(completed, 1000, 'done() for every queued message');
  });
});
