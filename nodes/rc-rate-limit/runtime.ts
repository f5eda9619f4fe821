import { contentGroupFor, isArchiveItem, type ArchiveItem } from '../../lib/items';
import type { ApiGroup } from '../../lib/ringcentral/types';
import type { RcConfigNode } from '../rc-config/runtime';
import type { DoneFn, Node, NodeDef, NodeMessage, RED, SendFn } from '../shared/red';
import { translator } from '../shared/i18n';
import catalog from './locales/en-US/rc-rate-limit.json';
import { closeAfter, errorMessage, shortText } from '../shared/util';

interface RateLimitDef extends NodeDef {
  rc?: string;
  group?: string;
}

interface Held {
  msg: NodeMessage;
  send: SendFn;
  done: DoneFn;
}

const GROUPS: ApiGroup[] = ['Light', 'Medium', 'Heavy', 'Auth'];

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
    const abort = new AbortController();
    const queue: Held[] = [];
    let pumping: Promise<void> = Promise.resolve();
    let running = false;
    let released = 0;

    const showStatus = (extra?: string) => {
      const text = t('rc-rate-limit.status.queue', { queued: queue.length, released });
      node.status({
        fill: queue.length ? 'blue' : 'green',
        shape: queue.length ? 'ring' : 'dot',
        text: extra ?? text,
      });
    };

    const clientFor = (item: ArchiveItem) => {
      const rcNode = RED.nodes.getNode(def.rc || item.rc) as RcConfigNode | null;
      if (!rcNode || typeof rcNode.getClient !== 'function') {
        throw new Error(t('rc-rate-limit.errors.noRc', { rc: def.rc || item.rc }));
      }
      return rcNode.getClient();
    };

    // Releases one message when the group has budget, then gives the sink a moment to spend it
    // before looking again, so that a burst of held messages never turns into a burst of requests.
    const pump = async () => {
      while (queue.length && !abort.signal.aborted) {
        const held = queue[0];
        const item = held.msg.payload;
        try {
          const group = isArchiveItem(item) ? (fixedGroup ?? contentGroupFor(item)) : undefined;
          if (group && isArchiveItem(item)) {
            const budget = clientFor(item).budget(group);
            const before = budget.snapshot();
            if (before.pausedUntil && before.pausedUntil > Date.now()) {
              const seconds = Math.ceil((before.pausedUntil - Date.now()) / 1000);
              showStatus(t('rc-rate-limit.status.paused', { group, seconds, queued: queue.length }));
            }
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

    node.on('input', (msg: NodeMessage, send: SendFn, done: DoneFn) => {
      queue.push({ msg, send, done });
      showStatus();
      kick();
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      abort.abort();
      // Held items stay Pending in the ledger: the source sends them again after the restart.
      for (const held of queue.splice(0)) held.done();
      closeAfter(pumping, done, 5_000);
    });
    showStatus();
  }
  RED.nodes.registerType('rc-rate-limit', RateLimit);
}
