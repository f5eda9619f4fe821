import { RcApiError } from '../../lib/ringcentral/errors';
import { listAccountExtensions, mailboxExtensions } from '../../lib/sources/extensions';
import type { ItemKind } from '../../lib/items';
import type { RcClient } from '../../lib/ringcentral';
import { MESSAGE_SOURCE } from '../../lib/node-defaults';
import { allRetainedDays } from '../../lib/retention';
import {
  messageChoicesOf,
  runMessages,
  type MailboxOwner,
  type MessageChoice,
  type MessageRunOptions,
} from '../../lib/sources/messages';
import type { RcConfigNode } from '../rc-config/runtime';
import {
  configuredBackfill,
  createSource,
  emitItems,
  positiveNumber,
  type SourceRunContext,
} from '../shared/source';
import type { Node, NodeDef, NodeMessage, RED, SendFn } from '../shared/red';
import { translator } from '../shared/i18n';
import catalog from './locales/en-US/rc-message-source.json';
import { timeOfDay } from '../shared/util';

interface SourceDef extends NodeDef {
  rc?: string;
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

export default function register(RED: RED): void {
  const t = translator(RED, catalog);
  function MessageSource(this: Node, def: SourceDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const rcNode = def.rc ? (RED.nodes.getNode(def.rc) as RcConfigNode | null) : null;
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
      if (!rcNode) throw new Error(t('rc-message-source.status.noConfig'));
      if (!choices.length) throw new Error(t('rc-message-source.errors.noTypes'));
      const client = rcNode.getClient();
      const result = await runMessages({
        client,
        ledger: context.ledger,
        source: node.id,
        rc: rcNode.id,
        choices,
        initialDays,
        lookBackMinutes,
        signal: context.signal,
        skipMailbox,
        ...more,
        mailboxes: more.mailboxes ?? (await mailboxesOf(client, context.signal)),
      });
      for (const skipped of result.skipped) {
        node.warn(t('rc-message-source.log.skipped', { id: skipped.id, reason: skipped.reason }));
      }
      return result;
    };
    const run = async (_msg: NodeMessage, send: SendFn, context: SourceRunContext) => {
      node.status({ fill: 'blue', shape: 'ring', text: t('rc-message-source.status.listing') });
      const result = await list(context, {
        onItems: (items) => emitItems(send, items),
        onProgress: (p) =>
          node.status({
            fill: 'blue',
            shape: 'ring',
            text: t('rc-message-source.status.progress', {
              index: p.mailbox,
              total: p.mailboxes,
              count: p.newItems,
            }),
          }),
      });
      node.status({
        fill: 'green',
        shape: 'dot',
        text: t('rc-message-source.status.done', {
          count: result.newItems,
          total: result.mailboxes,
          time: timeOfDay(),
        }),
      });
    };

    createSource(RED, node, {
      i18n: 'rc-message-source',
      t,
      configured: Boolean(rcNode),
      run,
      backfill: rcNode
        ? {
            configured: configuredBackfill(def),
            retainedDays: () =>
              allRetainedDays(
                choices.map((c) => KIND_OF_CHOICE[c]),
                rcNode.retention(),
              ),
            listGroup: 'Light',
            rate: (group) => rcNode.getClient().budget(group).snapshot(),
            parts: async ({ signal }) =>
              (await mailboxesOf(rcNode.getClient(), signal)).map((m) => ({
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
      retention: rcNode ? { warnDays, settings: () => rcNode.retention() } : undefined,
    });
  }

  RED.nodes.registerType('rc-message-source', MessageSource);
}
