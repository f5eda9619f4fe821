import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { CSV_BOM, logCsvHeader, logCsvRecord } from './csv';
import type { LogFilter, LogLedger } from './ledger/types';

/** Records are sent in pieces of about this many characters: few writes, little held at once. */
const PIECE_CHARS = 64 * 1024;
/** What `out` may hold unsent before the export waits for it to drain. */
const BUFFERED_CHARS = 1024 * 1024;

/** Resolves when `out` can take more, or is gone; leaves no listener behind either way. */
async function drainOrClose(out: Writable): Promise<void> {
  const stop = new AbortController();
  try {
    await Promise.race([
      once(out, 'drain', { signal: stop.signal }),
      once(out, 'close', { signal: stop.signal }),
    ]);
  } finally {
    stop.abort();
  }
}

/**
 * Writes the archive log CSV of a filter to `out` (an HTTP response, a file), every row the
 * filter matches, newest first. Memory stays flat however many rows there are: rows come from
 * the ledger in keyset batches, and when `out` is full the export waits for it to drain. It also
 * gives the event loop a turn between pieces, so Node-RED keeps serving while a large log goes out.
 * Stops early (returning the rows written so far) when `signal` aborts or `out` closes.
 */
export async function writeLogCsv(
  ledger: LogLedger,
  filter: LogFilter,
  out: Writable,
  signal?: AbortSignal,
): Promise<number> {
  const closed = () => signal?.aborted || out.destroyed || out.writableEnded;
  let rows = 0;
  let piece = CSV_BOM + logCsvHeader();
  const flush = async () => {
    out.write(piece);
    piece = '';
    // Up to BUFFERED_CHARS may wait in `out` while the next rows are read: reading the ledger and
    // writing the bytes overlap, and memory still has a bound.
    if (out.writableLength >= BUFFERED_CHARS && !closed()) await drainOrClose(out);
    else await nextTurn();
  };
  for (const row of ledger.iterate(filter)) {
    if (closed()) return rows;
    piece += logCsvRecord(row);
    rows++;
    if (piece.length >= PIECE_CHARS) await flush();
  }
  if (piece && !closed()) out.write(piece);
  return rows;
}
