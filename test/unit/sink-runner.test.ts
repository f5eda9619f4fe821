// The sink runner on mocked time, without Node-RED: an item archived into a real folder is a file
// with its bytes, an Archived row and the receipt on output 1; what cannot be archived goes to
// output 2 with the reason; a target that is down is one notice, a countdown in the status, and the
// items go out by themselves once it works; a close settles every message it held.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { ArchiveEvents } from '../../lib/bus';
import type { ArchiveItem, Receipt } from '../../lib/items';
import { Ledger } from '../../lib/ledger';
import type { ContentFetcher } from '../../lib/ringcentral/types';
import { SinkRunner, type SinkSettings } from '../../lib/sink-runner';
import { FolderStorage } from '../../lib/storage/folder';
import { asTargetError } from '../../lib/storage/target';
import { FakeClock, settle } from '../support/clock';
import { recordingIO } from '../support/controller-io';

const tmp = mkdtempSync(join(tmpdir(), 'rc-sink-runner-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;

function item(id: string): ArchiveItem {
  return {
    key: `CallLog:${id}`,
    kind: 'CallLog',
    accountId: '1',
    createdAt: '2026-05-30T10:00:00.000Z',
    fileName: `${id}.json`,
    contentType: 'application/json',
    content: { json: { id, note: 'über' } },
    record: { id },
    rc: 'rc',
  };
}

/** Call-log items carry their JSON: no download, so the login is never asked for content. */
const noDownloads = {
  getClient: (): ContentFetcher => ({
    openContent: () => Promise.reject(new Error('no download expected')),
  }),
};

function setup(settings: SinkSettings = {}) {
  n++;
  const clock = new FakeClock();
  const dir = join(tmp, `archive-${n}`);
  const ledger = Ledger.open(join(tmp, `ledger-${n}.sqlite`));
  const folder = new FolderStorage(dir);
  const target = { down: false };
  const storage = Object.assign(Object.create(folder) as FolderStorage, {
    check: async () => {
      if (target.down) throw asTargetError(new Error('the disk is unplugged'));
    },
  });
  const events = new EventEmitter<ArchiveEvents>();
  const downs: Array<ArchiveEvents['targetDown'][0]> = [];
  const ups: Array<ArchiveEvents['targetUp'][0]> = [];
  events.on('targetDown', (e) => downs.push(e));
  events.on('targetUp', (e) => ups.push(e));
  const rec = recordingIO(`sink-${n}`, 'rc-folder-sink');
  const sink = new SinkRunner({
    io: rec.io,
    settings: { template: '{kind}/{id}.{ext}', timeZone: 'UTC', sidecar: false, ...settings },
    ledger,
    storage: () => storage,
    rcConfig: (rc) => (rc === 'rc' ? noDownloads : undefined),
    clock,
    events,
  });
  return { clock, dir, ledger, target, sink, rec, downs, ups };
}

describe('sink runner', () => {
  it('archives an item: its file with its bytes, an Archived row, the receipt on output 1', async () => {
    const { dir, ledger, sink, rec } = setup();
    const it1 = item('a');
    ledger.recordFound([it1], 'src');
    await sink.input({ topic: it1.key, payload: it1 }, rec.send);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'CallLog', 'a.json'), 'utf8')), {
      id: 'a',
      note: 'über',
    });
    assert.equal(ledger.get(it1.key)?.status, 'Archived');
    assert.equal(rec.sent.length, 1);
    const receipt = rec.sent[0].receipt as Receipt;
    assert.equal(receipt.path, 'CallLog/a.json');
    assert.equal(receipt.bytes, readFileSync(join(dir, 'CallLog', 'a.json')).length);
    assert.match(rec.lastStatus()!.text!, /^status.counts \{"archived":1,"failed":0,"active":0/);
    await sink.close();
    ledger.close();
  });

  it('what cannot be archived goes to output 2 with the reason and rejects for done()', async () => {
    const { ledger, sink, rec } = setup();
    await assert.rejects(sink.input({ payload: 'hello' }, rec.send), /errors.notItem/);
    const stranger = { ...item('b'), rc: 'gone' };
    await assert.rejects(sink.input({ payload: stranger }, rec.send), /errors.noRc/);
    assert.equal(rec.sent.length, 0);
    assert.equal(rec.second.length, 2);
    assert.match(
      (rec.second[1].error as { message: string }).message,
      /errors.noRc \{"key":"CallLog:b","rc":"gone"\}/,
    );
    assert.equal(rec.lastStatus()!.fill, 'red');
    await sink.close();
    ledger.close();

    const broken = setup({ timeZone: 'Mars/Olympus' });
    assert.match(broken.rec.errors[0].text, /unknown time zone "Mars\/Olympus"/);
    await assert.rejects(broken.sink.input({ payload: item('c') }, broken.rec.send), /unknown time zone/);
    assert.equal(broken.ledger.get('CallLog:c'), undefined, 'nothing written');
    await broken.sink.close();
    broken.ledger.close();
  });

  it('a target that is down: one notice, a countdown, then every waiting item archived once it works', async () => {
    const { clock, dir, ledger, target, sink, rec, downs, ups } = setup();
    target.down = true;
    const items = ['d1', 'd2', 'd3'].map(item);
    ledger.recordFound(items, 'src');
    const settled: string[] = [];
    const inputs = items.map((it) =>
      sink.input({ topic: it.key, payload: it }, rec.send).then(() => settled.push(it.key)),
    );
    await clock.advance(0);
    assert.equal(downs.length, 1, 'one outage event');
    assert.deepEqual(downs[0].waiting, ['CallLog:d1', 'CallLog:d2', 'CallLog:d3']);
    assert.equal(rec.second.length, 1, 'one notice on output 2');
    assert.equal(rec.second[0].targetDown, true);
    assert.match(
      rec.errors[0].text,
      /^errors.down \{"reason":"the disk is unplugged","count":3,"seconds":5\}/,
    );
    assert.match(rec.lastStatus()!.text!, /^status.down .*"seconds":5/);
    await clock.advance(2500);
    assert.match(rec.lastStatus()!.text!, /^status.down .*"seconds":5/);
    assert.equal(settled.length, 0, 'the items wait');
    assert.equal(ledger.get('CallLog:d1')?.status, 'Pending');

    target.down = false;
    await clock.advance(2500);
    await Promise.all(inputs);
    assert.equal(settled.length, 3);
    assert.equal(ups.length, 1);
    assert.equal(rec.sent.length, 3);
    for (const it of items) {
      assert.equal(ledger.get(it.key)?.status, 'Archived');
      assert.ok(readFileSync(join(dir, 'CallLog', it.fileName)).length > 0);
    }
    await sink.close();
    assert.equal(clock.pending, 0, 'no countdown left');
    ledger.close();
  });

  it('a close settles the messages it still held: they stay Pending for the next start', async () => {
    const { clock, ledger, target, sink, rec } = setup();
    target.down = true;
    const it1 = item('e');
    ledger.recordFound([it1], 'src');
    const input = sink.input({ payload: it1 }, rec.send);
    await clock.advance(0);
    await sink.close();
    await input;
    await settle();
    assert.equal(ledger.get(it1.key)?.status, 'Pending');
    assert.equal(rec.sent.length, 0);
    ledger.close();
  });
});
