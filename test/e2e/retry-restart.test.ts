// rc-retry in a real Node-RED process: an item fails into a folder that is a file, rc-retry writes
// its next try into the ledger, Node-RED is killed with SIGKILL and started again, and the try goes
// out at the time stored before the kill, not a fresh delay after the restart.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ArchiveItem } from '../../lib/items';
import { readLedger, until } from '../support/e2e';
import { prepareUserDir, removeDir, startNodeRed, type NodeRedProcess } from '../support/node-red-process';

const DELAY_S = 30;

describe('rc-retry keeps its schedule across kill -9', { timeout: 120_000 }, () => {
  let work: string;
  let userDir: string;
  let archive: string;
  let red: NodeRedProcess | undefined;
  // The config's empty fields read these; nothing is fetched for a JSON item.
  const env = {
    RC_SERVER: 'http://127.0.0.1:9',
    RC_CLIENT_ID: 'id',
    RC_CLIENT_SECRET: 'secret',
    RC_JWT: 'jwt',
  };
  const item: ArchiveItem = {
    key: 'CallLog:e2e-retry',
    kind: 'CallLog',
    accountId: '1',
    createdAt: new Date().toISOString(),
    fileName: 'e2e-retry.json',
    contentType: 'application/json',
    content: { json: { id: 'e2e-retry' } },
    record: { id: 'e2e-retry' },
    rc: 'rc',
  };

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'rc-archiver-retry-'));
    userDir = join(work, 'node-red');
    archive = join(work, 'archive');
    // The fault: the archive folder is a file, so every write fails until the test removes it.
    writeFileSync(archive, 'not a folder');
    prepareUserDir(userDir, [
      { id: 'tab', type: 'tab', label: 'retry' },
      {
        id: 'go',
        type: 'inject',
        z: 'tab',
        props: [{ p: 'payload' }, { p: 'topic', vt: 'str' }],
        topic: item.key,
        payload: JSON.stringify(item),
        payloadType: 'json',
        once: true,
        onceDelay: 0.1,
        repeat: '',
        crontab: '',
        wires: [['sink']],
      },
      {
        id: 'sink',
        type: 'rc-folder-sink',
        z: 'tab',
        directory: archive,
        timeZone: 'UTC',
        sidecar: false,
        wires: [['log'], ['retry', 'log']],
      },
      { id: 'retry', type: 'rc-retry', z: 'tab', schedule: `${DELAY_S}s, 1h`, wires: [['sink']] },
      { id: 'log', type: 'rc-archive-log', z: 'tab', summaryDelay: 1, keepDays: 0, wires: [[], []] },
      { id: 'rc', type: 'rc-config', server: '', serverUrl: '' },
    ]);
  });

  after(async () => {
    await red?.kill();
    if (work) removeDir(work);
  });

  const ledgerFile = () => join(userDir, 'rc-archiver', 'ledger.sqlite');
  const row = () => readLedger(ledgerFile(), (l) => l.rowsOf([item.key])[0]);

  it('sends the item at the time stored before the kill', async () => {
    red = await startNodeRed({ userDir, env });
    await until(() => !!row()?.retryAt, 30_000, 'the first failure scheduled', red);
    const scheduled = row()!;
    assert.equal(scheduled.status, 'Failed');
    assert.equal(scheduled.retries, 1);
    assert.equal(scheduled.retryNode, 'retry');
    const retryAt = Date.parse(scheduled.retryAt!);
    assert.ok(Math.abs(retryAt - Date.now() - DELAY_S * 1000) < 5000, 'due one delay after the failure');

    await red.kill();
    red = undefined;
    // Down for a while: a schedule started afresh after the restart would be this much late.
    await new Promise((r) => setTimeout(r, 8000));
    red = await startNodeRed({ userDir, env });
    // The inject sends the item once more at start; it fails again, and the schedule stands.
    await until(() => (row()?.attempts ?? 0) >= 2, 30_000, 'the failure after the restart', red);
    assert.equal(row()!.retryAt, scheduled.retryAt, 'the stored try is kept');
    assert.equal(row()!.retries, 1);
    assert.ok(Date.now() < retryAt - 2000, 'the restart is done before the try is due');

    rmSync(archive, { force: true });
    mkdirSync(archive);
    await until(() => row()?.status === 'Archived', DELAY_S * 1000 + 20_000, 'the retry archived it', red);
    const archived = row()!;
    const archivedAt = Date.parse(archived.archivedAt ?? archived.updatedAt);
    assert.ok(archivedAt >= retryAt, `not before its time (${archivedAt - retryAt} ms)`);
    assert.ok(
      archivedAt < retryAt + 4000,
      `at its stored time, not a fresh delay (${archivedAt - retryAt} ms late)`,
    );
    assert.equal(archived.attempts, 3, 'the first try, the one after the restart, the retry');
    assert.equal(archived.retries, 0, 'archived: the schedule is reset');
    await red.stop();
    red = undefined;
  });
});
