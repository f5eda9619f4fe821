import { deferred } from '../../lib/bus';
import { contentGroupFor, isArchiveItem, type ArchiveItem } from '../../lib/items';
import type { LogLedger } from '../../lib/ledger/types';
import { queueBound, queueStatus, type QueueStatus } from '../../lib/rate-limit';
import type { ApiGroup } from '../../lib/ringcentral/types';
import { deletionTime } from '../../lib/scheduler';
import type { RcConfigNode } from '../rc-config/runtime';
import { openLedger } from '../shared/ledger';
import type { DoneFn, Node, NodeDef, NodeMessage, RED, SendFn } from '../shared/red';
import { translator } from '../shared/i18n';
import catalog from './locales/en-US/rc-rate-limit.json';
import { errorMessage, shortText } from '../shared/util';

interface RateLimitDef extends NodeDef {
  rc?: string;
  group?: string;
  maxQueue?: string | number;
}

interface Held {
  msg: NodeMessage;
  send: SendFn;
  done: DoneFn;
  group: ApiGroup;
}

const GROUPS: ApiGroup[] = ['Light', 'Medium', 'Heavy', 'Auth'];
/** A Failed item refused by a full queue goes back to its rc-retry this much later. */
const REFUSED_RETRY_MS = 60_000;
/** The status is redrawn at most this often: a burst of a thousand items is one redraw. */
const STATUS_EVERY_MS = 250;

/**
 * The node users wire before a sink: it hands each item to its rc-config's scheduler
 * (lib/scheduler.ts) and sends the message on with the grant parked for the sink's download.
 */
export default function register(RED: RED): void {
  const t = translator(RED, catalog);
  function RateLimit(this: Node, def: RateLimitDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const fixedGroup = GROUPS.includes(def.group as ApiGroup) ? (def.group as ApiGroup) : undefined;
    const maxQueue = queueBound(def.maxQueue, RED.settings.nodeMessageBufferMaxLength);
    const abort = new AbortController();
    const held = new Set<Held>();
    /** The config each group's items went to last: its budgets are what the status shows. */
    const configOfGroup = new Map<ApiGroup, RcConfigNode>();
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

    const configFor = (item: ArchiveItem): RcConfigNode => {
      const rcNode = RED.nodes.getNode(def.rc || item.rc) as RcConfigNode | null;
      if (!rcNode || typeof rcNode.getScheduler !== 'function') {
        throw new Error(t('rc-rate-limit.errors.noRc', { rc: def.rc || item.rc }));
      }
      rcNode.getClient(); // a config without its settings says so now, not at the download
      return rcNode;
    };

    const describe = (status: QueueStatus): string => {
      if (status.groups.length === 0) return t('rc-rate-limit.status.queue', { queued: 0, released });
      if (status.groups.length === 1) {
        const { group, seconds, paused } = status.groups[0];
        return t(`rc-rate-limit.status.${paused ? 'paused' : 'wait'}`, {
          queued: status.queued,
          group,
          seconds,
        });
      }
      const groups = status.groups
        .map(({ group, count, paused }) =>
          t(`rc-rate-limit.status.${paused ? 'groupPaused' : 'group'}`, { group, count }),
        )
        .join(' · ');
      return t('rc-rate-limit.status.groups', { queued: status.queued, groups });
    };

    /** "12 queued · Heavy 34 s", or per group "43 queued · Heavy 40 · Medium 3". */
    const drawStatus = () => {
      statusTimer = undefined;
      if (abort.signal.aborted) return;
      const counts: Partial<Record<ApiGroup, number>> = {};
      for (const h of held) counts[h.group] = (counts[h.group] ?? 0) + 1;
      const status = queueStatus(counts, (group) => {
        try {
          return configOfGroup.get(group)?.getScheduler().snapshot(group);
        } catch {
          return undefined; // the config is gone: its items say so when they fail
        }
      });
      const full = Date.now() - lastRefusedAt < 60_000;
      let text = describe(status);
      if (full) text = `${t('rc-rate-limit.status.full', { max: maxQueue, refused })} · ${text}`;
      node.status({
        fill: full ? 'yellow' : held.size ? 'blue' : 'green',
        shape: held.size ? 'ring' : 'dot',
        text,
      });
    };
    const showStatus = () => {
      statusTimer ??= setTimeout(drawStatus, STATUS_EVERY_MS);
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

    const fail = (done: DoneFn, err: unknown) => {
      const message = errorMessage(err);
      node.status({ fill: 'red', shape: 'ring', text: shortText(message) });
      done(new Error(message));
    };

    node.on('input', (msg: NodeMessage, send: SendFn, done: DoneFn) => {
      const item = msg.payload;
      const group = groupOf(item);
      if (!group || !isArchiveItem(item)) {
        // Nothing to download: nothing to wait for.
        released++;
        send(msg);
        done();
        showStatus();
        return;
      }
      if (held.size >= maxQueue) return refuse(msg, done);
      let rcNode: RcConfigNode;
      try {
        rcNode = configFor(item);
      } catch (err) {
        return fail(done, err);
      }
      const entry: Held = { msg, send, done, group };
      held.add(entry);
      configOfGroup.set(group, rcNode);
      showStatus();
      const scheduler = rcNode.getScheduler();
      const request = {
        key: item.key,
        group,
        deleteAt: deletionTime(item, rcNode.retention()),
        createdAt: item.createdAt,
      };
      scheduler.schedule(request, abort.signal).then(
        (grant) => {
          if (!held.delete(entry)) return grant.permit.cancel(); // put back on close meanwhile
          // The sink's download claims the grant under the item's key (lib/scheduler.ts).
          scheduler.hold(item.key, grant);
          released++;
          send(msg);
          done();
          showStatus();
        },
        (err: unknown) => {
          if (!held.delete(entry)) return;
          showStatus();
          // The config stopped under the queue: the item goes back, as on close.
          if ((err as Error)?.name === 'SchedulerClosedError') {
            putBack(msg, 0);
            return done();
          }
          fail(done, err);
        },
      );
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      abort.abort();
      if (statusTimer) clearTimeout(statusTimer);
      statusTimer = undefined;
      // Held items are put back (the source or rc-retry sends them again), then completed.
      for (const entry of [...held]) {
        held.delete(entry);
        putBack(entry.msg, 0);
        entry.done();
      }
      ledger?.close();
      done();
    });
    drawStatus();
  }
  RED.nodes.registerType('rc-rate-limit', RateLimit);
}
