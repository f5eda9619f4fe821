// The sink worker on mocked time: a storage target that fails pauses the sink once (one outage
// notice, no transfer started while it lasts), is probed with a doubling pause, and the backlog goes
// out by itself once it works; a failure of one file stays that item's failure.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { archiveItem, TargetDownError } from '../../lib/archive';
import type { ArchiveItem, Receipt } from '../../lib/items';
import { Ledger } from '../../lib/ledger/index';
import type { ContentFetcher } from '../../lib/ringcentral/types';
import { SinkWorker, type Outage, type WorkerClock } from '../../lib/sink-worker';
import { FolderStorage } from '../../lib/storage/folder';
import { ProviderError } from '../../lib/storage/retry';
import { asTargetError, isTargetFailure, TargetError } from '../../lib/storage/target';

/** Timers that run only when the test moves the clock. */
class FakeClock implements WorkerClock {
  time = 1_000_000;
  private timers: Array<{ at: number; run: () => void; id: number }> = [];
  private nextId = 1;
  now = () => this.time;
  setTimeout = (run: () => void, ms: number) => {
    const id = this.nextId++;
    this.timers.push({ at: this.time + ms, run, id });
    return id;
  };
  clearTimeout = (handle: unknown) => {
    this.timers = this.timers.filter((t) => t.id !== handle);
  };
  get pending(): number {
    return this.timers.length;
  }
  /** Moves the clock, running each timer due on the way, and lets the promises settle. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      await settle();
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.time = due.at;
      due.run();
    }
    this.time = end;
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 200; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

const receipt = (key: string): Receipt => ({
  provider: 'test',
  path: `${key}.bin`,
  bytes: 1,
  sha256: 'x',
  alreadyPresent: false,
  archivedAt: new Date(0).toISOString(),
});

/** A target whose health the test sets; it counts transfers (each one a RingCentral download). */
function harness(options: { concurrency?: number; staleAfterMs?: number } = {}) {
  const clock = new FakeClock();
  const target = {
    up: true,
    reason: 'host key mismatch',
    writesFail: false,
    probes: [] as number[],
    kinds: [] as string[],
  };
  const started: string[] = [];
  const archived: string[] = [];
  const failed: Array<{ key: string; message: string }> = [];
  const downs: Outage[] = [];
  const ups: Array<{ reason: string; downForMs: number; waiting: number }> = [];
  const itemFaults = new Set<string>();
  const worker = new SinkWorker<{ key: string }>({
    concurrency: options.concurrency ?? 4,
    clock,
    staleAfterMs: options.staleAfterMs,
    async archive(job) {
      started.push(job.key);
      // A transfer takes a turn of the event loop, so that several are under way at once.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (itemFaults.has(job.key)) throw new Error(`a folder is in the way of ${job.key}`);
      if (!target.up || target.writesFail) throw asTargetError(new Error(target.reason));
      return receipt(job.key);
    },
    async probe(kind) {
      target.probes.push(clock.now());
      target.kinds.push(kind);
      if (!target.up) throw new Error(target.reason);
    },
    onArchived: (job) => archived.push(job.key),
    onFailed: (job, err) => failed.push({ key: job.key, message: (err as Error).message }),
    onDown: (o) => downs.push(o),
    onUp: (u) => ups.push(u),
  });
  const push = (n: number, prefix = 'item') => {
    for (let i = 1; i <= n; i++) worker.push({ key: `${prefix}-${i}` });
  };
  return { clock, target, worker, started, archived, failed, downs, ups, itemFaults, push };
}

describe('sink worker', () => {
  it('a target down from the start: one outage, no transfer while it lasts, probes 5 s doubling to 5 min, then every item once', async () => {
    const h = harness();
    h.target.up = false;
    h.push(56);
    await h.clock.advance(0);
    assert.equal(h.downs.length, 1, 'one outage notice');
    assert.equal(h.downs[0].reason, 'host key mismatch');
    assert.equal(h.downs[0].waiting.length, 56, 'it names every waiting item');
    assert.equal(h.downs[0].nextProbeAt - h.clock.now(), 5000);
    assert.equal(h.started.length, 0, 'no transfer opened');
    assert.equal(h.worker.state.health, 'down');
    assert.equal(h.worker.state.waiting, 56);

    // Twenty minutes down: the probe pause doubles and stops at 5 min.
    const start = h.clock.now();
    await h.clock.advance(20 * 60_000);
    const gaps = h.target.probes.map((at, i) => at - (i ? h.target.probes[i - 1] : start));
    assert.deepEqual(gaps.slice(0, 8), [0, 5000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000]);
    assert.ok(
      gaps.slice(7).every((g) => g === 300_000),
      'never more than 5 min apart',
    );
    assert.equal(h.started.length, 0, 'still no transfer');
    assert.equal(h.downs.length, 1, 'still one notice');
    assert.equal(h.failed.length, 0, 'nothing failed');

    // More items arrive while it is down: they wait too.
    h.push(4, 'late');
    await h.clock.advance(0);
    assert.equal(h.started.length, 0);
    assert.equal(h.worker.state.waiting, 60);

    h.target.up = true;
    await h.clock.advance(300_000);
    assert.equal(h.archived.length, 60, 'the backlog went out by itself');
    assert.equal(h.started.length, 60, 'one transfer per item');
    assert.equal(new Set(h.archived).size, 60);
    assert.equal(h.ups.length, 1, 'one recovery');
    assert.equal(h.ups[0].reason, 'host key mismatch');
    assert.ok(h.ups[0].downForMs >= 20 * 60_000);
    assert.equal(h.worker.state.health, 'up');
    assert.equal(h.clock.pending, 0, 'no probe left scheduled');
  });

  it('the check before a run writes nothing; only the checks of a target that is down write a probe file', async () => {
    const h = harness({ staleAfterMs: 60_000 });
    h.push(3);
    await h.clock.advance(0);
    assert.deepEqual(h.target.kinds, ['routine'], 'the first check of a run is routine');
    await h.clock.advance(30 * 60_000);
    h.push(3, 'next');
    await h.clock.advance(0);
    assert.deepEqual(h.target.kinds, ['routine', 'routine'], 'the next half-hourly run: routine again');
    h.target.up = false;
    await h.clock.advance(30 * 60_000);
    h.push(2, 'down');
    await h.clock.advance(0);
    await h.clock.advance(5000);
    await h.clock.advance(10_000);
    assert.deepEqual(
      h.target.kinds.slice(2),
      ['routine', 'recovery', 'recovery'],
      'a down target is proved by a write',
    );
    h.target.up = true;
    await h.clock.advance(20_000);
    assert.equal(h.archived.length, 8);
  });

  it('an outage in the middle of a run: the transfers under way wait again, nothing new starts, no retry spent', async () => {
    const h = harness({ concurrency: 4 });
    h.push(10);
    await h.clock.advance(0);
    // The first probe passed and the first transfers went through.
    assert.equal(h.archived.length, 10);
    h.target.up = false;
    h.push(20, 'next');
    await h.clock.advance(0);
    // Health was confirmed moments ago, so the first four started and failed at the target.
    assert.equal(h.started.length, 14);
    assert.equal(h.downs.length, 1);
    assert.equal(h.downs[0].waiting.length, 20, 'the four under way wait with the rest');
    assert.equal(h.failed.length, 0, 'no item failed');
    await h.clock.advance(60_000);
    assert.equal(h.started.length, 14, 'nothing started while down');

    h.target.up = true;
    await h.clock.advance(80_000);
    assert.equal(h.archived.length, 30);
    assert.deepEqual(
      new Set(h.archived.slice(10, 14)),
      new Set(['next-1', 'next-2', 'next-3', 'next-4']),
      'the interrupted ones go first',
    );
    assert.equal(h.ups.length, 1);
  });

  it('a target that passes the probe but still refuses writes costs one transfer per probe and stays one outage', async () => {
    const h = harness({ concurrency: 8 });
    h.target.writesFail = true;
    h.target.reason = 'the server refused the write (disk full?)';
    h.push(30);
    await h.clock.advance(0);
    assert.equal(h.started.length, 8, 'the first probe passed: one batch');
    assert.equal(h.downs.length, 1);
    await h.clock.advance(5000 + 10_000);
    assert.equal(h.target.probes.length, 3);
    assert.equal(h.started.length, 8 + 2, 'one trial after each passing probe');
    assert.equal(h.downs.length, 1, 'one outage');
    assert.equal(h.ups.length, 0, 'not recovered while writes fail');
    assert.equal(h.failed.length, 0);
    h.target.writesFail = false;
    await h.clock.advance(20_000);
    assert.equal(h.archived.length, 30);
    assert.equal(h.ups.length, 1);
  });

  it('an item the target refuses right after three passing probes fails on its own and holds nothing back', async () => {
    const clock = new FakeClock();
    const tried: string[] = [];
    const archived: string[] = [];
    const failed: string[] = [];
    const downs: Outage[] = [];
    const worker = new SinkWorker<{ key: string }>({
      concurrency: 2,
      clock,
      async archive(job) {
        tried.push(job.key);
        await new Promise<void>((resolve) => setImmediate(resolve));
        // A 5xx for this one file only, every time.
        if (job.key === 'poison') throw new ProviderError('500 internal error', { status: 500 });
        return receipt(job.key);
      },
      probe: async () => {},
      onArchived: (job) => archived.push(job.key),
      onFailed: (job) => failed.push(job.key),
      onDown: (o) => downs.push(o),
      onUp: () => {},
    });
    worker.push({ key: 'poison' });
    for (let i = 1; i <= 5; i++) worker.push({ key: `ok-${i}` });
    await clock.advance(10 * 60_000);
    assert.deepEqual(failed, ['poison']);
    assert.equal(archived.length, 5);
    assert.equal(tried.filter((k) => k === 'poison').length, 4, 'the first try and three trials');
    assert.equal(downs.length, 1);
  });

  it("a failure of one file stays that item's failure and does not pause the sink", async () => {
    const h = harness();
    h.itemFaults.add('item-3');
    h.push(6);
    await h.clock.advance(0);
    assert.deepEqual(h.failed, [{ key: 'item-3', message: 'a folder is in the way of item-3' }]);
    assert.equal(h.archived.length, 5);
    assert.equal(h.downs.length, 0);
    assert.equal(h.worker.state.health, 'up');
  });

  it('after a quiet spell the target is probed before the next transfer', async () => {
    const h = harness({ staleAfterMs: 60_000 });
    h.push(2);
    await h.clock.advance(0);
    assert.equal(h.target.probes.length, 1);
    await h.clock.advance(30 * 60_000);
    h.target.up = false;
    h.push(3, 'run2');
    await h.clock.advance(0);
    assert.equal(h.target.probes.length, 2, 'probed again before the new run');
    assert.equal(h.started.length, 2, 'the new run opened no transfer');
    assert.equal(h.downs.length, 1);
  });

  it('close hands back the waiting items and stops probing', async () => {
    const h = harness();
    h.target.up = false;
    h.push(5);
    await h.clock.advance(0);
    const back = h.worker.close();
    assert.equal(back.length, 5);
    assert.equal(h.clock.pending, 0);
    await h.clock.advance(600_000);
    assert.equal(h.target.probes.length, 1);
  });

  it('holds at most maxWaiting items; the rest are handed to onOverflow', async () => {
    const overflow: string[] = [];
    const clock = new FakeClock();
    const worker = new SinkWorker<{ key: string }>({
      concurrency: 1,
      clock,
      maxWaiting: 3,
      onOverflow: (job) => overflow.push(job.key),
      archive: async (job) => receipt(job.key),
      probe: () => Promise.reject(new Error('connection refused')),
      onArchived: () => {},
      onFailed: () => {},
      onDown: () => {},
      onUp: () => {},
    });
    for (let i = 1; i <= 5; i++) worker.push({ key: `k${i}` });
    await clock.advance(0);
    assert.deepEqual(overflow, ['k4', 'k5']);
    assert.equal(worker.state.waiting, 3);
    worker.close();
  });
});

describe('target-level failures', () => {
  it('are recognised by their field, through the causes, not by class', () => {
    assert.equal(isTargetFailure(new TargetError('root gone')), true);
    assert.equal(isTargetFailure(new Error('wrapped', { cause: asTargetError(new Error('x')) })), true);
    // Marked by the field alone, as an adapter marks a provider's error in place.
    assert.equal(isTargetFailure({ message: 'marked by field', target: true }), true);
    assert.equal(isTargetFailure(new ProviderError('refused', { auth: true })), true);
    assert.equal(isTargetFailure(new ProviderError('quota', { status: 507, target: true })), true);
    assert.equal(
      isTargetFailure(new Error('store', { cause: Object.assign(new Error('x'), { code: 'ENOSPC' }) })),
      true,
    );
    assert.equal(isTargetFailure(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), true);
    assert.equal(isTargetFailure(new ProviderError('409 conflict', { status: 409 })), false);
    assert.equal(isTargetFailure(new Error('a folder is in the way')), false);
    assert.equal(
      isTargetFailure(
        Object.assign(new Error('name refused'), { target: false, cause: new TargetError('deeper') }),
      ),
      false,
      'an explicit target: false is the adapter saying it is the file',
    );
  });
});

describe('archiveItem and a failed target', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rc-sink-worker-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const item: ArchiveItem = {
    key: 'CallRecording:77',
    kind: 'CallRecording',
    accountId: '1',
    createdAt: '2024-05-01T22:30:00.000Z',
    fileName: '77.mp3',
    contentType: 'audio/mpeg',
    content: { uri: 'https://media.example/recording/77/content' },
    record: { id: '77' },
    rc: 'rc',
  };
  const fetcher: ContentFetcher = {
    async openContent() {
      return { body: Readable.from([Buffer.from('audio')]), contentType: 'audio/mpeg', contentLength: 5 };
    },
  } as unknown as ContentFetcher;

  it('leaves the item Pending (not Failed) and says it is the target', async () => {
    const ledger = Ledger.open(path.join(dir, 'ledger.sqlite'));
    try {
      ledger.recordFound([item], 'src');
      // The mount point's parent is a file: the root can never be made.
      const blocker = path.join(dir, 'mnt');
      writeFileSync(blocker, 'not a folder');
      const storage = new FolderStorage(path.join(blocker, 'archive'));
      const deps = {
        fetcher,
        storage,
        ledger,
        sinkName: 'sink',
        template: '{id}',
        timeZone: 'UTC',
        sidecar: false,
      };
      const err = await archiveItem(item, deps).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof TargetDownError, String(err));
      assert.equal(isTargetFailure(err), true);
      assert.match((err as TargetDownError).reason, /folder storage: cannot store/);
      assert.equal(ledger.get(item.key)?.status, 'Pending');
      assert.equal(ledger.get(item.key)?.lastError, undefined);

      // A conflicting file at the item's own path is the item's failure.
      rmSync(blocker);
      const root = path.join(dir, 'ok');
      const good = new FolderStorage(root);
      await good.check();
      writeFileSync(path.join(root, 'CallRecording'), 'in the way');
      const itemErr = await archiveItem(item, {
        ...deps,
        storage: good,
        template: 'CallRecording/{id}',
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(itemErr instanceof Error && !(itemErr instanceof TargetDownError), String(itemErr));
      assert.equal(isTargetFailure(itemErr), false);
      assert.equal(ledger.get(item.key)?.status, 'Failed');
    } finally {
      ledger.close();
    }
  });
});
