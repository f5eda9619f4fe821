import { isArchiveItem, type Receipt } from '../../lib/items';
import type { LedgerApi } from '../../lib/ledger/types';
import { openLedger } from '../shared/ledger';
import type { DoneFn, Node, NodeDef, NodeMessage, RED, SendFn } from '../shared/red';
import { translator } from '../shared/i18n';
import catalog from './locales/en-US/rc-archive-log.json';
import { errorMessage, shortText, timeOfDay } from '../shared/util';

interface ArchiveLogDef extends NodeDef {
  summaryDelay?: string | number;
}

function isReceipt(value: unknown): value is Receipt {
  return !!value && typeof value === 'object' && typeof (value as Receipt).path === 'string';
}

export default function register(RED: RED): void {
  const t = translator(RED, catalog);
  function ArchiveLog(this: Node, def: ArchiveLogDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const delayMs = Math.max(0, Number(def.summaryDelay ?? 3)) * 1000;
    let ledger: LedgerApi | undefined;
    try {
      ledger = openLedger(RED);
    } catch (err) {
      node.status({ fill: 'red', shape: 'ring', text: shortText(errorMessage(err)) });
      node.error(errorMessage(err));
    }
    let run = { archived: 0, failed: 0, startedAt: new Date().toISOString() };
    let timer: NodeJS.Timeout | undefined;
    let lastSend: SendFn | undefined;

    const summarize = () => {
      timer = undefined;
      const counts = ledger?.counts();
      const payload = { ...run, endedAt: new Date().toISOString(), ledger: counts };
      node.status({
        fill: run.failed ? 'yellow' : 'green',
        shape: 'dot',
        text: t('rc-archive-log.status.summary', {
          ...run,
          pending: counts?.Pending ?? 0,
          time: timeOfDay(),
        }),
      });
      lastSend?.({ topic: 'summary', payload });
      run = { archived: 0, failed: 0, startedAt: new Date().toISOString() };
    };

    node.on('input', (msg: NodeMessage, send: SendFn, done: DoneFn) => {
      const item = msg.payload;
      if (!isArchiveItem(item)) {
        done(new Error(t('rc-archive-log.errors.notItem')));
        return;
      }
      try {
        const row = ledger?.get(item.key);
        const failure = msg.error as { message?: string; lost?: boolean } | undefined;
        // Sinks of this pack write the ledger themselves; outcomes of other sinks are recorded here.
        if (failure) {
          run.failed++;
          // Lost (content gone at RingCentral) is never turned back into a plain failure.
          if (ledger && row?.status !== 'Failed' && row?.status !== 'Lost') {
            if (failure.lost === true) ledger.markLost(item.key, 'flow', failure.message || 'lost', item);
            else ledger.markFailed(item.key, 'flow', failure.message || 'failed', item);
          }
        } else {
          run.archived++;
          if (ledger && row?.status !== 'Archived') {
            const receipt: Receipt = isReceipt(msg.receipt)
              ? msg.receipt
              : {
                  provider: 'flow',
                  path: '',
                  bytes: item.size ?? 0,
                  sha256: '',
                  archivedAt: new Date().toISOString(),
                };
            ledger.markArchived(item.key, 'flow', receipt, item);
          }
        }
      } catch (err) {
        done(new Error(errorMessage(err)));
        return;
      }
      lastSend = send;
      if (timer) clearTimeout(timer);
      timer = setTimeout(summarize, delayMs);
      done();
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      if (timer) clearTimeout(timer);
      ledger?.close();
      done();
    });
  }
  RED.nodes.registerType('rc-archive-log', ArchiveLog);
}
