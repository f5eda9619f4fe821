import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { LOG_CSV_COLUMNS, parseCsv } from '../../lib/csv';
import type { ArchiveItem } from '../../lib/items';
import { Ledger } from '../../lib/ledger';
import { writeLogCsv } from '../../lib/log-export';

function filled(n: number): Ledger {
  const ledger = Ledger.openMemory();
  const items: ArchiveItem[] = Array.from({ length: n }, (_, i) => ({
    key: `CallRecording:${i}`,
    kind: 'CallRecording',
    accountId: '1',
    ownerName: i === 7 ? '=HYPERLINK("https://evil.example")' : `User ${i % 50}`,
    from: '+16505550100',
    to: ['+16505550199'],
    createdAt: new Date(Date.UTC(2026, 10, 1) + i * 60_000).toISOString(),
    fileName: `${i}.mp3`,
    contentType: 'audio/mpeg',
    content: { uri: `https://media.example/${i}` },
    record: { id: String(i), padding: 'x'.repeat(200) },
    rc: 'rc',
  }));
  ledger.recordFound(items, 'src');
  return ledger;
}

/** A consumer that takes one chunk at a time, slowly, and remembers how much ever waited for it. */
class SlowSink extends Writable {
  text = '';
  maxBuffered = 0;
  constructor(private readonly delayMs: number) {
    super({ highWaterMark: 16 * 1024, decodeStrings: false });
  }
  override _write(chunk: string, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.maxBuffered = Math.max(this.maxBuffered, this.writableLength);
    this.text += chunk;
    setTimeout(callback, this.delayMs);
  }
}

describe('writeLogCsv (Download Logs)', () => {
  it('writes every row of the filter, newest first, and waits for a slow reader instead of buffering', async () => {
    const ledger = filled(40_000);
    const out = new SlowSink(20);
    const rows = await writeLogCsv(ledger, {}, out);
    await new Promise<void>((resolve) => out.end(resolve));
    assert.equal(rows, 40_000);
    const records = parseCsv(out.text);
    assert.deepEqual(records[0], [...LOG_CSV_COLUMNS]);
    assert.equal(records.length, 40_001);
    assert.equal(records[1][LOG_CSV_COLUMNS.indexOf('Key')], 'CallRecording:39999', 'newest first');
    assert.equal(records.at(-1)![LOG_CSV_COLUMNS.indexOf('Key')], 'CallRecording:0');
    const hostile = records.find((r) => r[LOG_CSV_COLUMNS.indexOf('Key')] === 'CallRecording:7')!;
    assert.equal(hostile[LOG_CSV_COLUMNS.indexOf('Owner')], `'=HYPERLINK("https://evil.example")`);
    // The whole CSV is far larger than what ever waited unsent: the export paced itself.
    assert.ok(out.text.length > 3 * 1024 * 1024, `${out.text.length} characters written`);
    assert.ok(out.maxBuffered <= 1.2 * 1024 * 1024, `at most about 1 MiB waited (${out.maxBuffered})`);
    ledger.close();
  });

  it('stops when the client goes away, without hanging and without writing on', async () => {
    const ledger = filled(20_000);
    const out = new SlowSink(5);
    setTimeout(() => out.destroy(), 50);
    const rows = await writeLogCsv(ledger, {}, out);
    assert.ok(rows < 20_000, `stopped after ${rows} rows`);
    assert.equal(out.destroyed, true);
    ledger.close();
  });

  it('stops when its signal aborts', async () => {
    const ledger = filled(5_000);
    const stop = new AbortController();
    stop.abort();
    const out = new SlowSink(0);
    assert.equal(await writeLogCsv(ledger, {}, out, stop.signal), 0);
    ledger.close();
  });
});
