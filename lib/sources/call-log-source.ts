/**
 * rc-call-log-source as the source runner needs it: its settings read from the node's config, the
 * regular run (from the cursor) and the backfill (a range, a cursor per page) over runCallLog.
 */
import { CALL_LOG_SOURCE, settingOf } from '../node-defaults';
import { allRetainedDays } from '../retention';
import { timeOfDayAt } from '../controller';
import {
  configuredBackfill,
  emitItems,
  positiveNumber,
  type SourceRunContext,
  type SourceRunnerOptions,
} from '../source-runner';
import { callLogArchiveOf, runCallLog, type CallLogRunOptions } from './call-log';
import { loadExtensions } from './extensions';
import type { RcAccount } from './account';

export interface CallLogSourceSettings {
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

export function callLogSource(
  id: string,
  def: CallLogSourceSettings,
  account: RcAccount | undefined,
): Omit<SourceRunnerOptions, 'io' | 'ledger' | 'ledgerError'> {
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
    if (!account) throw new Error(context.io.text('status.noConfig'));
    const client = account.getClient();
    const extensions = scope === 'account' ? await loadExtensions(client) : undefined;
    return runCallLog({
      client,
      ledger: context.ledger,
      source: id,
      rc: account.id,
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
  return {
    configured: Boolean(account),
    async run(_msg, send, context) {
      const { io } = context;
      io.status({ fill: 'blue', shape: 'ring', text: io.text('status.listing') });
      const result = await list(context, {
        onItems: (items) => emitItems(send, items),
        onPage: (p) =>
          io.status({
            fill: 'blue',
            shape: 'ring',
            text: io.text('status.progress', { pages: p.pages, count: p.newItems }),
          }),
      });
      io.status({
        fill: 'green',
        shape: 'dot',
        text: io.text('status.done', { count: result.newItems, time: timeOfDayAt(Date.now()) }),
      });
    },
    backfill: account
      ? {
          configured: configuredBackfill(def),
          retainedDays: () => allRetainedDays(kinds, account.retention()),
          listGroup: 'Heavy',
          rate: (group) => account.getClient().budget(group).snapshot(),
          parts: async () => [{ id: 'calls' }],
          listPart: async ({ dateFrom, dateTo, context, pageCursor, onItems }) => {
            await list(context, { range: { dateFrom, dateTo }, pageCursor, onItems });
          },
        }
      : undefined,
    retention: account ? { warnDays, settings: () => account.retention() } : undefined,
  };
}
