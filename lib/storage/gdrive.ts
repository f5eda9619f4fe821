import { createHash, createSign } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KeeperTokens } from '../oauth/refresh';
import type { OAuthProvider, TokenKeeper } from '../oauth/types';
import { CheckSteps, type CheckReport } from './check';
import { ChunkReader } from './chunks';
import { HashingStream } from './hash';
import { randomSuffix, safeRelativePath } from './paths';
import { ProviderError, parseRetryAfter, withRetry, type RetryOptions } from './retry';
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
  tokenUrl: string;
  authorizeUrl: string;
}

function hostsFor(endpoint: string | undefined): Hosts {
  const base = (endpoint ?? '').trim().replace(/\/+$/, '');
  if (!base) return { rootUrl: API_ROOT, tokenUrl: TOKEN_URL, authorizeUrl: AUTHORIZE_URL };
  return { rootUrl: base + '/', tokenUrl: base + '/token', authorizeUrl: base + '/o/oauth2/v2/auth' };
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

function headerOf(headers: unknown, name: string): string | undefined {
  if (!headers) return undefined;
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const v =
    (headers as Record<string, unknown>)[name] ?? (headers as Record<string, unknown>)[name.toLowerCase()];
  return v === undefined || v === null ? undefined : String(v);
}

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
  const retryAfterMs = parseRetryAfter(headerOf(headers, 'retry-after'));
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
  if (e?.name === 'AbortError') return err;
  const status = e?.response?.status ?? (typeof e?.status === 'number' ? e.status : undefined);
  if (status !== undefined) return googleError(status, e.response?.data, e.response?.headers);
  return err;
}

function authError(reason: string): ProviderError {
  return new ProviderError(
    `${LABEL} refused the credentials (${reason}): reconnect the account in its config node`,
    { auth: true, retryable: false, code: 'auth' },
  );
}

async function readJson(res: Response): Promise<unknown> {
  const text = await res.text();
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return { error: { message: text.slice(0, 200) } };
  }
}

// ---------------------------------------------------------------------------------------------
// Tokens

interface TokenResponse {
  access_token?: string;
  refresh_token?: string;
  expires_in?: number;
}

async function postToken(
  url: string,
  form: Record<string, string>,
  signal: AbortSignal | undefined,
): Promise<TokenResponse> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams(form).toString(),
    signal,
  });
  const body = (await readJson(res)) as TokenResponse & GoogleErrorBody;
  if (!res.ok) {
    const err = googleError(res.status, body, res.headers);
    if (res.status === 400 || res.status === 401) {
      // invalid_grant: revoked or expired refresh token; invalid_client: the app's id/secret.
      throw authError(err.code ?? `HTTP ${res.status}`);
    }
    throw err;
  }
  if (!body?.access_token) throw new ProviderError(`${LABEL}: the token endpoint sent no access token`);
  return body;
}

interface TokenSource {
  /** A usable access token; `stale` is one the API just refused, so a new one is needed. */
  get(signal: AbortSignal | undefined, stale?: string): Promise<string>;
}

const EARLY_MS = 60_000;

/** OAuth tokens from the keeper, refreshed by our own POST so every new set is saved first. */
function keeperTokens(keeper: TokenKeeper, tokenUrl: string): TokenSource {
  const { clientId, clientSecret } = keeper.client;
  return new KeeperTokens(
    keeper,
    (refreshToken, signal) =>
      withRetry(
        () =>
          postToken(
            tokenUrl,
            {
              grant_type: 'refresh_token',
              refresh_token: refreshToken,
              client_id: clientId,
              ...(clientSecret ? { client_secret: clientSecret } : {}),
            },
            signal,
          ),
        { attempts: 3, baseDelayMs: 500, signal, classify },
      ),
    authError,
  );
}

interface ServiceAccountKey {
  client_email: string;
  private_key: string;
  token_uri?: string;
}

/**
 * A service account's access token by the JWT bearer grant, signed here with node:crypto: the
 * library's JWT client always posts to Google's own host, which the endpoint override must replace.
 */
class ServiceAccountTokens implements TokenSource {
  private token: { value: string; expiresAt: number } | undefined;
  private pending: Promise<string> | undefined;
  private readonly key: ServiceAccountKey;

  constructor(
    keyJson: string,
    private readonly tokenUrl: string,
  ) {
    let key: Partial<ServiceAccountKey>;
    try {
      key = JSON.parse(keyJson) as Partial<ServiceAccountKey>;
    } catch {
      throw new Error(`${LABEL}: the service account key is not JSON`);
    }
    if (!key?.client_email || !key.private_key) {
      throw new Error(`${LABEL}: the service account key has no client_email or private_key`);
    }
    this.key = key as ServiceAccountKey;
  }

  get email(): string {
    return this.key.client_email;
  }

  async get(signal: AbortSignal | undefined, stale?: string): Promise<string> {
    const t = this.token;
    if (t && t.value !== stale && t.expiresAt - EARLY_MS > Date.now()) return t.value;
    this.pending ??= this.fetchToken(signal).finally(() => (this.pending = undefined));
    return this.pending;
  }

  private async fetchToken(signal: AbortSignal | undefined): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const unsigned = `${enc({ alg: 'RS256', typ: 'JWT' })}.${enc({
      iss: this.key.client_email,
      scope: SA_SCOPE,
      // The audience is Google's token URL even when the request goes to an override.
      aud: this.key.token_uri || TOKEN_URL,
      iat: now,
      exp: now + 3600,
    })}`;
    let signature: string;
    try {
      signature = createSign('RSA-SHA256').update(unsigned).sign(this.key.private_key, 'base64url');
    } catch {
      throw new Error(
        `${LABEL}: the service account's private key cannot sign (is it the PEM from the JSON key?)`,
      );
    }
    const body = await withRetry(
      () =>
        postToken(
          this.tokenUrl,
          {
            grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
            assertion: `${unsigned}.${signature}`,
          },
          signal,
        ),
      { attempts: 3, baseDelayMs: 500, signal, classify },
    );
    this.token = { value: body.access_token!, expiresAt: Date.now() + (body.expires_in ?? 3600) * 1000 };
    return this.token.value;
  }
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
  expectedBytes: number | undefined,
  signal: AbortSignal | undefined,
): Promise<{ sha256: string; md5: string; bytes: number }> {
  const hasher = new HashingStream(expectedBytes);
  const md5 = createHash('md5');
  const sink = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      md5.update(chunk);
      cb();
    },
  });
  sink.resume();
  await pipeline(body, hasher, sink, signal ? { signal } : {});
  return { sha256: hasher.sha256, md5: md5.digest('hex'), bytes: hasher.bytes };
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

/** Query parameters of a Drive API request; undefined ones are left out. */
type Query = Record<string, string | number | boolean | undefined>;

// ---------------------------------------------------------------------------------------------
// The adapter

export class DriveStorage implements StorageAdapter {
  readonly provider = 'gdrive';
  readonly chunkSize: number;
  private readonly hosts: Hosts;
  private readonly tokens: TokenSource;
  private readonly driveId: string | undefined;
  private readonly rootFolderId: string | undefined;
  private readonly rootSegments: string[];
  private readonly retry: DriveStorageOptions['retry'];
  /** Folder ids by path ('' is the root), as promises so concurrent puts create a folder once. */
  private readonly folders = new Map<string, Promise<string>>();
  private closed = false;

  constructor(options: DriveStorageOptions) {
    if (!options?.auth) throw new Error(`${LABEL}: no credentials configured`);
    const endpoint =
      options.endpoint || (options.auth.kind === 'oauth' ? options.auth.keeper.client.endpoint : undefined);
    this.hosts = hostsFor(endpoint);
    if (options.auth.kind === 'oauth') {
      if (!options.auth.keeper?.client?.clientId) throw new Error(`${LABEL}: no OAuth client id configured`);
      this.tokens = keeperTokens(options.auth.keeper, this.hosts.tokenUrl);
    } else {
      this.tokens = new ServiceAccountTokens(options.auth.key, this.hosts.tokenUrl);
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

  async put(relPath: string, body: Readable, options: PutOptions = {}): Promise<PutResult> {
    let rel = relPath;
    try {
      if (this.closed) throw new Error('the adapter is closed');
      rel = safeRelativePath(relPath);
      options.signal?.throwIfAborted();
      return await this.store(rel, body, options);
    } catch (err) {
      if (!body.destroyed) body.destroy();
      throw this.describe(err, `cannot store ${rel}`);
    }
  }

  async stat(relPath: string): Promise<{ bytes: number } | undefined> {
    const rel = safeRelativePath(relPath);
    try {
      const segs = rel.split('/');
      const parent = await this.folderFor(segs.slice(0, -1), false, undefined);
      if (!parent) return undefined;
      const [file] = await this.findTagged(parent, sha256Hex(rel), undefined);
      return file ? { bytes: Number(file.size ?? 0) } : undefined;
    } catch (err) {
      throw this.describe(err, `cannot look at ${rel}`);
    }
  }

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
        const probe = `.rc-archiver-probe-${randomSuffix()}`;
        await steps.request('write', () =>
          this.store(probe, Readable.from([Buffer.from('probe')]), { expectedBytes: 5, role: 'sidecar' }),
        );
        await steps.request('remove', async () => {
          const files = await this.findTagged(root, sha256Hex(probe), undefined);
          if (files.length === 0) throw new Error(`the probe file ${probe} is not listed in the root folder`);
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

  private async store(rel: string, body: Readable, options: PutOptions): Promise<PutResult> {
    const { signal, expectedBytes } = options;
    const segs = rel.split('/');
    const name = segs[segs.length - 1];
    const parent = (await this.folderFor(segs.slice(0, -1), true, signal))!;
    const pathTag = sha256Hex(rel);
    const existing = await this.findTagged(parent, pathTag, signal);

    if (existing.length > 0 && options.role !== 'sidecar') {
      const ours = await hashBoth(body, expectedBytes, signal);
      const same = existing.find(
        (f) =>
          Number(f.size) === ours.bytes &&
          (f.sha256Checksum ? f.sha256Checksum === ours.sha256 : f.md5Checksum === ours.md5),
      );
      if (same) {
        return {
          path: rel,
          bytes: ours.bytes,
          sha256: ours.sha256,
          providerHash: same.sha256Checksum ?? same.md5Checksum ?? undefined,
          alreadyPresent: true,
        };
      }
      throw new ProviderError(
        `a different file is already at ${rel}; the path template gives two items the same path`,
        { code: 'conflict', retryable: false },
      );
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
      throw new ProviderError(
        `${LABEL} stored different bytes than were sent (sent ${sent.bytes} bytes, SHA-256 ${sent.sha256}; ` +
          `stored ${stored.size ?? '?'} bytes, SHA-256 ${stored.sha256Checksum ?? '?'}, MD5 ${stored.md5Checksum ?? '?'}); ` +
          'the file was removed',
        { code: 'hash_mismatch', retryable: false },
      );
    }
    return {
      path: rel,
      bytes: sent.bytes,
      sha256: sent.sha256,
      providerHash: stored.sha256Checksum ?? stored.md5Checksum ?? undefined,
      alreadyPresent: false,
    };
  }

  /**
   * One resumable upload session: POST (or PATCH, to replace a file's content) the metadata, then
   * PUT the chunks with Content-Range. Only the current chunk is in memory; after a failed PUT
   * Drive is asked how much it has (308 + Range) and the rest of that chunk is sent again.
   */
  private async upload(
    body: Readable,
    meta: {
      name: string;
      parent: string;
      appProperties: Record<string, string>;
      contentType: string;
      replaceId?: string;
    },
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
    meta: {
      name: string;
      parent: string;
      appProperties: Record<string, string>;
      contentType: string;
      replaceId?: string;
    },
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
    if (target.origin !== new URL(this.hosts.rootUrl).origin) {
      throw new ProviderError(`${LABEL}: refused an upload URL on another host (${target.origin})`, {
        retryable: false,
      });
    }
    let stale: string | undefined;
    for (;;) {
      const token = await this.tokens.get(signal, stale);
      const res = await fetch(target, {
        method,
        headers: { ...headers, authorization: `Bearer ${token}` },
        // A Buffer is a valid body for Node's fetch; the DOM typings only miss it. GET has none.
        body: method === 'GET' ? undefined : ((body ?? '') as unknown as string),
        signal,
        redirect: 'manual',
      });
      if ((res.status >= 200 && res.status < 300) || okStatuses.includes(res.status)) return res;
      const data = await readJson(res);
      const err = googleError(res.status, data, res.headers);
      if (res.status === 401) {
        if (stale === undefined) {
          stale = token;
          continue;
        }
        throw authError(`401 ${err.code ?? 'unauthorized'} after a token refresh`);
      }
      throw err;
    }
  }

  private describe(err: unknown, what: string): Error {
    const e = err as Error;
    if (e?.name === 'AbortError' || (err instanceof DOMException && err.name === 'AbortError')) return e;
    if (err instanceof ProviderError) {
      const message = err.message.startsWith(LABEL)
        ? `${what}: ${err.message}`
        : `${LABEL}: ${what}: ${err.message}`;
      return new ProviderError(message, {
        status: err.status,
        code: err.code,
        retryAfterMs: err.retryAfterMs,
        retryable: err.retryable,
        auth: err.auth,
        cause: err,
      });
    }
    return new Error(`${LABEL}: ${what}: ${e?.message ?? String(err)}`, { cause: err });
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

  authorizeUrl({ client, redirectUri, state, codeChallenge }) {
    const url = new URL(hostsFor(client.endpoint).authorizeUrl);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('client_id', client.clientId);
    url.searchParams.set('redirect_uri', redirectUri);
    url.searchParams.set('state', state);
    url.searchParams.set('scope', SCOPE);
    // offline + consent: Google sends a refresh token on every connect, not only the first.
    url.searchParams.set('access_type', 'offline');
    url.searchParams.set('prompt', 'consent');
    url.searchParams.set('include_granted_scopes', 'true');
    if (codeChallenge) {
      url.searchParams.set('code_challenge', codeChallenge);
      url.searchParams.set('code_challenge_method', 'S256');
    }
    return url.href;
  },

  async exchangeCode({ client, code, redirectUri, codeVerifier, signal }) {
    const body = await postToken(
      hostsFor(client.endpoint).tokenUrl,
      {
        grant_type: 'authorization_code',
        code,
        redirect_uri: redirectUri,
        client_id: client.clientId,
        ...(client.clientSecret ? { client_secret: client.clientSecret } : {}),
        ...(codeVerifier ? { code_verifier: codeVerifier } : {}),
      },
      signal,
    ).catch((err: unknown) => {
      throw err instanceof ProviderError && err.auth
        ? new ProviderError(
            `${LABEL} refused the sign-in (${err.message.replace(/^.*\(([^)]*)\).*$/, '$1')})`,
            {
              auth: true,
              retryable: false,
            },
          )
        : err;
    });
    return {
      accessToken: body.access_token!,
      refreshToken: body.refresh_token,
      expiresAt: body.expires_in ? Date.now() + body.expires_in * 1000 : undefined,
    };
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
