import type { ArchiveItem, ItemKind } from '../items';
import { oldestTime } from '../backfill';
import type { LedgerApi } from '../ledger/types';
import { RcApiError } from '../ringcentral/errors';
import { extensionFor } from '../template';

/**
 * The message store source: voicemail (audio and transcription), fax (rendered and source
 * document), SMS (one JSON item per message) and MMS (each attachment, the text included), for the
 * logged-in extension or every mailbox of the account, with one cursor per extension.
 */

/** What a message source can archive; each is a checkbox in the node, all on by default. */
export type MessageChoice = 'voicemail' | 'fax' | 'sms' | 'mms';
export const MESSAGE_CHOICES: readonly MessageChoice[] = ['voicemail', 'fax', 'sms', 'mms'];

/** The parts of a message-store party (MessageStoreCallerInfoResponseFrom/To) the archiver reads. */
export interface MessageParty {
  phoneNumber?: string;
  extensionNumber?: string;
  extensionId?: string;
  name?: string;
}

export interface MessageAttachment {
  /** int64 in the API: may arrive as a number; the uri carries it exactly. */
  id?: number | string;
  uri?: string;
  type?: string;
  contentType?: string;
  fileName?: string;
  size?: number;
  vmDuration?: number;
}

/** The parts of GetMessageInfoResponse the archiver reads. */
export interface MessageRecordLike {
  id: number | string;
  uri?: string;
  type?: string;
  creationTime: string;
  direction?: 'Inbound' | 'Outbound';
  from?: MessageParty;
  to?: MessageParty[];
  attachments?: MessageAttachment[];
  /** Exceeds JavaScript's safe integers: never trusted, `conversation.id` is the exact string. */
  conversationId?: unknown;
  conversation?: { id?: string; uri?: string };
  extensionId?: string;
  subject?: string;
  availability?: string;
  [field: string]: unknown;
}

/** The mailbox a message belongs to. */
export interface MailboxOwner {
  id: string;
  name?: string;
  extensionNumber?: string;
  type?: string;
  status?: string;
}

/** The choices from a node's config: a checkbox left unset is on. */
export function messageChoicesOf(config: Partial<Record<MessageChoice, unknown>>): MessageChoice[] {
  return MESSAGE_CHOICES.filter((c) => {
    const v = config[c];
    return v === undefined || v === null || v === '' ? true : v === true || v === 'true';
  });
}

/** The messageType filter of the listing for the choices (MMS are SMS messages with media). */
export function messageTypesFor(choices: readonly MessageChoice[]): string[] {
  const types: string[] = [];
  if (choices.includes('voicemail')) types.push('VoiceMail');
  if (choices.includes('fax')) types.push('Fax');
  if (choices.includes('sms') || choices.includes('mms')) types.push('SMS');
  return types;
}

const ACCOUNT_IN_URI = /\/account\/([^/?#]+)/;
const MESSAGE_IN_URI = /\/message-store\/([^/?#]+)/;
const ATTACHMENT_IN_URI = /\/message-store\/[^/?#]+\/content\/([^/?#]+)/;

/**
 * An int64 id as a string: from the URI when it has it (exact), else the value as given. A number
 * beyond 2^53 has already lost digits in JSON.parse, so it is only used when it is safe.
 */
function idString(value: unknown, uri: string | undefined, pattern: RegExp): string | undefined {
  const match = uri ? pattern.exec(uri) : null;
  if (match) return decodeURIComponent(match[1]);
  if (typeof value === 'string' && value) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  if (typeof value === 'bigint') return value.toString();
  return undefined;
}

export function messageIdOf(record: MessageRecordLike): string | undefined {
  return idString(record.id, record.uri, MESSAGE_IN_URI);
}

export function attachmentIdOf(attachment: MessageAttachment): string | undefined {
  return idString(attachment.id, attachment.uri, ATTACHMENT_IN_URI);
}

/**
 * The message as archived: ids as strings, `conversationId` replaced by the exact string of
 * `conversation.id` (the numeric field has lost digits in JSON.parse), or left out when unknown.
 */
export function normalizeMessage(record: MessageRecordLike): MessageRecordLike {
  const out: MessageRecordLike = { ...record };
  const id = messageIdOf(record);
  if (id !== undefined) out.id = id;
  const conversation = record.conversation?.id;
  if (typeof conversation === 'string' && conversation) out.conversationId = conversation;
  else if (typeof record.conversationId === 'string') out.conversationId = record.conversationId;
  else if (typeof record.conversationId === 'number' && Number.isSafeInteger(record.conversationId))
    out.conversationId = String(record.conversationId);
  else delete out.conversationId;
  if (record.attachments) {
    out.attachments = record.attachments.map((a) => {
      const attachmentId = attachmentIdOf(a);
      return attachmentId === undefined ? { ...a } : { ...a, id: attachmentId };
    });
  }
  return out;
}

export interface MessageItemContext {
  rc: string;
  owner?: MailboxOwner;
  /** What to archive; all by default. */
  choices?: readonly MessageChoice[];
}

function partyText(party: MessageParty | undefined): string | undefined {
  return party?.phoneNumber || party?.extensionNumber || undefined;
}

function fileNameOf(attachment: MessageAttachment, id: string): string {
  const given = (attachment.fileName ?? '').split(/[\\/]/).pop()?.trim();
  if (given) return given;
  return `${id}.${extensionFor(attachment.contentType ?? '')}`;
}

/** The kind of an attachment's item, or undefined when the choices leave it out. */
function kindOf(
  record: MessageRecordLike,
  choices: readonly MessageChoice[],
  isMms: boolean,
): ItemKind | undefined {
  switch (record.type) {
    case 'VoiceMail':
      return choices.includes('voicemail') ? 'Voicemail' : undefined;
    case 'Fax':
      return choices.includes('fax') ? 'Fax' : undefined;
    case 'SMS':
      if (isMms) return choices.includes('mms') ? 'MMS' : undefined;
      return choices.includes('sms') ? 'SMS' : undefined;
    default:
      return undefined;
  }
}

/**
 * The items of one message: a voicemail's audio and transcription, a fax's rendered (and source)
 * document, each attachment of an MMS (its text included), each a download on the media host
 * (Medium); an SMS is one JSON item, the message itself. Keys: `Voicemail:<message>:<attachment>`,
 * `Fax:…`, `MMS:…`, `SMS:<message>`.
 */
export function messageItems(raw: MessageRecordLike, context: MessageItemContext): ArchiveItem[] {
  // A purged message has no content left to archive (a Deleted one, in the trash, still has).
  if (raw.availability === 'Purged') return [];
  const record = normalizeMessage(raw);
  const messageId = messageIdOf(record);
  if (!messageId) return [];
  const choices = context.choices ?? MESSAGE_CHOICES;
  const attachments = record.attachments ?? [];
  const isMms = record.type === 'SMS' && attachments.some((a) => a.type === 'MmsAttachment');
  const kind = kindOf(record, choices, isMms);
  if (!kind) return [];
  const accountMatch = record.uri ? ACCOUNT_IN_URI.exec(record.uri) : null;
  const owner = context.owner;
  const extensionId = owner?.id ?? (record.extensionId ? String(record.extensionId) : undefined);
  const created = new Date(record.creationTime);
  const common = {
    kind,
    accountId: accountMatch && accountMatch[1] !== '~' ? accountMatch[1] : '~',
    extensionId,
    extensionNumber: owner?.extensionNumber,
    ownerName: owner?.name,
    from: partyText(record.from),
    to: (record.to ?? []).map(partyText).filter((v): v is string => Boolean(v)),
    direction: record.direction,
    createdAt: Number.isNaN(created.getTime()) ? String(record.creationTime) : created.toISOString(),
    rc: context.rc,
  };
  if (kind === 'SMS') {
    return [
      {
        key: `SMS:${messageId}`,
        ...common,
        fileName: `${messageId}.json`,
        contentType: 'application/json',
        content: { json: record },
        record,
      },
    ];
  }
  const items: ArchiveItem[] = [];
  const seen = new Set<string>();
  for (const attachment of attachments) {
    const attachmentId = attachmentIdOf(attachment);
    if (!attachmentId || !attachment.uri || seen.has(attachmentId)) continue;
    seen.add(attachmentId);
    items.push({
      key: `${kind}:${messageId}:${attachmentId}`,
      ...common,
      fileName: fileNameOf(attachment, attachmentId),
      contentType: attachment.contentType || 'application/octet-stream',
      ...(typeof attachment.size === 'number' && attachment.size >= 0 ? { size: attachment.size } : {}),
      content: { uri: attachment.uri },
      record: { ...record, attachment: { ...attachment, id: attachmentId } },
    });
  }
  return items;
}

// ---------------------------------------------------------------------------------------------
// A run

export interface MessageLister {
  listMessages(options: {
    extensionId: string;
    dateFrom: string;
    dateTo?: string;
    messageType?: string[];
    availability?: string[];
    signal?: AbortSignal;
  }): AsyncIterable<MessageRecordLike[]>;
}

/** The messages listed: alive and in the trash; purged ones have no content left. */
export const MESSAGE_AVAILABILITY = ['Alive', 'Deleted'];

export function messageCursorName(source: string, extensionId: string): string {
  return `messages:${source}:${extensionId}`;
}

export interface MessageRunOptions {
  client: MessageLister;
  ledger: LedgerApi;
  /** Id of the source node: its cursors and its Pending items. */
  source: string;
  rc: string;
  /** The mailboxes to read, in order (the logged-in one, or every extension of the account). */
  mailboxes: MailboxOwner[];
  choices?: readonly MessageChoice[];
  /** First run of a mailbox without a cursor reaches this far back. */
  initialDays: number;
  /** Re-read this much before each cursor: message sync overlaps, keys dedupe. */
  lookBackMinutes: number;
  /** An explicit range (backfill): read it and leave the cursors where they are. */
  range?: { dateFrom: string; dateTo?: string };
  now?: Date;
  signal?: AbortSignal;
  /**
   * A mailbox whose listing fails with this error is skipped (its cursor stays) instead of ending
   * the run: e.g. a 404 or 403 for an extension type without a message store. Default: none.
   */
  skipMailbox?(err: unknown, mailbox: MailboxOwner): boolean;
  /** Called with each page's new items, after they are Pending in the ledger. */
  onItems(items: ArchiveItem[]): void;
  onProgress?(progress: { mailbox: number; mailboxes: number; messages: number; newItems: number }): void;
  /**
   * A cursor to write with each page's items, in the same transaction, given the mailbox and the
   * oldest creation time on the page (a backfill's resume point).
   */
  pageCursor?(mailbox: MailboxOwner, oldest: string | undefined): { name: string; value: string } | undefined;
}

export interface MessageRunResult {
  dateTo: string;
  mailboxes: number;
  /**
   * Mailboxes skipped, with the reason: by skipMailbox, or (`transient`) because their listing
   * kept failing after the client's own tries while other mailboxes could be read.
   */
  skipped: Array<{ id: string; reason: string; transient?: boolean }>;
  messages: number;
  newItems: number;
  cursorsMoved: number;
}

/**
 * A listing failure that says nothing about the mailbox: no answer, a cut or malformed answer, a
 * 5xx, still there after the client's own tries. A 4xx (a verdict), a 429 (the whole group's
 * limit) or a closed client are not.
 */
export function isTransientListingError(err: unknown): boolean {
  if (!(err instanceof RcApiError)) return false;
  return err.status === 0 || err.status >= 500 || err.errorCode === 'InvalidJson';
}

function rangeOf(
  options: MessageRunOptions,
  mailbox: MailboxOwner,
  now: Date,
): { dateFrom: string; dateTo: string } {
  let dateFrom: string;
  let dateTo: string;
  if (options.range) {
    dateFrom = new Date(options.range.dateFrom).toISOString();
    dateTo = new Date(options.range.dateTo ?? now).toISOString();
  } else {
    const cursor = options.ledger.getCursor(messageCursorName(options.source, mailbox.id));
    const from = cursor
      ? new Date(Date.parse(cursor) - options.lookBackMinutes * 60_000)
      : new Date(now.getTime() - options.initialDays * 86_400_000);
    dateFrom = from.toISOString();
    dateTo = now.toISOString();
  }
  return { dateFrom, dateTo };
}

function checkRange(range: { dateFrom?: string; dateTo?: string }, now: Date): void {
  const from = Date.parse(range.dateFrom ?? '');
  const to = range.dateTo ? Date.parse(range.dateTo) : now.getTime();
  if (Number.isNaN(from) || Number.isNaN(to))
    throw new Error(`invalid date range ${range.dateFrom} … ${range.dateTo ?? 'now'}`);
  if (from >= to) throw new Error(`dateFrom ${range.dateFrom} is not before dateTo ${range.dateTo ?? 'now'}`);
}

/**
 * Lists each mailbox's messages from its cursor minus the look-back (or the backfill range),
 * records the new items Pending, and only after a mailbox's listing is complete moves its cursor.
 */
export async function runMessages(options: MessageRunOptions): Promise<MessageRunResult> {
  const now = options.now ?? new Date();
  if (options.range) checkRange(options.range, now);
  const choices = options.choices ?? MESSAGE_CHOICES;
  const messageType = messageTypesFor(choices);
  const result: MessageRunResult = {
    dateTo: now.toISOString(),
    mailboxes: options.mailboxes.length,
    skipped: [],
    messages: 0,
    newItems: 0,
    cursorsMoved: 0,
  };
  if (!messageType.length) return result;
  let index = 0;
  let transientFailure: unknown;
  for (const mailbox of options.mailboxes) {
    index++;
    const progress = () =>
      options.onProgress?.({
        mailbox: index,
        mailboxes: options.mailboxes.length,
        messages: result.messages,
        newItems: result.newItems,
      });
    progress();
    const { dateFrom, dateTo } = rangeOf(options, mailbox, now);
    try {
      for await (const records of options.client.listMessages({
        extensionId: mailbox.id,
        dateFrom,
        dateTo,
        messageType,
        // A message in the trash (Deleted) still has its content and is archived too.
        availability: MESSAGE_AVAILABILITY,
        signal: options.signal,
      })) {
        const items = records.flatMap((r) => messageItems(r, { rc: options.rc, owner: mailbox, choices }));
        const cursor = options.pageCursor?.(mailbox, oldestTime(records.map((r) => r.creationTime)));
        const fresh = items.length || cursor ? options.ledger.recordFound(items, options.source, cursor) : [];
        result.messages += records.length;
        result.newItems += fresh.length;
        progress();
        if (fresh.length) options.onItems(fresh);
      }
    } catch (err) {
      if (options.signal?.aborted) throw err;
      const reason = err instanceof Error ? err.message : String(err);
      if (options.skipMailbox?.(err, mailbox)) {
        result.skipped.push({ id: mailbox.id, reason });
        continue;
      }
      // One mailbox whose listing keeps failing must not hold every other one back a cycle: it
      // keeps its cursor and is read again on the next run.
      if (options.mailboxes.length > 1 && isTransientListingError(err)) {
        result.skipped.push({ id: mailbox.id, reason, transient: true });
        transientFailure ??= err;
        continue;
      }
      throw err;
    }
    if (!options.range) {
      // Every item of this mailbox's range is Pending in the ledger by now: its cursor may move.
      options.ledger.setCursor(messageCursorName(options.source, mailbox.id), dateTo);
      result.cursorsMoved++;
    }
  }
  // Not one mailbox could be read: that is RingCentral failing, not a mailbox; the run fails.
  if (transientFailure !== undefined && result.skipped.length === options.mailboxes.length)
    throw transientFailure;
  return result;
}
