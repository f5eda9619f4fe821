// A real Node-RED with a flow of every node type that keeps the archive ledger open (two sources,
// rc-rate-limit, rc-retry, a folder sink, rc-archive-log) and the sidebar's routes in use: the
// process holds one SQLite connection to the ledger file (one descriptor in /proc/<pid>/fd), and
// says once which SQLite driver it uses.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { prepareUserDir, removeDir, startNodeRed, type NodeRedProcess } from '../support/node-red-process';

/** The paths of the files a process has open. */
function openFiles(pid: number): string[] {
  const dir = `/proc/${pid}/fd`;
  return readdirSync(dir).flatMap((fd) => {
    try {
      return [readlinkSync(join(dir, fd))];
    } catch {
      return []; // closed meanwhile
    }
  });
}

function flow(archiveDir: string): unknown[] {
  const tab = 'one-core-tab';
  return [
    { id: tab, type: 'tab', label: 'One ledger connection' },
    { id: 'calls', type: 'rc-call-log-source', z: tab, name: '', rc: '', wires: [['rate']] },
    { id: 'messages', type: 'rc-message-source', z: tab, name: '', rc: '', wires: [['rate']] },
    { id: 'rate', type: 'rc-rate-limit', z: tab, name: '', rc: '', group: 'auto', wires: [['retry']] },
    { id: 'retry', type: 'rc-retry', z: tab, name: '', wires: [['sink']] },
    {
      id: 'sink',
      type: 'rc-folder-sink',
      z: tab,
      name: '',
      directory: archiveDir,
      wires: [['log'], ['log']],
    },
    { id: 'log', type: 'rc-archive-log', z: tab, name: '', summaryDelay: 1, wires: [[]] },
  ];
}

describe('one core per Node-RED process', { timeout: 120_000 }, () => {
  let work: string;
  let red: NodeRedProcess | undefined;
  let ledgerFile: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'rc-one-core-'));
    const userDir = join(work, 'user');
    mkdirSync(join(work, 'archive'), { recursive: true });
    prepareUserDir(userDir, flow(join(work, 'archive')));
    ledgerFile = join(work, 'ledger', 'ledger.sqlite');
    red = await startNodeRed({ userDir, env: { RC_ARCHIVER_LEDGER: ledgerFile } });
  });

  after(async () => {
    await red?.stop();
    if (work) removeDir(work);
  });

  it('opens the ledger file once for six nodes and the sidebar', async () => {
    const pid = red!.child.pid!;
    // The sidebar's route opens its ledger on its first request.
    const res = await fetch(`${red!.url}/rc-archiver/log?page=1&pageSize=25`);
    assert.equal(res.status, 200, await res.clone().text());
    const page = (await res.json()) as { total?: number };
    assert.equal(page.total, 0);

    const file = realpathSync(ledgerFile);
    const descriptors = openFiles(pid).filter((path) => path === file);
    assert.equal(descriptors.length, 1, `descriptors of ${file}: ${descriptors.length}`);

    const driverLines = red!.output().match(/archive ledger .* uses SQLite through/g) ?? [];
    assert.equal(driverLines.length, 1, red!.output().slice(-3000));
  });
});
