import {
  exhaustedAlert,
  flowReceipt,
  needsRecording,
  outcomeOf,
  RunCounter,
  targetDownAlert,
} from '../../lib/archive-log';
import { archiveEvents, type ArchiveEvents } from '../../lib/bus';
import { ARCHIVE_LOG } from '../../lib/node-defaults';
import { isArchiveItem } from '../../lib/items';
import type { LedgerAdmin } from '../../lib/ledger/types';
import type { RcConfigNode } from '../rc-config/runtime';
import { openLedger } from '../shared/ledger';
import type { DoneFn, Node, NodeDef, NodeMessage, RED, SendFn } from '../shared/red';
import { translator } from '../shared/i18n';
import catalog from './locales/en-US/rc-archive-log.json';
import { errorMessage, shortText, timeOfDay } from '../shared/util';

interface ArchiveLogDef extends NodeDef {
  summaryDelay?: string | number;
  keepDays?: string | number;
}

/** Items of sinks not of this pack are recorded under this sink name (the log's "flow" storage). */
const FLOW_SINK = 'flow';
const DAY_MS = 86_400_000;

function nonNegative(value: unknown, fallback: number): number {
  if (value === undefined || value === null || String(value).trim() === '') return fallback;
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 ? n : fallback;
}

export default function register(RED: RED): void {
  const t = translator(RED, catalog);
  function ArchiveLog(this: Node, def: ArchiveLogDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const delayMs = nonNegative(def.summaryDelay, ARCHIVE_LOG.value.summaryDelay) * 1000;
    const keepDays = nonNegative(def.keepDays, ARCHIVE_LOG.value.keepDays);
    let ledger: LedgerAdmin | undefined;
    try {
      ledger = openLedger(RED);
    } catch (err) {
      node.status({ fill: 'red', shape: 'ring', text: shortText(errorMessage(err)) });
      node.error(errorMessage(err));
    }
    const run = new RunCounter();
    let timer: NodeJS.Timeout | undefined;
    let pruneTimer: NodeJS.Timeout | undefined;
    let lastSend: SendFn | undefined;
    let alerts = 0;

    const summarize = () => {
      timer = undefined;
      let counts: ReturnType<LedgerAdmin['counts']> | undefined;
      try {
        counts = ledger?.counts();
      } catch (err) {
        node.warn(errorMessage(err));
      }
      const payload = run.finish(counts);
      node.status({
        fill: payload.failed ? 'yellow' : 'green',
        shape: 'dot',
        text: t('rc-archive-log.status.summary', {
          archived: payload.archived,
          failed: payload.failed + payload.lost,
          pending: counts?.Pending ?? 0,
          time: timeOfDay(),
        }),
      });
      lastSend?.([{ topic: 'summary', payload }, null]);
    };

    // Retention of the log: at start, then once a day; 0 keeps every row.
    const prune = () => {
      if (!ledger || keepDays <= 0) return;
      try {
        const pruned = ledger.prune({ olderThanDays: keepDays });
        if (pruned.items || pruned.events)
          node.log(t('rc-archive-log.log.pruned', { ...pruned, days: keepDays }));
      } catch (err) {
        node.warn(errorMessage(err));
      }
    };
    prune();
    if (keepDays > 0) pruneTimer = setInterval(prune, DAY_MS);

    const onExhausted = (event: ArchiveEvents['exhausted'][0]) => {
      const rc = RED.nodes.getNode(event.row.item.rc) as RcConfigNode | null;
      const retention = typeof rc?.retention === 'function' ? rc.retention() : undefined;
      const alert = exhaustedAlert(event, retention);
      alerts++;
      node.status({
        fill: 'red',
        shape: 'dot',
        text: shortText(t('rc-archive-log.status.alert', { count: alerts, key: alert.key })),
      });
      node.send([null, { topic: alert.key, payload: alert }]);
    };
    archiveEvents.on('exhausted', onExhausted);

    const onTargetDown = (event: ArchiveEvents['targetDown'][0]) => {
      const alert = targetDownAlert(event);
      alerts++;
      node.status({
        fill: 'red',
        shape: 'dot',
        text: shortText(
          t('rc-archive-log.status.targetDown', { count: alerts, sink: event.sink.name || event.sink.type }),
        ),
      });
      node.send([null, { topic: `target-down:${event.sink.id}`, payload: alert }]);
    };
    archiveEvents.on('targetDown', onTargetDown);

    node.on('input', (msg: NodeMessage, send: SendFn, done: DoneFn) => {
      // A sink's outage notice: its items are waiting, not failed; the alert comes from the event.
      if (msg.targetDown === true) return done();
      const item = msg.payload;
      if (!isArchiveItem(item)) return done(new Error(t('rc-archive-log.errors.notItem')));
      const outcome = outcomeOf(msg);
      if ('invalid' in outcome) return done(new Error(outcome.invalid));
      try {
        if (ledger && needsRecording(outcome, ledger.get(item.key)?.status)) {
          const reason = outcome.error || outcome.status.toLowerCase();
          if (outcome.status === 'Archived')
            ledger.markArchived(item.key, FLOW_SINK, outcome.receipt ?? flowReceipt(item, outcome), item);
          else if (outcome.status === 'Lost') ledger.markLost(item.key, FLOW_SINK, reason, item);
          else ledger.markFailed(item.key, FLOW_SINK, reason, item);
        }
      } catch (err) {
        return done(new Error(errorMessage(err)));
      }
      run.add(item.kind, { status: outcome.status, bytes: outcome.bytes ?? item.size });
      lastSend = send;
      if (timer) clearTimeout(timer);
      timer = setTimeout(summarize, delayMs);
      done();
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      if (timer) clearTimeout(timer);
      if (pruneTimer) clearInterval(pruneTimer);
      archiveEvents.removeListener('exhausted', onExhausted);
      archiveEvents.removeListener('targetDown', onTargetDown);
      ledger?.close();
      done();
    });
  }
  RED.nodes.registerType('rc-archive-log', ArchiveLog);
}
