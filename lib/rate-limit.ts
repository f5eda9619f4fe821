/** rc-rate-limit's decisions, free of Node-RED: how many messages it may hold, and how long they wait. */
import type { ApiGroup, BudgetSnapshot } from './ringcentral/types';

/** Held messages when neither the node nor Node-RED's settings say: plain JSON items, a few MB. */
export const DEFAULT_MAX_QUEUE = 10_000;

/**
 * The queue bound: the node's own setting when given, else Node-RED's
 * `nodeMessageBufferMaxLength` when it is set (> 0), else the default.
 */
export function queueBound(nodeSetting: unknown, nodeMessageBufferMaxLength: unknown): number {
  const own = Number.parseInt(String(nodeSetting ?? '').trim(), 10);
  if (Number.isFinite(own) && own > 0) return own;
  const global = Number(nodeMessageBufferMaxLength);
  if (Number.isFinite(global) && global > 0) return Math.floor(global);
  return DEFAULT_MAX_QUEUE;
}

/**
 * Seconds until the last of `queued` messages of one group may go: the 429 pause when there is
 * one, else whole windows for what does not fit the remaining budget.
 */
export function queueWaitSeconds(snapshot: BudgetSnapshot, queued: number, now = Date.now()): number {
  const paused = snapshot.pausedUntil && snapshot.pausedUntil > now ? (snapshot.pausedUntil - now) / 1000 : 0;
  const perWindow = Math.max(1, snapshot.limit);
  const beyond = Math.max(0, queued - (paused ? 0 : snapshot.remaining));
  const windows = Math.ceil(beyond / perWindow);
  return Math.ceil(paused + windows * snapshot.windowSec);
}

export interface GroupStatus {
  group: ApiGroup;
  count: number;
  /** Until the last of them may go (see queueWaitSeconds); 0 without a budget to ask. */
  seconds: number;
  paused: boolean;
}

export interface QueueStatus {
  queued: number;
  /** Groups with items, the most first. */
  groups: GroupStatus[];
}

/** What the node's status says: the items held per group and how long each group holds them. */
export function queueStatus(
  counts: Partial<Record<ApiGroup, number>>,
  snapshotOf: (group: ApiGroup) => BudgetSnapshot | undefined,
  now = Date.now(),
): QueueStatus {
  const groups: GroupStatus[] = [];
  let queued = 0;
  for (const [group, count] of Object.entries(counts) as Array<[ApiGroup, number]>) {
    if (!count) continue;
    queued += count;
    const snapshot = snapshotOf(group);
    const paused = !!snapshot?.pausedUntil && snapshot.pausedUntil > now;
    groups.push({ group, count, seconds: snapshot ? queueWaitSeconds(snapshot, count, now) : 0, paused });
  }
  groups.sort((a, b) => b.count - a.count);
  return { queued, groups };
}
