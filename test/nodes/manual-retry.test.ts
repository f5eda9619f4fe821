// A manual Retry from the sidebar's route in a flow without rc-retry: the Failed items re-enter at
// the source that found it and end Archived, each file once with its bytes.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { Ledger } from '../../lib/ledger';
import { startSimulator, type Simulator } from '../sim/index';
import { createHelper } from '../support/helper';
import { builtNode, root } from '../support/node-red';
import { waitFor } from '../support/wait';

const { helper, userDir } = createHelper();
const sidebar = require(
  join(root, 'dist', 'plugins', 'rc-archive-sidebar', 'rc-archive-sidebar.js'),
) as unknown;
const nodes = [...['rc-config', 'rc-call-log-source', 'rc-folder-sink'].map(builtNode), sidebar];

function recordingFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => /\.(mp3|wav)$/.test(f))
    .sort();
}

describe('manual Retry without rc-retry', { timeout: 120_000 }, () => {
  let sim: Simulator;

  before(async () => {
    await helper.startServer();
    sim = await startSimulator({
      seed: 12,
      days: 2,
      callsPerDay: 8,
      recordingFraction: 0.7,
      rateWindowSec: 3,
    });
  });
  after(async () => {
    await sim.close();
    await helper.stopServer();
    rmSync(userDir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await helper.unload();
  });

  it('re-enters at the source that found the items: each ends Archived, its file once with its bytes', async () => {
    process.env.RC_ARCHIVER_LEDGER = join(userDir, 'ledger.sqlite');
    const archive = join(userDir, 'archive');
    await helper.load(
      nodes,
      [
        {
          id: 'src',
          type: 'rc-call-log-source',
          rc: 'rc',
          scope: 'account',
          archive: 'recordings',
          initialDays: 3,
          wires: [['sink']],
        },
        {
          id: 'sink',
          type: 'rc-folder-sink',
          directory: archive,
          timeZone: 'UTC',
          sidecar: false,
          wires: [['ok'], ['bad']],
        },
        { id: 'ok', type: 'helper' },
        { id: 'bad', type: 'helper' },
        { id: 'rc', type: 'rc-config', server: 'custom', serverUrl: sim.platformUrl },
      ],
      { rc: { ...sim.credentials } },
    );
    const recordings = sim.allRecordings();
    assert.ok(recordings.length >= 4, 'the simulator has recordings');
    const refused = recordings.slice(0, 2);
    const faults = refused.map((rec) =>
      sim.fault({
        kind: 'status',
        status: 403,
        match: `/recording/${rec.id}/content`,
        times: Infinity,
        body: {
          errorCode: 'CMN-408',
          message: 'In order to call this API endpoint, user needs to have permissions',
        },
      }),
    );
    const ok: string[] = [];
    const bad: string[] = [];
    helper.getNode('ok').on('input', (m: never) => ok.push((m as { payload: { key: string } }).payload.key));
    helper
      .getNode('bad')
      .on('input', (m: never) => bad.push((m as { payload: { key: string } }).payload.key));
    helper.getNode('src').receive({ payload: 1 });
    await waitFor(() => ok.length + bad.length >= recordings.length, 60_000, 'every recording handled');
    for (const fault of faults) fault.cancel();
    const failedKeys = refused.map((rec) => `CallRecording:${rec.id}`);
    assert.deepEqual([...bad].sort(), [...failedKeys].sort(), 'the refused recordings failed');
    assert.equal(recordingFiles(archive).length, recordings.length - 2);

    const res = await helper.request().post('/rc-archiver/log/retry').send({ keys: failedKeys }).expect(200);
    assert.deepEqual([...(res.body.retried as string[])].sort(), [...failedKeys].sort());
    assert.deepEqual(res.body.refused, []);
    await waitFor(() => ok.length === recordings.length, 30_000, 'the retried recordings archived');

    const files = recordingFiles(archive);
    assert.equal(files.length, recordings.length, 'one file per recording, none twice');
    const hashes = new Set(
      files.map((f) =>
        createHash('sha256')
          .update(readFileSync(join(archive, f)))
          .digest('hex'),
      ),
    );
    for (const rec of recordings)
      assert.ok(hashes.has(sim.expectedContent(rec.id).sha256), `recording ${rec.id}`);
    for (const rec of refused)
      assert.equal(sim.stats.recordingDownloads[rec.id], 1, 'downloaded once, after the Retry');
    const ledger = Ledger.open(process.env.RC_ARCHIVER_LEDGER);
    try {
      for (const key of failedKeys) assert.equal(ledger.get(key)?.status, 'Archived');
    } finally {
      ledger.close();
    }
    assert.equal(bad.length, 2, 'no new failure');
  });
});
