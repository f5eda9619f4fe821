import { EventEmitter } from 'node:events';
import type { ArchiveItem, ItemStatus } from './items';
import type { LedgerRow } from './ledger/types';

/**
 * What happens in the archive, for whoever in this process listens: the editor's sidebar (live
 * rows), rc-archive-log (alerts) and the Retry routes. Every node bundle requires the one built
 * copy of this module, so its state is the process's.
 */
export interface ArchiveEvents {
  /** A ledger row changed status (found, attempt, archived, failed, lost). */
  change: [{ key: string; status: ItemStatus; kind: string }];
  /** An item used up its automatic retries and waits for a manual Retry. */
  exhausted: [{ row: LedgerRow; retryNode: string; retries: number }];
  /** A sink's storage target failed: the sink pauses once, its items wait Pending (one per outage). */
  targetDown: [TargetDownEvent];
  /** The target works again; the waiting items go out. */
  targetUp: [{ sink: SinkRef; reason: string; downForMs: number; waiting: number }];
}

export interface SinkRef {
  id: string;
  type: string;
  name?: string;
}

export interface TargetDownEvent {
  sink: SinkRef;
  /** The target's own words, without secrets. */
  reason: string;
  /** Keys of the items that wait for the target. */
  waiting: string[];
  /** ISO 8601. */
  since: string;
  nextCheckAt: string;
}

/**
 * A node that can put items back into the flow: rc-retry (manual and bulk Retry re-enter there) and
 * sources (as a fallback when no rc-retry is deployed). `send` sends one message per item.
 */
export interface Entrance {
  nodeId: string;
  kind: 'retry' | 'source';
  send(items: ArchiveItem[]): void;
}

/** Items whose messages a flow dropped (a full rate-limit queue); their sources send them again. */
export interface Deferred {
  add(source: string, keys: string[]): void;
  /** Takes (and forgets) the keys deferred for this source. */
  take(source: string): string[];
}

export const archiveEvents = new EventEmitter<ArchiveEvents>().setMaxListeners(1000);

const registeredEntrances = new Map<string, Entrance>();
const deferredKeys = new Map<string, Set<string>>();

/** Registers an entrance; the returned function unregisters it (call it on close). */
export function registerEntrance(entrance: Entrance): () => void {
  registeredEntrances.set(entrance.nodeId, entrance);
  return () => {
    if (registeredEntrances.get(entrance.nodeId) === entrance) registeredEntrances.delete(entrance.nodeId);
  };
}

export function entrance(nodeId: string | undefined): Entrance | undefined {
  return nodeId ? registeredEntrances.get(nodeId) : undefined;
}

export function entrances(kind?: Entrance['kind']): Entrance[] {
  return [...registeredEntrances.values()].filter((e) => !kind || e.kind === kind);
}

export const deferred: Deferred = {
  add(source, keys) {
    let set = deferredKeys.get(source);
    if (!set) deferredKeys.set(source, (set = new Set()));
    for (const k of keys) set.add(k);
  },
  take(source) {
    const set = deferredKeys.get(source);
    deferredKeys.delete(source);
    return set ? [...set] : [];
  },
};
