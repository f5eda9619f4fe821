import { ArchiveLogRecorder } from '../../lib/archive-log-recorder';
import { ARCHIVE_LOG } from '../../lib/node-defaults';
import type { RcConfigNode } from '../rc-config/runtime';
import { hostController } from '../shared/host';
import type { Node, NodeDef, RED } from '../shared/red';
import { translator } from '../shared/i18n';
import catalog from './locales/en-US/rc-archive-log.json';

interface ArchiveLogDef extends NodeDef {
  summaryDelay?: string | number;
  keepDays?: string | number;
}

function nonNegative(value: unknown, fallback: number): number {
  if (value === undefined || value === null || String(value).trim() === '') return fallback;
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 ? n : fallback;
}

export default function register(RED: RED): void {
  const t = translator(RED, catalog);
  function ArchiveLog(this: Node, def: ArchiveLogDef) {
    RED.nodes.createNode(this, def);
    hostController(RED, this, {
      i18n: 'rc-archive-log',
      t,
      create: (io, { ledger, error }) =>
        new ArchiveLogRecorder({
          io,
          ledger,
          ledgerError: error,
          summaryDelayMs: nonNegative(def.summaryDelay, ARCHIVE_LOG.value.summaryDelay) * 1000,
          keepDays: nonNegative(def.keepDays, ARCHIVE_LOG.value.keepDays),
          retentionOf: (rc) => {
            const rcNode = RED.nodes.getNode(rc) as RcConfigNode | null;
            return typeof rcNode?.retention === 'function' ? rcNode.retention() : undefined;
          },
        }),
    });
  }
  RED.nodes.registerType('rc-archive-log', ArchiveLog);
}
