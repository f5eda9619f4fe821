import { createHash, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Dropbox, type files } from 'dropbox';
import type { KeeperTokens } from '../oauth/refresh';
import type { OAuthProvider, TokenKeeper } from '../oauth/types';
import { CheckSteps, type CheckReport } from './check';
import { ChunkReader } from './chunks';
import {
  TokenEndpoint,
  authorizeUrl,
  credentialsRefused,
  endpointBase,
  isAbort,
  retryAfterOf,
  rewriteToBase,
  withBearer,
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
import { ProviderError, parseRetryAfter, withRetry, type RetryOptions } from './retry';
import type { PutOptions, PutResult, StorageAdapter, CheckOptions } from './types';

/**
 * Dropbox storage through the `dropbox` SDK. Small files go in one `files/upload`, larger ones in
 * an upload session sent chunk by chunk. Every request carries Dropbox's `content_hash` of its
 * body, so Dropbox itself refuses bytes damaged on the way, and the committed file's content_hash
 * is compared with the one computed here over the whole file.
 */

const LABEL = 'Dropbox';
const API_HOSTS = [
  'https://api.dropboxapi.com',
  'https://content.dropboxapi.com',
  'https://notify.dropboxapi.com',
];
const TOKEN_URL = 'https://api.dropboxapi.com/oauth2/token';
const AUTHORIZE_URL = 'https://www.dropbox.com/oauth2/authorize';
const MiB = 1024 * 1024;
/** Dropbox hashes files in blocks of 4 MiB; session chunks should be multiples of it. */
const BLOCK = 4 * MiB;
const DEFAULT_CHUNK = 4 * MiB;
/** Dropbox refuses more than 150 MB in one request. */
const MAX_REQUEST = 150 * MiB;

export interface DropboxStorageOptions {
  /** The connected account; `keeper.client.clientId` is the app key (PKCE app, no secret). */
  keeper: TokenKeeper;
  /** Folder everything goes under, e.g. '/RingCentral Archive'; '' or '/' is the top (or app folder). */
  root?: string;
  /** Bytes per upload-session request (default 4 MiB, which bench/storage-memory.ts found to keep a 1 GiB upload well under 200 MB; a multiple of 4 MiB in production). */
  chunkSize?: number;
  /**
   * Files up to this size go in one `files/upload` (default: chunkSize). Values above chunkSize
   * count as chunkSize, because no more than one chunk is ever held in memory.
   */
  simpleUploadLimit?: number;
  /** Base URL standing in for every Dropbox host (tests, a proxy); empty means the real hosts. */
  endpoint?: string;
  retry?: Pick<RetryOptions, 'attempts' | 'baseDelayMs' | 'maxDelayMs' | 'onRetry'>;
}

// ---------------------------------------------------------------------------------------------
// Hosts

interface Hosts {
  /** Maps a URL the SDK built to where it should go. */
  rewrite(url: string): string;
  token: TokenEndpoint;
  authorizeUrl: string;
}

function hostsFor(endpoint: string | undefined): Hosts {
  const base = endpointBase(endpoint);
  const token = (url: string) => new TokenEndpoint(url, { label: LABEL, refused: authError });
  if (!base) return { rewrite: (u) => u, token: token(TOKEN_URL), authorizeUrl: AUTHORIZE_URL };
  return {
    rewrite: (url) => rewriteToBase(LABEL, API_HOSTS, base, url),
    token: token(base + '/oauth2/token'),
    authorizeUrl: base + '/oauth2/authorize',
  };
}

type FetchFn = (url: string, init?: RequestInit) => Promise<Response>;

/** The fetch handed to the SDK: the host rewrite, and the put's abort signal on every request. */
function sdkFetch(hosts: Hosts, signal: AbortSignal | undefined): FetchFn {
  return (url, init) => fetch(hosts.rewrite(String(url)), { ...init, signal });
}

// ---------------------------------------------------------------------------------------------
// Dropbox content hash

/**
 * Dropbox's content_hash: SHA-256 of each 4 MiB block, the digests concatenated and hashed
 * again, as hex (https://www.dropbox.com/developers/reference/content-hash). Fed incrementally,
 * so a whole file is hashed without holding it.
 */
export class DropboxContentHasher {
  private readonly outer = createHash('sha256');
  private block: Hash = createHash('sha256');
  private inBlock = 0;
  private total = 0;

  update(data: Buffer): this {
    let at = 0;
    while (at < data.length) {
      const take = Math.min(BLOCK - this.inBlock, data.length - at);
      this.block.update(data.subarray(at, at + take));
      this.inBlock += take;
      this.total += take;
      at += take;
      if (this.inBlock === BLOCK) {
        this.outer.update(this.block.digest());
        this.block = createHash('sha256');
        this.inBlock = 0;
      }
    }
    return this;
  }

  private result: string | undefined;

  /** The hash of everything fed so far; later calls give the same value. */
  digest(): string {
    if (this.result === undefined) {
      if (this.inBlock > 0) this.outer.update(this.block.digest());
      this.result = this.outer.digest('hex');
    }
    return this.result;
  }
}

export function dropboxContentHash(data: Buffer): string {
  return new DropboxContentHasher().update(data).digest();
}

// ---------------------------------------------------------------------------------------------
// Errors

interface DropboxErrorBody {
  error_summary?: string;
  error?: {
    '.tag'?: string;
    retry_after?: number;
    reason?: { '.tag'?: string };
    correct_offset?: number;
    lookup_failed?: { '.tag'?: string; correct_offset?: number };
  } & Record<string, unknown>;
  user_message?: { text?: string };
}

/** What a failed SDK call (DropboxResponseError) carries: status, headers, parsed body. */
function rawOf(
  err: unknown,
): { status: number; headers: unknown; body: DropboxErrorBody | string } | undefined {
  const e = err as { name?: string; status?: unknown; headers?: unknown; error?: unknown };
  if (e?.name !== 'DropboxResponseError' || typeof e.status !== 'number') return undefined;
  const body = (e.error && typeof e.error === 'object' ? e.error : String(e.error ?? '')) as
    DropboxErrorBody | string;
  return { status: e.status, headers: e.headers, body };
}

/** `path/conflict/file/..` -> `path/conflict/file`: Dropbox's error tags, for matching. */
function summaryOf(body: DropboxErrorBody | string | undefined): string {
  if (!body || typeof body === 'string') return '';
  return (body.error_summary ?? body.error?.['.tag'] ?? '').replace(/\/*\.*$/, '');
}

/** Dropbox 409s that are rate limits in disguise (a namespace busy with other writes). */
const RETRYABLE_SUMMARY = /(^|\/)(too_many_write_operations|too_many_requests|internal_error)(\/|$)/;

/** A ProviderError from a Dropbox answer; never includes request headers or tokens. */
function dropboxError(status: number, body: DropboxErrorBody | string, headers: unknown): ProviderError {
  const summary = summaryOf(body);
  let reason = summary;
  if (typeof body !== 'string' && body.error?.reason?.['.tag']) reason = body.error.reason['.tag'];
  const retryAfterMs =
    retryAfterOf(headers) ??
    (typeof body !== 'string' ? parseRetryAfter(body.error?.retry_after) : undefined);
  const text =
    typeof body === 'string'
      ? body.replace(/\s+/g, ' ').trim().slice(0, 200)
      : (body.user_message?.text ?? summary);
  return new ProviderError(`${status}${text ? ` ${text}` : ''}`, {
    status,
    code: reason || undefined,
    retryAfterMs,
    retryable: RETRYABLE_SUMMARY.test(summary) || undefined,
    // A full account refuses every file until space is freed: an outage, not the item's fault.
    target: /(^|\/)insufficient_space(\/|$)/.test(summary) || /insufficient_space/.test(reason) || undefined,
  });
}

/** Maps what the SDK or fetch threw to a ProviderError, leaving aborts and network errors alone. */
function classify(err: unknown): unknown {
  if (err instanceof ProviderError) return err;
  const raw = rawOf(err);
  if (raw) return dropboxError(raw.status, raw.body, raw.headers);
  return err;
}

function authError(reason: string): ProviderError {
  return credentialsRefused(LABEL, reason);
}

// ---------------------------------------------------------------------------------------------
// Tokens

/** Tokens from the keeper; a PKCE app: the app key identifies it, there is no secret. */
function keeperTokens(keeper: TokenKeeper, token: TokenEndpoint): KeeperTokens {
  return token.keeperTokens(keeper, { client_id: keeper.client.clientId });
}

// ---------------------------------------------------------------------------------------------
// Paths

/**
 * One path segment as Dropbox accepts it and every desktop client can sync it: control
 * characters and `\ < > : " | ? *` (refused by Windows clients, `\` also by the API) become `_`,
 * and trailing dots and spaces (dropped by Windows, which then misses the file) are cut.
 */
function cleanSegment(segment: string): string {
  // eslint-disable-next-line no-control-regex
  const cleaned = segment.replace(/[\u0000-\u001f\u007f\\<>:"|?*]/g, '_').replace(/[. ]+$/, '');
  return cleaned || '_';
}

function rootSegments(root: string | undefined): string[] {
  const trimmed = (root ?? '').trim();
  if (!trimmed || trimmed === '/') return [];
  return safeRelativePath(trimmed.replace(/^\/+/, '')).split('/').map(cleanSegment);
}

// ---------------------------------------------------------------------------------------------
// The adapter

type FileMeta = files.FileMetadata;
type AnyMeta = files.FileMetadataReference | files.FolderMetadataReference | files.DeletedMetadataReference;

export class DropboxStorage extends GuardedStorage implements StorageAdapter {
  readonly provider = 'dropbox';
  readonly chunkSize: number;
  readonly simpleUploadLimit: number;
  private readonly hosts: Hosts;
  private readonly tokens: KeeperTokens;
  private readonly root: string[];
  private readonly retry: DropboxStorageOptions['retry'];

  constructor(options: DropboxStorageOptions) {
    super();
    if (!options?.keeper) throw new Error(`${LABEL}: no account configured`);
    if (!options.keeper.client?.clientId) throw new Error(`${LABEL}: no app key configured`);
    this.hosts = hostsFor(options.endpoint || options.keeper.client.endpoint);
    this.tokens = keeperTokens(options.keeper, this.hosts.token);
    this.root = rootSegments(options.root);
    this.chunkSize = options.chunkSize ?? DEFAULT_CHUNK;
    if (!Number.isSafeInteger(this.chunkSize) || this.chunkSize <= 0 || this.chunkSize > MAX_REQUEST) {
      throw new Error(`${LABEL}: chunk size must be between 1 byte and 150 MB, got ${this.chunkSize}`);
    }
    this.simpleUploadLimit = Math.min(options.simpleUploadLimit ?? this.chunkSize, this.chunkSize);
    this.retry = options.retry;
  }

  // -- public API ------------------------------------------------------------------------------

  async check(options: CheckOptions = {}): Promise<CheckReport> {
    const steps = new CheckSteps(this.provider);
    try {
      await steps.request('login', () => this.call((d) => d.usersGetCurrentAccount(), undefined));
      await steps.request('folder', async () => {
        if (this.root.length === 0) return;
        const path = '/' + this.root.join('/');
        try {
          await this.call((d) => d.filesCreateFolderV2({ path, autorename: false }), undefined);
        } catch (err) {
          const e = classify(err);
          if (!(e instanceof ProviderError && e.status === 409)) throw err;
          // Already there: fine when it is a folder.
          const meta = await this.metadata(path, undefined);
          if (meta?.['.tag'] !== 'folder') throw new Error(`${path} exists and is not a folder`);
        }
      });
      if (!options.leaveNoTrace) {
        const probe = probeFile();
        await steps.request('write', () => this.store(probe.name, probe.body(), probe.options));
        await steps.request('remove', () =>
          this.call((d) => d.filesDeleteV2({ path: this.pathOf(probe.name) }), undefined),
        );
      } else steps.skipped('write', 'leaveNoTrace');
      return steps.report();
    } catch (err) {
      throw steps.fail(this.describe(err, 'check failed'));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  // -- storing ---------------------------------------------------------------------------------

  private pathOf(rel: string): string {
    return '/' + [...this.root, ...rel.split('/').map(cleanSegment)].join('/');
  }

  protected async look(rel: string): Promise<{ bytes: number } | undefined> {
    const meta = await this.metadata(this.pathOf(rel), undefined);
    return meta?.['.tag'] === 'file' ? { bytes: meta.size } : undefined;
  }

  protected async store(rel: string, body: Readable, options: PutOptions): Promise<PutResult> {
    const { signal, expectedBytes } = options;
    const path = this.pathOf(rel);
    const sidecar = options.role === 'sidecar';

    if (!sidecar) {
      // Dropbox answers an upload of identical content in `add` mode with the existing file and no
      // error, so "was it already there?" is asked first; nothing is uploaded again then.
      const existing = await this.metadata(path, signal);
      if (existing) {
        if (existing['.tag'] !== 'file') throw conflictError(rel);
        const ours = await hashAll(body, options);
        return this.sameOrConflict(rel, existing, ours);
      }
    }

    const reader = new ChunkReader(body, this.chunkSize, expectedBytes);
    try {
      const first = (await reader.next())!;
      const last = await reader.isLast();
      const commit: files.CommitInfo = {
        path,
        mode: { '.tag': sidecar ? 'overwrite' : 'add' },
        autorename: false,
        strict_conflict: true,
        mute: true,
      };
      const whole = new DropboxContentHasher();
      let stored: FileMeta;
      try {
        stored =
          last && first.length <= this.simpleUploadLimit
            ? await this.simpleUpload(first, whole, commit, signal)
            : await this.sessionUpload(reader, first, last, whole, commit, signal);
      } catch (err) {
        const e = classify(err);
        if (e instanceof ProviderError && e.status === 409 && /conflict/.test(e.code ?? '') && !sidecar) {
          // Someone wrote the path since we looked: identical is fine, different is a conflict.
          const ours = await drain(reader, whole, signal);
          const existing = await this.metadata(path, signal);
          if (existing?.['.tag'] === 'file') return this.sameOrConflict(rel, existing, ours);
          throw conflictError(rel);
        }
        if (e instanceof ProviderError && /content_hash_mismatch/.test(e.code ?? '')) {
          throw Object.assign(storedDifferentBytes(LABEL, 'it refused the upload: content_hash_mismatch'), {
            cause: e,
          });
        }
        throw e;
      }
      const sent = { bytes: reader.bytes, sha256: reader.sha256, contentHash: whole.digest() };
      if (stored.size !== sent.bytes || stored.content_hash !== sent.contentHash) {
        // Nothing may look archived: the file goes (only the revision we made), and the caller
        // tries the item again later.
        await this.call(
          (d) => d.filesDeleteV2({ path: stored.id || path, parent_rev: stored.rev }),
          undefined,
        ).catch(() => undefined);
        throw storedDifferentBytes(
          LABEL,
          `sent ${sent.bytes} bytes, content hash ${sent.contentHash}; stored ${stored.size} bytes, ` +
            `content hash ${stored.content_hash ?? '?'}); the file was removed`,
        );
      }
      return receipt(rel, sent, stored.content_hash, false);
    } catch (err) {
      reader.destroy();
      throw err;
    }
  }

  private sameOrConflict(
    rel: string,
    existing: FileMeta,
    ours: { bytes: number; sha256: string; contentHash: string },
  ): PutResult {
    if (existing.size === ours.bytes && existing.content_hash === ours.contentHash) {
      return receipt(rel, ours, existing.content_hash, true);
    }
    throw conflictError(rel);
  }

  /** One `files/upload`; its content_hash makes Dropbox refuse bytes damaged on the way. */
  private async simpleUpload(
    data: Buffer,
    whole: DropboxContentHasher,
    commit: files.CommitInfo,
    signal: AbortSignal | undefined,
  ): Promise<FileMeta> {
    whole.update(data);
    const content_hash = dropboxContentHash(data);
    return this.call((d) => d.filesUpload({ ...commit, contents: data, content_hash }), signal).then(
      (r) => r.result,
    );
  }

  /**
   * An upload session: `start` with the first chunk, `append_v2` for the middle ones, `finish`
   * with the last and the commit. Each chunk is resent from memory after a failure; an
   * `incorrect_offset` answer says how much Dropbox already has, and only the rest is sent.
   */
  private async sessionUpload(
    reader: ChunkReader,
    first: Buffer,
    firstIsLast: boolean,
    whole: DropboxContentHasher,
    commit: files.CommitInfo,
    signal: AbortSignal | undefined,
  ): Promise<FileMeta> {
    whole.update(first);
    const started = await this.call(
      (d) =>
        d.filesUploadSessionStart({
          close: false,
          contents: first,
          content_hash: dropboxContentHash(first),
        }),
      signal,
    );
    const sessionId = started.result.session_id;
    let offset = first.length;
    let chunk = firstIsLast ? Buffer.alloc(0) : (await reader.next())!;
    let last = firstIsLast || (await reader.isLast());
    for (;;) {
      whole.update(chunk);
      if (last) {
        return this.sendFinish(sessionId, offset, chunk, commit, () => whole.digest(), signal);
      }
      await this.sendAppend(sessionId, offset, chunk, signal);
      offset += chunk.length;
      chunk = (await reader.next())!;
      last = await reader.isLast();
    }
  }

  private async sendAppend(
    sessionId: string,
    offset: number,
    chunk: Buffer,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    let at = offset;
    await this.call(async (d) => {
      for (;;) {
        const piece = chunk.subarray(at - offset);
        if (piece.length === 0) return;
        try {
          await d.filesUploadSessionAppendV2({
            cursor: { session_id: sessionId, offset: at },
            close: false,
            contents: piece,
            content_hash: dropboxContentHash(piece),
          });
          return;
        } catch (err) {
          at = correctedOffset(err, 'incorrect_offset', offset, offset + chunk.length);
        }
      }
    }, signal);
  }

  private async sendFinish(
    sessionId: string,
    offset: number,
    chunk: Buffer,
    commit: files.CommitInfo,
    wholeHash: () => string,
    signal: AbortSignal | undefined,
  ): Promise<FileMeta> {
    let at = offset;
    let tries = 0;
    return this.call(async (d) => {
      tries++;
      for (;;) {
        const piece = chunk.subarray(at - offset);
        try {
          const res = await d.filesUploadSessionFinish({
            cursor: { session_id: sessionId, offset: at },
            commit,
            contents: piece,
            content_hash: dropboxContentHash(piece),
          });
          return res.result;
        } catch (err) {
          const raw = rawOf(err);
          const summary = summaryOf(raw?.body);
          // A retried finish whose first try did commit: the session is gone; the file tells.
          if (tries > 1 && /^lookup_failed\/(not_found|closed)/.test(summary)) {
            const meta = await this.metadata(String(commit.path), signal);
            const ours = wholeHash();
            if (meta?.['.tag'] === 'file' && meta.content_hash === ours) return meta;
          }
          at = correctedOffset(err, 'lookup_failed', offset, offset + chunk.length);
        }
      }
    }, signal);
  }

  /** File or folder metadata at a path, or undefined when nothing is there. */
  private async metadata(path: string, signal: AbortSignal | undefined): Promise<AnyMeta | undefined> {
    try {
      return (await this.call((d) => d.filesGetMetadata({ path }), signal)).result;
    } catch (err) {
      const e = classify(err);
      if (e instanceof ProviderError && e.status === 409 && /^path\/not_found/.test(e.code ?? '')) {
        return undefined;
      }
      throw err;
    }
  }

  // -- requests --------------------------------------------------------------------------------

  /**
   * One SDK call (or a few, for a session chunk) with a fresh client carrying our token, the
   * host rewrite and the abort signal; retried on 429/5xx, a 401 gets one new token, a second
   * 401 is an auth error.
   */
  private async call<T>(fn: (dbx: Dropbox) => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    const fetchFn = sdkFetch(this.hosts, signal);
    return withRetry(
      () =>
        withBearer(
          this.tokens,
          signal,
          // The SDK would refresh by itself only with a refresh token, which it is not given:
          // refreshing is ours, so that every new token reaches keeper.save first.
          (token) => fn(new Dropbox({ accessToken: token, fetch: fetchFn })),
          (err) => {
            const raw = rawOf(err);
            return raw?.status === 401 ? summaryOf(raw.body) || 'unauthorized' : undefined;
          },
          authError,
        ),
      { ...this.retry, signal, classify },
    );
  }

  protected describe(err: unknown, what: string): Error {
    return describeFailure(LABEL, isAbort(err) ? err : classify(err), what);
  }
}

/**
 * The offset to resend from after an `incorrect_offset` answer (Dropbox already has the bytes
 * before it), when it lies within the chunk in memory; anything else is rethrown.
 */
function correctedOffset(
  err: unknown,
  tag: 'incorrect_offset' | 'lookup_failed',
  from: number,
  to: number,
): number {
  const raw = rawOf(err);
  const body = raw && typeof raw.body !== 'string' ? raw.body : undefined;
  const inner = tag === 'lookup_failed' ? body?.error?.lookup_failed : body?.error;
  if (raw?.status === 409 && body?.error?.['.tag'] === tag && inner?.['.tag'] === 'incorrect_offset') {
    const correct = inner.correct_offset;
    if (typeof correct === 'number' && correct >= from && correct <= to) return correct;
    throw new ProviderError(
      `${LABEL}: the upload session holds ${String(correct)} bytes, outside the chunk ${from}-${to}`,
      { code: 'incorrect_offset', retryable: false },
    );
  }
  throw err;
}

/** SHA-256, byte count and Dropbox content hash of a whole stream, memory flat. */
async function hashAll(
  body: Readable,
  options: PutOptions,
): Promise<{ bytes: number; sha256: string; contentHash: string }> {
  const content = new DropboxContentHasher();
  const whole = await hashWhole(body, options, (chunk) => content.update(chunk));
  return { ...whole, contentHash: content.digest() };
}

/** Reads what is left of a ChunkReader into the hashes (after a conflict answer). */
async function drain(
  reader: ChunkReader,
  whole: DropboxContentHasher,
  signal: AbortSignal | undefined,
): Promise<{ bytes: number; sha256: string; contentHash: string }> {
  for (let c = await reader.next(); c; c = await reader.next()) {
    signal?.throwIfAborted();
    whole.update(c);
  }
  return { bytes: reader.bytes, sha256: reader.sha256, contentHash: whole.digest() };
}

// ---------------------------------------------------------------------------------------------
// OAuth (the editor's Connect flow)

export const dropboxOAuth: OAuthProvider = {
  id: 'dropbox',
  label: LABEL,
  // A PKCE app: the browser flow needs no secret, so none is stored.
  pkce: true,

  authorizeUrl(args) {
    // offline: a refresh token, so the archive keeps working after the 4-hour access token.
    return authorizeUrl(hostsFor(args.client.endpoint).authorizeUrl, args, { token_access_type: 'offline' });
  },

  exchangeCode({ client, code, redirectUri, codeVerifier, signal }) {
    return hostsFor(client.endpoint).token.exchangeCode(
      {
        code,
        client_id: client.clientId,
        redirect_uri: redirectUri,
        ...(codeVerifier ? { code_verifier: codeVerifier } : {}),
      },
      signal,
    );
  },

  async accountName({ client, tokens, signal }) {
    const dbx = new Dropbox({
      accessToken: tokens.accessToken,
      fetch: sdkFetch(hostsFor(client.endpoint), signal),
    });
    try {
      const { result } = await dbx.usersGetCurrentAccount();
      const name = result.name?.display_name ?? '';
      const email = result.email ?? '';
      return name && email ? `${name} <${email}>` : name || email || LABEL;
    } catch (err) {
      const raw = rawOf(err);
      if (raw?.status === 401) throw authError(`401 ${summaryOf(raw.body) || 'unauthorized'}`);
      throw classify(err);
    }
  },
};
