import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import type { ArchiveItem, Receipt } from '../../lib/items';
import { startSimulator, type RequestLogEntry, type Simulator } from '../sim/index';
import { createHelper } from '../support/helper';
import { builtNode } from '../support/node-red';
import { statuses, waitFor } from '../support/wait';

const { helper, userDir } = createHelper();
const allNodes = [
  'rc-config',
  'rc-call-log-source',
  'rc-message-source',
  'rc-rate-limit',
  'rc-folder-sink',
].map(builtNode);

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** What each download should bring: recordings and message attachments by item key. */
function expectedFiles(sim: Simulator): { heavy: Map<string, string>; medium: Map<string, string> } {
  const heavy = new Map<string, string>();
  for (const rec of sim.allRecordings())
    heavy.set(`CallRecording:${rec.id}`, sim.expectedContent(rec.id).sha256);
  const medium = new Map<string, string>();
  for (const m of sim.allMessages({ availability: ['Alive', 'Deleted'] })) {
    const kind = m.type === 'VoiceMail' ? 'Voicemail' : m.type === 'Fax' ? 'Fax' : m.mms ? 'MMS' : undefined;
    if (!kind) continue; // SMS and pager: no download
    for (const a of m.attachments)
      medium.set(`${kind}:${m.id}:${a.id}`, sim.expectedAttachment(m.id, a.id).sha256);
  }
  return { heavy, medium };
}

const WINDOW_MS = 4_000;
const HEAVY_LIMIT = 2;
const MEDIUM_LIMIT = 5;

describe('rc-rate-limit with a mixed backlog', { timeout: 180_000 }, () => {
  let sim: Simulator;
  before(async () => {
    await helper.startServer();
    // Small budgets and a short window: a backlog in both groups within seconds.
    sim = await startSimulator({
      seed: 23,
      days: 1,
      callsPerDay: 10,
      recordingFraction: 1,
      twoRecordingFraction: 0,
      messagesPerDay: 6,
      messageFractions: { VoiceMail: 0.45, Fax: 0.3, SMS: 0.05, MMS: 0.2, Pager: 0 },
      rateWindowSec: WINDOW_MS / 1000,
      rateLimits: { Heavy: HEAVY_LIMIT, Medium: MEDIUM_LIMIT },
    });
  });
  after(async () => {
    await sim.close();
    await helper.stopServer();
    rmSync(userDir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await helper.unload();
    delete process.env.RC_ARCHIVER_LEDGER;
  });

  it('drains Heavy and Medium at once: attachments go while recordings still wait, each file once with its bytes', async () => {
    const archive = join(userDir, 'archive');
    process.env.RC_ARCHIVER_LEDGER = join(userDir, 'ledger.sqlite');
    await helper.load(
      allNodes,
      [
        {
          id: 'calls',
          type: 'rc-call-log-source',
          rc: 'rc',
          scope: 'account',
          initialDays: 3,
          lookBackMinutes: 60,
          archive: 'recordings',
          wires: [['rl'], []],
        },
        {
          id: 'messages',
          type: 'rc-message-source',
          rc: 'rc',
          scope: 'account',
          initialDays: 3,
          lookBackMinutes: 60,
          wires: [['rl']],
        },
        { id: 'rl', type: 'rc-rate-limit', group: 'auto', wires: [['sink']] },
        { id: 'sink', type: 'rc-folder-sink', directory: archive, timeZone: 'UTC', wires: [['ok'], ['bad']] },
        { id: 'ok', type: 'helper' },
        { id: 'bad', type: 'helper' },
        { id: 'rc', type: 'rc-config', server: 'custom', serverUrl: sim.platformUrl },
      ],
      { rc: { ...sim.credentials } },
    );
    const { heavy, medium } = expectedFiles(sim);
    assert.ok(heavy.size >= 8, `recordings to back Heavy up (${heavy.size})`);
    assert.ok(medium.size >= 6, `attachments to back Medium up (${medium.size})`);
    const received: Array<{ payload: ArchiveItem; receipt: Receipt }> = [];
    const failed: unknown[] = [];
    helper.getNode('ok').on('input', (m: never) => received.push(m));
    helper.getNode('bad').on('input', (m: never) => failed.push(m));
    const rlSeen = statuses(helper.getNode('rl'));
    sim.resetStats();

    // Recordings first: in one queue in arrival order, the attachments would wait behind them.
    helper.getNode('calls').receive({ payload: 'run' });
    await waitFor(
      () => rlSeen.some((s) => /queued · Heavy/.test(s.text ?? '')),
      30_000,
      'recordings held for Heavy',
    );
    helper.getNode('messages').receive({ payload: 'run' });
    await waitFor(
      () => rlSeen.some((s) => /Heavy \d+ · Medium \d+|Medium \d+ · Heavy \d+/.test(s.text ?? '')),
      30_000,
      'the status shows both groups',
    );
    const total = heavy.size + medium.size;
    await waitFor(() => received.length + failed.length >= total, 120_000, 'every file archived');
    assert.deepEqual(failed, []);

    const downloads = (group: string): RequestLogEntry[] =>
      sim.requestLog.filter((e) => e.host === 'media' && e.group === group && e.status < 300);
    const heavyAt = downloads('Heavy').map((e) => e.at);
    const mediumAt = downloads('Medium').map((e) => e.at);
    assert.equal(heavyAt.length, heavy.size, 'one download per recording');
    assert.equal(mediumAt.length, medium.size, 'one download per attachment');
    const lastHeavy = Math.max(...heavyAt);
    const lastMedium = Math.max(...mediumAt);
    const firstMedium = Math.min(...mediumAt);
    assert.ok(
      lastMedium < lastHeavy,
      `every attachment was downloaded while recordings still waited (last Medium ${lastMedium - firstMedium} ms, last Heavy ${lastHeavy - firstMedium} ms after the first Medium)`,
    );
    // Every Medium request (attachments and the extension listing) counts in the server's window.
    const mediumRequests = sim.requestLog
      .filter((e) => e.group === 'Medium' && e.status < 300)
      .map((e) => e.at);
    const fullest = Math.max(
      ...mediumRequests
        .filter((start) => start + WINDOW_MS <= lastHeavy)
        .map((start) => mediumRequests.filter((at) => at >= start && at < start + WINDOW_MS).length),
    );
    assert.equal(fullest, MEDIUM_LIMIT, 'Medium used its whole budget in a window while Heavy was backed up');
    assert.ok(
      heavyAt.filter((at) => at >= firstMedium && at < firstMedium + WINDOW_MS).length >= 1,
      'and Heavy went on meanwhile',
    );
    assert.equal(sim.stats.rateLimited, 0, 'no 429');

    const keys = received.map((m) => m.payload.key);
    assert.equal(new Set(keys).size, keys.length, 'each item once');
    assert.deepEqual([...keys].sort(), [...heavy.keys(), ...medium.keys()].sort());
    for (const { payload, receipt } of received) {
      const want = heavy.get(payload.key) ?? medium.get(payload.key);
      assert.equal(
        sha256(readFileSync(join(archive, receipt.path))),
        want,
        `${payload.key}: the right bytes`,
      );
    }
  });
});
