import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { Ledger } from '../../lib/ledger';
import type { ArchiveItem } from '../../lib/items';
import { createHelper } from '../support/helper';
import { builtNode } from '../support/node-red';

const { helper, userDir } = createHelper();
const nodes = ['rc-config', 'rc-rate-limit', 'rc-archive-log'].map(builtNode);

function item(id: string, content: ArchiveItem['content'] = { json: { id } }): ArchiveItem {
  return {
    key: `CallLog:${id}`,
    kind: 'CallLog',
    accountId: '1',
    createdAt: '2026-11-01T10:00:00.000Z',
    fileName: `${id}.json`,
    contentType: 'application/json',
    content,
    record: { id },
    rc: 'rc',
  };
}

describe('rc-archive-log and rc-rate-limit', { timeout: 60_000 }, () => {
  before(async () => {
    await helper.startServer();
  });
  after(async () => {
    await helper.stopServer();
    rmSync(userDir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await helper.unload();
  });

  it('records outcomes of sinks that are not ours and sends a run summary', async () => {
    await helper.load(nodes, [
      { id: 'log', type: 'rc-archive-log', summaryDelay: 0.2, wires: [['out']] },
      { id: 'out', type: 'helper' },
    ]);
    const summary = new Promise<{ payload: { archived: number; failed: number } }>((resolve) =>
      helper.getNode('out').on('input', (m: never) => resolve(m)),
    );
    const log = helper.getNode('log');
    log.receive({
      payload: item('a'),
      receipt: { provider: 'other', path: 'x/a.json', bytes: 3, sha256: 'abc', archivedAt: 'now' },
    });
    log.receive({ payload: item('b'), error: { message: 'disk full' } });
    const msg = await summary;
    assert.equal(msg.payload.archived, 1);
    assert.equal(msg.payload.failed, 1);
    const ledger = Ledger.open(join(userDir, 'rc-archiver', 'ledger.sqlite'));
    try {
      assert.equal(ledger.get('CallLog:a')?.status, 'Archived');
      assert.equal(ledger.get('CallLog:b')?.status, 'Failed');
      assert.match(ledger.get('CallLog:b')?.lastError ?? '', /disk full/);
    } finally {
      ledger.close();
    }
  });

  it('rc-archive-log rejects a message that is not an item', async () => {
    await helper.load(nodes, [{ id: 'log', type: 'rc-archive-log', wires: [[]] }]);
    const log = helper.getNode('log');
    const errored = new Promise<string>((resolve) =>
      log.on('call:error', (call: never) => resolve(String((call as { args: unknown[] }).args[0]))),
    );
    log.receive({ payload: 42 });
    assert.match(await errored, /not an ArchiveItem/);
  });

  it('rc-rate-limit passes items that need no download at once, in order', async () => {
    await helper.load(nodes, [
      { id: 'rl', type: 'rc-rate-limit', group: 'auto', wires: [['out']] },
      { id: 'out', type: 'helper' },
    ]);
    const got: string[] = [];
    helper.getNode('out').on('input', (m: never) => got.push((m as { payload: ArchiveItem }).payload.key));
    for (const id of ['1', '2', '3']) helper.getNode('rl').receive({ payload: item(id) });
    const started = Date.now();
    while (got.length < 3 && Date.now() - started < 5000) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(got, ['CallLog:1', 'CallLog:2', 'CallLog:3']);
  });

  it('rc-rate-limit says which RingCentral config is missing', async () => {
    await helper.load(nodes, [{ id: 'rl', type: 'rc-rate-limit', group: 'auto', wires: [[]] }]);
    const rl = helper.getNode('rl');
    const errored = new Promise<string>((resolve) =>
      rl.on('call:error', (call: never) => resolve(String((call as { args: unknown[] }).args[0]))),
    );
    rl.receive({ payload: item('x', { uri: 'http://127.0.0.1:9/content' }) });
    assert.match(await errored, /rc.*not deployed/);
  });
});
