// rc-retry between a folder sink with a fault and rc-archive-log: the automatic schedule under fake
// timers (also across an unload and load of the flow on the same ledger), the alert when it is used
// up, and a bulk manual Retry of 100 items re-entering at rc-retry.
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, afterEach, before, describe, it, mock } from 'node:test';
import type { ArchiveItem } from '../../lib/items';
import type * as LedgerModule from '../../lib/ledger';
import type * as RetryModule from '../../lib/retry';
import { createHelper } from '../support/helper';
import { builtLib, builtNode } from '../support/node-red';
import { waitFor } from '../support/wait';

// The nodes' own instances: a manual Retry finds the entrances the deployed rc-retry registered.
const { Ledger } = builtLib<typeof LedgerModule>('ledger');
const { manualRetry } = builtLib<typeof RetryModule>('retry');
const { helper, userDir } = createHelper();
const nodes = ['rc-config', 'rc-retry', 'rc-folder-sink', 'rc-archive-log'].map(builtNode);
const MIN = 60_000;

interface Hooks {
  add(
    name: string,
    fn: (event: {
      msg: Record<string, unknown>;
      node?: { id: string };
      destination?: { id: string };
    }) => void,
  ): void;
  remove(name: string): void;
}
const hooks = (helper as unknown as { _RED: { hooks: Hooks } })._RED.hooks;

function item(id: string): ArchiveItem {
  return {
    key: `CallLog:${id}`,
    kind: 'CallLog',
    accountId: '1',
    ownerName: 'Ada Lovelace',
    from: '+15550100',
    to: ['+15550101'],
    createdAt: new Date(Date.now() - 86_400_000).toISOString(),
    fileName: `${id}.json`,
    contentType: 'application/json',
    content: { json: { id } },
    record: { id },
    rc: 'rc',
  };
}

/** Lets messages, file system callbacks and the ledger settle; never waits on a (fake) timer. */
async function settle(check: () => boolean, what: string, realMs = 10_000): Promise<void> {
  const deadline = performance.now() + realMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

/** Counts, per node, the messages it received and the done() calls it made, and catches a second done(). */
function track() {
  const received = new Map<string, number>();
  const completed = new Map<string, number>();
  const seen = new WeakMap<object, Set<string>>();
  const twice: string[] = [];
  hooks.add('onReceive.rctest', (e) => {
    const id = e.destination!.id;
    received.set(id, (received.get(id) ?? 0) + 1);
  });
  hooks.add('onComplete.rctest', (e) => {
    const id = e.node!.id;
    completed.set(id, (completed.get(id) ?? 0) + 1);
    const ids = seen.get(e.msg) ?? new Set<string>();
    if (ids.has(id)) twice.push(`${id}:${String(e.msg._msgid)}`);
    ids.add(id);
    seen.set(e.msg, ids);
  });
  return {
    received: (id: string) => received.get(id) ?? 0,
    completed: (id: string) => completed.get(id) ?? 0,
    twice,
  };
}

describe('rc-retry', { timeout: 60_000 }, () => {
  let n = 0;
  let ledgerFile = '';
  let blocked = '';

  before(async () => {
    await helper.startServer();
  });
  after(async () => {
    await helper.stopServer();
    rmSync(userDir, { recursive: true, force: true });
  });
  afterEach(async () => {
    mock.timers.reset();
    hooks.remove('*.rctest');
    hooks.remove('*.rcsent');
    await helper.unload();
  });

  /** A fresh ledger and an archive directory that is a file: every write fails until `clearFault`. */
  function setup() {
    n++;
    ledgerFile = join(userDir, `ledger-${n}.sqlite`);
    process.env.RC_ARCHIVER_LEDGER = ledgerFile;
    blocked = join(userDir, `archive-${n}`);
    writeFileSync(blocked, 'not a folder');
  }
  const clearFault = () => {
    rmSync(blocked, { force: true });
    mkdirSync(blocked, { recursive: true });
  };

  function flow(schedule: string) {
    return {
      flow: [
        { id: 'retry', type: 'rc-retry', schedule, wires: [['sink']] },
        {
          id: 'sink',
          type: 'rc-folder-sink',
          directory: blocked,
          timeZone: 'UTC',
          sidecar: false,
          wires: [['log'], ['retry', 'log']],
        },
        {
          id: 'log',
          type: 'rc-archive-log',
          summaryDelay: 0.05,
          keepDays: 0,
          wires: [['summary'], ['alerts']],
        },
        { id: 'summary', type: 'helper' },
        { id: 'alerts', type: 'helper' },
        { id: 'rc', type: 'rc-config', server: 'custom', serverUrl: 'http://127.0.0.1:9' },
      ],
      credentials: { rc: { clientId: 'id', clientSecret: 'secret', jwt: 'jwt' } },
    };
  }

  function withLedger<T>(read: (l: LedgerModule.Ledger) => T): T {
    const ledger = Ledger.open(ledgerFile);
    try {
      return read(ledger);
    } finally {
      ledger.close();
    }
  }

  it('sends a failing item again after 5 min, 20 min and 1 h, keeps the schedule across a reload, then gives up with one alert', async () => {
    setup();
    const start = Date.now();
    mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: start });
    let clock = start;
    const tick = (ms: number) => {
      mock.timers.tick(ms);
      clock += ms;
    };
    const t = track();
    const { flow: f, credentials } = flow('5m, 20m, 1h');
    await helper.load(nodes, f, credentials);
    const alerts: Array<{ payload: Record<string, unknown> }> = [];
    helper.getNode('alerts').on('input', (m: never) => alerts.push(m));
    const it1 = item('flaky');
    withLedger((l) => l.recordFound([it1], 'src'));

    helper.getNode('sink').receive({ topic: it1.key, payload: it1 });
    await settle(() => t.completed('retry') === 1, 'the first failure at rc-retry');
    const first = withLedger((l) => l.rowsOf([it1.key])[0]);
    assert.equal(first.status, 'Failed');
    assert.equal(first.retries, 1);
    assert.equal(first.retryNode, 'retry');
    assert.equal(
      Date.parse(first.retryAt!),
      start + 5 * MIN,
      'the first retry is due 5 min after the failure',
    );

    /** Moves the fake clock in 5 s steps until the sink has had `count` messages; the time it took. */
    const advanceUntilSink = async (count: number, limitMs: number): Promise<number> => {
      const from = clock;
      while (t.received('sink') < count) {
        if (clock - from > limitMs) throw new Error(`sink did not get message ${count} within ${limitMs} ms`);
        tick(5000);
        for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      }
      await settle(() => t.completed('retry') === count, `failure ${count} back at rc-retry`);
      return clock - from;
    };

    // Two minutes in, Node-RED restarts the flow: the schedule comes back from the ledger.
    tick(2 * MIN);
    await helper.unload();
    await helper.load(nodes, f, credentials);
    helper.getNode('alerts').on('input', (m: never) => alerts.push(m));
    assert.equal(t.received('sink'), 1, 'nothing sent again before the first delay');

    const waited1 = 2 * MIN + (await advanceUntilSink(2, 10 * MIN));
    assert.ok(waited1 >= 5 * MIN && waited1 <= 5 * MIN + 5000, `retry 1 after 5 min (${waited1} ms)`);
    const waited2 = await advanceUntilSink(3, 30 * MIN);
    assert.ok(waited2 >= 20 * MIN && waited2 <= 20 * MIN + 5000, `retry 2 after 20 min (${waited2} ms)`);
    const waited3 = await advanceUntilSink(4, 90 * MIN);
    assert.ok(waited3 >= 60 * MIN && waited3 <= 60 * MIN + 5000, `retry 3 after 1 h (${waited3} ms)`);

    await settle(() => alerts.length === 1, 'the alert');
    // Hours later: no fifth try, no second alert.
    for (let i = 0; i < 60; i++) {
      tick(5 * MIN);
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(t.received('sink'), 4, 'one try and three retries, no more');
    assert.equal(alerts.length, 1, 'one alert');
    const alert = alerts[0].payload;
    assert.equal(alert.key, it1.key);
    assert.equal(alert.kind, 'CallLog');
    assert.equal(alert.owner, 'Ada Lovelace');
    assert.equal(alert.retries, 3);
    assert.equal(alert.attempts, 4);
    assert.match(String(alert.lastError), /./);
    assert.equal(typeof alert.deletesAt, 'string', 'when RingCentral deletes it (call log: 365 days)');
    const last = withLedger((l) => l.rowsOf([it1.key])[0]);
    assert.equal(last.status, 'Failed', 'it stays Failed');
    assert.equal(last.retryAt, undefined, 'no automatic try is due');
    assert.equal(
      withLedger((l) => l.exhaustedRetries('retry', 3)),
      1,
    );
    assert.deepEqual(t.twice, [], 'done() once per message');
    assert.equal(t.completed('retry'), t.received('retry'), 'rc-retry completed every message');
  });

  it('an Archived or Lost item is not retried; an invalid schedule is a clear error', async () => {
    setup();
    const t = track();
    const { flow: f, credentials } = flow('5m, soon');
    await helper.load(nodes, f, credentials);
    const retry = helper.getNode('retry');
    const errors: string[] = [];
    retry.on('call:error', (call: never) => errors.push(String((call as { args: unknown[] }).args[0])));
    retry.receive({ payload: item('x'), error: { message: 'boom' } });
    await waitFor(
      () => errors.some((e) => /Invalid schedule: "soon" is not a delay/.test(e)),
      5000,
      'the error',
    );
    await helper.unload();

    const f2 = flow('5m').flow;
    await helper.load(nodes, f2, flow('5m').credentials);
    const archived = item('done');
    const lost = item('gone');
    withLedger((l) => {
      l.recordFound([archived, lost], 'src');
      l.markArchived(archived.key, 'sink', {
        provider: 'folder',
        path: 'a.json',
        bytes: 1,
        sha256: 'x',
        archivedAt: new Date().toISOString(),
      });
      l.markLost(lost.key, 'sink', 'RingCentral no longer has it');
    });
    helper.getNode('retry').receive({ payload: archived, error: { message: 'late' } });
    helper.getNode('retry').receive({ payload: lost, error: { message: '404', lost: true } });
    await waitFor(() => t.completed('retry') === 3, 5000, 'both done');
    const rows = withLedger((l) => l.rowsOf([archived.key, lost.key]));
    assert.deepEqual(
      rows.map((r) => [r.status, r.retries, r.retryAt]),
      [
        ['Archived', 0, undefined],
        ['Lost', 0, undefined],
      ],
    );
  });

  it('a bulk Retry of 100 Failed items re-enters at rc-retry and every one ends Archived', async () => {
    setup();
    const t = track();
    const { flow: f, credentials } = flow('5m, 20m, 1h');
    await helper.load(nodes, f, credentials);
    const items = Array.from({ length: 100 }, (_, i) => item(`bulk-${i}`));
    withLedger((l) => l.recordFound(items, 'src'));
    const sink = helper.getNode('sink');
    for (const it of items) sink.receive({ topic: it.key, payload: it });
    await waitFor(() => t.completed('retry') === 100, 20_000, '100 failures scheduled');
    assert.equal(
      withLedger((l) => l.waitingRetries('retry').count),
      100,
    );

    clearFault();
    const sent: Array<{ retry?: unknown }> = [];
    retryOutput(sent);
    const result = withLedger((l) =>
      manualRetry(
        l,
        items.map((i) => i.key),
      ),
    );
    assert.equal(result.retried.length, 100);
    assert.deepEqual(result.refused, []);
    await waitFor(
      () => withLedger((l) => l.count({ status: 'Archived' })) === 100,
      30_000,
      'every item Archived',
    );
    assert.equal(sent.length, 100);
    assert.ok(
      sent.every((m) => (m.retry as { manual?: boolean }).manual === true),
      'msg.retry.manual',
    );
    const rows = withLedger((l) => l.rowsOf(items.map((i) => i.key)));
    assert.ok(
      rows.every((r) => r.retries === 0 && r.retryAt === undefined),
      'no automatic retry left',
    );
    assert.equal(
      withLedger((l) => l.waitingRetries('retry').count),
      0,
    );
    await waitFor(() => t.completed('sink') === 200, 5000, 'the sink completed every message');
    assert.deepEqual(t.twice, [], 'done() once per message');
    assert.equal(t.completed('retry'), 100);
  });

  /** Collects what rc-retry sends, by listening on the sink's input. */
  function retryOutput(into: Array<{ retry?: unknown }>) {
    hooks.add('onReceive.rcsent', (e) => {
      if (e.destination?.id === 'sink' && e.msg.retry) into.push(e.msg as { retry?: unknown });
    });
  }
});
