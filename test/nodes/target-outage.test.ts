// One outage, one error: a storage target that fails as a whole (a folder whose mount is gone, an
// SFTP root that is missing, an SFTP host key that does not match) pauses the sink once. It shows
// it in its status, says it once on its error output, in the log and as one rc-archive-log alert,
// opens no RingCentral download while it lasts (counted at the simulator) and keeps the items
// Pending with no retry spent; once the target works, every item is archived, one download per file.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import type { LogRow } from '../../lib/ledger/types';
import { startSimulator, type Simulator } from '../sim/index';
import { readLedger, until } from '../support/e2e';
import { createHelper, type TestNode } from '../support/helper';
import { builtNode } from '../support/node-red';
import { startSshd, type SshdServer } from '../support/sshd';
import { allWaitingAtSink, statuses } from '../support/wait';

const { helper, userDir } = createHelper();
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const nodes = [
  'rc-config',
  'rc-call-log-source',
  'rc-folder-sink',
  'rc-sftp-server',
  'rc-sftp-sink',
  'rc-archive-log',
  'rc-retry',
].map(builtNode);

interface OutageNotice {
  targetDown?: boolean;
  payload: { reason: string; waiting: string[] };
  error: { message: string; target?: boolean };
}

/** Every call of `method` on the node from now on (node.error, node.log). */
function calls(node: TestNode, method: 'error' | 'log', seen: string[] = []): string[] {
  const original = (node[method] as (...args: unknown[]) => void).bind(node);
  node[method] = (text: unknown, ...rest: unknown[]) => {
    seen.push(String(text));
    return original(text, ...rest);
  };
  return seen;
}

describe('a storage target that fails as a whole', { timeout: 240_000 }, () => {
  let sim: Simulator;
  let sshd: SshdServer;
  let n = 0;
  let ledgerFile = '';

  before(async () => {
    await helper.startServer();
    sim = await startSimulator({ seed: 5, days: 1, callsPerDay: 6, recordingFraction: 1, rateWindowSec: 3 });
    sshd = await startSshd();
  });
  after(async () => {
    await sim.close();
    await sshd.stop();
    await helper.stopServer();
    rmSync(userDir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await helper.unload();
  });

  /** The flow as the example wires it: failures through rc-retry, outcomes to rc-archive-log. */
  function flow(sink: Record<string, unknown>, extra: Array<Record<string, unknown>> = []) {
    ledgerFile = join(userDir, `ledger-outage-${++n}.sqlite`);
    process.env.RC_ARCHIVER_LEDGER = ledgerFile;
    return [
      { id: 'rc', type: 'rc-config', server: 'custom', serverUrl: sim.platformUrl },
      {
        id: 'src',
        type: 'rc-call-log-source',
        rc: 'rc',
        scope: 'account',
        initialDays: 2,
        wires: [['sink']],
      },
      {
        id: 'sink',
        ...sink,
        timeZone: 'UTC',
        wires: [
          ['ok', 'log'],
          ['bad', 'retry', 'log'],
        ],
      },
      { id: 'retry', type: 'rc-retry', schedule: '5m, 20m, 1h', wires: [['sink']] },
      { id: 'log', type: 'rc-archive-log', summaryDelay: 0.2, keepDays: 0, wires: [['summary'], ['alerts']] },
      { id: 'ok', type: 'helper' },
      { id: 'bad', type: 'helper' },
      { id: 'summary', type: 'helper' },
      { id: 'alerts', type: 'helper' },
      ...extra,
    ];
  }

  const counts = () => readLedger(ledgerFile, (l) => l.counts());
  const rows = (): LogRow[] =>
    readLedger(ledgerFile, (l) => l.rowsOf(l.query({ limit: 10_000 }).map((r) => r.key))) ?? [];

  interface Watch {
    notices: OutageNotice[];
    alerts: Array<{ payload: { alert?: string; waiting: number; reason: string } }>;
    errors: string[];
    /** Errors of rc-retry and rc-archive-log: the outage notice is neither a failure nor an item. */
    others: string[];
    logs: string[];
    status: Array<{ fill?: string; text?: string }>;
    receipts: Array<{ path: string; sha256: string }>;
    downloadsBefore: number;
  }

  function watch(): Watch {
    const w: Watch = {
      notices: [],
      alerts: [],
      errors: calls(helper.getNode('sink'), 'error'),
      others: [],
      logs: calls(helper.getNode('sink'), 'log'),
      status: statuses(helper.getNode('sink')),
      receipts: [],
      downloadsBefore: sim.stats.downloads.started,
    };
    for (const id of ['retry', 'log']) calls(helper.getNode(id), 'error', w.others);
    helper.getNode('bad').on('input', (m: never) => w.notices.push(m));
    helper.getNode('alerts').on('input', (m: never) => w.alerts.push(m));
    helper
      .getNode('ok')
      .on('input', (m: never) => w.receipts.push((m as { receipt: Watch['receipts'][0] }).receipt));
    return w;
  }

  /** The run found its items; the sink said once that its target is down and started no download. */
  async function assertPaused(w: Watch, reason: RegExp): Promise<number> {
    const srcStatus = statuses(helper.getNode('src'));
    helper.getNode('src').receive({ payload: 1 });
    await until(() => w.notices.length > 0 && (counts()?.Pending ?? 0) > 0, 60_000, 'the outage notice');
    // The source is done listing, every item it found waits at the sink and rc-archive-log has
    // raised its alert: nothing more of this run is on its way to the error output.
    await until(
      () =>
        srcStatus.some((s) => s.fill === 'green') &&
        allWaitingAtSink(w.status, counts()?.Pending) &&
        w.alerts.length > 0,
      30_000,
      'every item found waiting at the sink',
    );
    const c = counts()!;
    assert.equal(w.notices.length, 1, 'one message on the error output for the outage');
    assert.equal(w.notices[0].targetDown, true);
    assert.equal(w.notices[0].error.target, true);
    assert.match(w.notices[0].error.message, reason);
    assert.doesNotMatch(w.notices[0].error.message, /\n\s+at /, 'no stack trace');
    assert.ok(w.notices[0].payload.waiting.length > 0, 'it names the waiting items');
    assert.equal(w.errors.length, 1, 'one node.error');
    assert.deepEqual(w.others, [], 'rc-retry and rc-archive-log take the notice without an error');
    assert.equal(w.alerts.length, 1, 'one alert from rc-archive-log');
    assert.equal(w.alerts[0].payload.alert, 'targetDown');
    assert.match(w.alerts[0].payload.reason, reason);
    assert.equal(c.Failed, 0, 'no item failed');
    assert.equal(c.Archived, 0);
    assert.ok(
      rows().every((r) => r.retries === 0 && !r.retryAt),
      'no retry spent or scheduled',
    );
    assert.equal(sim.stats.downloads.started, w.downloadsBefore, 'no RingCentral download while it is down');
    const last = w.status[w.status.length - 1];
    assert.equal(last.fill, 'red');
    assert.match(last.text ?? '', /target down: .* · retry in \d+ s · \d+ waiting/);
    return c.Pending;
  }

  /** Every item archived with the right bytes, one RingCentral download per recording. */
  async function assertRecovered(w: Watch, expected: number, read: (path: string) => Buffer): Promise<void> {
    await until(() => counts()?.Archived === expected, 90_000, 'every item to archive');
    const keys = rows().map((r) => r.key);
    const recordings = keys.filter((k) => k.startsWith('CallRecording:')).map((k) => k.slice(14));
    assert.ok(recordings.length > 0, 'the run found recordings');
    assert.equal(keys.length, expected);
    assert.equal(
      sim.stats.downloads.started - w.downloadsBefore,
      recordings.length,
      'one RingCentral download per recording',
    );
    const wanted = new Set(recordings.map((id) => sim.expectedContent(id).sha256));
    const stored = new Set(w.receipts.map((r) => sha256(read(r.path))));
    for (const hash of wanted) assert.ok(stored.has(hash), 'each recording is stored with its bytes');
    for (const r of w.receipts) assert.equal(sha256(read(r.path)), r.sha256, `${r.path} matches its receipt`);
    const c = counts()!;
    assert.equal(c.Failed, 0);
    assert.equal(c.Pending, 0);
  }

  it('folder: the mount is gone (the root cannot be made); when it is back the backlog goes out by itself', async () => {
    const mount = join(userDir, `mnt-${n + 1}`);
    writeFileSync(mount, 'not mounted');
    const root = join(mount, 'archive');
    await helper.load(nodes, flow({ type: 'rc-folder-sink', directory: root }), {
      rc: { ...sim.credentials },
    });
    const w = watch();
    const expected = await assertPaused(w, /folder storage: cannot write to .*archive/);

    rmSync(mount);
    mkdirSync(mount);
    await assertRecovered(w, expected, (p) => readFileSync(join(root, p)));
    assert.equal(w.notices.length, 1, 'still the one error');
    assert.equal(w.errors.length, 1);
    assert.ok(
      w.logs.some((l) => /works again after \d+ s/.test(l)),
      'a log line when it recovers',
    );
    assert.match(w.status[w.status.length - 1].text ?? '', /archived/);
  });

  it('SFTP: the root folder is missing on a real sshd; once created, every item goes out by itself', async () => {
    const root = join(sshd.root, `outage-${n + 1}`);
    await helper.load(
      nodes,
      flow({ type: 'rc-sftp-sink', server: 'srv' }, [
        {
          id: 'srv',
          type: 'rc-sftp-server',
          host: sshd.host,
          port: sshd.port,
          username: sshd.username,
          root,
          hostFingerprint: sshd.hostFingerprint,
        },
      ]),
      { rc: { ...sim.credentials }, srv: { privateKey: sshd.privateKey } },
    );
    const w = watch();
    const expected = await assertPaused(w, /root folder .* does not exist/);

    mkdirSync(root);
    // Made by the test's user: the SFTP user must be able to write there too.
    chmodSync(root, 0o777);
    await assertRecovered(w, expected, (p) => readFileSync(join(root, p)));
    assert.equal(w.notices.length, 1, 'still the one error');
  });

  it('SFTP: a host key that does not match is one error with no download; with the right fingerprint every item archives once', async () => {
    const wrong = 'SHA256:' + Buffer.alloc(32, 7).toString('base64').replace(/=+$/, '');
    const server = (fingerprint: string) => ({
      id: 'srv',
      type: 'rc-sftp-server',
      host: sshd.host,
      port: sshd.port,
      username: sshd.username,
      root: sshd.root,
      hostFingerprint: fingerprint,
    });
    const credentials = { rc: { ...sim.credentials }, srv: { privateKey: sshd.privateKey } };
    const f = flow({ type: 'rc-sftp-sink', server: 'srv', template: 'hostkey-{id}.{ext}' }, [server(wrong)]);
    await helper.load(nodes, f, credentials);
    const w = watch();
    const expected = await assertPaused(w, /host key mismatch/);

    // The user puts the right fingerprint in and deploys: the source sends its Pending items again.
    await helper.unload();
    await helper.load(
      nodes,
      f.map((node) => (node.id === 'srv' ? server(sshd.hostFingerprint) : node)),
      credentials,
    );
    const again = watch();
    again.downloadsBefore = w.downloadsBefore;
    await assertRecovered(again, expected, (p) => readFileSync(join(sshd.root, p)));
    assert.equal(again.notices.length, 0, 'no error once it works');
  });
});
