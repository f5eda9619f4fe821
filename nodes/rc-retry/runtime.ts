import { RETRY } from '../../lib/node-defaults';
import { RetryScheduler } from '../../lib/retry-scheduler';
import { hostController } from '../shared/host';
import type { Node, NodeDef, RED } from '../shared/red';
import { translator } from '../shared/i18n';
import catalog from './locales/en-US/rc-retry.json';

interface RetryDef extends NodeDef {
  schedule?: string;
}

export default function register(RED: RED): void {
  const t = translator(RED, catalog);
  function Retry(this: Node, def: RetryDef) {
    RED.nodes.createNode(this, def);
    hostController(RED, this, {
      i18n: 'rc-retry',
      t,
      create: (io, { ledger, error }) =>
        new RetryScheduler({
          io,
          ledger,
          ledgerError: error,
          schedule: def.schedule ?? RETRY.value.schedule,
        }),
    });
  }
  RED.nodes.registerType('rc-retry', Retry);
}
