import { join } from 'node:path';
import { Ledger } from '../../lib/ledger';
import type { LogLedger } from '../../lib/ledger/types';
import type { RED } from './red';
import { translator } from './i18n';
import catalog from '../rc-archive-log/locales/en-US/rc-archive-log.json';

/** The ledger file of this Node-RED instance: in its user directory unless RC_ARCHIVER_LEDGER says. */
export function ledgerPath(RED: RED): string {
  if (process.env.RC_ARCHIVER_LEDGER) return process.env.RC_ARCHIVER_LEDGER;
  return join(RED.settings.userDir || process.cwd(), 'rc-archiver', 'ledger.sqlite');
}

/** Ledger files whose driver has been logged: once per file, not once per node. */
const logged = new Set<string>();

/**
 * A handle on this process's one connection to the ledger file: every node and the sidebar share
 * it (one migration, one WAL writer); it closes when the last handle closes.
 */
export function openLedger(RED: RED): LogLedger {
  const file = ledgerPath(RED);
  const ledger = Ledger.open(file);
  if (!logged.has(file)) {
    logged.add(file);
    // Which SQLite is in use matters when support asks, and differs between Node versions.
    RED.log.info(
      translator(RED, catalog)('rc-archive-log.log.ledgerDriver', { file, driver: ledger.driver }),
    );
  }
  return ledger;
}
