import type { ItemKind, ItemStatus } from '../../lib/items';
import type { LogFilter } from '../../lib/ledger/types';
import { MAX_MANUAL_RETRY } from '../../lib/retry';
import { ITEM_KINDS, ITEM_STATUSES, MAX_TEXT_LENGTH, PAGE_SIZES } from './constants';

export const MAX_KEY_LENGTH = 1000;

/** A request the user (or a script) got wrong: answered with 400 and this message. */
export class BadRequest extends Error {
  constructor(
    /** A locale key under rc-archive-sidebar.errors. */
    readonly code: string,
    readonly values: Record<string, unknown> = {},
  ) {
    super(code);
    this.name = 'BadRequest';
  }
}

type Query = Record<string, unknown>;

/** Query values arrive as strings; a repeated parameter arrives as an array, which is refused. */
function single(query: Query, name: string): string | undefined {
  const value = query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new BadRequest('repeated', { name });
  return value.trim();
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2}))?$/;

/**
 * A date of the File Created range: `YYYY-MM-DD` (midnight UTC) or an ISO 8601 time with its zone
 * (the sidebar sends the browser's local midnight this way). Returned as ISO 8601 UTC, the form
 * the ledger compares.
 */
function parseDate(query: Query, name: 'since' | 'until'): string | undefined {
  const value = single(query, name);
  if (!value) return undefined;
  const time = ISO_DATE.test(value) ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(time)) throw new BadRequest('date', { name, value: value.slice(0, 40) });
  return new Date(time).toISOString();
}

/** The filter of `GET /rc-archiver/log` and `/log.csv`; empty or "all" means no filter. */
export function parseFilter(query: Query): LogFilter {
  const filter: LogFilter = {};
  const kind = single(query, 'kind');
  if (kind && kind !== 'all') {
    if (!(ITEM_KINDS as string[]).includes(kind))
      throw new BadRequest('kind', { value: kind.slice(0, 40), allowed: ITEM_KINDS.join(', ') });
    filter.kind = kind as ItemKind;
  }
  const status = single(query, 'status');
  if (status && status !== 'all') {
    if (!(ITEM_STATUSES as string[]).includes(status))
      throw new BadRequest('status', { value: status.slice(0, 40), allowed: ITEM_STATUSES.join(', ') });
    filter.status = status as ItemStatus;
  }
  const since = parseDate(query, 'since');
  const until = parseDate(query, 'until');
  if (since && until && since > until) throw new BadRequest('range');
  if (since) filter.since = since;
  if (until) filter.until = until;
  const text = single(query, 'text');
  if (text) {
    if (text.length > MAX_TEXT_LENGTH) throw new BadRequest('text', { max: MAX_TEXT_LENGTH });
    filter.text = text;
  }
  return filter;
}

export function parsePaging(query: Query): { page: number; pageSize: number } {
  const pageText = single(query, 'page') || '1';
  const page = /^\d{1,9}$/.test(pageText) ? Number(pageText) : 0;
  if (page < 1) throw new BadRequest('page');
  const sizeText = single(query, 'pageSize') || String(PAGE_SIZES[0]);
  const pageSize = Number(sizeText);
  if (!(PAGE_SIZES as readonly number[]).includes(pageSize) || !/^\d+$/.test(sizeText))
    throw new BadRequest('pageSize', { allowed: PAGE_SIZES.join(', ') });
  return { page, pageSize };
}

/** The body of `POST /rc-archiver/log/retry`: `{ keys: string[] }` with 1..1000 keys. */
export function parseRetryKeys(body: unknown): string[] {
  const keys = (body as { keys?: unknown } | undefined)?.keys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > MAX_MANUAL_RETRY)
    throw new BadRequest('keys', { max: MAX_MANUAL_RETRY });
  for (const key of keys) {
    if (typeof key !== 'string' || !key || key.length > MAX_KEY_LENGTH) throw new BadRequest('key');
  }
  return keys as string[];
}
