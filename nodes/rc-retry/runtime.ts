import { archiveEvents, registerEntrance } from '../../lib/bus';
import { isArchiveItem } from '../../lib/items';
import type { LogLedger } from '../../lib/ledger/types';
import { RETRY } from '../../lib/node-defaults';
import { decideRetry, parseSchedule, timerDelay, whenText } from '../../lib/retry-schedule';
import { openLedger } from '../shared/ledger';
import type { DoneFn, Node, NodeDef, NodeMessage, RED, SendFn } from '../shared/red';
import { translator } from '../shared/i18n';
import catalog from './locales/en-US/rc-retry.json';
import { errorMessage, shortText } from '../shared/util';

interface RetryDef extends NodeDef {
  schedule?: string;
}

/** Due items sent per wake; the rest follow a moment later, so that a backlog is no burst. */
const BATCH = 100;
const BATCH_PAUSE_MS = 1000;
/**
 * The timer sleeps at most this long, then asks the ledger again: a try scheduled by someone else
 * (a full rate-limit queue puts a retry back) is picked up without a message to this node.
 */
const MAX_SLEEP_MS = 60_000;

export default function register(RED: RED): void {
  const t = translator(RED, catalog);
  function Retry(this: Node, def: RetryDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const parsed = parseSchedule(def.schedule ?? RETRY.value.schedule);
    const delays = parsed.delays ?? [];
    let setupError = parsed.error ? t('rc-retry.errors.schedule', { error: parsed.error }) : undefined;
    let ledger: LogLedger | undefined;
    try {
      ledger = openLedger(RED);
    } catch (err) {
      setupError ??= t('rc-retry.errors.noLedger', { error: errorMessage(err) });
    }
    let timer: NodeJS.Timeout | undefined;
    let closed = false;
    let started = false;
    let lost = 0;

    const fail = (text: string) => node.status({ fill: 'red', shape: 'ring', text: shortText(text) });

    const showStatus = (waiting: { count: number; next?: string }) => {
      if (!ledger || setupError) return;
      const gaveUp = ledger.exhaustedRetries(node.id, delays.length);
      const parts = [
        waiting.count
          ? t('rc-retry.status.waiting', { count: waiting.count, time: whenText(waiting.next, Date.now()) })
          : t('rc-retry.status.idle'),
      ];
      if (gaveUp) parts.push(t('rc-retry.status.gaveUp', { count: gaveUp }));
      if (lost) parts.push(t('rc-retry.status.lost', { count: lost }));
      node.status({
        fill: gaveUp ? 'yellow' : waiting.count ? 'blue' : 'green',
        shape: waiting.count ? 'ring' : 'dot',
        text: parts.join(' · '),
      });
    };

    /** One timer, for the earliest try the ledger holds for this node. */
    const arm = (minDelay = 0) => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (closed || !ledger || setupError) return;
      const waiting = ledger.waitingRetries(node.id);
      showStatus(waiting);
      const delay = timerDelay(waiting.next, Date.now());
      timer = setTimeout(wake, Math.max(minDelay, Math.min(delay ?? MAX_SLEEP_MS, MAX_SLEEP_MS)));
    };

    const wake = () => {
      timer = undefined;
      if (closed || !ledger) return;
      let full = false;
      try {
        const due = ledger.dueRetries(node.id, new Date().toISOString(), BATCH);
        full = due.length >= BATCH;
        for (const entry of due) {
          // Cleared before it goes out: the sink's next failure schedules the try after it.
          ledger.clearRetry(entry.key);
          const row = ledger.get(entry.key);
          if (!row || row.status === 'Archived' || row.status === 'Lost') continue;
          node.send({
            topic: entry.key,
            payload: row.item,
            retry: { attempt: entry.retries, of: delays.length },
          });
        }
      } catch (err) {
        fail(errorMessage(err));
        node.error(errorMessage(err));
      }
      arm(full ? BATCH_PAUSE_MS : 0);
    };

    const unregister = registerEntrance({
      nodeId: node.id,
      kind: 'retry',
      send(items) {
        for (const item of items) node.send({ topic: item.key, payload: item, retry: { manual: true } });
        if (started) arm();
      },
    });

    // Tries that fell due while Node-RED was down go out once the flow can carry them.
    const onFlowsStarted = () => {
      if (started || closed) return;
      started = true;
      arm();
    };
    RED.events.on('flows:started', onFlowsStarted);

    if (setupError) {
      fail(setupError);
      node.error(setupError);
    }

    node.on('input', (msg: NodeMessage, _send: SendFn, done: DoneFn) => {
      if (setupError || !ledger) return done(new Error(setupError));
      // A sink's outage notice: its items wait in the sink and spend no retry.
      if (msg.targetDown === true) return done();
      const item = msg.payload;
      if (!isArchiveItem(item)) return done(new Error(t('rc-retry.errors.notItem')));
      const failure = msg.error as { message?: unknown; lost?: unknown } | undefined;
      try {
        let row = ledger.get(item.key);
        if (!row) {
          // A failure from a sink that is not ours, of an item the ledger never saw: recorded, so
          // that its schedule has a row to live in.
          const reason =
            typeof failure?.message === 'string' ? failure.message : t('rc-retry.errors.unknownFailure');
          ledger.markFailed(item.key, 'flow', reason, item);
          row = ledger.get(item.key);
        }
        const [logRow] = ledger.rowsOf([item.key]);
        const decision = decideRetry({
          status: row?.status,
          lost: failure?.lost === true,
          retries: logRow?.retries ?? 0,
          retryAt: logRow?.retryAt,
          delays,
          now: Date.now(),
        });
        switch (decision.action) {
          case 'lost':
            lost++;
            break;
          case 'schedule':
            ledger.scheduleRetry(item.key, node.id, decision.retryAt, decision.retries);
            break;
          case 'exhausted': {
            ledger.clearRetry(item.key);
            const current = ledger.get(item.key);
            node.warn(t('rc-retry.log.exhausted', { key: item.key, retries: decision.retries }));
            if (current)
              archiveEvents.emit('exhausted', {
                row: current,
                retryNode: node.id,
                retries: decision.retries,
              });
            break;
          }
          default:
            break;
        }
      } catch (err) {
        fail(errorMessage(err));
        return done(new Error(errorMessage(err)));
      }
      // A message means the flows run, whatever the order of events at start.
      started = true;
      arm();
      done();
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      unregister();
      RED.events.removeListener('flows:started', onFlowsStarted);
      ledger?.close();
      done();
    });
  }
  RED.nodes.registerType('rc-retry', Retry);
}
