import { setMaxListeners } from 'node:events';
import type { ArchiveItem } from '../../lib/items';
import type { LedgerApi } from '../../lib/ledger/types';
import { RcApiError } from '../../lib/ringcentral/errors';
import { listAccountExtensions, mailboxExtensions } from '../../lib/sources/extensions';
import { messageChoicesOf, runMessages, type MailboxOwner } from '../../lib/sources/messages';
import type { RcConfigNode } from '../rc-config/runtime';
import { openLedger } from '../shared/ledger';
import type { DoneFn, Node, NodeDef, NodeMessage, RED, SendFn } from '../shared/red';
import { translator } from '../shared/i18n';
import catalog from './locales/en-US/rc-message-source.json';
import { closeAfter, errorMessage, shortText, timeOfDay } from '../shared/util';

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

function positiveNumber(value: unknown, fallback: number): number {
  const n = typeof value === 'number' ? value : Number.parseFloat(String(value ?? ''));
  return Number.isFinite(n) && n >= 0 ? n : fallback;
}

/** A backfill range from the message (msg.backfill or a payload with dateFrom), else undefined. */
function rangeFrom(msg: NodeMessage): { dateFrom: string; dateTo?: string } | undefined {
  for (const c of [msg.backfill, msg.payload]) {
    if (c && typeof c === 'object' && typeof (c as { dateFrom?: unknown }).dateFrom === 'string') {
      const { dateFrom, dateTo } = c as { dateFrom: string; dateTo?: unknown };
      return { dateFrom, dateTo: typeof dateTo === 'string' ? dateTo : undefined };
    }
  }
  return undefined;
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
    const abort = new AbortController();
    // Every request of a run listens to this one signal.
    setMaxListeners(1000, abort.signal);
    let ledger: LedgerApi | undefined;
    let chain: Promise<void> = Promise.resolve();
    let closed = false;

    const fail = (text: string) => node.status({ fill: 'red', shape: 'ring', text: shortText(text) });

    if (!rcNode) fail(t('rc-message-source.status.noConfig'));
    try {
      ledger = openLedger(RED);
    } catch (err) {
      fail(errorMessage(err));
      node.error(errorMessage(err));
    }

    const emit = (send: SendFn, items: ArchiveItem[]) => {
      for (const item of items) send({ topic: item.key, payload: item });
    };

    // Items still Pending from before a restart or crash go out again once the flows run.
    let resent = false;
    const resendPending = () => {
      if (resent || closed || !ledger) return;
      resent = true;
      const pending = ledger.pending(node.id);
      if (pending.length) {
        node.log(t('rc-message-source.log.resending', { count: pending.length }));
        emit(
          (m) => node.send(m),
          pending.map((row) => row.item),
        );
        node.status({
          fill: 'yellow',
          shape: 'dot',
          text: t('rc-message-source.status.resent', { count: pending.length }),
        });
      }
    };
    const onFlowsStarted = () => setTimeout(resendPending, 0);
    RED.events.on('flows:started', onFlowsStarted);

    const run = async (msg: NodeMessage, send: SendFn) => {
      if (!rcNode) throw new Error(t('rc-message-source.status.noConfig'));
      if (!ledger) throw new Error(t('rc-message-source.errors.noLedger'));
      if (!choices.length) throw new Error(t('rc-message-source.errors.noTypes'));
      const client = rcNode.getClient();
      node.status({ fill: 'blue', shape: 'ring', text: t('rc-message-source.status.listing') });
      let mailboxes: MailboxOwner[];
      if (scope === 'account') {
        mailboxes = mailboxExtensions(await listAccountExtensions(client, { signal: abort.signal }));
      } else {
        const own = await client.request<OwnExtension>('GET', '/restapi/v1.0/account/~/extension/~', {
          signal: abort.signal,
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
        signal: abort.signal,
        // Account-wide, an extension without a readable message store is skipped, not fatal.
        skipMailbox: (err) =>
          scope === 'account' && err instanceof RcApiError && (err.status === 403 || err.status === 404),
        onItems: (items) => emit(send, items),
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

    node.on('input', (msg: NodeMessage, send: SendFn, done: DoneFn) => {
      // Runs one after another: a trigger during a run waits for it instead of listing twice.
      chain = chain.then(() =>
        run(msg, send).then(
          () => done(),
          (err: unknown) => {
            if (closed) return done();
            const text = errorMessage(err);
            fail(text);
            done(new Error(text));
          },
        ),
      );
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      closed = true;
      RED.events.removeListener('flows:started', onFlowsStarted);
      abort.abort();
      closeAfter(chain, () => {
        ledger?.close();
        done();
      });
    });
  }

  RED.nodes.registerType('rc-message-source', MessageSource);
}
