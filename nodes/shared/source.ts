import { setMaxListeners } from 'node:events';
import type { ArchiveItem } from '../../lib/items';
import type { LedgerApi } from '../../lib/ledger/types';
import type { Translate } from './i18n';
import { openLedger } from './ledger';
import type { DoneFn, Node, NodeMessage, RED, SendFn } from './red';
import { closeAfter, errorMessage, shortText } from './util';

export function positiveNumber(value: unknown, fallback: number): number {
  const n = typeof value === 'number' ? value : Number.parseFloat(String(value ?? ''));
  return Number.isFinite(n) && n >= 0 ? n : fallback;
}

/** A backfill range from the message (msg.backfill or a payload with dateFrom), else undefined. */
export function rangeFrom(msg: NodeMessage): { dateFrom: string; dateTo?: string } | undefined {
  for (const c of [msg.backfill, msg.payload]) {
    if (c && typeof c === 'object' && typeof (c as { dateFrom?: unknown }).dateFrom === 'string') {
      const { dateFrom, dateTo } = c as { dateFrom: string; dateTo?: unknown };
      return { dateFrom, dateTo: typeof dateTo === 'string' ? dateTo : undefined };
    }
  }
  return undefined;
}

/** One message per item. */
export function emitItems(send: SendFn, items: ArchiveItem[]): void {
  for (const item of items) send({ topic: item.key, payload: item });
}

export interface SourceRunContext {
  ledger: LedgerApi;
  /** Aborted when the node closes: a listing in flight stops at its next request. */
  signal: AbortSignal;
}

/**
 * What every source node shares: the ledger, runs one after another (a trigger during a run
 * waits for it instead of listing twice), Pending items sent again once the flows start after a
 * restart or crash, errors in the status and to `done`, and a close within Node-RED's budget.
 * `i18n` is the node type whose catalog has status.noConfig, status.resent, log.resending and
 * errors.noLedger.
 */
export function createSource(
  RED: RED,
  node: Node,
  options: {
    i18n: string;
    t: Translate;
    configured: boolean;
    run(msg: NodeMessage, send: SendFn, context: SourceRunContext): Promise<void>;
  },
): void {
  const { i18n, t } = options;
  const abort = new AbortController();
  // Every request of a run listens to this one signal.
  setMaxListeners(1000, abort.signal);
  let ledger: LedgerApi | undefined;
  let chain: Promise<void> = Promise.resolve();
  let closed = false;
  const fail = (text: string) => node.status({ fill: 'red', shape: 'ring', text: shortText(text) });

  if (!options.configured) fail(t(`${i18n}.status.noConfig`));
  try {
    ledger = openLedger(RED);
  } catch (err) {
    fail(errorMessage(err));
    node.error(errorMessage(err));
  }

  let resent = false;
  const resendPending = () => {
    if (resent || closed || !ledger) return;
    resent = true;
    const pending = ledger.pending(node.id);
    if (!pending.length) return;
    node.log(t(`${i18n}.log.resending`, { count: pending.length }));
    emitItems(
      (m) => node.send(m),
      pending.map((row) => row.item),
    );
    node.status({
      fill: 'yellow',
      shape: 'dot',
      text: t(`${i18n}.status.resent`, { count: pending.length }),
    });
  };
  const onFlowsStarted = () => setTimeout(resendPending, 0);
  RED.events.on('flows:started', onFlowsStarted);

  const run = async (msg: NodeMessage, send: SendFn) => {
    if (!options.configured) throw new Error(t(`${i18n}.status.noConfig`));
    if (!ledger) throw new Error(t(`${i18n}.errors.noLedger`));
    await options.run(msg, send, { ledger, signal: abort.signal });
  };

  node.on('input', (msg: NodeMessage, send: SendFn, done: DoneFn) => {
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
