import { callLogArchiveOf, runCallLog, type CallLogRunOptions } from '../../lib/sources/call-log';
import { loadExtensions } from '../../lib/sources/extensions';
import type { RcConfigNode } from '../rc-config/runtime';
import { CALL_LOG_SOURCE, settingOf } from '../../lib/node-defaults';
import { allRetainedDays } from '../../lib/retention';
import {
  configuredBackfill,
  createSource,
  emitItems,
  positiveNumber,
  type SourceRunContext,
} from '../shared/source';
import type { Node, NodeDef, NodeMessage, RED, SendFn } from '../shared/red';
import { translator } from '../shared/i18n';
import catalog from './locales/en-US/rc-call-log-source.json';
import { timeOfDay } from '../shared/util';

interface SourceDef extends NodeDef {
  rc?: string;
  scope?: string;
  archive?: string;
  extensionId?: string;
  initialDays?: string | number;
  lookBackMinutes?: string | number;
  warnDays?: string | number;
  backfill?: string;
  backfillFrom?: string;
  backfillTo?: string;
}

export default function register(RED: RED): void {
  const t = translator(RED, catalog);
  function CallLogSource(this: Node, def: SourceDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const rcNode = def.rc ? (RED.nodes.getNode(def.rc) as RcConfigNode | null) : null;
    const scope = def.scope === 'extension' ? 'extension' : 'account';
    const extensionId = (def.extensionId || '').trim() || '~';
    // New nodes get 'both' from the editor. A node saved before the choice existed (no `archive` in
    // its config) keeps doing what it did: recordings only, so an upgrade does not change a flow.
    const archive = callLogArchiveOf(
      def.archive === '' ? CALL_LOG_SOURCE.whenMissing.archive : settingOf(CALL_LOG_SOURCE, def, 'archive'),
    );
    const initialDays = positiveNumber(def.initialDays, CALL_LOG_SOURCE.value.initialDays);
    const lookBackMinutes = positiveNumber(def.lookBackMinutes, CALL_LOG_SOURCE.value.lookBackMinutes);
    const warnDays = positiveNumber(def.warnDays, CALL_LOG_SOURCE.value.warnDays);
    const kinds =
      archive === 'recordings'
        ? (['CallRecording'] as const)
        : archive === 'records'
          ? (['CallLog'] as const)
          : (['CallRecording', 'CallLog'] as const);
    /** One listing: the regular run (from the cursor) or a backfill part (a range, a cursor per page). */
    const list = async (
      context: SourceRunContext,
      more: Pick<CallLogRunOptions, 'range' | 'pageCursor' | 'onItems' | 'onPage'>,
    ) => {
      if (!rcNode) throw new Error(t('rc-call-log-source.status.noConfig'));
      const client = rcNode.getClient();
      const extensions = scope === 'account' ? await loadExtensions(client) : undefined;
      return runCallLog({
        client,
        ledger: context.ledger,
        source: node.id,
        rc: rcNode.id,
        scope,
        extensionId,
        extensions,
        archive,
        initialDays,
        lookBackMinutes,
        signal: context.signal,
        ...more,
      });
    };
    const run = async (_msg: NodeMessage, send: SendFn, context: SourceRunContext) => {
      node.status({ fill: 'blue', shape: 'ring', text: t('rc-call-log-source.status.listing') });
      const result = await list(context, {
        onItems: (items) => emitItems(send, items),
        onPage: (p) =>
          node.status({
            fill: 'blue',
            shape: 'ring',
            text: t('rc-call-log-source.status.progress', { pages: p.pages, count: p.newItems }),
          }),
      });
      node.status({
        fill: 'green',
        shape: 'dot',
        text: t('rc-call-log-source.status.done', { count: result.newItems, time: timeOfDay() }),
      });
    };

    createSource(RED, node, {
      i18n: 'rc-call-log-source',
      t,
      configured: Boolean(rcNode),
      run,
      backfill: rcNode
        ? {
            configured: configuredBackfill(def),
            retainedDays: () => allRetainedDays(kinds, rcNode.retention()),
            listGroup: 'Heavy',
            rate: (group) => rcNode.getClient().budget(group).snapshot(),
            parts: async () => [{ id: 'calls' }],
            listPart: async ({ dateFrom, dateTo, context, pageCursor, onItems }) => {
              await list(context, { range: { dateFrom, dateTo }, pageCursor, onItems });
            },
          }
        : undefined,
      retention: rcNode ? { warnDays, settings: () => rcNode.retention() } : undefined,
    });
  }

  RED.nodes.registerType('rc-call-log-source', CallLogSource);
}
