import type { ArchiveItem } from './items';
import type { LogLedger } from './ledger/types';
import { entrance, entrances, type Entrance } from './bus';

export interface ManualRetryResult {
  /** Keys put back into the flow. */
  retried: string[];
  /** Keys not retried, with the reason the user sees. */
  refused: Array<{ key: string; reason: string }>;
}

/** At most this many keys in one bulk Retry (the sidebar's largest page is 100). */
export const MAX_MANUAL_RETRY = 1000;

/**
 * A manual or bulk Retry from the sidebar: each Failed item re-enters the flow at the rc-retry node
 * that scheduled it, else at any deployed rc-retry, else at the source that found it, with a fresh
 * automatic schedule. Items that are not Failed are refused with the reason; nothing is lost, the
 * ledger row stays as it was.
 */
export function manualRetry(ledger: LogLedger, keys: string[]): ManualRetryResult {
  const result: ManualRetryResult = { retried: [], refused: [] };
  const unique = [...new Set(keys.filter((k) => typeof k === 'string' && k))].slice(0, MAX_MANUAL_RETRY);
  const anyRetry = entrances('retry')[0];
  const batches = new Map<Entrance, ArchiveItem[]>();
  for (const key of unique) {
    const row = ledger.get(key);
    if (!row) {
      result.refused.push({ key, reason: 'not in the archive log' });
      continue;
    }
    if (row.status !== 'Failed') {
      result.refused.push({ key, reason: `it is ${row.status}, only Failed items are retried` });
      continue;
    }
    const [logRow] = ledger.rowsOf([key]);
    const target = entrance(logRow?.retryNode) ?? anyRetry ?? entrance(row.source);
    if (!target) {
      result.refused.push({
        key,
        reason: 'no rc-retry node is deployed and the source that found it is gone',
      });
      continue;
    }
    ledger.resetRetries(key);
    let batch = batches.get(target);
    if (!batch) batches.set(target, (batch = []));
    batch.push(row.item);
    result.retried.push(key);
  }
  for (const [target, items] of batches) target.send(items);
  return result;
}
