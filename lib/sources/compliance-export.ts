import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ArchiveItem } from '../items';
import type { LedgerApi } from '../ledger/types';
import { RcApiError } from '../ringcentral/errors';
import type { ApiGroup, ContentResponse } from '../ringcentral/types';
import { ZipError, ZipReader, type ZipEntry } from '../zip';

/**
 * The team-messaging compliance export (`/team-messaging/v1/data-export`): asks RingCentral for an
 * export of whole UTC days, at most 180 days a task and one task at a time, waits for it, and
 * turns each dataset (a zip on the media host) into an item; optionally also one JSON item per
 * chat per day, read from the zip.
 *
 * The ledger cursor `compliance-export:<source>` (JSON, see ComplianceState) holds the end of what
 * the regular runs exported and the task in progress, so that a restart polls that task instead
 * of asking for a second one.
 */

export const DAY_MS = 86_400_000;
/** Longest piece asked for in one task: RingCentral allows six months. */
export const MAX_PIECE_DAYS = 180;
/** RingCentral takes at most this many contacts and chat ids in one task. */
export const MAX_FILTER_IDS = 10;
const EXPORT_PATH = '/team-messaging/v1/data-export';

export interface ExportClient {
  request<T = unknown>(
    method: string,
    path: string,
    options?: { body?: unknown; signal?: AbortSignal; group?: ApiGroup },
  ): Promise<T>;
  openContent(uri: string, options?: { signal?: AbortSignal; group?: ApiGroup }): Promise<ContentResponse>;
}

/** DataExportTask in RingCentral's API description. */
export interface DataExportTask {
  id: string;
  uri?: string;
  creationTime?: string;
  lastModifiedTime?: string;
  status?: 'Accepted' | 'InProgress' | 'Completed' | 'Failed' | 'Expired' | string;
  creator?: { id?: string; firstName?: string; lastName?: string };
  specific?: {
    timeFrom?: string;
    timeTo?: string;
    contacts?: ExportContact[];
    chatIds?: string[];
  };
  datasets?: Array<{ id: string; uri: string; size?: number; expiresAt?: string }>;
}

export type ExportContact = { id: string } | { email: string };

/** What the cursor holds (as JSON). */
export interface ComplianceState {
  /** Start of the first UTC day the regular runs have not exported yet. */
  exportedTo?: string;
  /** The task asked for and not yet recorded: polled again after a restart, never asked twice. */
  task?: { id: string; timeFrom: string; timeTo: string; origin: 'scheduled' | 'range' };
  /** An explicit range in progress (it never moves exportedTo): done up to doneTo. */
  range?: { dateFrom: string; dateTo: string; doneTo: string };
}

export function complianceCursorName(source: string): string {
  return `compliance-export:${source}`;
}

export function parseState(value: string | undefined): ComplianceState {
  if (!value) return {};
  try {
    const parsed = JSON.parse(value) as ComplianceState;
    return parsed && typeof parsed === 'object' ? parsed : {};
  } catch {
    // An older cursor written as a plain date.
    return Number.isNaN(Date.parse(value)) ? {} : { exportedTo: new Date(value).toISOString() };
  }
}

/** True when the cursor says a task or a range is unfinished (a restart should go on with it). */
export function hasUnfinishedWork(state: ComplianceState): boolean {
  return Boolean(state.task || state.range);
}

// ---------------------------------------------------------------------------------------------
// Days and ranges

/** 00:00 UTC of the day `t` is in. */
export function startOfUtcDay(t: Date | number | string): Date {
  const ms = new Date(t).getTime();
  return new Date(Math.floor(ms / DAY_MS) * DAY_MS);
}

/** 00:00 UTC of the day after `t`, unless `t` is already a day's start. */
export function endOfUtcDay(t: Date | number | string): Date {
  const ms = new Date(t).getTime();
  return new Date(Math.ceil(ms / DAY_MS) * DAY_MS);
}

export function dayOf(t: Date | number | string): string {
  return new Date(t).toISOString().slice(0, 10);
}

export interface Piece {
  from: string;
  to: string;
}

/** [from, to) cut into contiguous pieces of at most `maxDays` whole days each. */
export function splitRange(from: Date | string, to: Date | string, maxDays = MAX_PIECE_DAYS): Piece[] {
  const start = new Date(from).getTime();
  const end = new Date(to).getTime();
  if (!(maxDays >= 1)) throw new Error('a piece must be at least one day');
  const pieces: Piece[] = [];
  for (let at = start; at < end;) {
    const next = Math.min(end, at + Math.floor(maxDays) * DAY_MS);
    pieces.push({ from: new Date(at).toISOString(), to: new Date(next).toISOString() });
    at = next;
  }
  return pieces;
}

/**
 * An explicit range made whole UTC days: from the start of dateFrom's day to the end of dateTo's
 * (default now), never past the start of today (a day is exported once it is over). Throws when
 * a date is not a date, when the start is not before the end, or when no whole day is left.
 */
export function alignRange(range: { dateFrom: string; dateTo?: string }, now: Date): Piece {
  const from = Date.parse(range.dateFrom);
  const to = range.dateTo === undefined ? now.getTime() : Date.parse(range.dateTo);
  if (Number.isNaN(from)) throw new Error(`dateFrom "${String(range.dateFrom).slice(0, 40)}" is not a date`);
  if (Number.isNaN(to)) throw new Error(`dateTo "${String(range.dateTo).slice(0, 40)}" is not a date`);
  if (from >= to)
    throw new Error(
      `the range starts (${new Date(from).toISOString()}) at or after its end (${new Date(to).toISOString()})`,
    );
  const start = startOfUtcDay(from);
  const end = new Date(Math.min(endOfUtcDay(to).getTime(), startOfUtcDay(now).getTime()));
  if (start >= end)
    throw new Error(
      `the range ${new Date(from).toISOString()} – ${new Date(to).toISOString()} holds no whole UTC day before today: exports cover days that are over`,
    );
  return { from: start.toISOString(), to: end.toISOString() };
}

// ---------------------------------------------------------------------------------------------
// Filters

/**
 * Contacts from a comma-separated list: numeric ids, or email addresses. Throws on anything else
 * and on more than RingCentral takes.
 */
export function parseContacts(value: unknown): ExportContact[] {
  const out: ExportContact[] = [];
  const seen = new Set<string>();
  for (const raw of listOf(value)) {
    if (seen.has(raw.toLowerCase())) continue;
    seen.add(raw.toLowerCase());
    if (/^\d{1,20}$/.test(raw)) out.push({ id: raw });
    else if (/^[^\s@,]+@[^\s@,]+\.[^\s@,]+$/.test(raw)) out.push({ email: raw });
    else throw new Error(`contact "${raw.slice(0, 60)}" is neither a numeric id nor an email address`);
  }
  if (out.length > MAX_FILTER_IDS)
    throw new Error(
      `${out.length} contacts given; RingCentral takes at most ${MAX_FILTER_IDS} in one export`,
    );
  return out;
}

/** Chat ids from a comma-separated list (numeric). Throws on anything else and on too many. */
export function parseChatIds(value: unknown): string[] {
  const out: string[] = [];
  for (const raw of listOf(value)) {
    if (!/^\d{1,20}$/.test(raw)) throw new Error(`chat id "${raw.slice(0, 60)}" is not a numeric id`);
    if (!out.includes(raw)) out.push(raw);
  }
  if (out.length > MAX_FILTER_IDS)
    throw new Error(
      `${out.length} chat ids given; RingCentral takes at most ${MAX_FILTER_IDS} in one export`,
    );
  return out;
}

function listOf(value: unknown): string[] {
  const text = Array.isArray(value)
    ? value.join(',')
    : value === undefined || value === null
      ? ''
      : String(value);
  return text
    .split(/[,;\s]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The first read of a new export task comes after this, or after the poll interval when shorter. */
const FIRST_POLL_MS = 5000;

// ---------------------------------------------------------------------------------------------
// Errors

/** RingCentral refused because the account has no compliance export (403 FeatureNotAvailable). */
export function isExportNotEnabled(err: unknown): boolean {
  return err instanceof RcApiError && err.status === 403 && err.errorCode === 'FeatureNotAvailable';
}

/** The task ended without data (Failed or Expired). */
export class ExportTaskError extends Error {
  override name = 'ExportTaskError';
  constructor(
    readonly taskId: string,
    readonly status: string,
    origin: 'scheduled' | 'range',
  ) {
    super(
      `RingCentral's compliance export task ${taskId} ${
        status === 'Expired' ? 'expired before its data was downloaded' : `ended with status ${status}`
      }; ${origin === 'scheduled' ? 'the next run asks for these days again' : 'send the range again to retry it'}`,
    );
  }
}

/** RingCentral refuses another task while two are unfinished (this account's, from anyone). */
function isTooManyTasks(err: unknown): boolean {
  return (
    err instanceof RcApiError &&
    (err.status === 400 || err.status === 409) &&
    /no more than|simultaneous|in progress/i.test(err.message)
  );
}

// ---------------------------------------------------------------------------------------------
// Items

/** The task as it goes into an item's record: dataset links without query parameters. */
function recordOf(task: DataExportTask): DataExportTask {
  const strip = (uri: string) => {
    try {
      const u = new URL(uri);
      u.search = '';
      return u.toString();
    } catch {
      return uri;
    }
  };
  return {
    ...task,
    datasets: task.datasets?.map((d) => ({ ...d, uri: strip(d.uri) })),
  };
}

/** Last day of [from, to) as YYYY-MM-DD. */
function lastDay(piece: Piece): string {
  return dayOf(new Date(piece.to).getTime() - DAY_MS);
}

/** One item per dataset of a completed task. */
export function datasetItems(task: DataExportTask, piece: Piece, context: { rc: string }): ArchiveItem[] {
  const datasets = task.datasets ?? [];
  return datasets.map((dataset, i) => ({
    key: `TeamMessagingExport:${task.id}:${dataset.id}`,
    kind: 'TeamMessagingExport',
    accountId: '~',
    ownerName: 'Compliance Export',
    extensionNumber: task.id,
    createdAt: piece.from,
    fileName: `team-messaging_${dayOf(piece.from)}_${lastDay(piece)}${datasets.length > 1 ? `_${i + 1}` : ''}.zip`,
    contentType: 'application/zip',
    ...(typeof dataset.size === 'number' ? { size: dataset.size } : {}),
    content: { uri: dataset.uri },
    record: recordOf(task),
    rc: context.rc,
  }));
}

interface ZipChat {
  id: string;
  name?: string;
  type?: string;
  members?: Array<{ id?: string } | string>;
  [field: string]: unknown;
}
interface ZipUser {
  id: string;
  firstName?: string;
  lastName?: string;
  email?: string;
  [field: string]: unknown;
}
interface ZipPost {
  id?: string;
  groupId?: string;
  chatId?: string;
  creatorId?: string;
  creationTime?: string;
  [field: string]: unknown;
}

/**
 * The folders of RingCentral's export zip that the chat files are made of. The zip also holds
 * `request_info.json` and the folders events, tasks, notes and files; those and any folder
 * RingCentral adds later stay in the zip only.
 */
const UNPACKED_FOLDERS = ['chats', 'members', 'guests', 'posts'] as const;
type UnpackedFolder = (typeof UNPACKED_FOLDERS)[number];
/** `<folder>/<folder>_<n>.json`, the numbered files of at most 10,000 elements each. */
const NUMBERED_FILE = /^(chats|members|guests|posts)\/\1_(\d{1,9})\.json$/;

/** Why an export gave no chat file although its zip could be read. */
export type NoPostsReason = 'no-post-files' | 'no-readable-post';

/** What the chat items of one piece gather from its datasets before they become items. */
export class ChatDays {
  readonly chats = new Map<string, ZipChat>();
  readonly users = new Map<string, ZipUser>();
  /** `<chatId>\n<day>` -> posts, each post once. */
  private readonly days = new Map<
    string,
    { chatId: string; day: string; posts: ZipPost[]; ids: Set<string> }
  >();
  readonly problems: string[] = [];
  /** Zips read through (verified and unpacked), numbered posts files found, read, and the posts placed. */
  readonly counts = { zips: 0, postFiles: 0, postFilesRead: 0, postElements: 0, posts: 0 };
  /** A few entry names of the last zip without a posts file, to show what it held instead. */
  private seenInstead: string[] = [];

  constructor(private readonly piece: Piece) {}

  /**
   * Reads every numbered file of the folders chats, members, guests and posts of a verified zip,
   * one file at a time (each holds at most 10,000 elements). A file that is not JSON, or not a
   * list, is a problem of its own: the other files are still read.
   */
  async addZip(zip: ZipReader, label: string): Promise<void> {
    const files = zip.entries
      .map((entry) => ({ entry, m: NUMBERED_FILE.exec(entry.name) }))
      .filter((f): f is { entry: ZipEntry; m: RegExpExecArray } => f.m !== null)
      .map(({ entry, m }) => ({ entry, folder: m[1] as UnpackedFolder, n: Number(m[2]) }))
      // Chats and people first, then posts, each folder in its files' numeric order.
      .sort((a, b) =>
        a.folder === b.folder
          ? a.n - b.n
          : UNPACKED_FOLDERS.indexOf(a.folder) - UNPACKED_FOLDERS.indexOf(b.folder),
      );
    const postFiles = files.filter((f) => f.folder === 'posts').length;
    if (!postFiles)
      this.seenInstead = zip.entries
        .filter((e) => !e.isDirectory)
        .slice(0, 5)
        .map((e) => e.name.slice(0, 100));
    for (const { entry, folder } of files) {
      let parsed: unknown;
      try {
        // A byte-order mark is no reason to lose a file.
        parsed = JSON.parse((await zip.read(entry)).toString('utf8').replace(/^\uFEFF/, ''));
      } catch (err) {
        if (err instanceof ZipError) throw err;
        this.problems.push(`${label}: ${entry.name} is not valid JSON; what it holds is in the zip only`);
        continue;
      }
      const elements = listIn(parsed, folder);
      if (!elements) {
        this.problems.push(
          `${label}: ${entry.name} holds no list of ${folder}; what it holds is in the zip only`,
        );
        continue;
      }
      if (folder === 'posts') {
        this.counts.postFilesRead++;
        this.addPosts(elements, entry.name, label);
        continue;
      }
      const into: Map<string, ZipChat | ZipUser> = folder === 'chats' ? this.chats : this.users;
      for (const element of elements)
        if (element && typeof element === 'object' && 'id' in element)
          into.set(String((element as ZipUser).id), element as ZipUser);
    }
    // Counted once the zip is read through: a zip that fails half-way is reported as unreadable.
    this.counts.zips++;
    this.counts.postFiles += postFiles;
  }

  /** Why nothing could be unpacked although a zip was read; undefined when there is no such case. */
  noPosts(): { reason: NoPostsReason; detail: string } | undefined {
    const c = this.counts;
    if (c.zips === 0 || c.posts > 0) return undefined;
    if (c.postFiles === 0)
      return {
        reason: 'no-post-files',
        detail: this.seenInstead.length ? this.seenInstead.join(', ') : 'an empty zip',
      };
    // Every posts file read, each an empty list: the days had no posts, which is no error.
    if (c.postFilesRead === c.postFiles && c.postElements === 0) return undefined;
    return {
      reason: 'no-readable-post',
      detail: `${c.postFilesRead} of ${c.postFiles} posts file(s) read, ${c.postElements} element(s) in them`,
    };
  }

  private addPosts(elements: unknown[], file: string, label: string): void {
    const from = this.piece.from.slice(0, 10);
    const to = this.piece.to.slice(0, 10);
    let unplaced = 0;
    this.counts.postElements += elements.length;
    for (const element of elements) {
      const post = element && typeof element === 'object' ? (element as ZipPost) : undefined;
      const chat = post?.groupId ?? post?.chatId;
      const at = Date.parse(String(post?.creationTime ?? ''));
      if (!post || chat === undefined || chat === null || String(chat) === '' || Number.isNaN(at)) {
        unplaced++;
        continue;
      }
      this.counts.posts++;
      const chatId = String(chat);
      const day = dayOf(at);
      // A post on the boundary belongs to the next piece's day (its export has it too).
      if (day < from || day >= to) continue;
      const key = `${chatId}\n${day}`;
      let bucket = this.days.get(key);
      if (!bucket) {
        bucket = { chatId, day, posts: [], ids: new Set() };
        this.days.set(key, bucket);
      }
      const id = post.id === undefined ? undefined : String(post.id);
      if (id !== undefined && bucket.ids.has(id)) continue;
      if (id !== undefined) bucket.ids.add(id);
      bucket.posts.push(post);
    }
    if (unplaced)
      this.problems.push(
        `${label}: ${unplaced} post(s) in ${file} have no chat id (groupId) or no creation time; they are in the zip only`,
      );
  }

  /** One JSON item per chat per day, ordered by day then chat; each day's posts in time order. */
  items(task: DataExportTask, context: { rc: string }): ArchiveItem[] {
    const buckets = [...this.days.values()].sort((a, b) =>
      a.day === b.day ? a.chatId.localeCompare(b.chatId) : a.day < b.day ? -1 : 1,
    );
    return buckets.map(({ chatId, day, posts: unordered }) => {
      // A chat's posts can come from several numbered files; equal times keep the zip's order.
      const posts = [...unordered].sort(
        (a, b) => Date.parse(String(a.creationTime)) - Date.parse(String(b.creationTime)),
      );
      const chat: ZipChat = this.chats.get(chatId) ?? { id: chatId };
      const name = this.chatName(chat);
      const creators = [...new Set(posts.map((p) => p.creatorId).filter((id) => id !== undefined))].map(
        String,
      );
      const users = creators.map((id) => this.users.get(id) ?? { id });
      return {
        key: `TeamMessagingExport:chat:${chatId}:${day}`,
        kind: 'TeamMessagingExport',
        accountId: '~',
        ownerName: name,
        extensionNumber: chatId,
        createdAt: `${day}T00:00:00.000Z`,
        fileName: `${name}_${day}.json`,
        contentType: 'application/json',
        content: { json: { chat, day, users, posts } },
        record: {
          task: { id: task.id, timeFrom: this.piece.from, timeTo: this.piece.to },
          chat,
          day,
          posts: posts.length,
        },
        rc: context.rc,
      } satisfies ArchiveItem;
    });
  }

  /** The chat's name; for direct and group chats without one, their members' names. */
  private chatName(chat: ZipChat): string {
    if (typeof chat.name === 'string' && chat.name.trim()) return chat.name.trim();
    const names = (chat.members ?? [])
      .map((m) => (typeof m === 'string' ? m : m?.id))
      .filter((id): id is string => id !== undefined)
      .map((id) => {
        const u = this.users.get(String(id));
        return [u?.firstName, u?.lastName].filter(Boolean).join(' ').trim();
      })
      .filter(Boolean);
    if (names.length) return names.slice(0, 4).join(', ') + (names.length > 4 ? ' …' : '');
    return chat.id;
  }
}

/** The elements of a numbered file: a JSON list, or a list under `records` or the folder's name. */
function listIn(value: unknown, folder: string): unknown[] | undefined {
  if (Array.isArray(value)) return value;
  if (value && typeof value === 'object') {
    for (const field of ['records', folder]) {
      const inner = (value as Record<string, unknown>)[field];
      if (Array.isArray(inner)) return inner;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Download

/** Streams a dataset to a file; returns its size and SHA-256. */
export async function downloadTo(
  client: ExportClient,
  uri: string,
  file: string,
  signal?: AbortSignal,
): Promise<{ bytes: number; sha256: string }> {
  const response = await client.openContent(uri, { signal, group: 'Heavy' });
  const hash = createHash('sha256');
  let bytes = 0;
  const count = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      bytes += chunk.length;
      callback(null, chunk);
    },
  });
  await pipeline(response.body, count, createWriteStream(file), signal ? { signal } : {});
  return { bytes, sha256: hash.digest('hex') };
}

// ---------------------------------------------------------------------------------------------
// The run

export interface ExportProgress {
  /** 1-based. */
  piece: number;
  pieces: number;
  from: string;
  to: string;
  phase: 'requesting' | 'slot' | 'waiting' | 'downloading' | 'unpacking' | 'recorded';
  taskId?: string;
  /** The task's status as RingCentral last said. */
  status?: string;
  /** Reads of the task so far. */
  polls?: number;
  /** New items of this piece (phase recorded). */
  newItems?: number;
}

export interface ComplianceRunOptions {
  client: ExportClient;
  ledger: LedgerApi;
  /** Id of the source node: its cursor and its Pending items. */
  source: string;
  rc: string;
  /** A first regular run exports this many whole days before today. */
  initialDays: number;
  contacts?: ExportContact[];
  chatIds?: string[];
  /** Also one JSON item per chat per day, read from the zip. */
  unpack?: boolean;
  pollMs: number;
  /**
   * An explicit range: exports it and leaves exportedTo where it is. 'resume': only finishes the
   * task and range the cursor says are unfinished.
   */
  range?: { dateFrom: string; dateTo?: string } | 'resume';
  now?: Date;
  signal?: AbortSignal;
  /** Where the zip is downloaded to for unpacking; default the system's temp folder. */
  tmpDir?: string;
  /** Tries to create a task while RingCentral has two unfinished ones (waiting pollMs between). Default 20. */
  maxSlotWaits?: number;
  /** Called with each piece's new items, after they are Pending in the ledger. */
  onItems(items: ArchiveItem[]): void;
  onProgress?(progress: ExportProgress): void;
  log?(message: string): void;
}

export interface ComplianceRunResult {
  pieces: number;
  tasks: string[];
  newItems: number;
  /** The regular range exported, if any. */
  exported?: Piece;
  /** Things that went wrong without stopping the run (e.g. a zip that cannot be unpacked). */
  problems: string[];
  /** Pieces whose zip was read but held no post to unpack: the unpack found nothing it knows. */
  noPosts: Array<{ taskId: string; from: string; to: string; reason: NoPostsReason; detail: string }>;
}

interface Job extends Piece {
  origin: 'scheduled' | 'range';
  /** The explicit range the job is a piece of (origin range). */
  range?: { dateFrom: string; dateTo: string };
  /** A task already asked for (resume). */
  taskId?: string;
}

export async function runComplianceExport(options: ComplianceRunOptions): Promise<ComplianceRunResult> {
  const now = options.now ?? new Date();
  const today = startOfUtcDay(now).toISOString();
  const cursor = complianceCursorName(options.source);
  let state = parseState(options.ledger.getCursor(cursor));
  const save = (next: ComplianceState) => {
    state = next;
    options.ledger.setCursor(cursor, JSON.stringify(state));
  };
  const result: ComplianceRunResult = { pieces: 0, tasks: [], newItems: 0, problems: [], noPosts: [] };

  // The requested range first: its errors come before anything is asked of RingCentral.
  const request = options.range;
  const asked = request && request !== 'resume' ? alignRange(request, now) : undefined;

  // The plan: the task in progress, the rest of an unfinished range, then what is asked.
  const jobs: Job[] = [];
  const unfinished = state.range ? { dateFrom: state.range.dateFrom, dateTo: state.range.dateTo } : undefined;
  if (state.task) {
    const { id, origin, timeFrom, timeTo } = state.task;
    jobs.push({
      origin,
      from: timeFrom,
      to: timeTo,
      taskId: id,
      range: origin === 'range' ? unfinished : undefined,
    });
  }
  if (state.range && unfinished) {
    const resumeAt = state.task?.origin === 'range' ? state.task.timeTo : state.range.doneTo;
    for (const p of splitRange(resumeAt, state.range.dateTo))
      jobs.push({ origin: 'range', range: unfinished, ...p });
  }
  if (request === undefined) {
    const startAt =
      (state.task?.origin === 'scheduled' ? state.task.timeTo : state.exportedTo) ??
      new Date(Date.parse(today) - Math.max(0, Math.floor(options.initialDays)) * DAY_MS).toISOString();
    const start = startOfUtcDay(startAt).toISOString();
    if (!state.exportedTo && !state.task) save({ ...state, exportedTo: start });
    if (start < today) {
      result.exported = { from: start, to: today };
      for (const p of splitRange(start, today)) jobs.push({ origin: 'scheduled', ...p });
    }
  } else if (asked && !(unfinished?.dateFrom === asked.from && unfinished.dateTo === asked.to)) {
    const range = { dateFrom: asked.from, dateTo: asked.to };
    for (const p of splitRange(asked.from, asked.to)) jobs.push({ origin: 'range', range, ...p });
  }

  const pieces = jobs.length;
  for (let i = 0; i < jobs.length; i++) {
    const job = jobs[i];
    const progress = (p: Omit<ExportProgress, 'piece' | 'pieces' | 'from' | 'to'>) =>
      options.onProgress?.({ piece: i + 1, pieces, from: job.from, to: job.to, ...p });
    const task = await completedTask(options, job, {
      progress,
      onCreated: (id) => {
        const next: ComplianceState = {
          ...state,
          task: { id, timeFrom: job.from, timeTo: job.to, origin: job.origin },
        };
        if (
          job.range &&
          (state.range?.dateFrom !== job.range.dateFrom || state.range.dateTo !== job.range.dateTo)
        )
          next.range = { ...job.range, doneTo: job.from };
        save(next);
      },
      onTerminal: () => {
        // A failed task is not polled again; a failed range is not resumed (the error says so).
        const next = { ...state };
        delete next.task;
        if (job.origin === 'range') delete next.range;
        save(next);
      },
    });
    result.tasks.push(task.id);
    const items = datasetItems(task, job, { rc: options.rc });
    if (options.unpack && task.datasets?.length) {
      const chats = await unpackTask(options, task, job, progress);
      items.push(...chats.items(task, { rc: options.rc }));
      result.problems.push(...chats.problems);
      const none = chats.noPosts();
      if (none) result.noPosts.push({ taskId: task.id, from: job.from, to: job.to, ...none });
    }
    // The items and the cursor in one transaction: a crash never loses one and never asks twice.
    const next: ComplianceState = { ...state };
    delete next.task;
    if (job.origin === 'scheduled') {
      next.exportedTo = job.to;
    } else if (next.range) {
      next.range = { ...next.range, doneTo: job.to };
      if (job.to >= next.range.dateTo) delete next.range;
    }
    const fresh = options.ledger.recordFound(items, options.source, {
      name: cursor,
      value: JSON.stringify(next),
    });
    state = next;
    result.pieces++;
    result.newItems += fresh.length;
    progress({ phase: 'recorded', taskId: task.id, status: task.status, newItems: fresh.length });
    if (fresh.length) options.onItems(fresh);
  }
  return result;
}

/** Asks for the job's task (or takes the stored one) and polls it until it is Completed. */
async function completedTask(
  options: ComplianceRunOptions,
  job: Job,
  hooks: {
    progress(p: Omit<ExportProgress, 'piece' | 'pieces' | 'from' | 'to'>): void;
    onCreated(id: string): void;
    onTerminal(): void;
  },
): Promise<DataExportTask> {
  const { client, signal } = options;
  let taskId = job.taskId;
  let task: DataExportTask | undefined;
  let polls = 0;
  const create = async (): Promise<DataExportTask> => {
    hooks.progress({ phase: 'requesting' });
    const body: Record<string, unknown> = { timeFrom: job.from, timeTo: job.to };
    if (options.contacts?.length) body.contacts = options.contacts;
    if (options.chatIds?.length) body.chatIds = options.chatIds;
    for (let waits = 0; ; waits++) {
      try {
        const created = await client.request<DataExportTask>('POST', EXPORT_PATH, { body, signal });
        if (!created?.id) throw new RcApiError('RingCentral answered the export request without a task id');
        created.id = String(created.id);
        hooks.onCreated(created.id);
        options.log?.(`compliance export task ${created.id} asked for ${job.from} – ${job.to}`);
        return created;
      } catch (err) {
        if (!isTooManyTasks(err) || waits >= (options.maxSlotWaits ?? 20)) throw err;
        hooks.progress({ phase: 'slot' });
        await sleep(options.pollMs, undefined, { signal });
      }
    }
  };
  if (!taskId) {
    task = await create();
    taskId = task.id;
  }
  for (;;) {
    if (task?.status === 'Completed') return task;
    if (task && (task.status === 'Failed' || task.status === 'Expired')) {
      hooks.onTerminal();
      throw new ExportTaskError(taskId, task.status, job.origin);
    }
    hooks.progress({ phase: 'waiting', taskId, status: task?.status ?? 'InProgress', polls });
    // A stored task is read at once; a new one first after a few seconds (a small export is
    // ready by then), then at the interval.
    if (task)
      await sleep(polls === 0 ? Math.min(options.pollMs, FIRST_POLL_MS) : options.pollMs, undefined, {
        signal,
      });
    try {
      task = await client.request<DataExportTask>('GET', `${EXPORT_PATH}/${encodeURIComponent(taskId)}`, {
        signal,
      });
      polls++;
    } catch (err) {
      if (err instanceof RcApiError && err.status === 404 && job.taskId && polls === 0) {
        // The stored task is gone at RingCentral (expired, deleted): ask for the piece again.
        options.log?.(
          `compliance export task ${taskId} is gone at RingCentral; asking for ${job.from} – ${job.to} again`,
        );
        task = await create();
        taskId = task.id;
        continue;
      }
      throw err;
    }
    if (!task?.id) throw new RcApiError(`RingCentral answered the export task ${taskId} without its id`);
    task.id = String(task.id);
  }
}

/** Downloads each dataset of the task to a temp file, verifies the zip, and reads its chats. */
async function unpackTask(
  options: ComplianceRunOptions,
  task: DataExportTask,
  piece: Piece,
  progress: (p: Omit<ExportProgress, 'piece' | 'pieces' | 'from' | 'to'>) => void,
): Promise<ChatDays> {
  const chats = new ChatDays(piece);
  const dir = await mkdtemp(path.join(options.tmpDir ?? os.tmpdir(), 'rc-compliance-export-'));
  try {
    for (const dataset of task.datasets ?? []) {
      const file = path.join(dir, 'dataset.zip');
      const label = `dataset ${dataset.id} of export task ${task.id}`;
      progress({ phase: 'downloading', taskId: task.id, status: task.status });
      await downloadTo(options.client, dataset.uri, file, options.signal);
      progress({ phase: 'unpacking', taskId: task.id, status: task.status });
      let zip: ZipReader | undefined;
      try {
        zip = await ZipReader.open(file, { label });
        await zip.verify();
        await chats.addZip(zip, label);
      } catch (err) {
        // The download was whole (its length checked): the zip itself is bad. The dataset item
        // still archives it as it is; the run reports the problem.
        if (!(err instanceof ZipError)) throw err;
        chats.problems.push(`${err.message}; the zip is archived as it is, not unpacked`);
      } finally {
        await zip?.close();
        await rm(file, { force: true });
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return chats;
}
