import type { Readable } from 'node:stream';
import type { BudgetPermit } from './budget';

export type ApiGroup = 'Light' | 'Medium' | 'Heavy' | 'Auth';

export interface ContentResponse {
  body: Readable;
  contentType?: string;
  /** From Content-Length; the body stream errors if fewer or more bytes arrive. */
  contentLength?: number;
}

export interface OpenContentOptions {
  signal?: AbortSignal;
  group?: ApiGroup;
  /** The item's key: a grant the scheduler holds for it pays for the download (lib/scheduler.ts). */
  key?: string;
  /** A permit of the group's budget already taken: the first request uses it instead of acquiring. */
  permit?: BudgetPermit;
}

/** What a sink needs from RingCentral: a content stream for a media URI. */
export interface ContentFetcher {
  openContent(uri: string, options?: OpenContentOptions): Promise<ContentResponse>;
}

/** The state of one API group's rate budget, for status displays and rate-limit nodes. */
export interface BudgetSnapshot {
  group: ApiGroup;
  /** Requests per window, as the server last said (defaults until it has). */
  limit: number;
  windowSec: number;
  /** Requests counted in the current window (including ones other processes sent, as far as known). */
  usedInWindow: number;
  /** Requests that may still be sent in this window (the budget keeps a margin below the limit). */
  remaining: number;
  /** Epoch ms until which nothing in the group is sent (after a 429 or Remaining=0), else null. */
  pausedUntil: number | null;
  /** Callers waiting for budget. */
  queued: number;
  /** 429 answers seen so far. */
  penalties: number;
}
