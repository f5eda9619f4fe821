import { setMaxListeners } from 'node:events';
import type { ArchiveItem } from '../../lib/items';
import type { LedgerApi } from '../../lib/ledger/types';
import { callLogArchiveOf, runCallLog } from '../../lib/sources/call-log';
import { loadExtensions } from '../../lib/sources/extensions';
import type { RcConfigNode } from '../rc-config/runtime';
import { openLedger } from '../shared/ledger';
import type { DoneFn, Node, NodeDef, NodeMessage, RED, SendFn } from '../shared/red';
import { translator } from '../shared/i18n';
import catalog from './locales/en-US/rc-call-log-source.json';
import { closeAfter, errorMessage, shortText, timeOfDay } from '../shared/util';

interface SourceDef extends NodeDef {
  rc?: string;
  scope?: string;
  archive?: string;
  extensionId?: string;
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
  const candidates = [msg.backfill, msg.payload];
  for (const c of candidates) {
    if (c && typeof c === 'object' && typeof (c as { dateFrom?: unknown }).dateFrom === 'string') {
      const { dateFrom, dateTo } = c as { dateFrom: string; dateTo?: unknown };
      return { dateFrom, dateTo: typeof dateTo === 'string' ? dateTo : undefined };
    }
  }
  return undefined;
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
    const archive =
      def.archive === undefined || def.archive === '' ? 'recordings' : callLogArchiveOf(def.archive);
    const initialDays = positiveNumber(def.initialDays, 90);
    const lookBackMinutes = positiveNumber(def.lookBackMinutes, 120);
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

    if (!rcNode) {
      fail(t('rc-call-log-source.status.noConfig'));
    }
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
        node.log(t('rc-call-log-source.log.resending', { count: pending.length }));
        emit(
          (m) => node.send(m),
          pending.map((row) => row.item),
        );
        node.status({
          fill: 'yellow',
          shape: 'dot',
          text: t('rc-call-log-source.status.resent', { count: pending.length }),
        });
      }
    };
    const onFlowsStarted = () => setTimeout(resendPending, 0);
    RED.events.on('flows:started', onFlowsStarted);

    const run = async (msg: NodeMessage, send: SendFn) => {
      if (!rcNode) throw new Error(t('rc-call-log-source.status.noConfig'));
      if (!ledger) throw new Error(t('rc-call-log-source.errors.noLedger'));
      const client = rcNode.getClient();
      node.status({ fill: 'blue', shape: 'ring', text: t('rc-call-log-source.status.listing') });
      const extensions = scope === 'account' ? await loadExtensions(client) : undefined;
      const result = await runCallLog({
        client,
        ledger,
        source: node.id,
        rc: rcNode.id,
        scope,
        extensionId,
        extensions,
        archive,
        initialDays,
        lookBackMinutes,
        range: rangeFrom(msg) ?? configRange,
        signal: abort.signal,
        onItems: (items) => emit(send, items),
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
      // A listing in flight stops at its next page.
      closeAfter(chain, () => {
        ledger?.close();
        done();
      });
    });
  }

  RED.nodes.registerType('rc-call-log-source', CallLogSource);
}
