import { join } from 'node:path';
import { Ledger } from '../../lib/ledger';
import type { LogLedger } from '../../lib/ledger/types';
import type { RED } from './red';

/** The ledger file of this Node-RED instance: in its user directory unless RC_ARCHIVER_LEDGER says. */
export function ledgerPath(RED: RED): string {
  if (process.env.RC_ARCHIVER_LEDGER) return process.env.RC_ARCHIVER_LEDGER;
  return join(RED.settings.userDir || process.cwd(), 'rc-archiver', 'ledger.sqlite');
}

export function openLedger(RED: RED): LogLedger {
  return Ledger.open(ledgerPath(RED));
}
