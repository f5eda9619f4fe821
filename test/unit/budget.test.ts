import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  RateBudget,
  readRateLimitHeaders,
  type BudgetSnapshot,
  type BudgetState,
} from '../../lib/ringcentral/budget';

// The budget's timers are unref'd (they must never keep Node-RED alive); keep the test alive.
const keepAlive = setInterval(() => undefined, 1000);
after(() => clearInterval(keepAlive));

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The most timestamps that fall in any window of `windowMs`. */
function maxInWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0; i < sorted.length; i++) {
    let n = 0;
    for (let j = i; j < sorted.length && sorted[j] < sorted[i] + windowMs; j++) n++;
    most = Math.max(most, n);
  }
  return most;
}

describe('RateBudget', () => {
  it('never lets more than limit - margin requests into a sliding window', async () => {
    const budget = new RateBudget('Heavy', { limit: 5, windowSec: 0.3 });
    const times: number[] = [];
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 17 }, () =>
        budget.acquire().then((permit) => {
          times.push(Date.now());
          permit.done();
        }),
      ),
    );
    assert.equal(times.length, 17);
    assert.ok(maxInWindow(times, 300) <= 4, `at most 4 per window, saw ${maxInWindow(times, 300)}`);
    // 17 requests at 4 per 0.3 s need at least 4 more windows after the first burst.
    assert.ok(Date.now() - started >= 4 * 300 - 20, `took ${Date.now() - started} ms`);
    assert.ok(Date.now() - started < 4 * 300 + 600, `took ${Date.now() - started} ms`);
    budget.dispose();
  });

  it('counts a request from when its answer arrived (done), and gives back a cancelled slot', async () => {
    const budget = new RateBudget('Auth', { limit: 2, windowSec: 0.2 }); // capacity 1
    const first = await budget.acquire();
    await delay(150);
    first.done(); // the server answered only now: the slot is busy until now + 0.2 s
    const start = Date.now();
    const second = await budget.acquire();
    assert.ok(Date.now() - start >= 180, `waited ${Date.now() - start} ms`);
    second.cancel();
    const t = Date.now();
    await budget.acquire();
    assert.ok(Date.now() - t < 50, 'a cancelled permit frees its slot at once');
    budget.dispose();
  });

  it('adopts limit and window from the headers the server sent, in any case', async (t) => {
    // Mocked time: the pacing is asserted on the budget's own clock, not on a busy machine's timers.
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    const budget = new RateBudget('Heavy');
    assert.deepEqual([budget.snapshot().limit, budget.snapshot().windowSec], [10, 60]);
    assert.equal(budget.observe({ 'x-rate-limit-group': 'light', 'X-Rate-Limit-Limit': '99' }), false);
    assert.equal(budget.snapshot().limit, 10, 'headers of another group are ignored');
    const headers = new Headers({
      'X-RATE-LIMIT-GROUP': 'heavy',
      'x-rate-limit-limit': '3',
      'X-Rate-Limit-Window': '0.4',
    });
    assert.equal(budget.observe(headers), true);
    const snap = budget.snapshot();
    assert.equal(snap.limit, 3);
    assert.equal(snap.windowSec, 0.4);
    assert.equal(snap.remaining, 2);
    const times: number[] = [];
    const all = Promise.all([1, 2, 3, 4].map(() => budget.acquire().then(() => times.push(Date.now()))));
    for (let step = 0; step < 500 && times.length < 4; step++) {
      t.mock.timers.tick(10);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await all;
    assert.equal(times.length, 4);
    assert.ok(maxInWindow(times, 400) <= 2, `granted at ${times.map((x) => x - 1_000_000).join(', ')} ms`);
    assert.ok(times[3] - 1_000_000 >= 400, 'the fourth waits for the next window');
    budget.dispose();
  });

  it('pauses the whole group for Retry-After after a 429, acquire and ready alike', async () => {
    const budget = new RateBudget('Medium', { penaltySlackMs: 0 });
    const changes: BudgetSnapshot[] = [];
    budget.on('change', (s: BudgetSnapshot) => changes.push(s));
    const start = Date.now();
    budget.penalize(0.4);
    const snap = budget.snapshot();
    assert.ok(snap.pausedUntil && snap.pausedUntil >= start + 400);
    assert.equal(snap.penalties, 1);
    assert.ok(snap.remaining > 0, 'the window itself is not full');
    const resolved: number[] = [];
    await Promise.all([
      budget.acquire().then(() => resolved.push(Date.now() - start)),
      budget.ready().then(() => resolved.push(Date.now() - start)),
      budget.acquire().then(() => resolved.push(Date.now() - start)),
    ]);
    for (const ms of resolved) assert.ok(ms >= 395, `nothing may pass during the penalty (${ms} ms)`);
    assert.equal(budget.snapshot().pausedUntil, null);
    assert.ok(changes.length > 0, 'status changes are emitted');
    budget.dispose();
  });

  it('pauses at least 30 s when Retry-After is absent', async () => {
    const budget = new RateBudget('Light');
    const before = Date.now();
    budget.penalize();
    const until = budget.snapshot().pausedUntil ?? 0;
    assert.ok(until - before >= 30_000, `paused ${until - before} ms`);
    const waiting = budget.acquire();
    budget.dispose();
    await assert.rejects(waiting, /closed/);
  });

  it("honours the server's Remaining=0 by waiting for the window, and counts others' requests", async () => {
    const budget = new RateBudget('Heavy');
    budget.observe({
      'X-Rate-Limit-Limit': '10',
      'X-Rate-Limit-Window': '0.4',
      'X-Rate-Limit-Remaining': '2',
    });
    assert.equal(budget.snapshot().usedInWindow, 8, 'requests another process sent count too');
    assert.equal(
      budget.snapshot().remaining,
      2,
      "the server's Remaining, exactly: no margin once it has spoken",
    );
    budget.observe({
      'X-Rate-Limit-Limit': '10',
      'X-Rate-Limit-Window': '0.4',
      'X-Rate-Limit-Remaining': '0',
    });
    assert.ok(budget.snapshot().pausedUntil, 'blocked until the window has passed');
    const start = Date.now();
    await budget.acquire();
    assert.ok(Date.now() - start >= 390, `waited ${Date.now() - start} ms`);
    budget.dispose();
  });

  it('fills the window to the last request once the server counts, and a full window of its own waits only for its oldest', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 2_000_000 });
    const budget = new RateBudget('Heavy', { limit: 3, windowSec: 10 });
    const sendAt = async (remaining: number) => {
      const permit = budget.tryAcquire();
      assert.ok(permit, `a permit with ${remaining + 1} left`);
      const sentAt = Date.now();
      permit.sending?.();
      t.mock.timers.tick(50); // the answer comes 50 ms later
      permit.done();
      budget.observeParsed({ group: 'Heavy', limit: 3, remaining, windowSec: 10 }, sentAt);
    };
    await sendAt(2);
    t.mock.timers.tick(1_000);
    await sendAt(1);
    await sendAt(0);
    assert.equal(budget.tryAcquire(), undefined, 'the window is full');
    assert.equal(
      budget.snapshot().pausedUntil,
      null,
      'Remaining=0 from its own requests blocks no whole window',
    );
    // The first request's slot frees 10 s after its answer (2 000 050), not a window after the last.
    assert.equal(budget.msUntilFree(), 2_010_050 - Date.now());
    t.mock.timers.tick(budget.msUntilFree());
    assert.ok(budget.tryAcquire(), 'the next request goes as soon as the oldest leaves the window');
    budget.dispose();
  });

  it('a request sent and not yet answered holds its slot past the window; a permit kept unsent past it is expired', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 3_000_000 });
    const budget = new RateBudget('Heavy', { limit: 2, windowSec: 2, margin: 0 });
    const slow = budget.tryAcquire()!;
    slow.sending?.();
    const kept = budget.tryAcquire()!;
    t.mock.timers.tick(5_000); // both are older than the window
    assert.equal(
      budget.snapshot().usedInWindow,
      1,
      'the slow request still counts: the server may see it late',
    );
    assert.equal(kept.expired?.(), true, 'the unsent permit has lost its slot');
    assert.equal(slow.expired?.(), false);
    slow.done(); // answered now: counts one window from now
    assert.equal(budget.snapshot().usedInWindow, 1);
    t.mock.timers.tick(2_000);
    assert.equal(budget.snapshot().usedInWindow, 0);
    budget.dispose();
  });

  it('serves waiters first come, first served, and drops aborted ones', async () => {
    const budget = new RateBudget('Heavy', { limit: 2, windowSec: 0.1 }); // one per 0.1 s
    await budget.acquire();
    const order: string[] = [];
    const abort = new AbortController();
    const waits = ['a', 'b', 'c', 'd'].map((name) =>
      budget.acquire(name === 'b' ? abort.signal : undefined).then(
        () => order.push(name),
        (err: Error) => order.push(`${name}:${err.name}`),
      ),
    );
    const readyWait = budget.ready().then(() => order.push('ready'));
    assert.equal(budget.snapshot().queued, 5);
    abort.abort();
    await Promise.all([...waits, readyWait]);
    assert.deepEqual(order, ['b:AbortError', 'a', 'c', 'd', 'ready']);
    budget.dispose();
  });

  it('ready() resolves when a request could be sent, without counting one', async () => {
    const budget = new RateBudget('Light', { limit: 3, windowSec: 0.3 });
    for (let i = 0; i < 5; i++) await budget.ready();
    assert.equal(budget.snapshot().usedInWindow, 0);
    await budget.acquire();
    await budget.acquire();
    assert.equal(budget.snapshot().remaining, 0);
    const start = Date.now();
    await budget.ready();
    assert.ok(Date.now() - start >= 250, 'ready waits while the window is full');
    assert.equal(budget.snapshot().usedInWindow, 0, 'the old requests aged out; ready took nothing');
    budget.dispose();
  });

  it('dispose() rejects every waiter and later calls', async () => {
    const budget = new RateBudget('Heavy', { limit: 2, windowSec: 60 });
    await budget.acquire();
    const waiting = [budget.acquire(), budget.ready(), budget.acquire()];
    budget.dispose();
    for (const w of waiting) await assert.rejects(w, /rate budget \(Heavy\) is closed/);
    await assert.rejects(budget.acquire(), /closed/);
  });
});

describe('readRateLimitHeaders', () => {
  it('reads X-Rate-Limit-* and Retry-After from Headers, Maps and plain objects', () => {
    assert.deepEqual(
      readRateLimitHeaders({
        'x-rate-limit-group': 'Heavy',
        'x-rate-limit-limit': '10',
        'x-rate-limit-remaining': '0',
        'x-rate-limit-window': '60',
        'retry-after': '61',
      }),
      { group: 'Heavy', limit: 10, remaining: 0, windowSec: 60, retryAfterSec: 61 },
    );
    assert.deepEqual(readRateLimitHeaders(new Map([['X-Rate-Limit-Limit', '40']])), { limit: 40 });
    assert.deepEqual(readRateLimitHeaders(new Headers({ 'X-Rate-Limit-Window': '60' })), { windowSec: 60 });
    assert.deepEqual(readRateLimitHeaders({ 'X-Rate-Limit-Limit': ['5', '6'] }), { limit: 5 });
    assert.deepEqual(readRateLimitHeaders({ 'x-rate-limit-limit': 'abc' }), {});
    const date = new Date(Date.now() + 10_000).toUTCString();
    const retry = readRateLimitHeaders({ 'Retry-After': date }).retryAfterSec ?? 0;
    assert.ok(retry > 8 && retry <= 10);
  });
});

describe('RateBudget before the first answer', () => {
  it('sends one request at a time until an answer arrives, then paces by the window', async () => {
    const budget = new RateBudget('Heavy', { limit: 10, windowSec: 60, firstAnswerGate: true });
    const first = await budget.acquire();
    let secondGranted = false;
    const second = budget.acquire().then((p) => {
      secondGranted = true;
      return p;
    });
    await delay(100);
    assert.equal(secondGranted, false, 'a second request waits while the first has no answer');
    // The answer says the server counted 6 of 10, this one and 5 of a previous process: 4 are left.
    first.sending?.();
    first.done();
    budget.observe({
      'X-Rate-Limit-Group': 'Heavy',
      'X-Rate-Limit-Limit': '10',
      'X-Rate-Limit-Remaining': '4',
      'X-Rate-Limit-Window': '60',
    });
    (await second).done();
    assert.equal(secondGranted, true);
    assert.equal(budget.snapshot().usedInWindow, 7, 'the server-side count is adopted');
    assert.equal(budget.snapshot().remaining, 3, 'and its Remaining is used exactly');
    budget.dispose();
  });
});

describe('RateBudget across a restart', () => {
  /** Lets the budget's timers run on mocked time until `done()` says so. */
  async function runUntil(t: { mock: { timers: { tick(ms: number): void } } }, done: () => boolean) {
    for (let step = 0; step < 5_000 && !done(); step++) {
      t.mock.timers.tick(10);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  it('a budget started from the kept state waits for what the previous process spent', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    const before = new RateBudget('Heavy', { limit: 4, windowSec: 10, margin: 0 });
    let kept: BudgetState | undefined;
    before.on('spent', () => (kept = before.state()));
    for (let i = 0; i < 3; i++) (await before.acquire()).done();
    await before.acquire(); // sent, never answered: the process is killed now
    assert.deepEqual(kept, {
      limit: 4,
      windowSec: 10,
      spent: [1_000_000, 1_000_000, 1_000_000],
      pending: [1_000_000],
    });
    t.mock.timers.tick(2_000);

    const after = new RateBudget('Heavy', { restore: kept, margin: 0 });
    const snap = after.snapshot();
    assert.deepEqual([snap.limit, snap.windowSec, snap.usedInWindow, snap.remaining], [4, 10, 4, 0]);
    let grantedAt = 0;
    const next = after.acquire().then((permit) => {
      grantedAt = Date.now();
      permit.done();
    });
    await runUntil(t, () => grantedAt > 0);
    await next;
    // The three answered requests leave the window at 1 010 000; the unanswered one counts from
    // the restart (the server saw it no later).
    assert.ok(grantedAt >= 1_010_000 && grantedAt < 1_011_000, `granted at ${grantedAt - 1_000_000} ms`);
    assert.equal(after.snapshot().usedInWindow, 2, 'the one from the restart and the new one');
    before.dispose();
    after.dispose();
  });

  it('keeps a 429 penalty and a Remaining=0 block across the restart', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 5_000_000 });
    const before = new RateBudget('Light', { penaltySlackMs: 0 });
    before.penalize(20);
    const penalty = before.state();
    assert.equal(penalty.pausedUntil, 5_020_000);
    t.mock.timers.tick(5_000);
    const after = new RateBudget('Light', { restore: penalty });
    assert.equal(after.snapshot().pausedUntil, 5_020_000, 'the rest of the penalty is waited out');

    const blocked = new RateBudget('Medium');
    blocked.observe({
      'X-Rate-Limit-Limit': '40',
      'X-Rate-Limit-Remaining': '0',
      'X-Rate-Limit-Window': '60',
    });
    const restored = new RateBudget('Medium', { restore: blocked.state() });
    assert.equal(restored.snapshot().pausedUntil, 5_065_000);
    assert.equal(restored.snapshot().usedInWindow, 40, "the server's count is kept too");
    for (const b of [before, after, blocked, restored]) b.dispose();
  });

  it('ignores a damaged state instead of trusting it', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 9_000_000 });
    const damaged = {
      limit: 'ten',
      windowSec: -5,
      spent: ['x', Number.NaN, 9_000_000 + 1e12, 8_999_000],
      pending: 'none',
      pausedUntil: 9_000_000 + 1e12,
    } as unknown as BudgetState;
    const budget = new RateBudget('Heavy', { restore: damaged });
    const snap = budget.snapshot();
    assert.deepEqual([snap.limit, snap.windowSec, snap.usedInWindow], [10, 60, 1]);
    assert.ok((snap.pausedUntil ?? 0) <= 9_000_000 + 86_400_000, 'no pause longer than a day');
    budget.dispose();
  });
});
