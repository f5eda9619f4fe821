import type { LogExportRow } from './ledger/types';

/**
 * CSV for people who open it in a spreadsheet: RFC 4180 records (CRLF line ends, fields quoted when
 * they hold a comma, a quote, CR or LF, quotes doubled), and text that a spreadsheet would run as a
 * formula is neutralised. Owner names, numbers and error texts come from RingCentral, storage
 * providers or flows that are not ours, so any of them may be hostile.
 */

/** A spreadsheet treats a cell starting with one of these as a formula (or as the start of one). */
const FORMULA_START = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",\r\n]/;

/** Excel reads a CSV as UTF-8 only when it starts with a byte order mark; others ignore it. */
export const CSV_BOM = '\uFEFF';

export type CsvValue = string | number | boolean | null | undefined;

/** One field: text is neutralised against formula injection, then quoted as RFC 4180 needs. */
export function csvField(value: CsvValue): string {
  if (value === null || value === undefined) return '';
  // Numbers we write ourselves (bytes, attempts) are data, not formulas; only finite ones make sense.
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  // The apostrophe makes the spreadsheet show the text as it is instead of evaluating it.
  const text = FORMULA_START.test(value) ? `'${value}` : value;
  if (!NEEDS_QUOTES.test(text)) return text;
  return text.includes('"') ? `"${text.replace(/"/g, '""')}"` : `"${text}"`;
}

/** One record with its CRLF line end. */
export function csvRecord(values: readonly CsvValue[]): string {
  return values.map(csvField).join(',') + '\r\n';
}

/** The columns of the archive log CSV (Download Logs), in order. */
export const LOG_CSV_COLUMNS = [
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
] as const;

/** The header record of the archive log CSV. */
export function logCsvHeader(): string {
  return csvRecord(LOG_CSV_COLUMNS);
}

/** One archive log row as a CSV record; times stay ISO 8601 UTC, as in the ledger. */
export function logCsvRecord(row: LogExportRow): string {
  return csvRecord([
    row.kind,
    row.from,
    row.to,
    row.owner,
    row.createdAt,
    row.archivedAt,
    row.storage,
    row.path,
    row.bytes,
    row.sha256,
    row.status,
    row.attempts,
    row.lastError,
    row.key,
  ]);
}

/**
 * Parses RFC 4180 text back into records (a leading byte order mark is skipped). For tests and
 * tools that read an export back; it does not undo the formula neutralising.
 */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  let i = text.startsWith(CSV_BOM) ? 1 : 0;
  for (; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      record.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i++;
    } else field += c;
  }
  if (field || record.length) {
    record.push(field);
    records.push(record);
  }
  return records;
}
