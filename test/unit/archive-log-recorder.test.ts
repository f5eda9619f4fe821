// rc-archive-log's controller without Node-RED: outcomes of sinks not of the pack written to the
// ledger, one run summary after a quiet period, alerts from the retry and outage events, and the
// log's old rows pruned at start and once a day, all on a clock the test moves.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ArchiveLogRecorder, FLOW_SINK } from '../../lib/archive-log-recorder';
import type { ArchiveEvents } from '../../lib/bus';
import type { ArchiveItem } from '../../lib/items';
import { Ledger } from '../../lib/ledger';
import { DEFAULT_RETENTION } from '../../lib/retention';
import { FakeClock } from '../support/clock';
import { recordingIO } from '../support/controller-io';

const tmp = mkdtempSync(join(tmpdir(), 'rc-archive-log-recorder-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let files = 0;
const DAY = 86_400_000;

function item(id: string, kind: ArchiveItem['kind'] = 'CallLog'): ArchiveItem {
  return {
    key: `${kind}:${id}`,
    kind,
    accountId: '1',
    createdAt: '2026-05-30T10:00:00.000Z',
    fileName: `${id}.json`,
    contentType: 'application/json',
    size: 100,
    content: { json: { id } },
    record: { id },
    rc: 'rc',
  };
}

function setup(o: { keepDays?: number; summaryDelayMs?: number; ledgerError?: string } = {}) {
  const clock = new FakeClock();
  // The ledger stamps its rows with the real time: the clock starts there.
  clock.time = Date.now();
  const ledger = Ledger.open(join(tmp, `ledger-${++files}.sqlite`));
  const events = new EventEmitter<ArchiveEvents>();
  const rec = recordingIO('log', 'rc-archive-log');
  const start = () =>
    new ArchiveLogRecorder({
      io: rec.io,
      ledger: o.ledgerError ? undefined : ledger,
      ledgerError: o.ledgerError,
      clock,
      events,
      summaryDelayMs: o.summaryDelayMs ?? 5000,
      keepDays: o.keepDays ?? 0,
      retentionOf: (rc) => (rc === 'rc' ? { ...DEFAULT_RETENTION } : undefined),
    });
  return { clock, ledger, events, rec, start };
}

describe('archive log recorder', () => {
  it('writes the outcomes of sinks not of the pack once and sends one summary after a quiet period', async () => {
    const { clock, ledger, rec, start } = setup();
    const recorder = start();
    const [ok, bad, gone] = [item('ok'), item('bad'), item('gone')];
    ledger.recordFound([ok, bad, gone], 'src');
    recorder.input(
      { payload: ok, archive: { status: 'archived', target: '/x/ok.json', bytes: 7 } },
      rec.send,
    );
    await clock.advance(4000);
    recorder.input({ payload: bad, error: { message: 'disk full' } }, rec.send);
    recorder.input({ payload: gone, error: { message: 'gone at RingCentral', lost: true } }, rec.send);
    assert.equal(ledger.get(ok.key)?.status, 'Archived');
    assert.equal(ledger.get(ok.key)?.sink, FLOW_SINK);
    assert.equal(ledger.get(ok.key)?.receipt?.path, '/x/ok.json');
    assert.equal(ledger.get(bad.key)?.status, 'Failed');
    assert.equal(ledger.get(bad.key)?.lastError, 'disk full');
    assert.equal(ledger.get(gone.key)?.status, 'Lost');

    // The quiet period starts again with each outcome: no summary 4.9 s after the last one.
    await clock.advance(4900);
    assert.equal(rec.sent.length, 0);
    await clock.advance(100);
    assert.equal(rec.sent.length, 1);
    const summary = rec.sent[0] as { topic: string; payload: Record<string, unknown> };
    assert.equal(summary.topic, 'summary');
    assert.equal(summary.payload.archived, 1);
    assert.equal(summary.payload.failed, 1);
    assert.equal(summary.payload.lost, 1);
    assert.equal(summary.payload.bytes, 7);
    assert.equal(summary.payload.durationMs, 9000, 'from the first outcome to the summary');
    assert.deepEqual(summary.payload.ledger, { Pending: 0, Archived: 1, Failed: 1, Lost: 1 });
    assert.equal(rec.lastStatus()?.fill, 'yellow');
    assert.match(
      rec.lastStatus()!.text!,
      /^status\.summary \{"archived":1,"failed":2,"pending":0,"time":"\d\d:\d\d"\}$/,
    );

    // A sink of the pack already wrote its outcome: counted, not written again.
    const before = ledger.get(ok.key)?.updatedAt;
    await clock.advance(1000);
    recorder.input({ payload: ok, receipt: ledger.get(ok.key)!.receipt }, rec.send);
    assert.equal(ledger.get(ok.key)?.updatedAt, before);
    await clock.advance(5000);
    assert.equal(rec.sent.length, 2);
    assert.equal((rec.sent[1].payload as { archived: number }).archived, 1);
    await recorder.close();
    ledger.close();
  });

  it('refuses what is not an item or has an unreadable msg.archive, and lets outage notices pass', async () => {
    const { clock, ledger, rec, start } = setup();
    const recorder = start();
    assert.throws(() => recorder.input({ payload: 'hello' }, rec.send), /^Error: errors\.notItem$/);
    assert.throws(
      () => recorder.input({ payload: item('odd'), archive: { status: 'maybe' } }, rec.send),
      /msg\.archive\.status must be Archived, Failed or Lost/,
    );
    recorder.input({ payload: item('wait'), targetDown: true }, rec.send);
    assert.equal(ledger.get('CallLog:odd'), undefined);
    assert.equal(ledger.get('CallLog:wait'), undefined);
    await clock.advance(60_000);
    assert.equal(rec.sent.length, 0, 'no run, no summary');
    await recorder.close();
    ledger.close();
  });

  it('turns used-up retries and target outages into alerts on the second output, until it closes', async () => {
    const { ledger, events, rec, start } = setup();
    const recorder = start();
    const recording = item('rec1', 'CallRecording');
    ledger.recordFound([recording], 'src');
    ledger.markFailed(recording.key, 'sink', 'timeout');
    events.emit('exhausted', { row: ledger.get(recording.key)!, retryNode: 'retry-1', retries: 3 });
    assert.equal(rec.second.length, 1);
    const alert = rec.second[0].payload as {
      key: string;
      retryNode: string;
      deletesAt?: string;
      lastError?: string;
    };
    assert.equal(rec.second[0].topic, recording.key);
    assert.equal(alert.retryNode, 'retry-1');
    assert.equal(alert.lastError, 'timeout');
    // The rc-config's retention: recordings go 90 days after they were made.
    assert.equal(alert.deletesAt?.slice(0, 10), '2026-08-28');
    assert.deepEqual(rec.lastStatus(), {
      fill: 'red',
      shape: 'dot',
      text: 'status.alert {"count":1,"key":"CallRecording:rec1"}',
    });

    events.emit('targetDown', {
      sink: { id: 'sftp-1', type: 'rc-sftp-sink', name: 'Vault' },
      reason: 'connection refused',
      waiting: ['a', 'b'],
      since: new Date().toISOString(),
      nextCheckAt: new Date().toISOString(),
    });
    assert.equal(rec.second.length, 2);
    assert.equal(rec.second[1].topic, 'target-down:sftp-1');
    assert.equal((rec.second[1].payload as { waiting: number }).waiting, 2);
    assert.equal(rec.lastStatus()?.text, 'status.targetDown {"count":2,"sink":"Vault"}');

    await recorder.close();
    events.emit('exhausted', { row: ledger.get(recording.key)!, retryNode: 'retry-1', retries: 3 });
    assert.equal(rec.second.length, 2, 'a closed node sends no alert');
    assert.equal(events.listenerCount('exhausted') + events.listenerCount('targetDown'), 0);
    ledger.close();
  });

  it('prunes archived rows older than the setting at start and once a day; 0 keeps them all', async () => {
    const { clock, ledger, rec, start } = setup({ keepDays: 2 });
    const [old, failed] = [item('old'), item('failed')];
    ledger.recordFound([old, failed], 'src');
    ledger.markArchived(old.key, 'sink', {
      provider: 'folder',
      path: '/a/old.json',
      bytes: 1,
      sha256: 'x',
      archivedAt: new Date().toISOString(),
    });
    ledger.markFailed(failed.key, 'sink', 'disk full');
    const recorder = start();
    assert.ok(ledger.get(old.key), 'young rows stay at start');
    await clock.advance(DAY);
    assert.ok(ledger.get(old.key), 'one day old, kept 2 days');
    await clock.advance(2 * DAY);
    assert.equal(ledger.get(old.key), undefined, 'three days old: pruned by the daily run');
    assert.equal(ledger.get(failed.key)?.status, 'Failed', 'a Failed item is always kept');
    assert.match(rec.logs.at(-1)!, /^log\.pruned \{"items":1,/);
    await recorder.close();
    assert.equal(clock.pending, 0, 'close stops the daily timer');

    const keepAll = setup({ keepDays: 0 });
    keepAll.ledger.recordFound([old], 'src');
    const forever = keepAll.start();
    assert.equal(keepAll.clock.pending, 0, 'no pruning timer when every row is kept');
    await forever.close();
    ledger.close();
    keepAll.ledger.close();
  });

  it('says in its status and log when the ledger could not be opened, and still counts the run', async () => {
    const { clock, ledger, rec, start } = setup({ ledgerError: 'unable to open database file' });
    const recorder = start();
    assert.deepEqual(rec.statuses[0], { fill: 'red', shape: 'ring', text: 'unable to open database file' });
    assert.deepEqual(
      rec.errors.map((e) => e.text),
      ['unable to open database file'],
    );
    recorder.input({ payload: item('x') }, rec.send);
    await clock.advance(5000);
    assert.equal((rec.sent[0].payload as { archived: number }).archived, 1);
    await recorder.close();
    ledger.close();
  });
});
