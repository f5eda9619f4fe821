import type { ArchiveItem } from '../items';
import { oldestTime } from '../backfill';
import type { LedgerApi } from '../ledger/types';
import type { CallLogLegLike, CallLogRecordingLike, CallLogRecordLike } from '../ringcentral/call-log-types';

export type { CallLogRecordLike } from '../ringcentral/call-log-types';

export interface ExtensionInfo {
  name?: string;
  extensionNumber?: string;
}

export interface CallLogLister {
  listCallLog(options: {
    scope: 'account' | 'extension';
    extensionId?: string;
    dateFrom: string;
    dateTo?: string;
    view?: 'Simple' | 'Detailed';
    withRecording?: boolean;
    signal?: AbortSignal;
  }): AsyncIterable<CallLogRecordLike[]>;
}

const ACCOUNT_IN_URI = /\/account\/([^/?#]+)/;

function accountIdOf(record: CallLogRecordLike): string {
  const match = record.uri ? ACCOUNT_IN_URI.exec(record.uri) : null;
  return match && match[1] !== '~' ? match[1] : '~';
}

function extensionIdOf(record: CallLogRecordLike, leg?: CallLogLegLike): string | undefined {
  const id = leg?.extension?.id ?? record.extension?.id;
  return id === undefined ? undefined : String(id);
}

/** What a call-log source archives: the recordings, the call-log records (JSON), or both. */
export type CallLogArchive = 'recordings' | 'records' | 'both';

export const CALL_LOG_ARCHIVE_CHOICES: readonly CallLogArchive[] = ['recordings', 'records', 'both'];

/** The choice from a node's config; anything unknown is the default, 'both'. */
export function callLogArchiveOf(value: unknown): CallLogArchive {
  return CALL_LOG_ARCHIVE_CHOICES.includes(value as CallLogArchive) ? (value as CallLogArchive) : 'both';
}

interface ItemContext {
  rc: string;
  extensions?: Map<string, ExtensionInfo>;
}

/** The key of a call's call-log record item; recording items name it so they can be joined. */
export function callLogKey(record: Pick<CallLogRecordLike, 'id'>): string {
  return `CallLog:${record.id}`;
}

/** The fields every item of one call shares: account, owner, parties, direction, time. */
function callFields(
  record: CallLogRecordLike,
  context: ItemContext,
  leg?: CallLogLegLike,
): Pick<
  ArchiveItem,
  | 'accountId'
  | 'extensionId'
  | 'extensionNumber'
  | 'ownerName'
  | 'from'
  | 'to'
  | 'direction'
  | 'createdAt'
  | 'rc'
> {
  const extensionId = extensionIdOf(record, leg);
  const owner = extensionId ? context.extensions?.get(extensionId) : undefined;
  const inbound = record.direction === 'Inbound';
  const ownerParty = inbound ? record.to : record.from;
  return {
    accountId: accountIdOf(record),
    extensionId,
    extensionNumber: owner?.extensionNumber ?? ownerParty?.extensionNumber,
    ownerName: owner?.name ?? ownerParty?.name,
    from: record.from?.phoneNumber ?? record.from?.extensionNumber,
    to: [record.to?.phoneNumber ?? record.to?.extensionNumber].filter((v): v is string => Boolean(v)),
    direction: record.direction,
    createdAt: new Date(record.startTime).toISOString(),
    rc: context.rc,
  };
}

/**
 * The call-log record itself as one JSON item (`CallLog:<record id>`), for every call whether
 * recorded or not: the archived recordings join back to it through `record.callLogKey`.
 */
export function callLogItem(record: CallLogRecordLike, context: ItemContext): ArchiveItem {
  return {
    key: callLogKey(record),
    kind: 'CallLog',
    ...callFields(record, context),
    fileName: `${record.id}.json`,
    contentType: 'application/json',
    content: { json: record },
    record,
  };
}

/**
 * One ArchiveItem per recording of a call. A call can carry several recordings, some only in the
 * legs of the Detailed view; each is keyed by its recording id so that a look-back overlap and
 * several admins archiving the same account never produce two files for one recording. The
 * item's record carries `callLogKey`, the key of the call's CallLog item (and of its sidecar).
 */
export function recordingItems(record: CallLogRecordLike, context: ItemContext): ArchiveItem[] {
  const found = new Map<string, { recording: CallLogRecordingLike; leg?: CallLogLegLike }>();
  if (record.recording?.id && record.recording.contentUri)
    found.set(String(record.recording.id), { recording: record.recording });
  for (const leg of record.legs ?? []) {
    const recording = leg.recording;
    if (recording?.id && recording.contentUri && !found.has(String(recording.id))) {
      found.set(String(recording.id), { recording, leg });
    }
  }
  const items: ArchiveItem[] = [];
  for (const [recordingId, { recording, leg }] of found) {
    items.push({
      key: `CallRecording:${recordingId}`,
      kind: 'CallRecording',
      ...callFields(record, context, leg),
      fileName: `${recordingId}.mp3`,
      contentType: 'audio/mpeg',
      content: { uri: recording.contentUri },
      record: { ...record, callLogKey: callLogKey(record), recording: { ...recording, callId: record.id } },
    });
  }
  return items;
}

/**
 * The items of one call-log record for the given choice: its CallLog JSON item (records, both),
 * then one item per recording (recordings, both).
 */
export function recordItems(
  record: CallLogRecordLike,
  context: ItemContext & { archive?: CallLogArchive },
): ArchiveItem[] {
  const archive = context.archive ?? 'both';
  const items: ArchiveItem[] = [];
  if (archive !== 'recordings' && record.id) items.push(callLogItem(record, context));
  if (archive !== 'records') items.push(...recordingItems(record, context));
  return items;
}

export interface CallLogRunOptions {
  client: CallLogLister;
  ledger: LedgerApi;
  /** Id of the source node: its cursor and its Pending items. */
  source: string;
  rc: string;
  scope: 'account' | 'extension';
  extensionId?: string;
  extensions?: Map<string, ExtensionInfo>;
  /** Recordings, call-log records (JSON) or both; default both. */
  archive?: CallLogArchive;
  /** First run without a cursor reaches this far back. */
  initialDays: number;
  /** Re-read this much before the cursor: RingCentral adds records and recordings late. */
  lookBackMinutes: number;
  /** An explicit range (backfill): read it and leave the cursor where it is. */
  range?: { dateFrom: string; dateTo?: string };
  now?: Date;
  signal?: AbortSignal;
  /** Called with each page's new items, after they are Pending in the ledger. */
  onItems(items: ArchiveItem[]): void;
  onPage?(progress: { pages: number; records: number; newItems: number }): void;
  /**
   * A cursor to write with each page's items, in the same transaction, given the oldest start
   * time on the page (a backfill's resume point).
   */
  pageCursor?(oldest: string | undefined): { name: string; value: string } | undefined;
}

export interface CallLogRunResult {
  dateFrom: string;
  dateTo: string;
  pages: number;
  records: number;
  newItems: number;
  cursorMoved: boolean;
}

export function cursorName(source: string): string {
  return `call-log:${source}`;
}

export async function runCallLog(options: CallLogRunOptions): Promise<CallLogRunResult> {
  const now = options.now ?? new Date();
  const cursor = options.ledger.getCursor(cursorName(options.source));
  let dateFrom: string;
  let dateTo: string;
  if (options.range) {
    dateFrom = new Date(options.range.dateFrom).toISOString();
    dateTo = new Date(options.range.dateTo ?? now).toISOString();
  } else {
    const from = cursor
      ? new Date(Date.parse(cursor) - options.lookBackMinutes * 60_000)
      : new Date(now.getTime() - options.initialDays * 86_400_000);
    dateFrom = from.toISOString();
    dateTo = now.toISOString();
  }
  if (Number.isNaN(Date.parse(dateFrom)) || Number.isNaN(Date.parse(dateTo))) {
    throw new Error(`invalid date range ${dateFrom} … ${dateTo}`);
  }
  if (Date.parse(dateFrom) >= Date.parse(dateTo))
    throw new Error(`dateFrom ${dateFrom} is not before dateTo ${dateTo}`);

  const result: CallLogRunResult = {
    dateFrom,
    dateTo,
    pages: 0,
    records: 0,
    newItems: 0,
    cursorMoved: false,
  };
  const archive = options.archive ?? 'both';
  for await (const records of options.client.listCallLog({
    scope: options.scope,
    extensionId: options.extensionId,
    dateFrom,
    dateTo,
    view: 'Detailed',
    // Only recordings wanted: RingCentral leaves out the calls without one. Records wanted: all calls.
    ...(archive === 'recordings' ? { withRecording: true } : {}),
    signal: options.signal,
  })) {
    const items = records.flatMap((r) =>
      recordItems(r, { rc: options.rc, extensions: options.extensions, archive }),
    );
    const fresh = options.ledger.recordFound(
      items,
      options.source,
      options.pageCursor?.(oldestTime(records.map((r) => r.startTime))),
    );
    result.pages += 1;
    result.records += records.length;
    result.newItems += fresh.length;
    options.onPage?.({ pages: result.pages, records: result.records, newItems: result.newItems });
    if (fresh.length) options.onItems(fresh);
  }
  if (!options.range) {
    // Every item of the range is Pending in the ledger by now, so the cursor may move.
    options.ledger.setCursor(cursorName(options.source), dateTo);
    result.cursorMoved = true;
  }
  return result;
}
