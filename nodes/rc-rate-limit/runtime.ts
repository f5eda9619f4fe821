import { deferred } from '../../lib/bus';
import { contentGroupFor, isArchiveItem, type ArchiveItem } from '../../lib/items';
import type { LogLedger } from '../../lib/ledger/types';
import { queueBound, queueWaitSeconds } from '../../lib/rate-limit';
import type { ApiGroup } from '../../lib/ringcentral/types';
import type { RcConfigNode } from '../rc-config/runtime';
import { openLedger } from '../shared/ledger';
import type { DoneFn, Node, NodeDef, NodeMessage, RED, SendFn } from '../shared/red';
import { translator } from '../shared/i18n';
import catalog from './locales/en-US/rc-rate-limit.json';
import { closeAfter, errorMessage, shortText } from '../shared/util';

interface RateLimitDef extends NodeDef {
  rc?: string;
  group?: string;
  maxQueue?: string | number;
}

interface Held {
  msg: NodeMessage;
  send: SendFn;
  done: DoneFn;
}

const GROUPS: ApiGroup[] = ['Light', 'Medium', 'Heavy', 'Auth'];
/** A Failed item refused by a full queue goes back to its rc-retry this much later. */
const REFUSED_RETRY_MS = 60_000;
/** The status is redrawn at most this often: a burst of a thousand items is one redraw. */
const STATUS_EVERY_MS = 250;

/** Resolves after `ms`, or at once when the signal aborts; leaves no listener behind either way. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export default function register(RED: RED): void {
  const t = translator(RED, catalog);
  function RateLimit(this: Node, def: RateLimitDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const fixedGroup = GROUPS.includes(def.group as ApiGroup) ? (def.group as ApiGroup) : undefined;
    const maxQueue = queueBound(def.maxQueue, RED.settings.nodeMessageBufferMaxLength);
    const abort = new AbortController();
    const queue: Held[] = [];
    let pumping: Promise<void> = Promise.resolve();
    let running = false;
    let released = 0;
    let refused = 0;
    let lastRefusedAt = 0;
    let statusTimer: NodeJS.Timeout | undefined;
    let ledger: LogLedger | undefined;
    try {
      // Only for a full queue: which source sends a refused item again.
      ledger = openLedger(RED);
    } catch (err) {
      node.warn(errorMessage(err));
    }

    const groupOf = (item: unknown): ApiGroup | undefined =>
      isArchiveItem(item) ? (fixedGroup ?? contentGroupFor(item)) : undefined;

    const clientFor = (item: ArchiveItem) => {
      const rcNode = RED.nodes.getNode(def.rc || item.rc) as RcConfigNode | null;
      if (!rcNode || typeof rcNode.getClient !== 'function') {
        throw new Error(t('rc-rate-limit.errors.noRc', { rc: def.rc || item.rc }));
      }
      return rcNode.getClient();
    };

    /** "12 queued · Heavy 34 s": the queue and how long its group holds it. */
    const drawStatus = () => {
      statusTimer = undefined;
      if (abort.signal.aborted) return;
      const full = Date.now() - lastRefusedAt < 60_000;
      let text = t('rc-rate-limit.status.queue', { queued: queue.length, released });
      const head = queue[0]?.msg.payload;
      const group = groupOf(head);
      if (group && isArchiveItem(head)) {
        try {
          const snapshot = clientFor(head).budget(group).snapshot();
          const inGroup = queue.reduce((n, h) => n + (groupOf(h.msg.payload) === group ? 1 : 0), 0);
          const seconds = queueWaitSeconds(snapshot, inGroup);
          const key = snapshot.pausedUntil ? 'paused' : 'wait';
          text = t(`rc-rate-limit.status.${key}`, { queued: queue.length, group, seconds });
        } catch {
          // The config is missing: the pump says so when it reaches the item.
        }
      }
      if (full) text = `${t('rc-rate-limit.status.full', { max: maxQueue, refused })} · ${text}`;
      node.status({
        fill: full ? 'yellow' : queue.length ? 'blue' : 'green',
        shape: queue.length ? 'ring' : 'dot',
        text,
      });
    };
    const showStatus = () => {
      statusTimer ??= setTimeout(drawStatus, STATUS_EVERY_MS);
    };

    // Releases one message when the group has budget, then gives the sink a moment to spend it
    // before looking again, so that a burst of held messages never turns into a burst of requests.
    const pump = async () => {
      while (queue.length && !abort.signal.aborted) {
        const held = queue[0];
        const item = held.msg.payload;
        try {
          const group = groupOf(item);
          if (group && isArchiveItem(item)) {
            const budget = clientFor(item).budget(group);
            const before = budget.snapshot();
            if (before.pausedUntil && before.pausedUntil > Date.now()) showStatus();
            await budget.ready(abort.signal);
            if (abort.signal.aborted) break;
            queue.shift();
            released++;
            held.send(held.msg);
            held.done();
            showStatus();
            for (let waited = 0; waited < 1000 && !abort.signal.aborted; waited += 50) {
              if (budget.snapshot().usedInWindow !== before.usedInWindow) break;
              await sleep(50, abort.signal);
            }
          } else {
            queue.shift();
            released++;
            held.send(held.msg);
            held.done();
          }
        } catch (err) {
          if (abort.signal.aborted) break;
          queue.shift();
          const message = errorMessage(err);
          node.status({ fill: 'red', shape: 'ring', text: shortText(message) });
          held.done(new Error(message));
        }
      }
      showStatus();
    };

    // One pump at a time; items that arrive while it finishes start the next one.
    const kick = () => {
      if (running) return;
      running = true;
      pumping = pump().finally(() => {
        running = false;
        if (queue.length && !abort.signal.aborted) kick();
      });
    };

    /**
     * Makes sure a message this node lets go of does not lose its item: a Pending item is sent
     * again by its source on its next run, a Failed one goes back to its rc-retry `delayMs` later.
     * Returns what the user is told.
     */
    const putBack = (msg: NodeMessage, delayMs: number): string => {
      const item = msg.payload;
      try {
        const row = isArchiveItem(item) ? ledger?.get(item.key) : undefined;
        if (row?.status === 'Pending' && row.source) {
          deferred.add(row.source, [row.key]);
          return t('rc-rate-limit.errors.fullPending');
        }
        if (row?.status === 'Failed') {
          const [log] = ledger!.rowsOf([row.key]);
          if (!log?.retryNode) return t('rc-rate-limit.errors.fullManual');
          if (!log.retryAt)
            ledger!.scheduleRetry(
              row.key,
              log.retryNode,
              new Date(Date.now() + delayMs).toISOString(),
              log.retries,
            );
          return t('rc-rate-limit.errors.fullFailed');
        }
      } catch (err) {
        return errorMessage(err);
      }
      return t('rc-rate-limit.errors.fullOther');
    };

    /** A full queue refuses the message with a clear error; the item is put back, not lost. */
    const refuse = (msg: NodeMessage, done: DoneFn) => {
      refused++;
      lastRefusedAt = Date.now();
      const item = msg.payload;
      const key = isArchiveItem(item) ? item.key : String(msg.topic ?? '');
      const fate = putBack(msg, REFUSED_RETRY_MS);
      drawStatus();
      done(new Error(t('rc-rate-limit.errors.full', { max: maxQueue, key, fate })));
    };

    node.on('input', (msg: NodeMessage, send: SendFn, done: DoneFn) => {
      if (queue.length >= maxQueue) return refuse(msg, done);
      queue.push({ msg, send, done });
      showStatus();
      kick();
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      abort.abort();
      if (statusTimer) clearTimeout(statusTimer);
      statusTimer = undefined;
      // Held items are put back (the source or rc-retry sends them again), then completed.
      for (const held of queue.splice(0)) {
        putBack(held.msg, 0);
        held.done();
      }
      closeAfter(
        pumping,
        () => {
          ledger?.close();
          done();
        },
        5_000,
      );
    });
    drawStatus();
  }
  RED.nodes.registerType('rc-rate-limit', RateLimit);
}
