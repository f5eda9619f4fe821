// rc-retry's scheduler on mocked time, without Node-RED: tries at 5 min, 20 min and 1 h kept in the
// ledger across a restart, one alert when they are used up, Lost and outage notices spend no try,
// a backlog goes out in batches, and a manual Retry enters at the node that scheduled the item.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { ArchiveEvents } from '../../lib/bus';
import type { ArchiveItem } from '../../lib/items';
import { Ledger } from '../../lib/ledger';
import { manualRetry } from '../../lib/retry';
import { RetryScheduler } from '../../lib/retry-scheduler';
import { FakeClock } from '../support/clock';
import { recordingIO } from '../support/controller-io';

const tmp = mkdtempSync(join(tmpdir(), 'rc-retry-scheduler-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let files = 0;
const MIN = 60_000;

function item(id: string): ArchiveItem {
  return {
    key: `CallLog:${id}`,
    kind: 'CallLog',
    accountId: '1',
    createdAt: '2026-05-30T10:00:00.000Z',
    fileName: `${id}.json`,
    contentType: 'application/json',
    content: { json: { id } },
    record: { id },
    rc: 'rc',
  };
}

function setup(id: string, schedule = '5m, 20m, 1h') {
  const clock = new FakeClock();
  const ledger = Ledger.open(join(tmp, `ledger-${++files}.sqlite`));
  const events = new EventEmitter<ArchiveEvents>();
  const exhausted: Array<ArchiveEvents['exhausted'][0]> = [];
  events.on('exhausted', (e) => exhausted.push(e));
  const start = (rec = recordingIO(id, 'rc-retry')) => ({
    rec,
    scheduler: new RetryScheduler({ io: rec.io, ledger, clock, events, schedule }),
  });
  return { clock, ledger, exhausted, start };
}

/** What a sink of the pack sends on its failure output. */
function failure(it: ArchiveItem, extra: Record<string, unknown> = {}) {
  return { topic: it.key, payload: it, error: { message: 'disk full', ...extra } };
}

describe('retry scheduler', () => {
  it('tries again at 5 min, 20 min and 1 h, keeps the schedule across a restart, then gives up with one alert', async () => {
    const { clock, ledger, exhausted, start } = setup('retry-a');
    const it1 = item('flaky');
    ledger.recordFound([it1], 'src');
    ledger.markFailed(it1.key, 'sink', 'disk full');
    let { rec, scheduler } = start();
    scheduler.flowsStarted();
    const failedAt = clock.now();
    scheduler.input(failure(it1));
    assert.equal(Date.parse(ledger.rowsOf([it1.key])[0].retryAt!), failedAt + 5 * MIN);
    assert.match(rec.lastStatus()!.text!, /^status.waiting \{"count":1/);

    // Two minutes in, Node-RED restarts: the schedule comes back from the ledger.
    await clock.advance(2 * MIN);
    await scheduler.close();
    ({ rec, scheduler } = start());
    scheduler.flowsStarted();
    await clock.advance(3 * MIN - 1);
    assert.equal(rec.sent.length, 0, 'not before 5 min');
    await clock.advance(1);
    assert.equal(rec.sent.length, 1, 'at 5 min');
    assert.deepEqual(rec.sent[0].retry, { attempt: 1, of: 3 });

    const sentAt: number[] = [];
    for (const wait of [20 * MIN, 60 * MIN]) {
      const from = clock.now();
      const count: number = rec.sent.length;
      scheduler.input(failure(it1));
      await clock.advance(wait - 1);
      assert.equal(rec.sent.length, count, 'not early');
      await clock.advance(1);
      assert.equal(rec.sent.length, count + 1);
      sentAt.push(clock.now() - from);
    }
    assert.deepEqual(sentAt, [20 * MIN, 60 * MIN]);

    scheduler.input(failure(it1));
    await clock.advance(24 * 60 * MIN);
    assert.equal(rec.sent.length, 3, 'three automatic tries, no more');
    assert.equal(exhausted.length, 1, 'one alert');
    assert.equal(exhausted[0].row.key, it1.key);
    assert.equal(exhausted[0].retries, 3);
    assert.equal(exhausted[0].retryNode, 'retry-a');
    assert.match(rec.warnings[0], /^log.exhausted/);
    assert.match(rec.lastStatus()!.text!, /status.gaveUp \{"count":1\}/);
    assert.equal(ledger.get(it1.key)?.status, 'Failed', 'it waits as Failed for a manual Retry');

    // A manual Retry enters here, with a fresh schedule.
    const result = manualRetry(ledger, [it1.key]);
    assert.deepEqual(result.retried, [it1.key]);
    assert.deepEqual(rec.sent.at(-1)?.retry, { manual: true });
    assert.equal(ledger.rowsOf([it1.key])[0].retries, 0);
    await scheduler.close();
    assert.equal(clock.pending, 0, 'no timer left after close');
    ledger.close();
  });

  it('Lost content and outage notices spend no try; an Archived item is not sent again', async () => {
    const { clock, ledger, start } = setup('retry-b');
    const { rec, scheduler } = start();
    scheduler.flowsStarted();
    const gone = item('gone');
    const done = item('done');
    ledger.recordFound([gone, done], 'src');
    scheduler.input(failure(gone, { lost: true }));
    scheduler.input({ topic: 'target-down', targetDown: true, payload: { waiting: [done.key] } });
    ledger.markFailed(done.key, 'sink', 'timeout');
    scheduler.input(failure(done));
    ledger.markArchived(done.key, 'another-sink', {
      provider: 'folder',
      path: 'done.json',
      bytes: 1,
      sha256: 'x',
      archivedAt: new Date().toISOString(),
    });
    await clock.advance(10 * MIN);
    assert.equal(rec.sent.length, 0);
    assert.deepEqual(
      ledger.rowsOf([gone.key]).map((r) => [r.retries, r.retryAt]),
      [[0, undefined]],
    );
    assert.match(rec.lastStatus()!.text!, /status.lost \{"count":1\}/);
    assert.throws(() => scheduler.input({ payload: 'not an item' }), /errors.notItem/);
    await scheduler.close();
    ledger.close();
  });

  it('a backlog of 150 due tries goes out 100 at once, the rest a second later', async () => {
    const { clock, ledger, start } = setup('retry-c', '1m');
    const items = Array.from({ length: 150 }, (_, i) => item(`bulk-${i}`));
    ledger.recordFound(items, 'src');
    const { rec, scheduler } = start();
    for (const it of items) {
      ledger.markFailed(it.key, 'sink', 'timeout');
      scheduler.input(failure(it));
    }
    await clock.advance(MIN);
    assert.equal(rec.sent.length, 100);
    await clock.advance(999);
    assert.equal(rec.sent.length, 100);
    await clock.advance(1);
    assert.equal(rec.sent.length, 150);
    await scheduler.close();
    ledger.close();
  });

  it('an invalid schedule is a clear error in the status, the log and every message', async () => {
    const { ledger, start } = setup('retry-d', '5m, soon');
    const { rec, scheduler } = start();
    assert.match(rec.errors[0].text, /^errors.schedule .*"soon\\" is not a delay/);
    assert.equal(rec.lastStatus()!.fill, 'red');
    assert.throws(() => scheduler.input(failure(item('x'))), /errors.schedule/);
    await scheduler.close();
    ledger.close();
  });
});
