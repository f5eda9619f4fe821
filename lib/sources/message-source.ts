/**
 * rc-message-source as the source runner needs it: its settings read from the node's config, the
 * mailboxes it reads (the logged-in user's, or every one of the account), the regular run and the
 * backfill (one part per mailbox) over runMessages.
 */
import { timeOfDayAt } from '../controller';
import type { ItemKind } from '../items';
import { MESSAGE_SOURCE } from '../node-defaults';
import { allRetainedDays } from '../retention';
import type { RcClient } from '../ringcentral';
import { RcApiError } from '../ringcentral/errors';
import {
  configuredBackfill,
  emitItems,
  positiveNumber,
  type SourceRunContext,
  type SourceRunnerOptions,
} from '../source-runner';
import type { RcAccount } from './account';
import { listAccountExtensions, mailboxExtensions } from './extensions';
import {
  messageChoicesOf,
  runMessages,
  type MailboxOwner,
  type MessageChoice,
  type MessageRunOptions,
} from './messages';

export interface MessageSourceSettings {
  scope?: string;
  voicemail?: boolean | string;
  fax?: boolean | string;
  sms?: boolean | string;
  mms?: boolean | string;
  initialDays?: string | number;
  lookBackMinutes?: string | number;
  warnDays?: string | number;
  backfill?: string;
  backfillFrom?: string;
  backfillTo?: string;
}

interface OwnExtension {
  id?: string | number;
  uri?: string;
  extensionNumber?: string;
  name?: string;
  contact?: { firstName?: string; lastName?: string };
}

const KIND_OF_CHOICE: Record<MessageChoice, ItemKind> = {
  voicemail: 'Voicemail',
  fax: 'Fax',
  sms: 'SMS',
  mms: 'MMS',
};

/** The logged-in user's own mailbox. */
async function ownMailbox(client: RcClient, signal: AbortSignal): Promise<MailboxOwner> {
  const own = await client.request<OwnExtension>('GET', '/restapi/v1.0/account/~/extension/~', { signal });
  const fromUri = own?.uri ? /\/extension\/([^/?#]+)/.exec(own.uri)?.[1] : undefined;
  const id = fromUri && fromUri !== '~' ? fromUri : own?.id !== undefined ? String(own.id) : '~';
  const contactName = [own?.contact?.firstName, own?.contact?.lastName].filter(Boolean).join(' ');
  return { id, name: own?.name || contactName || undefined, extensionNumber: own?.extensionNumber };
}

export function messageSource(
  id: string,
  def: MessageSourceSettings,
  account: RcAccount | undefined,
): Omit<SourceRunnerOptions, 'io' | 'ledger' | 'ledgerError'> {
  const scope = def.scope === 'account' ? 'account' : 'extension';
  const choices = messageChoicesOf(def);
  const initialDays = positiveNumber(def.initialDays, MESSAGE_SOURCE.value.initialDays);
  const lookBackMinutes = positiveNumber(def.lookBackMinutes, MESSAGE_SOURCE.value.lookBackMinutes);
  const warnDays = positiveNumber(def.warnDays, MESSAGE_SOURCE.value.warnDays);
  const mailboxesOf = async (client: RcClient, signal: AbortSignal): Promise<MailboxOwner[]> =>
    scope === 'account'
      ? mailboxExtensions(await listAccountExtensions(client, { signal }))
      : [await ownMailbox(client, signal)];
  // Account-wide, an extension without a readable message store is skipped, not fatal.
  const skipMailbox = (err: unknown) =>
    scope === 'account' && err instanceof RcApiError && [403, 404].includes(err.status);
  /** One listing: the regular run (each mailbox from its cursor) or a backfill part (one mailbox, a range). */
  const list = async (
    context: SourceRunContext,
    more: Pick<MessageRunOptions, 'range' | 'pageCursor' | 'onItems' | 'onProgress'> & {
      mailboxes?: MailboxOwner[];
    },
  ) => {
    const { io } = context;
    if (!account) throw new Error(io.text('status.noConfig'));
    if (!choices.length) throw new Error(io.text('errors.noTypes'));
    const client = account.getClient();
    const result = await runMessages({
      client,
      ledger: context.ledger,
      source: id,
      rc: account.id,
      choices,
      initialDays,
      lookBackMinutes,
      signal: context.signal,
      skipMailbox,
      ...more,
      mailboxes: more.mailboxes ?? (await mailboxesOf(client, context.signal)),
    });
    for (const skipped of result.skipped) {
      io.warn(io.text('log.skipped', { id: skipped.id, reason: skipped.reason }));
    }
    return result;
  };
  return {
    configured: Boolean(account),
    async run(_msg, send, context) {
      const { io } = context;
      io.status({ fill: 'blue', shape: 'ring', text: io.text('status.listing') });
      const result = await list(context, {
        onItems: (items) => emitItems(send, items),
        onProgress: (p) =>
          io.status({
            fill: 'blue',
            shape: 'ring',
            text: io.text('status.progress', { index: p.mailbox, total: p.mailboxes, count: p.newItems }),
          }),
      });
      io.status({
        fill: 'green',
        shape: 'dot',
        text: io.text('status.done', {
          count: result.newItems,
          total: result.mailboxes,
          time: timeOfDayAt(Date.now()),
        }),
      });
    },
    backfill: account
      ? {
          configured: configuredBackfill(def),
          retainedDays: () =>
            allRetainedDays(
              choices.map((c) => KIND_OF_CHOICE[c]),
              account.retention(),
            ),
          listGroup: 'Light',
          rate: (group) => account.getClient().budget(group).snapshot(),
          parts: async ({ signal }) =>
            (await mailboxesOf(account.getClient(), signal)).map((m) => ({
              id: m.id,
              name: m.name,
              extensionNumber: m.extensionNumber,
            })),
          listPart: async ({ part, dateFrom, dateTo, context, pageCursor, onItems }) => {
            await list(context, {
              mailboxes: [{ id: part.id, name: part.name, extensionNumber: part.extensionNumber }],
              range: { dateFrom, dateTo },
              pageCursor: (_mailbox, oldest) => pageCursor(oldest),
              onItems,
            });
          },
        }
      : undefined,
    retention: account ? { warnDays, settings: () => account.retention() } : undefined,
  };
}
