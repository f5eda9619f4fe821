// rc-rate-limit's controller without Node-RED: the queue bound and the put-back of what it refuses,
// the status per API group (redrawn at most every 250 ms), close putting held items back, and
// messages going on in the order the scheduler grants them (nearest deletion first).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Deferred } from '../../lib/bus';
import type { ControllerMessage } from '../../lib/controller';
import type { ArchiveItem, ItemKind } from '../../lib/items';
import { Ledger } from '../../lib/ledger';
import { RateLimiter, REFUSED_RETRY_MS, STATUS_EVERY_MS, type GrantScheduler } from '../../lib/rate-limiter';
import { DEFAULT_RETENTION } from '../../lib/retention';
import { RateBudget } from '../../lib/ringcentral/budget';
import type { ApiGroup, BudgetSnapshot } from '../../lib/ringcentral/types';
import { Scheduler, SchedulerClosedError, type Grant, type ScheduleRequest } from '../../lib/scheduler';
import { FakeClock, settle } from '../support/clock';
import { recordingIO } from '../support/controller-io';

const tmp = mkdtempSync(join(tmpdir(), 'rc-rate-limiter-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let files = 0;
const DAY = 86_400_000;

function item(
  id: string,
  kind: ItemKind = 'CallRecording',
  createdAt = '2026-05-30T10:00:00.000Z',
): ArchiveItem {
  return {
    key: `${kind}:${id}`,
    kind,
    accountId: '1',
    createdAt,
    fileName: `${id}.bin`,
    contentType: 'application/octet-stream',
    content: { uri: `https://media.example/${id}` },
    record: { id },
    rc: 'rc',
  };
}

const message = (it: ArchiveItem): ControllerMessage => ({ topic: it.key, payload: it });

/** A scheduler that grants only when the test says, and records what was asked and parked. */
class HandScheduler implements GrantScheduler {
  readonly requests: ScheduleRequest[] = [];
  readonly parked: string[] = [];
  readonly cancelled: string[] = [];
  snapshots: Partial<Record<ApiGroup, BudgetSnapshot>> = {};
  private readonly waiting = new Map<string, { resolve(g: Grant): void; reject(e: unknown): void }>();

  schedule(request: ScheduleRequest, signal?: AbortSignal): Promise<Grant> {
    this.requests.push(request);
    return new Promise<Grant>((resolve, reject) => {
      this.waiting.set(request.key, { resolve, reject });
      signal?.addEventListener('abort', () => reject(new Error('aborted')));
    });
  }
  hold(key: string): void {
    this.parked.push(key);
  }
  snapshot(group: ApiGroup): BudgetSnapshot | undefined {
    return this.snapshots[group];
  }
  grant(key: string): void {
    const request = this.requests.find((r) => r.key === key)!;
    this.waiting.get(key)!.resolve({
      login: 'a',
      group: request.group,
      permit: { done: () => undefined, cancel: () => this.cancelled.push(key) },
    });
  }
  closeAll(): void {
    for (const w of this.waiting.values()) w.reject(new SchedulerClosedError());
  }
}

function snapshot(group: ApiGroup, remaining: number, limit = 10): BudgetSnapshot {
  return {
    group,
    limit,
    windowSec: 60,
    usedInWindow: limit - remaining,
    remaining,
    pausedUntil: null,
    queued: 0,
    penalties: 0,
  };
}

function setup(o: { maxQueue?: number; scheduler?: GrantScheduler; noConfig?: boolean } = {}) {
  const clock = new FakeClock();
  const ledger = Ledger.open(join(tmp, `ledger-${++files}.sqlite`));
  const rec = recordingIO('limit', 'rc-rate-limit');
  const scheduler = o.scheduler ?? new HandScheduler();
  const deferredKeys = new Map<string, string[]>();
  const deferred: Deferred = {
    add: (source, keys) => deferredKeys.set(source, [...(deferredKeys.get(source) ?? []), ...keys]),
    take: (source) => deferredKeys.get(source) ?? [],
  };
  const limiter = new RateLimiter({
    io: rec.io,
    ledger,
    clock,
    deferred,
    maxQueue: o.maxQueue ?? 100,
    schedulerFor: () => {
      if (o.noConfig) throw new Error('RingCentral config rc is not deployed');
      return { scheduler, retention: { ...DEFAULT_RETENTION } };
    },
  });
  return { clock, ledger, rec, scheduler, limiter, deferred };
}

describe('rate limiter', () => {
  it('refuses what is beyond the queue bound with a clear error and puts it back: Pending to its source, Failed to its rc-retry 60 s later', async () => {
    const { clock, ledger, rec, limiter, deferred } = setup({ maxQueue: 2 });
    const [a, b, pending, failed, stranger] = ['a', 'b', 'p', 'f', 's'].map((id) => item(id));
    ledger.recordFound([a, b, pending, failed], 'source-1');
    ledger.markFailed(failed.key, 'sink', 'disk full');
    ledger.scheduleRetry(failed.key, 'retry-1', new Date(clock.now()).toISOString(), 1);
    ledger.clearRetry(failed.key); // as rc-retry does when it sends the try
    const held = [limiter.input(message(a), rec.send), limiter.input(message(b), rec.send)];

    await assert.rejects(limiter.input(message(pending), rec.send), (err: Error) => {
      assert.match(err.message, /^errors\.full /);
      assert.match(err.message, /"key":"CallRecording:p"/);
      assert.match(err.message, /"fate":"errors\.fullPending"/);
      return true;
    });
    assert.deepEqual(deferred.take('source-1'), [pending.key]);
    assert.equal(ledger.get(pending.key)?.status, 'Pending');

    await assert.rejects(limiter.input(message(failed), rec.send), /"fate":"errors\.fullFailed"/);
    const [row] = ledger.rowsOf([failed.key]);
    assert.equal(row.retryNode, 'retry-1');
    assert.equal(row.retryAt, new Date(clock.now() + REFUSED_RETRY_MS).toISOString());
    assert.equal(row.retries, 1);

    // Not in the ledger: nobody would send it again, and the user is told so.
    await assert.rejects(limiter.input(message(stranger), rec.send), /"fate":"errors\.fullOther"/);
    const status = rec.lastStatus()!;
    assert.equal(status.fill, 'yellow');
    assert.match(status.text!, /^status\.full \{"max":2,"refused":3\} · /);
    assert.equal(rec.sent.length, 0);
    assert.deepEqual(limiter.queued(), { Heavy: 2 });
    await limiter.close();
    await Promise.all(held);
    ledger.close();
  });

  it('shows the items held per API group, redrawn at most every 250 ms', async () => {
    const scheduler = new HandScheduler();
    scheduler.snapshots = { Heavy: snapshot('Heavy', 0), Medium: snapshot('Medium', 40, 40) };
    const { clock, ledger, rec, limiter } = setup({ scheduler });
    assert.equal(rec.lastStatus()?.text, 'status.queue {"queued":0,"released":0}');
    const drawn = rec.statuses.length;
    const recordings = ['r1', 'r2', 'r3'].map((id) => item(id));
    for (const it of recordings) void limiter.input(message(it), rec.send);
    await clock.advance(STATUS_EVERY_MS - 1);
    assert.equal(rec.statuses.length, drawn, 'a burst is not redrawn at once');
    await clock.advance(1);
    assert.equal(rec.statuses.length, drawn + 1, 'a burst is one redraw');
    // Heavy has no room left: three items wait one window of 60 s.
    assert.deepEqual(rec.lastStatus(), {
      fill: 'blue',
      shape: 'ring',
      text: 'status.wait {"queued":3,"group":"Heavy","seconds":60}',
    });

    void limiter.input(message(item('v1', 'Voicemail')), rec.send);
    await clock.advance(STATUS_EVERY_MS);
    assert.equal(
      rec.lastStatus()?.text,
      'status.groups {"queued":4,"groups":"status.group {\\"group\\":\\"Heavy\\",\\"count\\":3} · status.group {\\"group\\":\\"Medium\\",\\"count\\":1}"}',
    );

    scheduler.snapshots.Heavy = { ...snapshot('Heavy', 0), pausedUntil: clock.now() + 30_000 };
    scheduler.grant('Voicemail:v1');
    await clock.advance(STATUS_EVERY_MS);
    assert.equal(rec.lastStatus()?.text, 'status.paused {"queued":3,"group":"Heavy","seconds":90}');
    assert.deepEqual(
      rec.sent.map((m) => m.topic),
      ['Voicemail:v1'],
    );
    await limiter.close();
    ledger.close();
  });

  it('puts every held item back on close and lets go of their messages without sending them', async () => {
    const scheduler = new HandScheduler();
    const { clock, ledger, rec, limiter, deferred } = setup({ scheduler });
    const items = ['c1', 'c2', 'c3'].map((id) => item(id));
    ledger.recordFound(items, 'source-1');
    let settled = 0;
    const inputs = items.map((it) => limiter.input(message(it), rec.send).then(() => settled++));
    await settle();
    assert.equal(settled, 0, 'held until a grant');
    const statuses = rec.statuses.length;
    // A grant that arrives as the node closes gives its permit back and sends nothing.
    scheduler.grant('CallRecording:c1');
    const closed = limiter.close();
    await closed;
    await Promise.all(inputs);
    assert.equal(settled, 3);
    assert.deepEqual(deferred.take('source-1').sort(), items.map((it) => it.key).sort());
    assert.deepEqual(scheduler.cancelled, ['CallRecording:c1']);
    assert.deepEqual(scheduler.parked, []);
    assert.equal(rec.sent.length, 0);
    await clock.advance(STATUS_EVERY_MS * 4);
    assert.equal(rec.statuses.length, statuses, 'no status after close');
    ledger.close();
  });

  it('puts items back when the rc-config closes its scheduler, and fails an item without a config', async () => {
    const scheduler = new HandScheduler();
    const { ledger, rec, limiter, deferred } = setup({ scheduler });
    const it1 = item('x');
    ledger.recordFound([it1], 'source-2');
    const input = limiter.input(message(it1), rec.send);
    scheduler.closeAll();
    await input;
    assert.deepEqual(deferred.take('source-2'), [it1.key]);
    assert.equal(rec.sent.length, 0);
    await limiter.close();

    const missing = setup({ noConfig: true });
    await assert.rejects(missing.limiter.input(message(item('y')), missing.rec.send), /rc is not deployed/);
    assert.equal(missing.rec.lastStatus()?.fill, 'red');
    // Messages without an item have nothing to download and go on at once.
    await missing.limiter.input({ topic: 'note', payload: 'hello' }, missing.rec.send);
    assert.deepEqual(
      missing.rec.sent.map((m) => m.payload),
      ['hello'],
    );
    await missing.limiter.close();
    ledger.close();
    missing.ledger.close();
  });

  it('sends messages on in the order the scheduler grants them: nearest deletion first, each with its grant parked', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: Date.parse('2026-06-01T12:00:00Z') });
    const budget = new RateBudget('Heavy', { limit: 1, windowSec: 1, margin: 0 });
    const scheduler = new Scheduler({ logins: () => [{ id: 'a', budget: () => budget }] });
    const clock = new FakeClock();
    const rec = recordingIO('limit', 'rc-rate-limit');
    const limiter = new RateLimiter({
      io: rec.io,
      clock,
      maxQueue: 100,
      schedulerFor: () => ({ scheduler, retention: { ...DEFAULT_RETENTION } }),
    });
    const now = Date.now();
    const created = (daysAgo: number) => new Date(now - daysAgo * DAY).toISOString();
    // Recordings are deleted 90 days after they were made: the oldest is the nearest to it.
    const items = [
      item('first', 'CallRecording', created(1)),
      item('d1', 'CallRecording', created(1)),
      item('d88', 'CallRecording', created(88)),
      item('d45', 'CallRecording', created(45)),
    ];
    const inputs = items.map((it) => limiter.input(message(it), rec.send));
    const claimed: string[] = [];
    for (let i = 0; i < 40 && rec.sent.length < items.length; i++) {
      await settle(5);
      const last = rec.sent.at(-1);
      const grant = last && scheduler.claim(String(last.topic));
      if (grant) claimed.push(grant.login);
      grant?.permit.done();
      t.mock.timers.tick(100);
    }
    await Promise.all(inputs);
    assert.deepEqual(
      rec.sent.map((m) => m.topic),
      ['CallRecording:first', 'CallRecording:d88', 'CallRecording:d45', 'CallRecording:d1'],
    );
    assert.deepEqual(claimed, ['a', 'a', 'a', 'a'], "each message's grant waits for the sink under its key");
    await limiter.close();
    scheduler.dispose();
  });
});
