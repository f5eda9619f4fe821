import { createHash, createPrivateKey, type KeyObject } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { OAuthProvider, TokenKeeper } from '../oauth/types';
import { CheckSteps, type CheckReport } from './check';
import { ChunkReader } from './chunks';
import {
  GrantTokens,
  TokenEndpoint,
  assertSameOrigin,
  authorizeUrl,
  credentialsRefused,
  endpointBase,
  isAbort,
  parseJson,
  retryAfterOf,
  signedJwt,
  withBearer,
  type BearerTokens,
} from './http';
import { safeRelativePath } from './paths';
import {
  conflictError,
  describeFailure,
  GuardedStorage,
  hashWhole,
  probeFile,
  receipt,
  storedDifferentBytes,
} from './put';
import { ProviderError, withRetry, type RetryOptions } from './retry';
import type { PutOptions, PutResult, StorageAdapter, CheckOptions } from './types';

/**
 * Google Drive storage: every upload is a resumable upload sent chunk by chunk, each file is
 * tagged with appProperties (a hash of its relative path, and the item key) so that a retried put
 * finds it again although Drive allows several files of the same name in a folder.
 */

const LABEL = 'Google Drive';
const API_ROOT = 'https://www.googleapis.com/';
const TOKEN_URL = 'https://oauth2.googleapis.com/token';
const AUTHORIZE_URL = 'https://accounts.google.com/o/oauth2/v2/auth';
const SCOPE = 'https://www.googleapis.com/auth/drive.file';
/** Service accounts only see shared drives they are members of; drive.file would hide the files. */
const SA_SCOPE = 'https://www.googleapis.com/auth/drive';
const FOLDER_MIME = 'application/vnd.google-apps.folder';
const QUANTUM = 256 * 1024;
const DEFAULT_CHUNK = 4 * 1024 * 1024;
const PATH_TAG = 'rcArchiverPath';
const KEY_TAG = 'rcArchiverKey';
/** Drive limits an appProperties entry to 124 bytes, key and value together (UTF-8). */
const MAX_PROPERTY_BYTES = 124;
const FILE_FIELDS = 'id,name,size,md5Checksum,sha256Checksum,appProperties,trashed';

export type DriveAuth = { kind: 'oauth'; keeper: TokenKeeper } | { kind: 'serviceAccount'; key: string };

export interface DriveStorageOptions {
  auth: DriveAuth;
  /** A shared drive to write to (needed for a service account, which has no storage of its own). */
  driveId?: string;
  /** The folder everything goes under; wins over rootPath. */
  rootFolderId?: string;
  /** Folder path under My Drive (or the shared drive), created when missing. Default: the top. */
  rootPath?: string;
  /** Bytes per upload request: a multiple of 256 KiB (default 4 MiB: less memory than 8 MiB at the same speed, see BENCHMARKS.md). */
  chunkSize?: number;
  /** Base URL standing in for every Google host (tests, a proxy); empty means the real hosts. */
  endpoint?: string;
  retry?: Pick<RetryOptions, 'attempts' | 'baseDelayMs' | 'maxDelayMs' | 'onRetry'>;
}

interface Hosts {
  rootUrl: string;
  token: TokenEndpoint;
  authorizeUrl: string;
}

function hostsFor(endpoint: string | undefined): Hosts {
  const base = endpointBase(endpoint);
  const token = (url: string) =>
    new TokenEndpoint(url, { label: LABEL, refused: authError, failure: googleError, classify });
  if (!base) return { rootUrl: API_ROOT, token: token(TOKEN_URL), authorizeUrl: AUTHORIZE_URL };
  return { rootUrl: base + '/', token: token(base + '/token'), authorizeUrl: base + '/o/oauth2/v2/auth' };
}

// ---------------------------------------------------------------------------------------------
// Errors

interface GoogleErrorBody {
  error?:
    | string
    | {
        code?: number;
        message?: string;
        status?: string;
        errors?: Array<{ reason?: string; message?: string }>;
      };
  error_description?: string;
}

const RATE_REASONS = new Set(['userRateLimitExceeded', 'rateLimitExceeded']);

/** A ProviderError from a Google answer (API or token endpoint); never includes request headers. */
function googleError(status: number | undefined, body: unknown, headers: unknown): ProviderError {
  const b = (body && typeof body === 'object' ? body : {}) as GoogleErrorBody;
  let reason: string | undefined;
  let message: string | undefined;
  if (typeof b.error === 'string') {
    reason = b.error;
    message = b.error_description ? `${b.error}: ${b.error_description}` : b.error;
  } else if (b.error) {
    reason = b.error.errors?.[0]?.reason ?? b.error.status;
    message = b.error.message ?? reason;
  }
  const retryAfterMs = retryAfterOf(headers);
  const rateLimited = status === 403 && reason !== undefined && RATE_REASONS.has(reason);
  const text = `${status ?? 'no status'}${message ? ` ${message}` : ''}`;
  return new ProviderError(text, {
    status,
    code: reason,
    retryAfterMs,
    retryable: rateLimited || undefined,
    // A full Drive refuses every file until space is freed: an outage, not the item's fault.
    target: (reason !== undefined && QUOTA_REASONS.has(reason)) || undefined,
  });
}

const QUOTA_REASONS = new Set(['storageQuotaExceeded', 'quotaExceeded', 'teamDriveFileLimitExceeded']);

/** Maps what a request threw to a ProviderError, leaving aborts alone. */
function classify(err: unknown): unknown {
  if (err instanceof ProviderError) return err;
  const e = err as {
    name?: string;
    status?: number;
    response?: { status?: number; data?: unknown; headers?: unknown };
    message?: string;
    code?: unknown;
  };
  if (isAbort(err)) return err;
  const status = e?.response?.status ?? (typeof e?.status === 'number' ? e.status : undefined);
  if (status !== undefined) return googleError(status, e.response?.data, e.response?.headers);
  return err;
}

function authError(reason: string): ProviderError {
  return credentialsRefused(LABEL, reason);
}

async function readJson(res: Response): Promise<unknown> {
  return parseJson(await res.text(), (text) => ({ error: { message: text.slice(0, 200) } }));
}

// ---------------------------------------------------------------------------------------------
// Tokens

/** OAuth tokens from the keeper, refreshed by our own POST so every new set is saved first. */
function keeperTokens(keeper: TokenKeeper, token: TokenEndpoint): BearerTokens {
  const { clientId, clientSecret } = keeper.client;
  return token.keeperTokens(keeper, {
    client_id: clientId,
    ...(clientSecret ? { client_secret: clientSecret } : {}),
  });
}

/**
 * A service account's access token by the JWT bearer grant, the assertion signed with the key from
 * its JSON and posted to the token URL of the endpoint override when there is one.
 */
function serviceAccountTokens(keyJson: string, token: TokenEndpoint): BearerTokens {
  let key: { client_email?: string; private_key?: string; token_uri?: string };
  try {
    key = JSON.parse(keyJson) as typeof key;
  } catch {
    throw new Error(`${LABEL}: the service account key is not JSON`);
  }
  if (!key?.client_email || !key.private_key) {
    throw new Error(`${LABEL}: the service account key has no client_email or private_key`);
  }
  const { client_email: email, private_key: pem, token_uri: audience } = key;
  let signingKey: KeyObject | undefined;
  return new GrantTokens(token, () => {
    const now = Math.floor(Date.now() / 1000);
    let assertion: string;
    try {
      signingKey ??= createPrivateKey(pem);
      assertion = signedJwt(
        {},
        {
          iss: email,
          scope: SA_SCOPE,
          // The audience is Google's token URL even when the request goes to an override.
          aud: audience || TOKEN_URL,
          iat: now,
          exp: now + 3600,
        },
        signingKey,
      );
    } catch {
      throw new Error(
        `${LABEL}: the service account's private key cannot sign (is it the PEM from the JSON key?)`,
      );
    }
    return { grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion };
  });
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** Drive's query language: string literals in single quotes, `\` and `'` escaped with `\`. */
function quote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Cuts a string to at most `maxBytes` of UTF-8 without splitting a character. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let out = '';
  let used = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch);
    if (used + n > maxBytes) break;
    out += ch;
    used += n;
  }
  return out;
}

/** SHA-256 and MD5 of a whole stream, memory flat; for comparing with a file already there. */
async function hashBoth(
  body: Readable,
  options: PutOptions,
): Promise<{ sha256: string; md5: string; bytes: number }> {
  const md5 = createHash('md5');
  const whole = await hashWhole(body, options, (chunk) => md5.update(chunk));
  return { ...whole, md5: md5.digest('hex') };
}

/** The fields of a Drive file (API v3) that the adapter asks for and reads. */
interface DriveFile {
  id?: string;
  name?: string;
  mimeType?: string;
  /** Bytes, as a decimal string. */
  size?: string;
  md5Checksum?: string;
  sha256Checksum?: string;
  appProperties?: Record<string, string>;
  trashed?: boolean;
  capabilities?: { canAddChildren?: boolean };
}

/** What a resumable upload session is opened with; `replaceId` names a file whose content it replaces. */
interface UploadMeta {
  name: string;
  parent: string;
  appProperties: Record<string, string>;
  contentType: string;
  replaceId?: string;
}

/** Query parameters of a Drive API request; undefined ones are left out. */
type Query = Record<string, string | number | boolean | undefined>;

// ---------------------------------------------------------------------------------------------
// The adapter

export class DriveStorage extends GuardedStorage implements StorageAdapter {
  readonly provider = 'gdrive';
  readonly chunkSize: number;
  private readonly hosts: Hosts;
  private readonly tokens: BearerTokens;
  private readonly driveId: string | undefined;
  private readonly rootFolderId: string | undefined;
  private readonly rootSegments: string[];
  private readonly retry: DriveStorageOptions['retry'];
  /** Folder ids by path ('' is the root), as promises so concurrent puts create a folder once. */
  private readonly folders = new Map<string, Promise<string>>();

  constructor(options: DriveStorageOptions) {
    super();
    if (!options?.auth) throw new Error(`${LABEL}: no credentials configured`);
    const endpoint =
      options.endpoint || (options.auth.kind === 'oauth' ? options.auth.keeper.client.endpoint : undefined);
    this.hosts = hostsFor(endpoint);
    if (options.auth.kind === 'oauth') {
      if (!options.auth.keeper?.client?.clientId) throw new Error(`${LABEL}: no OAuth client id configured`);
      this.tokens = keeperTokens(options.auth.keeper, this.hosts.token);
    } else {
      this.tokens = serviceAccountTokens(options.auth.key, this.hosts.token);
    }
    this.chunkSize = options.chunkSize ?? DEFAULT_CHUNK;
    if (!Number.isSafeInteger(this.chunkSize) || this.chunkSize <= 0 || this.chunkSize % QUANTUM !== 0) {
      throw new Error(
        `${LABEL}: chunk size must be a positive multiple of 256 KiB, got ${options.chunkSize}`,
      );
    }
    this.driveId = options.driveId || undefined;
    this.rootFolderId = options.rootFolderId || undefined;
    this.rootSegments =
      this.rootFolderId || !options.rootPath ? [] : safeRelativePath(options.rootPath).split('/');
    this.retry = options.retry;
  }

  // -- public API ------------------------------------------------------------------------------

  async check(options: CheckOptions = {}): Promise<CheckReport> {
    const steps = new CheckSteps(this.provider);
    try {
      await steps.request('login', () =>
        this.call('GET', 'about', { fields: 'user(emailAddress)' }, undefined),
      );
      const root = await steps.request('folder', async () => {
        const id = (await this.folderFor([], true, undefined))!;
        const folder = await this.call<DriveFile>(
          'GET',
          `files/${encodeURIComponent(id)}`,
          { supportsAllDrives: true, fields: 'id,mimeType,trashed,capabilities(canAddChildren)' },
          undefined,
        );
        if (folder.mimeType !== FOLDER_MIME) throw new Error('the root is not a folder');
        if (folder.trashed) throw new Error('the root folder is in the trash');
        if (folder.capabilities?.canAddChildren === false)
          throw new Error('no permission to add files to the root folder');
        return id;
      });
      if (!options.leaveNoTrace) {
        const probe = probeFile();
        await steps.request('write', () => this.store(probe.name, probe.body(), probe.options));
        await steps.request('remove', async () => {
          const files = await this.findTagged(root, sha256Hex(probe.name), undefined);
          if (files.length === 0)
            throw new Error(`the probe file ${probe.name} is not listed in the root folder`);
          for (const file of files) {
            await this.call(
              'DELETE',
              `files/${encodeURIComponent(file.id!)}`,
              { supportsAllDrives: true },
              undefined,
            );
          }
        });
      } else steps.skipped('write', 'leaveNoTrace');
      return steps.report();
    } catch (err) {
      throw steps.fail(this.describe(err, 'check failed'));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.folders.clear();
  }

  // -- storing ---------------------------------------------------------------------------------

  protected async look(rel: string): Promise<{ bytes: number } | undefined> {
    const segs = rel.split('/');
    const parent = await this.folderFor(segs.slice(0, -1), false, undefined);
    if (!parent) return undefined;
    const [file] = await this.findTagged(parent, sha256Hex(rel), undefined);
    return file ? { bytes: Number(file.size ?? 0) } : undefined;
  }

  protected async store(rel: string, body: Readable, options: PutOptions): Promise<PutResult> {
    const { signal } = options;
    const segs = rel.split('/');
    const name = segs[segs.length - 1];
    const parent = (await this.folderFor(segs.slice(0, -1), true, signal))!;
    const pathTag = sha256Hex(rel);
    const existing = await this.findTagged(parent, pathTag, signal);

    if (existing.length > 0 && options.role !== 'sidecar') {
      const ours = await hashBoth(body, options);
      const same = existing.find(
        (f) =>
          Number(f.size) === ours.bytes &&
          (f.sha256Checksum ? f.sha256Checksum === ours.sha256 : f.md5Checksum === ours.md5),
      );
      if (same) return receipt(rel, ours, same.sha256Checksum ?? same.md5Checksum ?? undefined, true);
      throw conflictError(rel);
    }

    const appProperties: Record<string, string> = { [PATH_TAG]: pathTag };
    if (options.item?.key) {
      appProperties[KEY_TAG] = truncateUtf8(
        options.item.key,
        MAX_PROPERTY_BYTES - Buffer.byteLength(KEY_TAG),
      );
    }
    const contentType = options.contentType || 'application/octet-stream';
    const replaceId = existing[0]?.id ?? undefined;
    const sent = await this.upload(body, { name, parent, appProperties, contentType, replaceId }, options);

    const stored = await this.call<DriveFile>(
      'GET',
      `files/${encodeURIComponent(sent.id)}`,
      { supportsAllDrives: true, fields: FILE_FIELDS },
      signal,
    );
    const sizeOk = Number(stored.size) === sent.bytes;
    const hashOk = stored.sha256Checksum
      ? stored.sha256Checksum === sent.sha256
      : stored.md5Checksum
        ? stored.md5Checksum === sent.md5
        : false;
    if (!sizeOk || !hashOk) {
      // Nothing may look archived: the file goes, and the caller tries the item again later.
      await this.call(
        'DELETE',
        `files/${encodeURIComponent(sent.id)}`,
        { supportsAllDrives: true },
        undefined,
      ).catch(() => undefined);
      throw storedDifferentBytes(
        LABEL,
        `sent ${sent.bytes} bytes, SHA-256 ${sent.sha256}; stored ${stored.size ?? '?'} bytes, ` +
          `SHA-256 ${stored.sha256Checksum ?? '?'}, MD5 ${stored.md5Checksum ?? '?'}); the file was removed`,
      );
    }
    return receipt(rel, sent, stored.sha256Checksum ?? stored.md5Checksum ?? undefined, false);
  }

  /**
   * One resumable upload session: POST (or PATCH, to replace a file's content) the metadata, then
   * PUT the chunks with Content-Range. Only the current chunk is in memory; after a failed PUT
   * Drive is asked how much it has (308 + Range) and the rest of that chunk is sent again.
   */
  private async upload(
    body: Readable,
    meta: UploadMeta,
    options: PutOptions,
  ): Promise<{ id: string; bytes: number; sha256: string; md5: string }> {
    const { signal, expectedBytes } = options;
    const reader = new ChunkReader(body, this.chunkSize, expectedBytes);
    try {
      const md5 = createHash('md5');
      let chunk = (await reader.next())!;
      let last = await reader.isLast();
      const knownTotal = last ? chunk.length : expectedBytes;
      const session = await this.startSession(meta, knownTotal, signal);
      let offset = 0;
      for (;;) {
        md5.update(chunk);
        const total = last
          ? String(offset + chunk.length)
          : knownTotal !== undefined
            ? String(knownTotal)
            : '*';
        const file = await this.sendChunk(session, chunk, offset, total, last, signal);
        if (last) {
          if (!file?.id) throw new ProviderError(`${LABEL}: the upload finished without a file id`);
          return { id: file.id, bytes: reader.bytes, sha256: reader.sha256, md5: md5.digest('hex') };
        }
        offset += chunk.length;
        chunk = (await reader.next())!;
        last = await reader.isLast();
      }
    } catch (err) {
      reader.destroy();
      throw err;
    }
  }

  private async startSession(
    meta: UploadMeta,
    total: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<string> {
    const url = new URL(
      meta.replaceId
        ? `upload/drive/v3/files/${encodeURIComponent(meta.replaceId)}`
        : 'upload/drive/v3/files',
      this.hosts.rootUrl,
    );
    url.searchParams.set('uploadType', 'resumable');
    url.searchParams.set('supportsAllDrives', 'true');
    url.searchParams.set('fields', 'id');
    const resource = meta.replaceId
      ? { appProperties: meta.appProperties }
      : {
          name: meta.name,
          parents: [meta.parent],
          appProperties: meta.appProperties,
          mimeType: meta.contentType,
        };
    const headers: Record<string, string> = {
      'content-type': 'application/json; charset=UTF-8',
      'x-upload-content-type': meta.contentType,
    };
    if (total !== undefined) headers['x-upload-content-length'] = String(total);
    const res = await this.retrying(
      () => this.send(meta.replaceId ? 'PATCH' : 'POST', url.href, headers, JSON.stringify(resource), signal),
      signal,
    );
    const location = res.headers.get('location');
    await res.body?.cancel();
    if (!location) throw new ProviderError(`${LABEL}: the upload session has no Location`);
    return location;
  }

  /** Sends one chunk; returns the file on the last one. Resumes from Drive's Range after an error. */
  private async sendChunk(
    session: string,
    chunk: Buffer,
    offset: number,
    total: string,
    last: boolean,
    signal: AbortSignal | undefined,
  ): Promise<DriveFile | undefined> {
    const end = offset + chunk.length;
    let confirmed = offset;
    let askFirst = false;
    return this.retrying(async () => {
      if (askFirst) {
        const status = await this.send(
          'PUT',
          session,
          { 'content-range': `bytes */${total}` },
          undefined,
          signal,
          [308],
        );
        if (status.status === 200 || status.status === 201) return (await readJson(status)) as DriveFile;
        await status.body?.cancel();
        confirmed = receivedFrom(status.headers.get('range'));
        if (confirmed < offset || confirmed > end) {
          throw new ProviderError(
            `${LABEL}: the upload session holds ${confirmed} bytes, outside the chunk ${offset}-${end}`,
            { retryable: false, code: 'resume_mismatch' },
          );
        }
      }
      askFirst = true;
      for (;;) {
        if (confirmed === end && !last) return undefined;
        const piece = chunk.subarray(confirmed - offset);
        const range = piece.length === 0 ? `bytes */${total}` : `bytes ${confirmed}-${end - 1}/${total}`;
        const res = await this.send('PUT', session, { 'content-range': range }, piece, signal, [308]);
        if (res.status === 308) {
          await res.body?.cancel();
          const got = receivedFrom(res.headers.get('range'));
          if (got <= confirmed && piece.length > 0 && got < end) {
            throw new ProviderError(`${LABEL}: the upload made no progress`, { retryable: true });
          }
          confirmed = got;
          if (last && confirmed === end) {
            throw new ProviderError(`${LABEL}: the last chunk was taken but the upload did not finish`, {
              retryable: true,
            });
          }
          continue;
        }
        return (await readJson(res)) as DriveFile;
      }
    }, signal);
  }

  // -- folders and lookups ---------------------------------------------------------------------

  /** Id of the folder at `segs` under the root (created when `create`), or undefined. */
  private async folderFor(
    segs: string[],
    create: boolean,
    signal: AbortSignal | undefined,
  ): Promise<string | undefined> {
    const all = [...this.rootSegments, ...segs];
    let id = this.rootFolderId ?? this.driveId ?? 'root';
    for (let i = 0; i < all.length; i++) {
      const key = all.slice(0, i + 1).join('/');
      let known = this.folders.get(key);
      if (!known) {
        const parent = id;
        const name = all[i];
        const found = await this.findFolder(parent, name, signal);
        if (found) known = Promise.resolve(found);
        else if (!create) return undefined;
        else if (!(known = this.folders.get(key))) {
          known = this.createFolder(parent, name, signal);
          // A failed creation is forgotten so that the next put tries again.
          known.catch(() => this.folders.delete(key));
        }
        this.folders.set(key, known);
      }
      id = await known;
    }
    return id;
  }

  private async findFolder(
    parent: string,
    name: string,
    signal: AbortSignal | undefined,
  ): Promise<string | undefined> {
    const files = await this.list(
      `${quote(parent)} in parents and name = ${quote(name)} and mimeType = ${quote(FOLDER_MIME)} and trashed = false`,
      'files(id)',
      signal,
    );
    return files[0]?.id ?? undefined;
  }

  private async createFolder(parent: string, name: string, signal: AbortSignal | undefined): Promise<string> {
    const created = await this.call<DriveFile>(
      'POST',
      'files',
      { supportsAllDrives: true, fields: 'id' },
      signal,
      { name, parents: [parent], mimeType: FOLDER_MIME },
    );
    if (!created?.id) throw new ProviderError(`${LABEL}: the new folder ${name} came back without an id`);
    return created.id;
  }

  /** Files in `parent` tagged with the path hash; Drive allows duplicate names, so the tag decides. */
  private async findTagged(
    parent: string,
    pathTag: string,
    signal: AbortSignal | undefined,
  ): Promise<DriveFile[]> {
    return this.list(
      `appProperties has { key=${quote(PATH_TAG)} and value=${quote(pathTag)} } and ${quote(parent)} in parents and trashed = false`,
      `files(${FILE_FIELDS})`,
      signal,
    );
  }

  private async list(q: string, fields: string, signal: AbortSignal | undefined): Promise<DriveFile[]> {
    const out: DriveFile[] = [];
    let pageToken: string | undefined;
    do {
      const page = await this.call<{ files?: DriveFile[]; nextPageToken?: string }>(
        'GET',
        'files',
        {
          q,
          fields: `nextPageToken,${fields}`,
          pageSize: 100,
          pageToken,
          supportsAllDrives: true,
          includeItemsFromAllDrives: true,
          ...(this.driveId ? { corpora: 'drive', driveId: this.driveId } : { corpora: 'user' }),
        },
        signal,
      );
      out.push(...(page.files ?? []));
      pageToken = page.nextPageToken ?? undefined;
    } while (pageToken);
    return out;
  }

  // -- requests --------------------------------------------------------------------------------

  private retrying<T>(fn: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    return withRetry(fn, { ...this.retry, signal, classify });
  }

  /**
   * One Drive API (v3) request with JSON in and out, through `send` (our bearer token, a 401 gets
   * one new token), retried on 429/5xx and Drive's rate-limit 403s.
   */
  private call<T>(
    method: string,
    path: string,
    query: Query,
    signal: AbortSignal | undefined,
    json?: unknown,
  ): Promise<T> {
    return this.retrying(async () => {
      const res = await this.send(
        method,
        apiUrl(this.hosts, path, query),
        json === undefined ? { accept: 'application/json' } : { 'content-type': 'application/json' },
        json === undefined ? undefined : JSON.stringify(json),
        signal,
      );
      return (res.status === 204 ? undefined : await readJson(res)) as T;
    }, signal);
  }

  /** A request with our bearer token: once more after a 401 with a new token, then an auth error. */
  private async send(
    method: string,
    url: string,
    headers: Record<string, string>,
    body: Buffer | string | undefined,
    signal: AbortSignal | undefined,
    okStatuses: number[] = [],
  ): Promise<Response> {
    const target = new URL(url);
    // The token only goes to the host the API itself is on, whatever Location said.
    assertSameOrigin(LABEL, target, this.hosts.rootUrl);
    return withBearer(
      this.tokens,
      signal,
      async (token) => {
        const res = await fetch(target, {
          method,
          headers: { ...headers, authorization: `Bearer ${token}` },
          // A Buffer is a valid body for Node's fetch; the DOM typings only miss it. GET has none.
          body: method === 'GET' ? undefined : ((body ?? '') as unknown as string),
          signal,
          redirect: 'manual',
        });
        if ((res.status >= 200 && res.status < 300) || okStatuses.includes(res.status)) return res;
        throw googleError(res.status, await readJson(res), res.headers);
      },
      (err) =>
        err instanceof ProviderError && err.status === 401 ? (err.code ?? 'unauthorized') : undefined,
      authError,
    );
  }

  protected describe(err: unknown, what: string): Error {
    return describeFailure(LABEL, err, what);
  }
}

/** The URL of a Drive API (v3) path with its query. */
function apiUrl(hosts: Hosts, path: string, query: Query): string {
  const url = new URL(`drive/v3/${path}`, hosts.rootUrl);
  for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
  return url.href;
}

/** Bytes Drive holds per a 308's `Range: bytes=0-N` (none when the header is absent). */
function receivedFrom(range: string | null): number {
  const m = /bytes=0-(\d+)/.exec(range ?? '');
  return m ? Number(m[1]) + 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// OAuth (the editor's Connect flow)

export const driveOAuth: OAuthProvider = {
  id: 'gdrive',
  label: LABEL,
  // Google web apps take PKCE as well as the client secret.
  pkce: true,

  authorizeUrl(args) {
    return authorizeUrl(hostsFor(args.client.endpoint).authorizeUrl, args, {
      scope: SCOPE,
      // offline + consent: Google sends a refresh token on every connect, not only the first.
      access_type: 'offline',
      prompt: 'consent',
      include_granted_scopes: 'true',
    });
  },

  exchangeCode({ client, code, redirectUri, codeVerifier, signal }) {
    return hostsFor(client.endpoint).token.exchangeCode(
      {
        code,
        redirect_uri: redirectUri,
        client_id: client.clientId,
        ...(client.clientSecret ? { client_secret: client.clientSecret } : {}),
        ...(codeVerifier ? { code_verifier: codeVerifier } : {}),
      },
      signal,
    );
  },

  async accountName({ client, tokens, signal }) {
    try {
      const url = apiUrl(hostsFor(client.endpoint), 'about', { fields: 'user(displayName,emailAddress)' });
      const res = await fetch(url, {
        headers: { authorization: `Bearer ${tokens.accessToken}`, accept: 'application/json' },
        signal,
      });
      const data = await readJson(res);
      if (!res.ok) throw googleError(res.status, data, res.headers);
      const user = (data as { user?: { displayName?: string; emailAddress?: string } } | undefined)?.user;
      const name = user?.displayName ?? '';
      const email = user?.emailAddress ?? '';
      return name && email ? `${name} <${email}>` : name || email || LABEL;
    } catch (err) {
      const e = classify(err);
      if (e instanceof ProviderError && e.status === 401) throw authError(`401 ${e.code ?? 'unauthorized'}`);
      throw e;
    }
  },
};
