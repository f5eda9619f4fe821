// The operation table (method + path template -> operationId, rate-limit group, permissions,
// media host) parsed from rc-operations-throttling.tsv, and the per (user, group) rate limiter.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type ThrottlingGroup = 'Light' | 'Medium' | 'Heavy' | 'Auth';
export type GroupName = ThrottlingGroup | 'NoThrottling';

export const THROTTLING_GROUPS: readonly ThrottlingGroup[] = ['Light', 'Medium', 'Heavy', 'Auth'];
export const DEFAULT_RATE_LIMITS: Readonly<Record<ThrottlingGroup, number>> = {
  Light: 50,
  Medium: 40,
  Heavy: 10,
  Auth: 5,
};

export interface OperationInfo {
  method: string;
  template: string;
  operationId: string;
  group: GroupName;
  appPermission?: string;
  userPermission?: string;
  media: boolean;
}

export interface OperationMatch {
  op: OperationInfo;
  params: Record<string, string>;
}

interface CompiledOperation {
  op: OperationInfo;
  regex: RegExp;
  names: string[];
  literalSegments: number;
}

/** Where the TSV lives: $RC_THROTTLING_TSV, else the copy beside this file. */
export function throttlingTsvPath(): string {
  const candidates = [process.env.RC_THROTTLING_TSV, join(__dirname, 'spec', 'rc-operations-throttling.tsv')];
  for (const candidate of candidates) if (candidate && existsSync(candidate)) return candidate;
  throw new Error('rc-operations-throttling.tsv not found (set RC_THROTTLING_TSV)');
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export class OperationTable {
  private readonly byMethod = new Map<string, CompiledOperation[]>();
  private readonly byId = new Map<string, OperationInfo>();

  constructor(tsv: string) {
    const lines = tsv.split(/\r?\n/).filter((line) => line.trim() !== '');
    const head = lines.shift()?.split('\t') ?? [];
    const col = (name: string): number => {
      const index = head.indexOf(name);
      if (index < 0) throw new Error(`throttling TSV lacks column ${name}`);
      return index;
    };
    const [cMethod, cPath, cId, cGroup, cApp, cUser, cMedia] = [
      'method',
      'path',
      'operationId',
      'throttlingGroup',
      'appPermission',
      'userPermission',
      'mediaHost',
    ].map(col);
    for (const line of lines) {
      const cells = line.split('\t');
      const op: OperationInfo = {
        method: cells[cMethod].toUpperCase(),
        template: cells[cPath],
        operationId: cells[cId],
        group: (cells[cGroup] || 'NoThrottling') as GroupName,
        appPermission: cells[cApp] || undefined,
        userPermission: cells[cUser] || undefined,
        media: (cells[cMedia] ?? '').trim() !== '',
      };
      const names: string[] = [];
      let literalSegments = 0;
      const pattern = op.template
        .split('/')
        .map((segment) => {
          if (/^\{[^}]+\}$/.test(segment)) {
            names.push(segment.slice(1, -1));
            return '([^/]+)';
          }
          if (segment.includes('{')) {
            // a segment mixing text and parameters, e.g. "{a}.{b}"
            return segment
              .split(/(\{[^}]+\})/)
              .map((part) => {
                if (/^\{[^}]+\}$/.test(part)) {
                  names.push(part.slice(1, -1));
                  return '([^/]+?)';
                }
                return escapeRegex(part);
              })
              .join('');
          }
          if (segment !== '') literalSegments++;
          return escapeRegex(segment);
        })
        .join('/');
      const compiled: CompiledOperation = { op, regex: new RegExp(`^${pattern}/?$`), names, literalSegments };
      const list = this.byMethod.get(op.method) ?? [];
      list.push(compiled);
      this.byMethod.set(op.method, list);
      this.byId.set(op.operationId, op);
    }
    // most specific templates first: more literal segments, then fewer parameters
    for (const list of this.byMethod.values()) {
      list.sort((a, b) => b.literalSegments - a.literalSegments || a.names.length - b.names.length);
    }
  }

  static load(path = throttlingTsvPath()): OperationTable {
    return new OperationTable(readFileSync(path, 'utf8'));
  }

  get size(): number {
    return this.byId.size;
  }

  byOperationId(operationId: string): OperationInfo | undefined {
    return this.byId.get(operationId);
  }

  match(method: string, pathname: string): OperationMatch | undefined {
    const list = this.byMethod.get(method.toUpperCase() === 'HEAD' ? 'GET' : method.toUpperCase());
    if (!list) return undefined;
    for (const entry of list) {
      const m = entry.regex.exec(pathname);
      if (!m) continue;
      const params: Record<string, string> = {};
      entry.names.forEach((name, i) => {
        params[name] = decodeURIComponent(m[i + 1]);
      });
      return { op: entry.op, params };
    }
    return undefined;
  }
}

export interface RateDecision {
  allowed: boolean;
  group: ThrottlingGroup;
  limit: number;
  remaining: number;
  windowSec: number;
  /** Seconds until the (restarted) penalty ends; only when not allowed. */
  retryAfterSec?: number;
}

interface Bucket {
  hits: number[];
  penaltyUntil: number;
}

/**
 * Counts requests per (user, group) over a sliding window. Exceeding the limit starts a penalty;
 * any request during the penalty is refused and restarts it (as RingCentral does).
 */
export class RateLimiter {
  limits: Record<ThrottlingGroup, number>;
  windowSec: number;
  penaltySec: number;
  private readonly buckets = new Map<string, Bucket>();

  constructor(options: {
    limits?: Partial<Record<ThrottlingGroup, number>>;
    windowSec?: number;
    penaltySec?: number;
  }) {
    this.limits = { ...DEFAULT_RATE_LIMITS, ...(options.limits ?? {}) };
    this.windowSec = options.windowSec ?? 60;
    this.penaltySec = options.penaltySec ?? this.windowSec;
  }

  check(userKey: string, group: ThrottlingGroup, now = Date.now()): RateDecision {
    const key = `${userKey}\u0000${group}`;
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = { hits: [], penaltyUntil: 0 };
      this.buckets.set(key, bucket);
    }
    const limit = this.limits[group];
    const windowMs = this.windowSec * 1000;
    const penaltyMs = this.penaltySec * 1000;
    const base = { group, limit, windowSec: this.windowSec };
    if (now < bucket.penaltyUntil) {
      bucket.penaltyUntil = now + penaltyMs;
      return { ...base, allowed: false, remaining: 0, retryAfterSec: Math.ceil(this.penaltySec) };
    }
    const since = now - windowMs;
    let drop = 0;
    while (drop < bucket.hits.length && bucket.hits[drop] <= since) drop++;
    if (drop) bucket.hits.splice(0, drop);
    if (bucket.hits.length >= limit) {
      bucket.penaltyUntil = now + penaltyMs;
      return { ...base, allowed: false, remaining: 0, retryAfterSec: Math.ceil(this.penaltySec) };
    }
    bucket.hits.push(now);
    return { ...base, allowed: true, remaining: Math.max(0, limit - bucket.hits.length) };
  }

  /** Milliseconds of penalty left for (user, group), 0 when none. */
  penaltyLeft(userKey: string, group: ThrottlingGroup, now = Date.now()): number {
    const bucket = this.buckets.get(`${userKey}\u0000${group}`);
    return bucket ? Math.max(0, bucket.penaltyUntil - now) : 0;
  }

  reset(): void {
    this.buckets.clear();
  }
}
