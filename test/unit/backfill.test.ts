import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  afterPage,
  afterPart,
  backfillProgress,
  backfillSecondsLeft,
  formatDuration,
  newBackfillJob,
  oldestTime,
  parseBackfillJob,
} from '../../lib/backfill';
import { allRetainedDays, DEFAULT_RETENTION, nearDeletion, retentionFrom } from '../../lib/retention';

const DAY = 86_400_000;

describe('backfill job', () => {
  const job = () =>
    newBackfillJob({
      origin: 'message',
      dateFrom: '2026-01-01T00:00:00Z',
      dateTo: '2026-01-31T00:00:00Z',
      parts: [{ id: 'a' }, { id: 'b' }],
      now: new Date('2026-02-01T00:00:00Z'),
    });

  it('refuses a range that is not one', () => {
    assert.throws(
      () => newBackfillJob({ origin: 'message', dateFrom: 'soon', dateTo: '2026-01-01', parts: [] }),
      /invalid backfill range/,
    );
    assert.throws(
      () => newBackfillJob({ origin: 'message', dateFrom: '2026-02-01', dateTo: '2026-01-01', parts: [] }),
      /not before/,
    );
  });

  it('moves a part down page by page, never up, and counts the share listed', () => {
    let j = job();
    assert.equal(backfillProgress(j).listed, 0);
    j = afterPage(j, 'a', '2026-01-16T00:00:00Z', 3);
    // Half of one part of two.
    assert.equal(backfillProgress(j).listed, 0.25);
    assert.equal(backfillProgress(j).daysListed, 7);
    assert.equal(backfillProgress(j).daysTotal, 30);
    // A page whose oldest item is newer than the resume point leaves it.
    j = afterPage(j, 'a', '2026-01-20T00:00:00Z', 0);
    assert.equal(j.parts[0].resumeTo, '2026-01-16T00:00:00.000Z');
    // An empty page leaves it too.
    j = afterPage(j, 'a', undefined, 0);
    assert.equal(j.parts[0].resumeTo, '2026-01-16T00:00:00.000Z');
    assert.equal(j.pages, 3);
    assert.equal(j.found, 3);
    j = afterPart(j, 'a');
    assert.equal(backfillProgress(j).listed, 0.5);
    assert.equal(j.completedAt, undefined);
    j = afterPart(j, 'b', new Date('2026-02-02T00:00:00Z'));
    assert.equal(j.completedAt, '2026-02-02T00:00:00.000Z');
    assert.equal(backfillProgress(j).daysListed, 30);
    // Stored and read back as the ledger keeps it.
    assert.deepEqual(parseBackfillJob(JSON.stringify(j)), j);
    assert.equal(parseBackfillJob('{"v":2}'), undefined);
    assert.equal(parseBackfillJob('not json'), undefined);
  });

  it('estimates the time left from the slowest group at its current rate', () => {
    let j = job();
    j = afterPage(j, 'a', '2026-01-16T00:00:00Z', 10);
    j = afterPage(j, 'a', '2026-01-01T00:00:00Z', 10);
    // 2 pages listed a half: 2 more pages of listing (Light, 50 a minute: 2.4 s) and 30 recordings
    // to download (Heavy, 10 a minute: 180 s).
    const rate = (g: string) => (g === 'Heavy' ? { limit: 10, windowSec: 60 } : { limit: 50, windowSec: 60 });
    assert.equal(
      backfillSecondsLeft({ job: j, listGroup: 'Light', pendingDownloads: { Heavy: 30 }, rate }),
      180,
    );
    // Nothing to download: the listing decides; a listing that has not started needs a page per part.
    assert.equal(backfillSecondsLeft({ job: job(), listGroup: 'Heavy', pendingDownloads: {}, rate }), 12);
    // Twice the budget, half the time.
    const faster = (g: string) => ({ ...rate(g), limit: rate(g).limit * 2 });
    assert.equal(
      backfillSecondsLeft({ job: j, listGroup: 'Light', pendingDownloads: { Heavy: 30 }, rate: faster }),
      90,
    );
  });

  it('finds the oldest time on a page and formats durations for a status', () => {
    assert.equal(
      oldestTime(['2026-01-02T00:00:00Z', 'x', undefined, '2026-01-01T10:00:00Z']),
      '2026-01-01T10:00:00.000Z',
    );
    assert.equal(oldestTime([]), undefined);
    assert.equal(formatDuration(42), '42 s');
    assert.equal(formatDuration(12 * 60), '12 min');
    assert.equal(formatDuration(3 * 3600 + 20 * 60), '3 h 20 min');
    assert.equal(formatDuration(52 * 3600), '2 d 4 h');
  });
});

describe('retention', () => {
  const now = new Date('2026-06-01T00:00:00Z');
  const ago = (days: number) => new Date(now.getTime() - days * DAY).toISOString();

  it('takes the account figures from the config and the public defaults for blanks', () => {
    assert.deepEqual(retentionFrom({}), DEFAULT_RETENTION);
    const hipaa = retentionFrom({
      retentionRecordingDays: '30',
      retentionRecordingCount: '',
      retentionTextDays: 'x',
    });
    assert.equal(hipaa.recordingDays, 30);
    assert.equal(hipaa.recordingCount, 100_000);
    assert.equal(hipaa.textDays, 0);
    assert.equal(allRetainedDays(['CallRecording'], DEFAULT_RETENTION), 90);
    assert.equal(allRetainedDays(['CallRecording', 'CallLog'], DEFAULT_RETENTION), 365);
    assert.equal(allRetainedDays(['Voicemail', 'Fax'], DEFAULT_RETENTION), 30);
    // Texts have no time limit: all retained reaches ten years back.
    assert.equal(allRetainedDays(['Voicemail', 'SMS'], DEFAULT_RETENTION), 3650);
    assert.equal(allRetainedDays(['SMS'], { ...DEFAULT_RETENTION, textDays: 400 }), 400);
  });

  it('warns of what is not archived and due within the warning days, soonest first', () => {
    const candidates = [
      {
        key: 'CallRecording:old',
        kind: 'CallRecording' as const,
        status: 'Pending' as const,
        createdAt: ago(85),
      },
      {
        key: 'CallRecording:young',
        kind: 'CallRecording' as const,
        status: 'Pending' as const,
        createdAt: ago(10),
      },
      {
        key: 'CallRecording:done',
        kind: 'CallRecording' as const,
        status: 'Archived' as const,
        createdAt: ago(89),
      },
      {
        key: 'CallRecording:gone',
        kind: 'CallRecording' as const,
        status: 'Lost' as const,
        createdAt: ago(89),
      },
      {
        key: 'Fax:1:2',
        kind: 'Fax' as const,
        status: 'Failed' as const,
        createdAt: ago(29),
        lastError: 'disk full',
      },
      { key: 'SMS:1', kind: 'SMS' as const, status: 'Pending' as const, createdAt: ago(2000) },
      { key: 'CallLog:1', kind: 'CallLog' as const, status: 'Pending' as const, createdAt: ago(361) },
    ];
    const warnings = nearDeletion(candidates, { settings: DEFAULT_RETENTION, warnDays: 7, now });
    assert.deepEqual(
      warnings.map((w) => [w.key, w.daysLeft, w.by]),
      [
        ['Fax:1:2', 1, 'age'],
        ['CallLog:1', 4, 'age'],
        ['CallRecording:old', 5, 'age'],
      ],
    );
    assert.equal(warnings[0].lastError, 'disk full');
    assert.equal(warnings[0].deletesAt, new Date(Date.parse(ago(29)) + 30 * DAY).toISOString());
    // A shorter account (HIPAA, 30 days) makes the young recording due too… not within 7 days: 20 left.
    const hipaa = nearDeletion(candidates, {
      settings: { ...DEFAULT_RETENTION, recordingDays: 30 },
      warnDays: 21,
      now,
    });
    assert.ok(hipaa.some((w) => w.key === 'CallRecording:young' && w.daysLeft === 20));
  });

  it('warns of recordings the count limit pushes out before their age does', () => {
    const candidates = [
      {
        key: 'CallRecording:a',
        kind: 'CallRecording' as const,
        status: 'Pending' as const,
        createdAt: ago(20),
      },
      {
        key: 'CallRecording:b',
        kind: 'CallRecording' as const,
        status: 'Pending' as const,
        createdAt: ago(5),
      },
    ];
    // 8,000 recordings kept; 700 a week (100 a day). "a" has 7,900 newer ones: out in one day.
    // "b" has 500 newer: 75 days of room.
    const warnings = nearDeletion(candidates, {
      settings: { ...DEFAULT_RETENTION, recordingCount: 8000 },
      warnDays: 3,
      now,
      recordings: { lastWeek: 700, newerThan: (at) => (at === ago(20) ? 7900 : 500) },
    });
    assert.deepEqual(
      warnings.map((w) => [w.key, w.daysLeft, w.by]),
      [['CallRecording:a', 1, 'count']],
    );
  });
});
