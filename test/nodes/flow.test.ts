import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { Ledger } from '../../lib/ledger';
import { startSimulator, type Simulator } from '../sim/index';
import { createHelper } from '../support/helper';
import { builtNode } from '../support/node-red';
import { statuses, waitFor } from '../support/wait';

const { helper, userDir } = createHelper();
const allNodes = ['rc-config', 'rc-call-log-source', 'rc-rate-limit', 'rc-folder-sink', 'rc-archive-log'].map(
  builtNode,
);

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => !f.endsWith('/') && /\.(mp3|wav)$/.test(f))
    .sort();
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

describe('flow of nodes with the simulator', { timeout: 240_000 }, () => {
  let sim: Simulator;
  let archive: string;
  let n = 0;

  before(async () => {
    await new Promise<void>((resolve) => helper.startServer().then(resolve));
    sim = await startSimulator({
      seed: 7,
      days: 2,
      callsPerDay: 12,
      recordingFraction: 0.7,
      rateWindowSec: 3,
      // Paced as RingCentral paces, with room for a test's recordings in about one window.
      rateLimits: { Heavy: 30 },
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

  /** The recordings tests archive only recordings; `source` overrides the call-log source's config. */
  function flow(
    extra: Record<string, unknown> = {},
    source: Record<string, unknown> = { archive: 'recordings' },
  ) {
    n++;
    archive = join(userDir, `archive-${n}`);
    // A ledger of its own for each test: the same simulator data is archived afresh.
    process.env.RC_ARCHIVER_LEDGER = join(userDir, `ledger-${n}.sqlite`);
    return {
      flow: [
        {
          id: 'src',
          type: 'rc-call-log-source',
          rc: 'rc',
          scope: 'account',
          initialDays: 3,
          lookBackMinutes: 60,
          wires: [['rl']],
          ...source,
        },
        { id: 'rl', type: 'rc-rate-limit', group: 'auto', wires: [['sink']] },
        {
          id: 'sink',
          type: 'rc-folder-sink',
          directory: archive,
          timeZone: 'UTC',
          sidecar: true,
          wires: [['ok'], ['bad']],
          ...extra,
        },
        { id: 'ok', type: 'helper' },
        { id: 'bad', type: 'helper' },
        { id: 'rc', type: 'rc-config', server: 'custom', serverUrl: sim.platformUrl },
      ],
      credentials: { rc: { ...sim.credentials } },
    };
  }

  it('archives every recording once with the right bytes, a sidecar and an Archived ledger row', async () => {
    const { flow: f, credentials } = flow();
    await helper.load(allNodes, f, credentials);
    const ok = helper.getNode('ok');
    const received: Array<Record<string, unknown>> = [];
    ok.on('input', (msg: never) => received.push(msg));
    const expected = sim.allRecordings();
    assert.ok(expected.length > 5, 'the simulator has recordings');
    helper.getNode('src').receive({ payload: Date.now() });
    await waitFor(() => received.length >= expected.length, 60_000, 'every recording archived');
    const files = listFiles(archive);
    assert.equal(files.length, expected.length);
    const hashes = new Set(files.map((f) => sha256(join(archive, f))));
    for (const rec of expected)
      assert.ok(hashes.has(sim.expectedContent(rec.id).sha256), `recording ${rec.id} present`);
    for (const f of files) assert.ok(existsSync(join(archive, `${f}.json`)), `sidecar for ${f}`);
    const ledger = Ledger.open(process.env.RC_ARCHIVER_LEDGER!);
    try {
      for (const rec of expected) assert.equal(ledger.get(`CallRecording:${rec.id}`)?.status, 'Archived');
    } finally {
      ledger.close();
    }
    assert.equal(sim.stats.rateLimited, 0, 'no 429 was provoked');
  });

  it('with archive both, every call-log record arrives once as a JSON file with its id, and every recording once', async () => {
    const { flow: f, credentials } = flow({}, { archive: 'both' });
    await helper.load(allNodes, f, credentials);
    const received: string[] = [];
    helper
      .getNode('ok')
      .on('input', (m: never) => received.push((m as { payload: { key: string } }).payload.key));
    const bad: unknown[] = [];
    helper.getNode('bad').on('input', (m: never) => bad.push(m));
    const calls = sim.allCalls();
    const recordings = sim.allRecordings();
    assert.ok(calls.length > recordings.length / 2 && calls.some((c) => c.recordings.length === 0));
    const total = calls.length + recordings.length;
    helper.getNode('src').receive({ payload: Date.now() });
    await waitFor(() => received.length >= total, 60_000, 'every record and recording archived');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(received.length, total, 'nothing twice');
    assert.equal(new Set(received).size, total);
    assert.deepEqual(bad, []);
    assert.deepEqual(
      received.filter((k) => k.startsWith('CallLog:')).sort(),
      calls.map((c) => `CallLog:${c.id}`).sort(),
    );

    const all = readdirSync(archive, { recursive: true }).map(String);
    const logFiles = all.filter(
      (p) => /(^|\/)Call Log\//.test(p) && p.endsWith('.json') && !p.endsWith('.json.json'),
    );
    assert.equal(logFiles.length, calls.length, 'one JSON file per call-log record');
    const ids = logFiles.map((p) => {
      const record = JSON.parse(readFileSync(join(archive, p), 'utf8')) as { id: string };
      assert.ok(p.endsWith(`_${record.id}.json`), `${p} is named by the record's id`);
      return record.id;
    });
    assert.deepEqual(ids.sort(), calls.map((c) => c.id).sort());

    const files = listFiles(archive);
    assert.equal(files.length, recordings.length);
    const hashes = new Set(files.map((p) => sha256(join(archive, p))));
    for (const rec of recordings) assert.ok(hashes.has(sim.expectedContent(rec.id).sha256));
    // Every recording joins back to its call: the sidecar names the call-log key, and that is archived.
    for (const p of files) {
      const sidecar = JSON.parse(readFileSync(join(archive, `${p}.json`), 'utf8')) as {
        record: { id: string; callLogKey: string };
      };
      assert.equal(sidecar.record.callLogKey, `CallLog:${sidecar.record.id}`);
      assert.ok(received.includes(sidecar.record.callLogKey));
    }
    const ledger = Ledger.open(process.env.RC_ARCHIVER_LEDGER!);
    try {
      assert.deepEqual(ledger.counts(), { Pending: 0, Archived: total, Failed: 0, Lost: 0 });
    } finally {
      ledger.close();
    }
  });

  it('a recording RingCentral answers 404 for is Lost: failure output with error.lost, ledger and status say so', async () => {
    const { flow: f, credentials } = flow();
    await helper.load(allNodes, f, credentials);
    const recordings = sim.allRecordings();
    const gone = recordings[0];
    const fault = sim.fault({
      kind: 'status',
      status: 404,
      match: `/recording/${gone.id}/content`,
      times: Infinity,
      body: { errorCode: 'CMN-102', message: 'Resource for parameter [recordingId] is not found' },
    });
    const ok: string[] = [];
    const bad: Array<{ payload: { key: string }; error: { message: string; lost?: boolean } }> = [];
    helper.getNode('ok').on('input', (m: never) => ok.push((m as { payload: { key: string } }).payload.key));
    helper.getNode('bad').on('input', (m: never) => bad.push(m));
    const sinkStatus = statuses(helper.getNode('sink'));
    try {
      helper.getNode('src').receive({ payload: 1 });
      await waitFor(() => ok.length + bad.length >= recordings.length, 60_000, 'every recording handled');
    } finally {
      fault.cancel();
    }
    assert.equal(ok.length, recordings.length - 1);
    assert.equal(bad.length, 1);
    assert.equal(bad[0].payload.key, `CallRecording:${gone.id}`);
    assert.equal(bad[0].error.lost, true);
    assert.match(bad[0].error.message, /no longer has this content \(404\)/);
    assert.ok(
      sinkStatus.some((st) => /1 lost/.test(st.text ?? '')),
      'the status counts it as lost',
    );
    const ledger = Ledger.open(process.env.RC_ARCHIVER_LEDGER!);
    try {
      const row = ledger.get(`CallRecording:${gone.id}`)!;
      assert.equal(row.status, 'Lost');
      assert.match(row.lastError ?? '', /deleted by retention or by a user/);
      assert.equal(ledger.counts().Lost, 1);
    } finally {
      ledger.close();
    }
  });

  it('a second run lists again but archives nothing twice', async () => {
    const { flow: f, credentials } = flow();
    await helper.load(allNodes, f, credentials);
    const ok = helper.getNode('ok');
    let count = 0;
    ok.on('input', () => count++);
    const src = helper.getNode('src');
    const srcStatus = statuses(src);
    src.receive({ payload: 1 });
    await waitFor(() => srcStatus.some((s) => s.fill === 'green'), 30_000, 'first run done');
    await waitFor(() => count >= sim.allRecordings().length, 60_000, 'first run archived');
    const first = count;
    srcStatus.length = 0;
    src.receive({ payload: 2 });
    await waitFor(() => srcStatus.some((s) => s.fill === 'green'), 30_000, 'second run done');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(count, first, 'nothing new was sent the second time');
    assert.equal(listFiles(archive).length, sim.allRecordings().length);
  });

  it('a backfill range in the message archives only that range and leaves the cursor alone', async () => {
    const { flow: f, credentials } = flow();
    await helper.load(allNodes, f, credentials);
    const all = sim.allRecordings();
    const times = all.map((r) => Date.parse(r.startTime)).sort((a, b) => a - b);
    // The older half of the recordings, by call start.
    const cut = times[Math.floor(times.length / 2)];
    const range = {
      dateFrom: new Date(times[0] - 1000).toISOString(),
      dateTo: new Date(cut - 1).toISOString(),
    };
    const wanted = all.filter((r) => Date.parse(r.startTime) < cut).map((r) => `CallRecording:${r.id}`);
    assert.ok(wanted.length > 0 && wanted.length < all.length);
    const got: string[] = [];
    helper.getNode('ok').on('input', (m: never) => got.push((m as { payload: { key: string } }).payload.key));
    const src = helper.getNode('src');
    const srcStatus = statuses(src);
    src.receive({ backfill: range });
    await waitFor(() => srcStatus.some((s) => s.fill === 'green'), 30_000, 'backfill listed');
    await waitFor(() => got.length >= wanted.length, 60_000, 'backfill archived');
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual([...got].sort(), [...wanted].sort());
    // The cursor did not move: a normal run still reaches back and gets the rest.
    src.receive({ payload: 1 });
    await waitFor(() => got.length >= all.length, 60_000, 'the rest archived');
    assert.equal(new Set(got).size, all.length, 'nothing twice');
  });

  it('a call-log answer still malformed after every try of the client shows an error and loses nothing: the next run gets everything', async () => {
    const { flow: f, credentials } = flow();
    await helper.load(allNodes, f, credentials);
    const src = helper.getNode('src');
    const srcStatus = statuses(src);
    const errors: string[] = [];
    src.on('call:error', (call: { args: unknown[] }) => errors.push(String(call.args[0])));
    // one malformed answer more than the client tries (a single one is asked for again and heals)
    sim.fault({ kind: 'malformed', match: /call-log/, times: 4 });
    src.receive({ payload: 1 });
    await waitFor(() => srcStatus.some((s) => s.fill === 'red'), 30_000, 'red status');
    assert.match(srcStatus.find((s) => s.fill === 'red')!.text ?? '', /invalid JSON/i);
    // The cursor did not move: a clean run now finds every recording.
    const ok = helper.getNode('ok');
    let count = 0;
    ok.on('input', () => count++);
    src.receive({ payload: 2 });
    await waitFor(() => count >= sim.allRecordings().length, 60_000, 'all archived after the fault');
  });
});

describe('bad configuration', { timeout: 60_000 }, () => {
  before(async () => {
    delete process.env.RC_ARCHIVER_LEDGER;
    await new Promise<void>((resolve) => helper.startServer().then(resolve));
  });
  after(async () => {
    await helper.stopServer();
  });
  afterEach(async () => {
    await helper.unload();
  });

  it('a sink with an unknown time zone says so and fails items to its second output', async () => {
    await helper.load(allNodes, [
      {
        id: 'sink',
        type: 'rc-folder-sink',
        directory: join(userDir, 'tz'),
        timeZone: 'Mars/Olympus',
        wires: [['ok'], ['bad']],
      },
      { id: 'ok', type: 'helper' },
      { id: 'bad', type: 'helper' },
    ]);
    const sink = helper.getNode('sink');
    const bad = helper.getNode('bad');
    const failed = new Promise<Record<string, unknown>>((resolve) =>
      bad.on('input', (m: never) => resolve(m)),
    );
    sink.receive({
      payload: {
        key: 'CallRecording:1',
        kind: 'CallRecording',
        accountId: '1',
        createdAt: new Date().toISOString(),
        fileName: '1.mp3',
        contentType: 'audio/mpeg',
        content: { uri: 'http://127.0.0.1:9/x' },
        record: {},
        rc: 'missing',
      },
    });
    const msg = await failed;
    assert.match(String((msg.error as { message: string }).message), /time zone/);
  });

  it('a payload that is not an ArchiveItem goes to the failure output with a clear error', async () => {
    await helper.load(allNodes, [
      { id: 'sink', type: 'rc-folder-sink', directory: join(userDir, 'x'), wires: [['ok'], ['bad']] },
      { id: 'ok', type: 'helper' },
      { id: 'bad', type: 'helper' },
    ]);
    const bad = helper.getNode('bad');
    const failed = new Promise<Record<string, unknown>>((resolve) =>
      bad.on('input', (m: never) => resolve(m)),
    );
    helper.getNode('sink').receive({ payload: 'hello' });
    const msg = await failed;
    assert.match(String((msg.error as { message: string }).message), /not an ArchiveItem/);
  });

  it('a source without a RingCentral config shows it in its status', async () => {
    await helper.load(allNodes, [{ id: 'src', type: 'rc-call-log-source', rc: '', wires: [[]] }]);
    const src = helper.getNode('src');
    const seen = statuses(src);
    const done = new Promise<void>((resolve) => src.on('call:error', () => resolve()));
    src.receive({ payload: 1 });
    await done;
    assert.ok(seen.some((s) => s.fill === 'red' && /RingCentral config/.test(s.text ?? '')));
  });
});
