import { createHash, createPrivateKey, randomUUID, sign, type KeyObject } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { BoxCcgAuth, BoxClient, BoxDeveloperTokenAuth, BoxJwtAuth, CcgConfig, JwtConfig } from 'box-node-sdk';
import { BaseUrls, NetworkSession } from 'box-node-sdk/lib/networking/index';
import type {
  Authentication,
  FetchOptions,
  FetchResponse,
  RetryStrategy,
} from 'box-node-sdk/lib/networking/index';
import { BoxApiError, BoxSdkError } from 'box-node-sdk/lib/box/errors';
import { AuthorizationManager } from 'box-node-sdk/lib/managers/authorization';
import type { AccessToken } from 'box-node-sdk/lib/schemas/accessToken';
import type { UploadPart } from 'box-node-sdk/lib/schemas/uploadPart';
import { deserializeUploadedPart } from 'box-node-sdk/lib/schemas/uploadedPart';
import type { FileFull } from 'box-node-sdk/lib/schemas/fileFull';
import { KeeperTokens } from '../oauth/refresh';
import type { OAuthProvider, OAuthTokens, TokenKeeper } from '../oauth/types';
import { CheckSteps, type CheckReport } from './check';
import { ChunkReader } from './chunks';
import { randomSuffix, safeRelativePath } from './paths';
import {
  ProviderError,
  isTransientNetworkError,
  parseRetryAfter,
  withRetry,
  type RetryOptions,
} from './retry';
import type { PutOptions, PutResult, StorageAdapter } from './types';

/**
 * Box storage through the generated Box SDK. Small files go in one upload carrying the SHA-1 in
 * `content-md5` (Box rejects bytes that do not match it); larger ones go through an upload session,
 * one part in memory at a time, each part with its own SHA-1 digest and the whole file's at commit.
 * Box allows one item of a name per folder, so the name conflict (409 item_name_in_use, with the
 * existing file's SHA-1) tells whether the path already holds the same bytes.
 */

const LABEL = 'Box';
const API_URL = 'https://api.box.com';
const UPLOAD_URL = 'https://upload.box.com/api';
const OAUTH2_URL = 'https://account.box.com/api/oauth2';
const TOKEN_URL = 'https://api.box.com/oauth2/token';
const AUTHORIZE_URL = 'https://account.box.com/api/oauth2/authorize';
/** Box's smallest file for an upload session. */
const DEFAULT_THRESHOLD = 20 * 1024 * 1024;
/** How often the SDK may re-ask a commit that answered 202 (still processing parts) before we do. */
const COMMIT_POLLS = 10;

export type BoxAuth =
  | { kind: 'ccg'; clientId: string; clientSecret: string; enterpriseId?: string; userId?: string }
  /** The app's JSON config as downloaded from the Box developer console (with the private key). */
  | { kind: 'jwt'; config: string }
  | { kind: 'oauth'; keeper: TokenKeeper };

export interface BoxStorageOptions {
  auth: BoxAuth;
  /** The folder everything goes under (default '0', the account's root). */
  rootFolderId?: string;
  /** Folder path under rootFolderId, created on the way when missing. */
  rootPath?: string;
  /** Files of this size or more go through an upload session (default 20 MB, Box's minimum). */
  chunkedThreshold?: number;
  /** Base URL standing in for every Box host (tests, a proxy); empty means the real hosts. */
  endpoint?: string;
  retry?: Pick<RetryOptions, 'attempts' | 'baseDelayMs' | 'maxDelayMs' | 'onRetry'>;
}

interface Hosts {
  baseUrl: string;
  uploadUrl: string;
  oauth2Url: string;
  tokenUrl: string;
  authorizeUrl: string;
}

function hostsFor(endpoint: string | undefined): Hosts {
  const base = (endpoint ?? '').trim().replace(/\/+$/, '');
  if (!base)
    return {
      baseUrl: API_URL,
      uploadUrl: UPLOAD_URL,
      oauth2Url: OAUTH2_URL,
      tokenUrl: TOKEN_URL,
      authorizeUrl: AUTHORIZE_URL,
    };
  // Same paths as the real hosts, so one fake server can stand in for all three.
  return {
    baseUrl: base,
    uploadUrl: base + '/api',
    oauth2Url: base + '/api/oauth2',
    tokenUrl: base + '/oauth2/token',
    authorizeUrl: base + '/api/oauth2/authorize',
  };
}

function baseUrlsFor(hosts: Hosts): BaseUrls {
  return new BaseUrls({ baseUrl: hosts.baseUrl, uploadUrl: hosts.uploadUrl, oauth2Url: hosts.oauth2Url });
}

// ---------------------------------------------------------------------------------------------
// Errors

function authError(reason: string): ProviderError {
  return new ProviderError(
    `${LABEL} refused the credentials (${reason}): reconnect the account in its config node`,
    { auth: true, retryable: false, code: 'auth' },
  );
}

function headerOf(headers: Record<string, string> | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : headers[key];
}

interface BoxErrorBody {
  code?: string;
  message?: string;
  error?: string;
  error_description?: string;
  context_info?: { conflicts?: unknown };
}

/** A ProviderError for an error answer of Box (to one of the SDK's requests or one of ours). */
function apiError(
  status: number,
  body: BoxErrorBody,
  headers: Record<string, string> | undefined,
  url: string,
): ProviderError {
  const isToken = /\/oauth2\/token$/.test(url);
  if (isToken && (status === 400 || status === 401)) {
    // invalid_grant: refresh token revoked/expired/spent; invalid_client: wrong id or secret.
    return authError(body.error ?? `HTTP ${status}`);
  }
  // The token has already been refreshed once and the request tried again.
  if (status === 401) return authError(body.code ?? body.error ?? 'unauthorized');
  const code = body.code ?? body.error;
  const message = body.message ?? body.error_description;
  if (status === 409 && code === 'item_name_in_use') {
    const c = body.context_info?.conflicts;
    // Upload answers name one conflicting item, folder creation lists them.
    const list = (Array.isArray(c) ? c : c && typeof c === 'object' ? [c] : []) as Conflict[];
    return new NameInUseError(`${LABEL}: 409 item_name_in_use: ${message ?? ''}`, list);
  }
  return new ProviderError(`${LABEL}: ${status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}`, {
    status,
    code,
    retryAfterMs: parseRetryAfter(headerOf(headers, 'retry-after')),
    // A full account refuses every file until space is freed: an outage, not the item's fault.
    target: status === 507 || code === 'storage_limit_exceeded' || undefined,
  });
}

/**
 * A ProviderError from what the SDK threw. Only the status, Box's code and message go into it:
 * the SDK's error also holds the request headers (the Authorization header), so it is not kept
 * as the cause.
 */
function classify(err: unknown): unknown {
  if (err instanceof ProviderError) return err;
  if (err instanceof BoxApiError) {
    const body = (err.responseInfo.body ?? {}) as BoxErrorBody;
    return apiError(err.responseInfo.statusCode, body, err.responseInfo.headers, err.requestInfo.url);
  }
  if (err instanceof BoxSdkError) {
    // Status 0: the request never got an answer; the cause says whether to try again.
    const cause = err.error;
    if (cause && isTransientNetworkError(cause)) {
      return new ProviderError(`${LABEL}: ${cause.message}`, { retryable: true });
    }
    if (cause?.name === 'AbortError') return cause;
    return new ProviderError(`${LABEL}: ${err.message}`, { retryable: false });
  }
  return err;
}

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/**
 * One request with a Buffer body through node:http(s), answered with JSON. A failure to connect
 * or a broken connection becomes a ProviderError as classify() makes of the SDK's (retryable when
 * transient); an abort stays the AbortError.
 */
function sendBuffer(
  url: string,
  method: string,
  body: Buffer,
  headers: Record<string, string>,
  agent: http.Agent | undefined,
  signal: AbortSignal | undefined,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const request = target.protocol === 'https:' ? https.request : http.request;
    const fail = (err: Error) => {
      if (err.name === 'AbortError') return reject(err);
      reject(new ProviderError(`${LABEL}: ${err.message}`, { retryable: isTransientNetworkError(err) }));
    };
    const req = request(
      target,
      { method, headers: { ...headers, 'content-length': String(body.length) }, agent, signal },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', fail);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          const flat: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers))
            if (v !== undefined) flat[k] = Array.isArray(v) ? v.join(', ') : v;
          resolve({ status: res.statusCode ?? 0, headers: flat, body: parsed });
        });
      },
    );
    req.on('error', fail);
    req.end(body);
  });
}

type Conflict = { id?: string; type?: string; sha1?: string; size?: number };

/** 409 item_name_in_use, with the conflicting item(s) Box names in context_info. */
class NameInUseError extends ProviderError {
  constructor(
    message: string,
    readonly conflicts: Conflict[],
  ) {
    super(message, { status: 409, code: 'item_name_in_use', retryable: false });
  }
}

function conflictsOf(err: unknown): Conflict[] {
  return err instanceof NameInUseError ? err.conflicts : [];
}

function isNameInUse(err: unknown): boolean {
  return err instanceof NameInUseError;
}

// ---------------------------------------------------------------------------------------------
// SDK plumbing

/**
 * The SDK's own retries are replaced: 429/5xx go through withRetry (Retry-After honoured, one part
 * at a time, abortable). The SDK only re-asks a commit that answered 202 + Retry-After, and once
 * after a 401, with a token the auth object refreshed.
 */
class SdkRetry implements RetryStrategy {
  constructor(private readonly maxDelayMs: number) {}

  async shouldRetry(options: FetchOptions, response: FetchResponse, attempt: number): Promise<boolean> {
    if (options.cancellationToken?.aborted) return false;
    if (response.status === 202 && headerOf(response.headers, 'retry-after') !== undefined) {
      return attempt < COMMIT_POLLS;
    }
    if (response.status === 401 && options.auth && attempt === 1) {
      await options.auth.refreshToken(options.networkSession);
      return true;
    }
    return false;
  }

  retryAfter(_options: FetchOptions, response: FetchResponse): number {
    if (response.status !== 202) return 0;
    const ms = parseRetryAfter(headerOf(response.headers, 'retry-after')) ?? 1000;
    return Math.min(ms, this.maxDelayMs) / 1000;
  }
}

interface TokenResponse {
  access_token?: string;
  refresh_token?: string;
  expires_in?: number;
  error?: string;
  error_description?: string;
}

/** A form POST to Box's token URL (refresh and code exchange), so that new tokens are ours to save. */
async function postToken(
  url: string,
  form: Record<string, string>,
  signal?: AbortSignal,
): Promise<TokenResponse> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams(form).toString(),
    signal,
  });
  const text = await res.text();
  let body: TokenResponse = {};
  try {
    body = text ? (JSON.parse(text) as TokenResponse) : {};
  } catch {
    body = {};
  }
  if (!res.ok) {
    if (res.status === 400 || res.status === 401) throw authError(body.error ?? `HTTP ${res.status}`);
    throw new ProviderError(
      `${LABEL}: token endpoint answered ${res.status}${body.error ? ` ${body.error}` : ''}`,
      {
        status: res.status,
        code: body.error,
        retryAfterMs: parseRetryAfter(res.headers.get('retry-after')),
      },
    );
  }
  if (!body.access_token) throw new ProviderError(`${LABEL}: the token endpoint sent no access token`);
  return body;
}

function tokensFrom(body: TokenResponse): OAuthTokens {
  return {
    accessToken: body.access_token!,
    refreshToken: body.refresh_token,
    expiresAt: body.expires_in ? Date.now() + body.expires_in * 1000 : undefined,
  };
}

/**
 * OAuth tokens from the keeper for the SDK. Box rotates refresh tokens (each works once), so a new
 * set is handed to keeper.save() before its access token is used.
 */
class KeeperAuth implements Authentication {
  private readonly tokens: KeeperTokens;

  constructor(keeper: TokenKeeper, tokenUrl: string) {
    const { clientId, clientSecret } = keeper.client;
    this.tokens = new KeeperTokens(
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
                client_secret: clientSecret ?? '',
              },
              signal,
            ),
          { attempts: 3, baseDelayMs: 500, signal },
        ),
      authError,
    );
  }

  async retrieveToken(): Promise<AccessToken> {
    return { accessToken: await this.tokens.get() };
  }

  async refreshToken(): Promise<AccessToken> {
    return { accessToken: await this.tokens.refresh() };
  }

  async retrieveAuthorizationHeader(): Promise<string> {
    return `Bearer ${await this.tokens.get()}`;
  }

  revokeToken(): Promise<undefined> {
    return Promise.reject(new Error(`${LABEL}: revoking is not supported here`));
  }

  downscopeToken(): Promise<AccessToken> {
    return Promise.reject(new Error(`${LABEL}: downscoping is not supported here`));
  }
}

/**
 * JWT app auth that names the signing key. box-node-sdk 10.12 leaves `kid` out of the assertion's
 * header, and Box needs it to pick the public key as soon as the app has two (as while a key is
 * replaced), so the SDK's assertion would then be refused. Same claims, signed here with the key id.
 */
class KeyIdJwtAuth extends BoxJwtAuth {
  private readonly key: KeyObject;

  constructor(config: JwtConfig) {
    super({ config });
    try {
      this.key = createPrivateKey({
        key: config.privateKey,
        format: 'pem',
        passphrase: config.privateKeyPassphrase,
      });
    } catch {
      throw new Error(
        `${LABEL}: the private key in the JWT app config cannot be read (a wrong passphrase or a damaged key)`,
      );
    }
  }

  override async refreshToken(networkSession?: NetworkSession): Promise<AccessToken> {
    const now = Math.floor(Date.now() / 1000);
    const part = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const input = `${part({ alg: 'RS256', typ: 'JWT', kid: this.config.jwtKeyId })}.${part({
      iss: this.config.clientId,
      sub: this.subjectId,
      box_sub_type: this.subjectType,
      // Box checks for this audience whichever host the request goes to.
      aud: 'https://api.box.com/oauth2/token',
      jti: randomUUID(),
      iat: now,
      // Box refuses an assertion living longer than 60 s.
      exp: now + 30,
    })}`;
    const assertion = `${input}.${sign('sha256', Buffer.from(input), this.key).toString('base64url')}`;
    const manager = new AuthorizationManager({ networkSession: networkSession ?? new NetworkSession({}) });
    const token = await manager.requestAccessToken({
      grantType: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion,
      clientId: this.config.clientId,
      clientSecret: this.config.clientSecret,
    });
    await this.tokenStorage.store(token);
    return token;
  }
}

function sdkAuth(auth: BoxAuth, hosts: Hosts): Authentication {
  switch (auth.kind) {
    case 'ccg':
      return new BoxCcgAuth({
        config: new CcgConfig({
          clientId: auth.clientId,
          clientSecret: auth.clientSecret,
          ...(auth.userId ? { userId: auth.userId } : { enterpriseId: auth.enterpriseId }),
        }),
      });
    case 'jwt': {
      let config: JwtConfig;
      try {
        config = JwtConfig.fromConfigJsonString(auth.config);
      } catch {
        throw new Error(`${LABEL}: the JWT app config is not the JSON file from the developer console`);
      }
      return new KeyIdJwtAuth(config);
    }
    case 'oauth':
      return new KeeperAuth(auth.keeper, hosts.tokenUrl);
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/**
 * Box refuses names with `/` or `\` (already path separators here), names made only of dots,
 * leading or trailing spaces and non-printable characters, and names over 255 characters.
 */
export function boxName(segment: string): string {
  // eslint-disable-next-line no-control-regex
  let name = segment.replace(/[\u0000-\u001f\u007f]/g, '_').trim();
  if (/^\.+$/.test(name) || name === '') name = name.replace(/\./g, '_') || '_';
  if (name.length > 255) name = name.slice(0, 255).trimEnd();
  return name;
}

function sha1(buf: Buffer): Buffer {
  return createHash('sha1').update(buf).digest();
}

function mismatchError(path: string, sent: string, stored: string | undefined): ProviderError {
  return new ProviderError(
    `${LABEL} stored different bytes than were sent for ${path} (SHA-1 sent ${sent}, stored ${stored ?? 'none'})`,
    { retryable: false, code: 'hash_mismatch' },
  );
}

function conflictError(path: string): ProviderError {
  return new ProviderError(
    `a different file is already at ${path}; the path template gives two items the same path`,
    { retryable: false, code: 'conflict' },
  );
}

interface Target {
  folderId: string;
  name: string;
  path: string;
}

// ---------------------------------------------------------------------------------------------
// The adapter

export class BoxStorage implements StorageAdapter {
  readonly provider = 'box';
  private readonly client: BoxClient;
  private readonly hosts: Hosts;
  private readonly threshold: number;
  private readonly rootFolderId: string;
  private readonly rootSegments: string[];
  /** Folder ids by path below the root ('' is the root itself). */
  private readonly folders = new Map<string, string>();

  constructor(private readonly options: BoxStorageOptions) {
    const hosts = hostsFor(options.endpoint);
    this.hosts = hosts;
    this.client = new BoxClient({
      auth: sdkAuth(options.auth, hosts),
      networkSession: new NetworkSession({
        baseUrls: baseUrlsFor(hosts),
        retryStrategy: new SdkRetry(options.retry?.maxDelayMs ?? 120_000),
      }),
    });
    this.threshold = options.chunkedThreshold ?? DEFAULT_THRESHOLD;
    if (!Number.isSafeInteger(this.threshold) || this.threshold <= 0)
      throw new RangeError(`chunkedThreshold must be positive, got ${this.threshold}`);
    this.rootFolderId = options.rootFolderId?.trim() || '0';
    this.rootSegments = (options.rootPath ?? '')
      .split(/[\\/]+/)
      .filter((s) => s !== '' && s !== '.')
      .map(boxName);
    if (this.rootSegments.includes('..')) throw new Error(`${LABEL}: rootPath must not contain ..`);
  }

  /** Runs one SDK call with our retries; an abort surfaces as the signal's reason. */
  private call<T>(fn: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    return withRetry(
      async () => {
        try {
          return await fn();
        } catch (err) {
          if (signal?.aborted) throw signal.reason;
          throw err;
        }
      },
      {
        attempts: this.options.retry?.attempts,
        baseDelayMs: this.options.retry?.baseDelayMs,
        maxDelayMs: this.options.retry?.maxDelayMs,
        onRetry: this.options.retry?.onRetry,
        signal,
        classify,
      },
    );
  }

  // -- folders --------------------------------------------------------------------------------

  /** A child of a folder by name (Box compares names without regard to case). */
  private async findChild(
    folderId: string,
    name: string,
    type: 'file' | 'folder',
    signal?: AbortSignal,
  ): Promise<{ id: string; size?: number; sha1?: string } | undefined> {
    const wanted = name.toLowerCase();
    const limit = 1000;
    for (let offset = 0; ; offset += limit) {
      const page = await this.call(
        () =>
          this.client.folders.getFolderItems(folderId, {
            queryParams: { fields: ['name', 'size', 'sha1'], offset, limit },
            cancellationToken: signal,
          }),
        signal,
      );
      const entries = page.entries ?? [];
      for (const e of entries) {
        const item = e as { type?: string; id?: string; name?: string; size?: number; sha1?: string };
        if (item.type === type && item.name?.toLowerCase() === wanted && item.id)
          return { id: item.id, size: item.size, sha1: item.sha1 };
      }
      if (entries.length < limit || offset + limit >= (page.totalCount ?? 0)) return undefined;
    }
  }

  private async ensureChild(parentId: string, name: string, signal?: AbortSignal): Promise<string> {
    try {
      const created = await this.call(
        () =>
          this.client.folders.createFolder(
            { name, parent: { id: parentId } },
            { queryParams: { fields: ['id'] }, cancellationToken: signal },
          ),
        signal,
      );
      return created.id;
    } catch (err) {
      // Made earlier (or by a run in parallel): Box names the existing folder in the conflict.
      const folder = conflictsOf(err).find((c) => c.type === 'folder' && c.id);
      if (isNameInUse(err) && folder?.id) return folder.id;
      if (isNameInUse(err))
        throw new ProviderError(`${LABEL}: a file named ${name} is in the way of a folder`);
      throw classify(err);
    }
  }

  /** The folder id for segments below the root; undefined when missing and `create` is false. */
  private async folderId(
    segments: string[],
    create: boolean,
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    const all = [...this.rootSegments, ...segments];
    let id = this.rootFolderId;
    for (let i = 0; i < all.length; i++) {
      const key = all
        .slice(0, i + 1)
        .join('/')
        .toLowerCase();
      const known = this.folders.get(key);
      if (known) {
        id = known;
        continue;
      }
      const found = create
        ? await this.ensureChild(id, all[i], signal)
        : (await this.findChild(id, all[i], 'folder', signal))?.id;
      if (!found) return undefined;
      this.folders.set(key, found);
      id = found;
    }
    return id;
  }

  private async target(relPath: string, create: boolean, signal?: AbortSignal): Promise<Target | undefined> {
    const path = safeRelativePath(relPath);
    const segments = path.split('/').map(boxName);
    const folderId = await this.folderId(segments.slice(0, -1), create, signal);
    return folderId === undefined ? undefined : { folderId, name: segments[segments.length - 1], path };
  }

  // -- StorageAdapter -------------------------------------------------------------------------

  async check(): Promise<CheckReport> {
    const steps = new CheckSteps(this.provider);
    try {
      await steps.request('login', () => this.call(() => this.client.users.getUserMe(), undefined));
      const id = await steps.request('folder', async () => {
        const found = (await this.folderId([], true))!;
        await this.call(
          () => this.client.folders.getFolderById(found, { queryParams: { fields: ['id'] } }),
          undefined,
        );
        return found;
      });
      const probe = `.rc-archiver-probe-${randomSuffix()}`;
      await steps.request('write', () =>
        this.put(probe, Readable.from([Buffer.from('probe')]), { expectedBytes: 5, role: 'sidecar' }),
      );
      await steps.request('remove', async () => {
        const file = await this.findChild(id, boxName(probe), 'file');
        if (!file)
          throw new ProviderError(`${LABEL}: the probe file ${probe} is not listed in the root folder`);
        await this.call(() => this.client.files.deleteFileById(file.id), undefined);
      });
      return steps.report();
    } catch (err) {
      throw steps.fail(err);
    }
  }

  async stat(relPath: string): Promise<{ bytes: number } | undefined> {
    const t = await this.target(relPath, false);
    if (!t) return undefined;
    const file = await this.findChild(t.folderId, t.name, 'file');
    return file ? { bytes: file.size ?? 0 } : undefined;
  }

  async close(): Promise<void> {
    this.folders.clear();
    (this.client.networkSession.agent as { destroy?: () => void } | undefined)?.destroy?.();
  }

  async put(relPath: string, body: Readable, options: PutOptions = {}): Promise<PutResult> {
    const { signal, expectedBytes } = options;
    const role = options.role ?? 'content';
    signal?.throwIfAborted();
    const t = (await this.target(relPath, true, signal))!;
    if (expectedBytes !== undefined && expectedBytes >= this.threshold) {
      return this.putChunked(t, body, expectedBytes, role, signal);
    }
    const reader = new ChunkReader(body, this.threshold, expectedBytes);
    const onAbort = () => reader.destroy(signal?.reason as Error);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const chunk = (await reader.next())!;
      if (!(await reader.isLast()) || chunk.length >= this.threshold) {
        throw new ProviderError(
          `${LABEL}: a file of ${this.threshold} bytes or more needs its size (expectedBytes) for a chunked upload`,
          { retryable: false },
        );
      }
      return await this.putSmall(t, chunk, reader, role, signal);
    } catch (err) {
      reader.destroy();
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private result(t: Target, reader: ChunkReader, sha1hex: string, alreadyPresent: boolean): PutResult {
    return {
      path: t.path,
      bytes: reader.bytes,
      sha256: reader.sha256,
      providerHash: sha1hex,
      alreadyPresent,
    };
  }

  /** One request; Box checks the bytes against `content-md5` (which carries the SHA-1). */
  private async putSmall(
    t: Target,
    chunk: Buffer,
    reader: ChunkReader,
    role: 'content' | 'sidecar',
    signal?: AbortSignal,
  ): Promise<PutResult> {
    const digest = sha1(chunk).toString('hex');
    const headers = { contentMd5: digest };
    let stored: FileFull | undefined;
    let newFile = true;
    try {
      const res = await this.call(
        () =>
          this.client.uploads.uploadFile(
            { attributes: { name: t.name, parent: { id: t.folderId } }, file: Readable.from([chunk]) },
            { headers, cancellationToken: signal },
          ),
        signal,
      );
      stored = res.entries?.[0];
    } catch (err) {
      const existing = conflictsOf(err).find((c) => c.type === 'file' && c.id);
      if (!isNameInUse(err) || !existing?.id) throw classify(err);
      if (existing.sha1?.toLowerCase() === digest) return this.result(t, reader, digest, true);
      if (role === 'content') throw conflictError(t.path);
      // A sidecar replaces what is there: a new version of the same file, not a second file.
      newFile = false;
      const res = await this.call(
        () =>
          this.client.uploads.uploadFileVersion(
            existing.id!,
            { attributes: { name: t.name }, file: Readable.from([chunk]) },
            { headers, cancellationToken: signal },
          ),
        signal,
      );
      stored = res.entries?.[0];
    }
    await this.verify(t, stored, digest, newFile);
    return this.result(t, reader, digest, false);
  }

  /** Box's answer must carry the SHA-1 that was sent; a new file that does not is deleted. */
  private async verify(
    t: Target,
    stored: FileFull | undefined,
    digest: string,
    newFile: boolean,
  ): Promise<void> {
    const got = stored?.sha1?.toLowerCase();
    if (got === digest) return;
    if (stored?.id && newFile) {
      await this.call(() => this.client.files.deleteFileById(stored.id), undefined).catch(() => undefined);
    }
    throw mismatchError(t.path, digest, got);
  }

  /** An upload session: parts of the session's part_size, one in memory at a time. */
  private async putChunked(
    t: Target,
    body: Readable,
    size: number,
    role: 'content' | 'sidecar',
    signal?: AbortSignal,
  ): Promise<PutResult> {
    let existing: { id?: string; sha1?: string } | undefined;
    let session;
    try {
      session = await this.call(
        () =>
          this.client.chunkedUploads.createFileUploadSession(
            { folderId: t.folderId, fileSize: size, fileName: t.name },
            { cancellationToken: signal },
          ),
        signal,
      );
    } catch (err) {
      existing = conflictsOf(err).find((c) => c.type === 'file' && c.id);
      if (!isNameInUse(err) || !existing?.id) throw classify(err);
    }
    if (existing && role === 'content') {
      // Same bytes or not: only the SHA-1 of the whole body tells, so read it through once.
      const reader = new ChunkReader(body, this.threshold, size);
      const whole = createHash('sha1');
      const scratch = Buffer.allocUnsafe(1024 * 1024);
      try {
        for (let c = await reader.readInto(scratch); c; c = await reader.readInto(scratch)) {
          signal?.throwIfAborted();
          whole.update(c);
        }
      } catch (err) {
        reader.destroy();
        throw err;
      }
      const digest = whole.digest('hex');
      if (existing.sha1?.toLowerCase() === digest) return this.result(t, reader, digest, true);
      throw conflictError(t.path);
    }
    if (existing) {
      session = await this.call(
        () =>
          this.client.chunkedUploads.createFileUploadSessionForExistingFile(
            existing.id!,
            { fileSize: size, fileName: t.name },
            { cancellationToken: signal },
          ),
        signal,
      );
    }
    const sessionId = session!.id!;
    const partSize = session!.partSize ?? this.threshold;
    const reader = new ChunkReader(body, partSize, size);
    const onAbort = () => reader.destroy(signal?.reason as Error);
    signal?.addEventListener('abort', onAbort, { once: true });
    const whole = createHash('sha1');
    const parts: UploadPart[] = [];
    let committed = false;
    // One buffer for every part: the next part is read into it once the last one is acknowledged.
    const buffer = Buffer.allocUnsafe(Math.min(partSize, size));
    try {
      let offset = 0;
      for (let part = await reader.readInto(buffer); part?.length; part = await reader.readInto(buffer)) {
        whole.update(part);
        const partSha1 = sha1(part);
        const digest = `sha=${partSha1.toString('base64')}`;
        const range = `bytes ${offset}-${offset + part.length - 1}/${size}`;
        const uploaded = await this.call(() => this.putPart(sessionId, part!, digest, range, signal), signal);
        parts.push(uploaded ?? { partId: '', offset, size: part.length, sha1: partSha1.toString('hex') });
        offset += part.length;
      }
      await reader.isLast();
      const digestBuf = whole.digest();
      const digest = digestBuf.toString('hex');
      const stored = await this.commit(sessionId, parts, digestBuf, t, digest, role, signal);
      committed = true;
      if (stored === 'present') return this.result(t, reader, digest, true);
      await this.verify(t, stored, digest, !existing);
      return this.result(t, reader, digest, false);
    } catch (err) {
      reader.destroy();
      if (!committed) {
        // Nothing half-made stays behind: the session's parts are discarded.
        await this.client.chunkedUploads.deleteFileUploadSessionById(sessionId).catch(() => undefined);
      }
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * PUTs one part of an upload session, its bytes sent from where they are. The SDK's
   * uploadFilePart copies each part into a new buffer (kept for its own retries), and those
   * part-sized copies outlive the request, pile up in V8's old space and push a 1 GiB upload well
   * past 200 MB. Same URL, headers, agent (so proxy settings) and token as the SDK's, and like it
   * once more after a 401 with a refreshed token.
   */
  private async putPart(
    sessionId: string,
    part: Buffer,
    digest: string,
    contentRange: string,
    signal?: AbortSignal,
  ): Promise<UploadPart | undefined> {
    const url = `${this.hosts.uploadUrl}/2.0/files/upload_sessions/${encodeURIComponent(sessionId)}`;
    const session = this.client.networkSession;
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      const headers = {
        authorization: await this.client.auth.retrieveAuthorizationHeader(session),
        'content-type': 'application/octet-stream',
        'content-range': contentRange,
        digest,
      };
      const res = await sendBuffer(url, 'PUT', part, headers, session.agent as http.Agent, signal);
      if (res.status === 401 && attempt === 1) {
        await this.client.auth.refreshToken(session);
        continue;
      }
      if (res.status >= 200 && res.status < 300 && res.body && typeof res.body === 'object')
        return deserializeUploadedPart(res.body as Parameters<typeof deserializeUploadedPart>[0]).part;
      if (res.status >= 200 && res.status < 300)
        throw new ProviderError(`${LABEL}: the part upload answered ${res.status} without a part`);
      throw apiError(res.status, (res.body ?? {}) as BoxErrorBody, res.headers, url);
    }
  }

  private async commit(
    sessionId: string,
    parts: UploadPart[],
    digestBuf: Buffer,
    t: Target,
    digest: string,
    role: 'content' | 'sidecar',
    signal?: AbortSignal,
  ): Promise<FileFull | 'present'> {
    try {
      const res = await this.call(async () => {
        const r = await this.client.chunkedUploads.createFileUploadSessionCommit(
          sessionId,
          { parts },
          { digest: `sha=${digestBuf.toString('base64')}` },
          { cancellationToken: signal },
        );
        // Still 202 after the SDK's polls: ask again through withRetry.
        if (!r)
          throw new ProviderError(`${LABEL}: the upload is still being processed`, {
            status: 202,
            retryable: true,
          });
        return r;
      }, signal);
      return res.entries![0];
    } catch (err) {
      // Another writer took the name while the parts were going up.
      const existing = conflictsOf(err).find((c) => c.type === 'file' && c.id);
      if (isNameInUse(err) && existing) {
        if (existing.sha1?.toLowerCase() === digest) return 'present';
        if (role === 'content') throw conflictError(t.path);
      }
      throw classify(err);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// OAuth

export const boxOAuth: OAuthProvider = {
  id: 'box',
  label: LABEL,
  // Box web apps authenticate the code exchange with the client secret.
  pkce: false,

  authorizeUrl({ client, redirectUri, state }) {
    const url = new URL(hostsFor(client.endpoint).authorizeUrl);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('client_id', client.clientId);
    url.searchParams.set('redirect_uri', redirectUri);
    url.searchParams.set('state', state);
    return url.href;
  },

  async exchangeCode({ client, code, redirectUri, signal }) {
    if (!client.clientSecret) throw new Error(`${LABEL}: the client secret is needed to connect`);
    const body = await postToken(
      hostsFor(client.endpoint).tokenUrl,
      {
        grant_type: 'authorization_code',
        code,
        redirect_uri: redirectUri,
        client_id: client.clientId,
        client_secret: client.clientSecret,
      },
      signal,
    ).catch((err: unknown) => {
      throw err instanceof ProviderError && err.auth
        ? new ProviderError(
            `${LABEL} refused the sign-in (${err.message.replace(/^.*?\(([^)]*)\).*$/, '$1')})`,
            {
              auth: true,
              retryable: false,
              code: 'auth',
            },
          )
        : err;
    });
    return tokensFrom(body);
  },

  async accountName({ client, tokens, signal }) {
    const sdk = new BoxClient({
      auth: new BoxDeveloperTokenAuth({ token: tokens.accessToken }),
      networkSession: new NetworkSession({
        baseUrls: baseUrlsFor(hostsFor(client.endpoint)),
        retryStrategy: new SdkRetry(10_000),
      }),
    });
    try {
      const me = await sdk.users.getUserMe({}, {}, signal);
      return me.login && me.name ? `${me.name} (${me.login})` : (me.login ?? me.name ?? 'Box account');
    } catch (err) {
      throw classify(err);
    }
  },
};
