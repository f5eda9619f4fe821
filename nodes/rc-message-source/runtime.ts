import { RcApiError } from '../../lib/ringcentral/errors';
import { listAccountExtensions, mailboxExtensions } from '../../lib/sources/extensions';
import { messageChoicesOf, runMessages, type MailboxOwner } from '../../lib/sources/messages';
import type { RcConfigNode } from '../rc-config/runtime';
import { createSource, emitItems, positiveNumber, rangeFrom, type SourceRunContext } from '../shared/source';
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

export default function register(RED: RED): void {
  const t = translator(RED, catalog);
  function MessageSource(this: Node, def: SourceDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const rcNode = def.rc ? (RED.nodes.getNode(def.rc) as RcConfigNode | null) : null;
    const scope = def.scope === 'account' ? 'account' : 'extension';
    const choices = messageChoicesOf(def);
    const initialDays = positiveNumber(def.initialDays, 30);
    const lookBackMinutes = positiveNumber(def.lookBackMinutes, 60);
    const configRange = def.backfillFrom
      ? { dateFrom: def.backfillFrom, dateTo: def.backfillTo || undefined }
      : undefined;
    const run = async (msg: NodeMessage, send: SendFn, { ledger, signal }: SourceRunContext) => {
      if (!rcNode) throw new Error(t('rc-message-source.status.noConfig'));
      if (!choices.length) throw new Error(t('rc-message-source.errors.noTypes'));
      const client = rcNode.getClient();
      node.status({ fill: 'blue', shape: 'ring', text: t('rc-message-source.status.listing') });
      let mailboxes: MailboxOwner[];
      if (scope === 'account') {
        mailboxes = mailboxExtensions(await listAccountExtensions(client, { signal: signal }));
      } else {
        const own = await client.request<OwnExtension>('GET', '/restapi/v1.0/account/~/extension/~', {
          signal: signal,
        });
        const fromUri = own?.uri ? /\/extension\/([^/?#]+)/.exec(own.uri)?.[1] : undefined;
        const id = fromUri && fromUri !== '~' ? fromUri : own?.id !== undefined ? String(own.id) : '~';
        const contactName = [own?.contact?.firstName, own?.contact?.lastName].filter(Boolean).join(' ');
        mailboxes = [
          { id, name: own?.name || contactName || undefined, extensionNumber: own?.extensionNumber },
        ];
      }
      const result = await runMessages({
        client,
        ledger,
        source: node.id,
        rc: rcNode.id,
        mailboxes,
        choices,
        initialDays,
        lookBackMinutes,
        range: rangeFrom(msg) ?? configRange,
        signal: signal,
        // Account-wide, an extension without a readable message store is skipped, not fatal.
        skipMailbox: (err) =>
          scope === 'account' && err instanceof RcApiError && (err.status === 403 || err.status === 404),
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
      for (const skipped of result.skipped) {
        node.warn(t('rc-message-source.log.skipped', { id: skipped.id, reason: skipped.reason }));
      }
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

    createSource(RED, node, { i18n: 'rc-message-source', t, configured: Boolean(rcNode), run });
  }

  RED.nodes.registerType('rc-message-source', MessageSource);
}
