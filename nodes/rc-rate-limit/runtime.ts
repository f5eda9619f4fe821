import type { ArchiveItem } from '../../lib/items';
import { queueBound } from '../../lib/rate-limit';
import { RateLimiter, type SchedulerOfItem } from '../../lib/rate-limiter';
import type { ApiGroup } from '../../lib/ringcentral/types';
import type { RcConfigNode } from '../rc-config/runtime';
import { hostController } from '../shared/host';
import type { Node, NodeDef, RED } from '../shared/red';
import { translator } from '../shared/i18n';
import catalog from './locales/en-US/rc-rate-limit.json';

interface RateLimitDef extends NodeDef {
  rc?: string;
  group?: string;
  maxQueue?: string | number;
}

const GROUPS: ApiGroup[] = ['Light', 'Medium', 'Heavy', 'Auth'];

/**
 * The node users wire before a sink: it hands each item to its rc-config's scheduler
 * (lib/scheduler.ts) and sends the message on with the grant parked for the sink's download.
 */
export default function register(RED: RED): void {
  const t = translator(RED, catalog);
  function RateLimit(this: Node, def: RateLimitDef) {
    RED.nodes.createNode(this, def);
    const schedulerFor = (item: ArchiveItem): SchedulerOfItem => {
      const rcNode = RED.nodes.getNode(def.rc || item.rc) as RcConfigNode | null;
      if (!rcNode || typeof rcNode.getScheduler !== 'function') {
        throw new Error(t('rc-rate-limit.errors.noRc', { rc: def.rc || item.rc }));
      }
      rcNode.getClient(); // a config without its settings says so now, not at the download
      return { scheduler: rcNode.getScheduler(), retention: rcNode.retention() };
    };
    hostController(RED, this, {
      i18n: 'rc-rate-limit',
      t,
      create: (io, { ledger, error }) => {
        // The ledger only says which source sends a refused item again: without it, a warning.
        if (error !== undefined) io.warn(error);
        return new RateLimiter({
          io,
          ledger,
          schedulerFor,
          maxQueue: queueBound(def.maxQueue, RED.settings.nodeMessageBufferMaxLength),
          group: GROUPS.includes(def.group as ApiGroup) ? (def.group as ApiGroup) : undefined,
        });
      },
    });
  }
  RED.nodes.registerType('rc-rate-limit', RateLimit);
}
