// The source runner on mocked time, without Node-RED: runs one after another, Pending items sent
// again once the flows start, deferred keys first in the next run, a manual Retry entering at the
// source, and a backfill that resumes where it stopped and reports its progress every 5 s.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { deferred, entrance } from '../../lib/bus';
import type { ArchiveItem } from '../../lib/items';
import { Ledger } from '../../lib/ledger';
import { manualRetry } from '../../lib/retry';
import { SourceRunner, type SourceBackfill, type SourceRunnerOptions } from '../../lib/source-runner';
import { FakeClock, settle } from '../support/clock';
import { recordingIO } from '../support/controller-io';

const tmp = mkdtempSync(join(tmpdir(), 'rc-source-runner-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let files = 0;
const openLedger = () => Ledger.open(join(tmp, `ledger-${++files}.sqlite`));

function item(id: string, createdAt = '2026-05-30T10:00:00.000Z'): ArchiveItem {
  return {
    key: `CallLog:${id}`,
    kind: 'CallLog',
    accountId: '1',
    createdAt,
    fileName: `${id}.json`,
    contentType: 'application/json',
    content: { json: { id } },
    record: { id },
    rc: 'rc',
  };
}

function runner(id: string, options: Partial<SourceRunnerOptions> = {}) {
  const clock = new FakeClock();
  const ledger = openLedger();
  const rec = recordingIO(id);
  const source = new SourceRunner({
    io: rec.io,
    ledger,
    configured: true,
    clock,
    run: async () => undefined,
    ...options,
  });
  return { clock, ledger, rec, source };
}

const keysOf = (messages: Array<{ topic?: string }>) => messages.map((m) => m.topic);

describe('source runner', () => {
  it('a trigger during a run waits for it; an error goes to the status and rejects for done()', async () => {
    const order: string[] = [];
    let release: () => void = () => undefined;
    const { source, rec, ledger } = runner('src-chain', {
      run: async (msg, send, { ledger }) => {
        order.push(`start ${String(msg.payload)}`);
        if (msg.payload === 1) await new Promise<void>((resolve) => (release = resolve));
        if (msg.payload === 3) throw new Error('RingCentral said no');
        send({ topic: `run ${String(msg.payload)}`, payload: ledger.counts().Pending });
        order.push(`end ${String(msg.payload)}`);
      },
    });
    const first = source.input({ payload: 1 }, rec.send);
    const second = source.input({ payload: 2 }, rec.send);
    await settle();
    assert.deepEqual(order, ['start 1'], 'the second run waits');
    release();
    await Promise.all([first, second]);
    assert.deepEqual(order, ['start 1', 'end 1', 'start 2', 'end 2']);
    await assert.rejects(source.input({ payload: 3 }, rec.send), /RingCentral said no/);
    assert.deepEqual(rec.lastStatus(), { fill: 'red', shape: 'ring', text: 'RingCentral said no' });
    await source.close();
    ledger.close();
  });

  it('sends the Pending items again once when the flows start, and deferred keys first in the next run', async () => {
    const { source, rec, ledger } = runner('src-pending');
    ledger.recordFound([item('a'), item('b'), item('c')], 'src-pending');
    ledger.recordFound([item('other')], 'another-source');
    ledger.markArchived('CallLog:c', 'sink', {
      provider: 'folder',
      path: 'c.json',
      bytes: 1,
      sha256: 'x',
      archivedAt: new Date().toISOString(),
    });
    source.flowsStarted();
    source.flowsStarted();
    assert.deepEqual(keysOf(rec.sent), ['CallLog:a', 'CallLog:b'], 'its own Pending items, once');
    assert.match(rec.logs[0], /^log.resending \{"count":2\}/);

    rec.sent.length = 0;
    deferred.add('src-pending', ['CallLog:b', 'CallLog:c']);
    await source.input({ payload: 'tick' }, rec.send);
    assert.deepEqual(keysOf(rec.sent), ['CallLog:b'], 'the deferred key still Pending, not the Archived one');
    await source.input({ payload: 'tick' }, rec.send);
    assert.deepEqual(keysOf(rec.sent), ['CallLog:b'], 'taken once');
    await source.close();
    ledger.close();
  });

  it('a manual Retry without rc-retry enters here with the item the ledger holds now; gone after close', async () => {
    const { source, rec, ledger } = runner('src-retry');
    ledger.recordFound([item('x'), item('y')], 'src-retry');
    ledger.markFailed('CallLog:x', 'sink', 'disk full');
    ledger.markFailed('CallLog:y', 'sink', 'disk full');
    assert.equal(entrance('src-retry')?.kind, 'source');
    const result = manualRetry(ledger, ['CallLog:x', 'CallLog:y', 'CallLog:nope']);
    assert.deepEqual(result.retried, ['CallLog:x', 'CallLog:y']);
    assert.equal(result.refused.length, 1);
    assert.deepEqual(keysOf(rec.sent), ['CallLog:x', 'CallLog:y']);
    assert.deepEqual(rec.sent[0].payload, ledger.get('CallLog:x')!.item);
    assert.deepEqual(rec.sent[0].retry, { manual: true });
    assert.match(rec.logs.at(-1)!, /^log.retrying \{"count":2\}/);
    // Archived meanwhile (by another sink): the entrance reads the ledger again and sends nothing.
    ledger.markArchived('CallLog:y', 'other-sink', {
      provider: 'folder',
      path: 'y.json',
      bytes: 1,
      sha256: 'x',
      archivedAt: new Date().toISOString(),
    });
    entrance('src-retry')!.send([item('y')]);
    assert.equal(rec.sent.length, 2);

    await source.close();
    assert.equal(entrance('src-retry'), undefined);
    const afterClose = manualRetry(ledger, ['CallLog:x']);
    assert.deepEqual(afterClose.retried, []);
    assert.match(
      afterClose.refused[0].reason,
      /no rc-retry node is deployed and the source that found it is gone/,
    );
    ledger.close();
  });

  it('a backfill lists part by part, resumes where it stopped, and its status comes every 5 s until nothing is Pending', async () => {
    const listed: Array<{ part: string; dateTo: string }> = [];
    let failOn: string | undefined = 'b';
    const backfill: SourceBackfill = {
      retainedDays: () => 10,
      listGroup: 'Heavy',
      rate: () => ({ limit: 10, windowSec: 60 }),
      parts: async () => [{ id: 'a' }, { id: 'b' }],
      async listPart({ part, dateTo, context, pageCursor, onItems }) {
        listed.push({ part: part.id, dateTo });
        const found = item(`${part.id}-1`, '2026-05-28T00:00:00.000Z');
        const added = context.ledger.recordFound([found], 'src-backfill', pageCursor(found.createdAt));
        onItems(added);
        if (part.id === failOn) throw new Error('listing refused');
      },
    };
    const h = runner('src-backfill', { backfill });
    const { source, rec, ledger, clock } = h;
    await assert.rejects(
      source.input({ backfill: { dateFrom: '2026-05-25T00:00:00.000Z' } }, rec.send),
      /listing refused/,
    );
    assert.deepEqual(
      listed.map((l) => l.part),
      ['a', 'b'],
    );
    assert.deepEqual(keysOf(rec.sent), ['CallLog:a-1', 'CallLog:b-1']);
    await source.close();

    // After a restart the job goes on with part b only, from the oldest day it had listed.
    failOn = undefined;
    listed.length = 0;
    const rec2 = recordingIO('src-backfill');
    const again = new SourceRunner({
      io: rec2.io,
      ledger,
      configured: true,
      clock,
      backfill,
      run: async () => undefined,
    });
    again.flowsStarted();
    await clock.advance(0);
    assert.deepEqual(listed, [{ part: 'b', dateTo: '2026-05-28T00:00:00.000Z' }]);
    assert.deepEqual(keysOf(rec2.sent), ['CallLog:a-1', 'CallLog:b-1'], 'the Pending items went out again');
    assert.match(rec2.logs.join('\n'), /log.backfillResumed/);
    // Both items still Pending: the status keeps coming every 5 s.
    const before = rec2.statuses.length;
    await clock.advance(15_000);
    assert.equal(rec2.statuses.length - before, 3, 'one status every 5 s');
    assert.match(rec2.lastStatus()!.text!, /^status.backfill /);
    for (const key of ['CallLog:a-1', 'CallLog:b-1'])
      ledger.markArchived(key, 'sink', {
        provider: 'folder',
        path: key,
        bytes: 1,
        sha256: 'x',
        archivedAt: new Date().toISOString(),
      });
    await clock.advance(5000);
    assert.match(rec2.lastStatus()!.text!, /^status.backfillDone /);
    assert.equal(clock.pending, 0, 'the ticker stopped');
    await again.close();
    ledger.close();
  });

  it('without a RingCentral config or a ledger, runs fail with the reason and nothing is sent', async () => {
    const clock = new FakeClock();
    const rec = recordingIO('src-broken');
    const source = new SourceRunner({
      io: rec.io,
      configured: false,
      ledgerError: 'the ledger file is not writable',
      clock,
      run: async () => assert.fail('no run'),
    });
    assert.equal(rec.errors[0].text, 'the ledger file is not writable');
    await assert.rejects(source.input({ payload: 1 }, rec.send), /status.noConfig/);
    source.flowsStarted();
    assert.equal(rec.sent.length, 0);
    await source.close();
  });
});
