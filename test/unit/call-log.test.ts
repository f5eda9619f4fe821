import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ledger } from '../../lib/ledger/index';
import { RcClient } from '../../lib/ringcentral/client';
import {
  callLogArchiveOf,
  callLogItem,
  recordItems,
  runCallLog,
  type CallLogLister,
  type CallLogRecordLike,
} from '../../lib/sources/call-log';
import { DEFAULT_TEMPLATE, renderPath } from '../../lib/template';
import { startSimulator } from '../sim/index';

const extensions = new Map([['2000', { name: 'Alice Smith', extensionNumber: '101' }]]);

function call(id: string, overrides: Partial<CallLogRecordLike> = {}): CallLogRecordLike {
  return {
    id,
    uri: `https://platform.example/restapi/v1.0/account/1000/extension/2000/call-log/${id}`,
    sessionId: `s-${id}`,
    startTime: '2024-05-01T13:45:01Z',
    duration: 30,
    direction: 'Inbound',
    from: { phoneNumber: '+15550001111' },
    to: { phoneNumber: '+15550002222', extensionNumber: '101', name: 'Alice' },
    extension: { id: 2000 },
    ...overrides,
  };
}

function recorded(id: string, recordingId: string): CallLogRecordLike {
  return call(id, {
    recording: {
      id: recordingId,
      type: 'Automatic',
      contentUri: `https://media.example/restapi/v1.0/account/1000/recording/${recordingId}/content`,
    },
  });
}

describe('call-log items', () => {
  it('maps a record to one JSON CallLog item keyed by the record id', () => {
    const record = recorded('abc', 'r1');
    const item = callLogItem(record, { rc: 'rc1', extensions });
    assert.equal(item.key, 'CallLog:abc');
    assert.equal(item.kind, 'CallLog');
    assert.equal(item.contentType, 'application/json');
    assert.deepEqual(item.content, { json: record });
    assert.equal(item.record, record);
    assert.equal(item.fileName, 'abc.json');
    assert.equal(item.accountId, '1000');
    assert.equal(item.extensionId, '2000');
    assert.equal(item.ownerName, 'Alice Smith');
    assert.equal(item.extensionNumber, '101');
    assert.equal(item.from, '+15550001111');
    assert.deepEqual(item.to, ['+15550002222']);
    assert.equal(item.direction, 'Inbound');
    assert.equal(item.createdAt, '2024-05-01T13:45:01.000Z');
    assert.equal(item.rc, 'rc1');
    const path = renderPath(DEFAULT_TEMPLATE, item, { timeZone: 'UTC', extension: 'json' });
    assert.equal(
      path,
      'RingCentral Archiver/Alice Smith_101/2024-05-01/Call Log/2024-05-01_134501UTC_Inbound_abc.json',
    );
  });

  it('gives the record and its recordings for both, only the record for records, only recordings for recordings', () => {
    const record: CallLogRecordLike = {
      ...recorded('abc', 'r1'),
      legs: [
        {
          extension: { id: 2000 },
          recording: { id: 'r2', contentUri: 'https://media.example/recording/r2/content' },
        },
        // The same recording again in a leg: one item.
        { recording: { id: 'r1', contentUri: 'https://media.example/recording/r1/content' } },
      ],
    };
    const context = { rc: 'rc1', extensions };
    const keys = (archive?: 'both' | 'records' | 'recordings') =>
      recordItems(record, { ...context, archive }).map((i) => i.key);
    assert.deepEqual(keys(), ['CallLog:abc', 'CallRecording:r1', 'CallRecording:r2'], 'default both');
    assert.deepEqual(keys('both'), ['CallLog:abc', 'CallRecording:r1', 'CallRecording:r2']);
    assert.deepEqual(keys('records'), ['CallLog:abc']);
    assert.deepEqual(keys('recordings'), ['CallRecording:r1', 'CallRecording:r2']);

    for (const item of recordItems(record, { ...context, archive: 'recordings' })) {
      const rec = item.record as { id: string; callLogKey: string; recording: { callId: string } };
      assert.equal(rec.callLogKey, 'CallLog:abc', 'a recording names its call-log key');
      assert.equal(rec.id, 'abc');
      assert.equal(rec.recording.callId, 'abc');
      assert.equal(item.kind, 'CallRecording');
      assert.ok('uri' in item.content);
    }
    // A call without a recording still has its record.
    assert.deepEqual(
      recordItems(call('plain'), context).map((i) => i.key),
      ['CallLog:plain'],
    );
    assert.deepEqual(recordItems(call('plain'), { ...context, archive: 'recordings' }), []);
  });

  it('reads the choice from a node config, both by default', () => {
    assert.equal(callLogArchiveOf('records'), 'records');
    assert.equal(callLogArchiveOf('recordings'), 'recordings');
    assert.equal(callLogArchiveOf('both'), 'both');
    assert.equal(callLogArchiveOf(undefined), 'both');
    assert.equal(callLogArchiveOf('everything'), 'both');
  });
});

describe('runCallLog', () => {
  function lister(pages: CallLogRecordLike[][]) {
    const requests: Array<Record<string, unknown>> = [];
    const client: CallLogLister = {
      async *listCallLog(options) {
        requests.push({ ...options, signal: undefined });
        for (const page of pages) yield page;
      },
    };
    return { client, requests };
  }

  for (const archive of ['both', 'records', 'recordings'] as const) {
    it(`lists ${archive === 'recordings' ? 'only calls with a recording' : 'every call'} for ${archive}`, async () => {
      const { client, requests } = lister([[recorded('a', 'r1'), call('b')], [recorded('c', 'r2')]]);
      const ledger = Ledger.openMemory();
      const sent: string[] = [];
      const result = await runCallLog({
        client,
        ledger,
        source: 'src',
        rc: 'rc1',
        scope: 'account',
        archive,
        initialDays: 1,
        lookBackMinutes: 60,
        now: new Date('2024-05-02T00:00:00Z'),
        onItems: (items) => sent.push(...items.map((i) => i.key)),
      });
      assert.equal(requests.length, 1);
      assert.equal(requests[0].view, 'Detailed');
      assert.equal(requests[0].withRecording, archive === 'recordings' ? true : undefined);
      const expected = {
        both: ['CallLog:a', 'CallRecording:r1', 'CallLog:b', 'CallLog:c', 'CallRecording:r2'],
        records: ['CallLog:a', 'CallLog:b', 'CallLog:c'],
        recordings: ['CallRecording:r1', 'CallRecording:r2'],
      }[archive];
      assert.deepEqual(sent, expected);
      assert.equal(result.newItems, expected.length);
      assert.equal(result.records, 3);
      assert.equal(ledger.counts('src').Pending, expected.length);

      // A second run re-reads the same records (look-back): nothing new.
      sent.length = 0;
      const again = lister([[recorded('a', 'r1'), call('b')], [recorded('c', 'r2')]]);
      await runCallLog({
        client: again.client,
        ledger,
        source: 'src',
        rc: 'rc1',
        scope: 'account',
        archive,
        initialDays: 1,
        lookBackMinutes: 60,
        now: new Date('2024-05-02T01:00:00Z'),
        onItems: (items) => sent.push(...items.map((i) => i.key)),
      });
      assert.deepEqual(sent, []);
      ledger.close();
    });
  }

  it('against the simulator: pages answered with malformed or truncated JSON are asked for again; no record is held back', async () => {
    const sim = await startSimulator({
      seed: 3,
      days: 2,
      callsPerDay: 30,
      maxPerPage: 10,
      rateLimits: { Heavy: 1000 },
    });
    const client = new RcClient({ ...sim.credentials, server: sim.platformUrl, retryBaseMs: 5 });
    const ledger = Ledger.openMemory();
    try {
      sim.fault({ kind: 'malformed', match: /call-log\?.*page=2/ });
      sim.fault({ kind: 'close-early', host: 'platform', match: /call-log\?.*page=3/, afterBytes: 100 });
      const sent: string[] = [];
      const now = new Date();
      const result = await runCallLog({
        client,
        ledger,
        source: 'src',
        rc: 'rc1',
        scope: 'account',
        archive: 'records',
        initialDays: 3,
        lookBackMinutes: 60,
        now,
        onItems: (items) => sent.push(...items.map((i) => i.key)),
      });
      const calls = sim.allCalls();
      assert.ok(result.pages > 3, `several pages (${result.pages})`);
      assert.deepEqual([...sent].sort(), calls.map((c) => `CallLog:${c.id}`).sort());
      assert.equal(result.cursorMoved, true);
      assert.equal(ledger.getCursor('call-log:src'), now.toISOString());
      const page = (n: number) =>
        sim.requestLog.filter((r) => r.operationId === 'readCompanyCallLog' && r.path.includes(`page=${n}`))
          .length;
      assert.equal(page(2), 2, 'the malformed page was asked for again');
      assert.equal(page(3), 2, 'the truncated page was asked for again');
    } finally {
      ledger.close();
      await client.dispose();
      await sim.close();
    }
  });
});
