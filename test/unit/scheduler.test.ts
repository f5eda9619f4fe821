import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { RateBudget } from '../../lib/ringcentral/budget';
import type { ApiGroup, ContentFetcher, OpenContentOptions } from '../../lib/ringcentral/types';
import {
  deletionTime,
  fetcherWithGrants,
  Scheduler,
  type Grant,
  type SchedulerLogin,
} from '../../lib/scheduler';
import { DEFAULT_RETENTION } from '../../lib/retention';

const T0 = 1_000_000;

/** A login with its own budgets (as one RcClient has), limits given per group. */
function login(
  id: string,
  limits: Partial<Record<ApiGroup, number>>,
  windowSec = 60,
): SchedulerLogin & {
  budgets: Map<ApiGroup, RateBudget>;
} {
  const budgets = new Map<ApiGroup, RateBudget>();
  return {
    id,
    budgets,
    budget(group: ApiGroup) {
      let budget = budgets.get(group);
      if (!budget) {
        budget = new RateBudget(group, { limit: limits[group] ?? 10, windowSec, margin: 0 });
        budgets.set(group, budget);
      }
      return budget;
    },
  };
}

/** Lets timers and promise callbacks run on mocked time, `ms` in steps of 10 ms. */
async function advance(t: TestContext, ms: number): Promise<void> {
  for (let passed = 0; passed < ms; passed += 10) {
    t.mock.timers.tick(Math.min(10, ms - passed));
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

interface Recorded {
  key: string;
  at: number;
  grant: Grant;
}

/** Schedules each request and records when (mocked time) and with which login it was granted. */
function scheduleAll(
  scheduler: Scheduler,
  requests: Array<{ key: string; group: ApiGroup; deleteAt?: number; createdAt?: string }>,
  granted: Recorded[],
  signal?: AbortSignal,
): Array<Promise<void>> {
  return requests.map((request) =>
    scheduler.schedule(request, signal).then(
      (grant) => {
        granted.push({ key: request.key, at: Date.now(), grant });
        grant.permit.done();
      },
      () => undefined,
    ),
  );
}

describe('Scheduler', () => {
  it('serves each API group on its own: Medium items never wait behind a Heavy backlog', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T0 });
    const one = login('a', { Heavy: 2, Medium: 3 });
    const scheduler = new Scheduler({ logins: () => [one] });
    const granted: Recorded[] = [];
    scheduleAll(
      scheduler,
      Array.from({ length: 10 }, (_, i) => ({ key: `CallRecording:${i}`, group: 'Heavy' as const })),
      granted,
    );
    scheduleAll(
      scheduler,
      Array.from({ length: 5 }, (_, i) => ({ key: `Voicemail:${i}`, group: 'Medium' as const })),
      granted,
    );
    await settle();
    const at0 = granted.filter((g) => g.at === T0).map((g) => g.key);
    assert.deepEqual(
      at0.filter((k) => k.startsWith('Voicemail')),
      ['Voicemail:0', 'Voicemail:1', 'Voicemail:2'],
      'Medium uses its whole budget at once although Heavy is backed up',
    );
    assert.equal(at0.filter((k) => k.startsWith('CallRecording')).length, 2, 'Heavy uses its own');
    assert.deepEqual(scheduler.queued(), { Heavy: 8, Medium: 2 });
    await advance(t, 60_010);
    assert.equal(granted.filter((g) => g.key.startsWith('Voicemail')).length, 5);
    assert.equal(granted.filter((g) => g.key.startsWith('CallRecording')).length, 4, 'Heavy: 2 a window');
    scheduler.dispose();
  });

  it('gives a slot to the item RingCentral deletes soonest, then to the oldest', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T0 });
    const one = login('a', { Heavy: 1 }, 10);
    const scheduler = new Scheduler({ logins: () => [one] });
    (await one.budget('Heavy').acquire()).done(); // the window is full until T0 + 10 s
    const granted: Recorded[] = [];
    const day = 86_400_000;
    scheduleAll(
      scheduler,
      [
        { key: 'no-deletion-old', group: 'Heavy', createdAt: '2026-01-01T00:00:00Z' },
        { key: '89-days-left', group: 'Heavy', deleteAt: T0 + 89 * day, createdAt: '2026-11-01T00:00:00Z' },
        { key: '2-days-left', group: 'Heavy', deleteAt: T0 + 2 * day, createdAt: '2026-11-02T00:00:00Z' },
        {
          key: '30-days-left-newer',
          group: 'Heavy',
          deleteAt: T0 + 30 * day,
          createdAt: '2026-11-20T00:00:00Z',
        },
        {
          key: '30-days-left-older',
          group: 'Heavy',
          deleteAt: T0 + 30 * day,
          createdAt: '2026-11-10T00:00:00Z',
        },
        { key: 'no-deletion-new', group: 'Heavy', createdAt: '2026-06-01T00:00:00Z' },
      ],
      granted,
    );
    await advance(t, 6 * 10_000 + 100);
    assert.deepEqual(
      granted.map((g) => g.key),
      [
        '2-days-left',
        '30-days-left-older',
        '30-days-left-newer',
        '89-days-left',
        'no-deletion-old',
        'no-deletion-new',
      ],
    );
    const gaps = granted.slice(1).map((g, i) => g.at - granted[i].at);
    for (const gap of gaps) assert.ok(gap >= 10_000, `one a window (${gap} ms)`);
    scheduler.dispose();
  });

  it('uses the Remaining the server sent exactly: limit 10, Remaining 7 -> 7 more in the window', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T0 });
    // The client's own budget: a reserve of 1 and one request at a time until the first answer.
    const budget = new RateBudget('Heavy', { firstAnswerGate: true });
    const one: SchedulerLogin = { id: 'a', budget: () => budget };
    const scheduler = new Scheduler({ logins: () => [one] });
    const first = await scheduler.schedule({ key: 'first', group: 'Heavy' });
    const granted: Recorded[] = [];
    scheduleAll(
      scheduler,
      Array.from({ length: 12 }, (_, i) => ({ key: `k${i}`, group: 'Heavy' as const })),
      granted,
    );
    await settle();
    assert.equal(granted.length, 0, 'nothing more before the first answer');
    await advance(t, 500);
    first.permit.sending?.();
    first.permit.done();
    // Two requests of another process were counted too.
    budget.observeParsed({ group: 'Heavy', limit: 10, remaining: 7, windowSec: 60 }, T0);
    await settle();
    assert.equal(granted.length, 7, 'exactly Remaining more, no margin kept back');
    await advance(t, 59_000);
    assert.equal(granted.length, 7, 'and no more within the window');
    await advance(t, 2_000);
    assert.ok(granted.length > 7, 'the next window opens');
    scheduler.dispose();
  });

  it('keeps the reserve after a restart within the window until the server has said what is left', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T0 });
    // The previous process spent 3 of 10 a little earlier.
    const budget = new RateBudget('Heavy', {
      restore: { limit: 10, windowSec: 60, spent: [T0 - 5_000, T0 - 5_000, T0 - 5_000] },
    });
    const scheduler = new Scheduler({ logins: () => [{ id: 'a', budget: () => budget }] });
    const granted: Recorded[] = [];
    scheduleAll(
      scheduler,
      Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, group: 'Heavy' as const })),
      granted,
    );
    await settle();
    assert.equal(granted.length, 6, '10 - 3 spent - 1 in reserve');
    // The server's answer: 9 counted, 1 left; from now on that is used exactly.
    budget.observeParsed({ group: 'Heavy', limit: 10, remaining: 1, windowSec: 60 }, T0);
    await settle();
    assert.equal(granted.length, 7, 'the reserve is spent once the server has spoken');
    scheduler.dispose();
  });

  it('spreads downloads over the logins with room, and a login taken out gets nothing more', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T0 });
    const a = login('a', { Heavy: 3 });
    const b = login('b', { Heavy: 3 });
    let pool: SchedulerLogin[] = [a, b];
    const scheduler = new Scheduler({ logins: () => pool });
    const granted: Recorded[] = [];
    scheduleAll(
      scheduler,
      Array.from({ length: 12 }, (_, i) => ({ key: `k${i}`, group: 'Heavy' as const })),
      granted,
    );
    await settle();
    const byLogin = (list: Recorded[], id: string) => list.filter((g) => g.grant.login === id).length;
    assert.equal(granted.length, 6, 'both budgets at once');
    assert.deepEqual([byLogin(granted, 'a'), byLogin(granted, 'b')], [3, 3]);
    // RingCentral refused b: the pool drops it.
    pool = [a];
    scheduler.refresh();
    await advance(t, 60_100);
    const later = granted.slice(6);
    assert.equal(later.length, 3, 'one login: its budget only');
    assert.equal(byLogin(later, 'b'), 0, 'nothing for the login taken out');
    scheduler.dispose();
  });

  it('gives the place of an aborted waiter back and rejects waiters when closed', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T0 });
    const one = login('a', { Heavy: 1 }, 10);
    const scheduler = new Scheduler({ logins: () => [one] });
    (await one.budget('Heavy').acquire()).done();
    const abort = new AbortController();
    const early = scheduler.schedule({ key: 'early', group: 'Heavy', deleteAt: T0 }, abort.signal);
    const later = scheduler.schedule({ key: 'later', group: 'Heavy' });
    const last = scheduler.schedule({ key: 'last', group: 'Heavy' });
    abort.abort();
    await assert.rejects(early, { name: 'AbortError' });
    assert.deepEqual(scheduler.queued(), { Heavy: 2 });
    await advance(t, 10_100);
    const grant = await later;
    assert.equal(grant.login, 'a');
    scheduler.dispose();
    await assert.rejects(last, { name: 'SchedulerClosedError' });
    await assert.rejects(scheduler.schedule({ key: 'x', group: 'Heavy' }), { name: 'SchedulerClosedError' });
  });

  it('parks a grant for the download; unclaimed, its permit goes back', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T0 });
    const one = login('a', { Heavy: 2 });
    const scheduler = new Scheduler({ logins: () => [one], holdMs: 30_000 });
    scheduler.hold('k1', await scheduler.schedule({ key: 'k1', group: 'Heavy' }));
    scheduler.hold('k2', await scheduler.schedule({ key: 'k2', group: 'Heavy' }));
    assert.equal(one.budget('Heavy').snapshot().remaining, 0, 'both permits are taken');
    const claimed = scheduler.claim('k1');
    assert.equal(claimed?.login, 'a');
    assert.equal(scheduler.claim('k1'), undefined, 'claimed once');
    await advance(t, 30_010);
    assert.equal(scheduler.holding, 0);
    assert.equal(one.budget('Heavy').snapshot().remaining, 1, "the unclaimed permit's slot is free again");
    claimed?.permit.done();
    scheduler.dispose();
  });

  it('the sink fetcher downloads with the held grant of the item, else as before', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T0 });
    const one = login('a', { Heavy: 5, Medium: 5 });
    const scheduler = new Scheduler({ logins: () => [one] });
    const calls: Array<{ login?: string; permit: boolean }> = [];
    const fetcherOf = (id?: string): ContentFetcher => ({
      openContent: async (_uri: string, options?: OpenContentOptions) => {
        calls.push({ login: id, permit: !!options?.permit });
        options?.permit?.done();
        return { body: undefined as never };
      },
    });
    const fetcher = fetcherWithGrants(scheduler, fetcherOf);
    scheduler.hold('CallRecording:1', await scheduler.schedule({ key: 'CallRecording:1', group: 'Heavy' }));
    scheduler.hold('Fax:2', await scheduler.schedule({ key: 'Fax:2', group: 'Medium' }));
    await fetcher.openContent('u1', { key: 'CallRecording:1', group: 'Heavy' });
    await fetcher.openContent('u3', { key: 'CallRecording:3', group: 'Heavy' });
    // Released as Medium (a fixed group), downloaded as Heavy: the Medium permit goes back.
    await fetcher.openContent('u2', { key: 'Fax:2', group: 'Heavy' });
    assert.deepEqual(calls, [
      { login: 'a', permit: true },
      { login: undefined, permit: false },
      { login: undefined, permit: false },
    ]);
    assert.equal(one.budget('Medium').snapshot().usedInWindow, 0, 'the unused Medium permit was given back');
    scheduler.dispose();
  });

  it('knows when RingCentral deletes an item from the rc-config retention figures', () => {
    const createdAt = '2026-11-01T00:00:00.000Z';
    const created = Date.parse(createdAt);
    const day = 86_400_000;
    assert.equal(
      deletionTime({ kind: 'CallRecording', createdAt }, DEFAULT_RETENTION),
      created + DEFAULT_RETENTION.recordingDays * day,
    );
    assert.equal(
      deletionTime({ kind: 'Fax', createdAt }, { ...DEFAULT_RETENTION, messageDays: 30 }),
      created + 30 * day,
    );
    assert.equal(deletionTime({ kind: 'SMS', createdAt }, { ...DEFAULT_RETENTION, textDays: 0 }), undefined);
  });
});
