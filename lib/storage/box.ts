import { createHash, createPrivateKey, randomUUID, type KeyObject } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import type { OAuthProvider, TokenKeeper } from '../oauth/types';
import { CheckSteps, type CheckReport } from './check';
import { ChunkReader } from './chunks';
import {
  GrantTokens,
  TokenEndpoint,
  authorizeUrl,
  credentialsRefused,
  endpointBase,
  networkFailure,
  retryAfterOf,
  sendBuffers,
  signedJwt,
  withBearer,
  type BearerTokens,
  type RawResponse,
} from './http';
import { safeRelativePath } from './paths';
import { conflictError, probeFile, receipt, storedDifferentBytes } from './put';
import { ProviderError, withRetry, type RetryOptions } from './retry';
import type { PutOptions, PutResult, StorageAdapter, CheckOptions } from './types';

/**
 * Box storage through Box's documented HTTPS endpoints (token, folders, uploads, upload sessions),
 * called directly: the few requests the archive makes do not justify the SDK's 37 MB. Small files
 * go in one upload carrying the SHA-1 in `content-md5` (Box rejects bytes that do not match it);
 * larger ones go through an upload session, one part in memory at a time, each part with its own
 * SHA-1 digest and the whole file's at commit.
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
/** How often a commit that answered 202 (still processing parts) is asked again before withRetry takes over. */
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
  token: TokenEndpoint;
  authorizeUrl: string;
}

function hostsFor(endpoint: string | undefined): Hosts {
  const base = endpointBase(endpoint);
  const token = (url: string) =>
    new TokenEndpoint(url, { label: LABEL, refused: authError, network: classify });
  if (!base)
    return {
      baseUrl: API_URL,
      uploadUrl: UPLOAD_URL,
      oauth2Url: OAUTH2_URL,
      token: token(TOKEN_URL),
      authorizeUrl: AUTHORIZE_URL,
    };
  // Same paths as the real hosts, so one fake server can stand in for all three.
  return {
    baseUrl: base,
    uploadUrl: base + '/api',
    oauth2Url: base + '/api/oauth2',
    token: token(base + '/oauth2/token'),
    authorizeUrl: base + '/api/oauth2/authorize',
  };
}

// ---------------------------------------------------------------------------------------------
// Errors

function authError(reason: string): ProviderError {
  return credentialsRefused(LABEL, reason);
}

interface BoxErrorBody {
  code?: string;
  message?: string;
  error?: string;
  error_description?: string;
  context_info?: { conflicts?: unknown };
}

/** A ProviderError for an error answer of Box. */
function apiError(
  status: number,
  body: BoxErrorBody,
  headers: Record<string, string> | undefined,
): ProviderError {
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
    retryAfterMs: retryAfterOf(headers),
    // A full account refuses every file until space is freed: an outage, not the item's fault.
    target: status === 507 || code === 'storage_limit_exceeded' || undefined,
  });
}

/** Only Box's status, code and message go into errors, never the request (its Authorization header). */
function classify(err: unknown): unknown {
  return networkFailure(LABEL, err);
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
// Tokens

/** Where the requests get their bearer token. */
type BoxTokens = BearerTokens;

/**
 * OAuth tokens from the keeper. Box rotates refresh tokens (each works once), so a new set is
 * handed to keeper.save() before its access token is used.
 */
function keeperTokens(keeper: TokenKeeper, token: TokenEndpoint): BoxTokens {
  const { clientId, clientSecret } = keeper.client;
  return token.keeperTokens(keeper, { client_id: clientId, client_secret: clientSecret ?? '' });
}

/** What the JWT grant needs from the app's config JSON (as downloaded from the developer console). */
interface JwtAppConfig {
  clientId: string;
  clientSecret: string;
  keyId: string;
  subjectType: 'enterprise' | 'user';
  subjectId: string;
  key: KeyObject;
}

function parseJwtConfig(text: string): JwtAppConfig {
  const unusable = () =>
    new Error(`${LABEL}: the JWT app config is not the JSON file from the developer console`);
  let json: {
    boxAppSettings?: {
      clientID?: unknown;
      clientSecret?: unknown;
      appAuth?: { publicKeyID?: unknown; privateKey?: unknown; passphrase?: unknown };
    };
    enterpriseID?: unknown;
    userID?: unknown;
  };
  try {
    json = JSON.parse(text) as typeof json;
  } catch {
    throw unusable();
  }
  const app = json?.boxAppSettings;
  const auth = app?.appAuth;
  const str = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');
  const [clientId, clientSecret, keyId, privateKey] = [
    str(app?.clientID),
    str(app?.clientSecret),
    str(auth?.publicKeyID),
    str(auth?.privateKey),
  ];
  const enterpriseId = str(json?.enterpriseID);
  const userId = str(json?.userID);
  if (!clientId || !clientSecret || !keyId || !privateKey || (!enterpriseId && !userId)) throw unusable();
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: privateKey, format: 'pem', passphrase: str(auth?.passphrase) });
  } catch {
    throw new Error(
      `${LABEL}: the private key in the JWT app config cannot be read (a wrong passphrase or a damaged key)`,
    );
  }
  return {
    clientId,
    clientSecret,
    keyId,
    key,
    ...(enterpriseId
      ? { subjectType: 'enterprise', subjectId: enterpriseId }
      : { subjectType: 'user', subjectId: userId }),
  };
}

/**
 * JWT app auth: each token request carries a new assertion signed with the app's key and naming
 * it (`kid`), which Box needs to pick the public key as soon as the app has two (as while a key is
 * replaced).
 */
function jwtTokens(config: JwtAppConfig, token: TokenEndpoint): BoxTokens {
  return new GrantTokens(token, () => {
    const now = Math.floor(Date.now() / 1000);
    const assertion = signedJwt(
      { kid: config.keyId },
      {
        iss: config.clientId,
        sub: config.subjectId,
        box_sub_type: config.subjectType,
        // Box checks for this audience whichever host the request goes to.
        aud: 'https://api.box.com/oauth2/token',
        jti: randomUUID(),
        iat: now,
        // Box refuses an assertion living longer than 60 s.
        exp: now + 30,
      },
      config.key,
    );
    return {
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion,
      client_id: config.clientId,
      client_secret: config.clientSecret,
    };
  });
}

function boxTokens(auth: BoxAuth, hosts: Hosts): BoxTokens {
  switch (auth.kind) {
    case 'ccg':
      return new GrantTokens(hosts.token, () => ({
        grant_type: 'client_credentials',
        client_id: auth.clientId,
        client_secret: auth.clientSecret,
        ...(auth.userId
          ? { box_subject_type: 'user', box_subject_id: auth.userId }
          : { box_subject_type: 'enterprise', box_subject_id: auth.enterpriseId ?? '' }),
      }));
    case 'jwt':
      return jwtTokens(parseJwtConfig(auth.config), hosts.token);
    case 'oauth':
      return keeperTokens(auth.keeper, hosts.token);
  }
}

/**
 * Box's JSON requests with a bearer token: once more after a 401 with a refreshed token, an error
 * answer as the ProviderError apiError() makes of it.
 */
class BoxHttp {
  readonly agent: { http: http.Agent; https: https.Agent } = {
    http: new http.Agent({ keepAlive: true }),
    https: new https.Agent({ keepAlive: true }),
  };

  constructor(readonly tokens: BoxTokens) {}

  agentFor(url: string): http.Agent {
    return url.startsWith('https:') ? this.agent.https : this.agent.http;
  }

  async send(
    method: string,
    url: string,
    options: { json?: unknown; body?: Buffer[]; headers?: Record<string, string>; signal?: AbortSignal } = {},
  ): Promise<RawResponse> {
    const { signal } = options;
    const body =
      options.json !== undefined ? [Buffer.from(JSON.stringify(options.json))] : (options.body ?? []);
    return withBearer(
      this.tokens,
      signal,
      async (token) => {
        signal?.throwIfAborted();
        const headers: Record<string, string> = {
          accept: 'application/json',
          ...(options.json !== undefined ? { 'content-type': 'application/json' } : {}),
          ...options.headers,
          authorization: `Bearer ${token}`,
        };
        const res = await sendBuffers(LABEL, url, method, body, headers, this.agentFor(url), signal);
        if (res.status >= 200 && res.status < 300) return res;
        throw apiError(res.status, (res.body ?? {}) as BoxErrorBody, res.headers);
      },
      (err) => {
        if (!(err instanceof ProviderError) || err.status !== 401) return undefined;
        return err.code ?? 'unauthorized';
      },
      authError,
    );
  }

  /** A JSON answer's body, or an error when a 2xx answer had none. */
  async json<T>(method: string, url: string, options: Parameters<BoxHttp['send']>[2] = {}): Promise<T> {
    const res = await this.send(method, url, options);
    if (!res.body || typeof res.body !== 'object')
      throw new ProviderError(`${LABEL}: ${method} answered ${res.status} without a body`);
    return res.body as T;
  }

  close(): void {
    this.agent.http.destroy();
    this.agent.https.destroy();
  }
}

/** A multipart/form-data body for an upload: the attributes first, then the file, as Box wants. */
function multipart(attributes: object, file: Buffer): { body: Buffer[]; contentType: string } {
  const boundary = `rc-archiver-${randomUUID()}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="attributes"\r\n` +
      `Content-Type: application/json\r\n\r\n${JSON.stringify(attributes)}\r\n` +
      // The name Box stores comes from the attributes; the part's filename is a constant.
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="file"\r\n` +
      `Content-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return { body: [head, file, tail], contentType: `multipart/form-data; boundary=${boundary}` };
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
  return storedDifferentBytes(LABEL, `${path}: SHA-1 sent ${sent}, stored ${stored ?? 'none'}`);
}

interface Target {
  folderId: string;
  name: string;
  path: string;
}

/** The fields of a file in Box's answers that the adapter reads. */
interface BoxFile {
  id: string;
  sha1?: string;
  size?: number;
}

/** A part as the upload session acknowledged it; the commit lists them as they came. */
interface UploadPart {
  part_id: string;
  offset: number;
  size: number;
  sha1?: string;
}

const API = '/2.0';

// ---------------------------------------------------------------------------------------------
// The adapter

export class BoxStorage implements StorageAdapter {
  readonly provider = 'box';
  private readonly http: BoxHttp;
  private readonly hosts: Hosts;
  private readonly threshold: number;
  private readonly rootFolderId: string;
  private readonly rootSegments: string[];
  /** Folder ids by path below the root ('' is the root itself). */
  private readonly folders = new Map<string, string>();

  constructor(private readonly options: BoxStorageOptions) {
    const hosts = hostsFor(options.endpoint);
    this.hosts = hosts;
    this.http = new BoxHttp(boxTokens(options.auth, hosts));
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

  /** Runs one request with our retries; an abort surfaces as the signal's reason. */
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
      const query = new URLSearchParams({
        fields: 'name,size,sha1',
        offset: String(offset),
        limit: String(limit),
      });
      const url = `${this.hosts.baseUrl}${API}/folders/${encodeURIComponent(folderId)}/items?${query}`;
      const page = await this.call(
        () => this.http.json<{ entries?: unknown[]; total_count?: number }>('GET', url, { signal }),
        signal,
      );
      const entries = page.entries ?? [];
      for (const e of entries) {
        const item = e as { type?: string; id?: string; name?: string; size?: number; sha1?: string };
        if (item.type === type && item.name?.toLowerCase() === wanted && item.id)
          return { id: item.id, size: item.size, sha1: item.sha1 };
      }
      if (entries.length < limit || offset + limit >= (page.total_count ?? 0)) return undefined;
    }
  }

  private async ensureChild(parentId: string, name: string, signal?: AbortSignal): Promise<string> {
    try {
      const created = await this.call(
        () =>
          this.http.json<{ id?: string }>('POST', `${this.hosts.baseUrl}${API}/folders?fields=id`, {
            json: { name, parent: { id: parentId } },
            signal,
          }),
        signal,
      );
      if (!created.id) throw new ProviderError(`${LABEL}: the new folder ${name} came back without an id`);
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

  async check(options: CheckOptions = {}): Promise<CheckReport> {
    const steps = new CheckSteps(this.provider);
    const api = `${this.hosts.baseUrl}${API}`;
    try {
      await steps.request('login', () =>
        this.call(() => this.http.send('GET', `${api}/users/me?fields=id`), undefined),
      );
      const id = await steps.request('folder', async () => {
        const found = (await this.folderId([], true))!;
        await this.call(
          () => this.http.send('GET', `${api}/folders/${encodeURIComponent(found)}?fields=id`),
          undefined,
        );
        return found;
      });
      if (!options.leaveNoTrace) {
        const probe = probeFile();
        await steps.request('write', () => this.put(probe.name, probe.body(), probe.options));
        await steps.request('remove', async () => {
          const file = await this.findChild(id, boxName(probe.name), 'file');
          if (!file)
            throw new ProviderError(
              `${LABEL}: the probe file ${probe.name} is not listed in the root folder`,
            );
          await this.call(
            () => this.http.send('DELETE', `${api}/files/${encodeURIComponent(file.id)}`),
            undefined,
          );
        });
      } else steps.skipped('write', 'leaveNoTrace');
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
    this.http.close();
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
    return receipt(t.path, reader, sha1hex, alreadyPresent);
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
    let stored: BoxFile | undefined;
    let newFile = true;
    const upload = (path: string, attributes: object) => {
      const form = multipart(attributes, chunk);
      return this.call(
        () =>
          this.http.json<{ entries?: BoxFile[] }>(
            'POST',
            `${this.hosts.uploadUrl}${API}${path}?fields=id,sha1,size`,
            {
              body: form.body,
              headers: { 'content-type': form.contentType, 'content-md5': digest },
              signal,
            },
          ),
        signal,
      );
    };
    try {
      const res = await upload('/files/content', { name: t.name, parent: { id: t.folderId } });
      stored = res.entries?.[0];
    } catch (err) {
      const existing = conflictsOf(err).find((c) => c.type === 'file' && c.id);
      if (!isNameInUse(err) || !existing?.id) throw classify(err);
      if (existing.sha1?.toLowerCase() === digest) return this.result(t, reader, digest, true);
      if (role === 'content') throw conflictError(t.path);
      // A sidecar replaces what is there: a new version of the same file, not a second file.
      newFile = false;
      const res = await upload(`/files/${encodeURIComponent(existing.id)}/content`, { name: t.name });
      stored = res.entries?.[0];
    }
    await this.verify(t, stored, digest, newFile);
    return this.result(t, reader, digest, false);
  }

  /** Box's answer must carry the SHA-1 that was sent; a new file that does not is deleted. */
  private async verify(
    t: Target,
    stored: BoxFile | undefined,
    digest: string,
    newFile: boolean,
  ): Promise<void> {
    const got = stored?.sha1?.toLowerCase();
    if (got === digest) return;
    if (stored?.id && newFile) {
      const url = `${this.hosts.baseUrl}${API}/files/${encodeURIComponent(stored.id)}`;
      await this.call(() => this.http.send('DELETE', url), undefined).catch(() => undefined);
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
    let session: { id?: string; part_size?: number } | undefined;
    const sessions = `${this.hosts.uploadUrl}${API}/files`;
    try {
      session = await this.call(
        () =>
          this.http.json<typeof session & object>('POST', `${sessions}/upload_sessions`, {
            json: { folder_id: t.folderId, file_size: size, file_name: t.name },
            signal,
          }),
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
      const url = `${sessions}/${encodeURIComponent(existing.id!)}/upload_sessions`;
      session = await this.call(
        () =>
          this.http.json<typeof session & object>('POST', url, {
            json: { file_size: size, file_name: t.name },
            signal,
          }),
        signal,
      );
    }
    const sessionId = session?.id;
    if (!sessionId) throw new ProviderError(`${LABEL}: the upload session came back without an id`);
    const partSize = session?.part_size ?? this.threshold;
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
        parts.push(uploaded);
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
        const url = `${sessions}/upload_sessions/${encodeURIComponent(sessionId)}`;
        await this.http.send('DELETE', url).catch(() => undefined);
      }
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * PUTs one part of an upload session, its bytes sent from where they are: a part-sized copy per
   * request would outlive it, pile up in V8's old space and push a 1 GiB upload well past 200 MB.
   */
  private async putPart(
    sessionId: string,
    part: Buffer,
    digest: string,
    contentRange: string,
    signal?: AbortSignal,
  ): Promise<UploadPart> {
    const url = `${this.hosts.uploadUrl}${API}/files/upload_sessions/${encodeURIComponent(sessionId)}`;
    const res = await this.http.json<{ part?: UploadPart }>('PUT', url, {
      body: [part],
      headers: { 'content-type': 'application/octet-stream', 'content-range': contentRange, digest },
      signal,
    });
    if (!res.part?.part_id) throw new ProviderError(`${LABEL}: the part upload was answered without a part`);
    return res.part;
  }

  private async commit(
    sessionId: string,
    parts: UploadPart[],
    digestBuf: Buffer,
    t: Target,
    digest: string,
    role: 'content' | 'sidecar',
    signal?: AbortSignal,
  ): Promise<BoxFile | 'present'> {
    const url = `${this.hosts.uploadUrl}${API}/files/upload_sessions/${encodeURIComponent(sessionId)}/commit?fields=id,sha1,size`;
    const maxDelayMs = this.options.retry?.maxDelayMs ?? 120_000;
    try {
      const res = await this.call(async () => {
        for (let poll = 1; ; poll++) {
          const r = await this.http.send('POST', url, {
            json: { parts },
            headers: { digest: `sha=${digestBuf.toString('base64')}` },
            signal,
          });
          if (r.status !== 202) return r.body as { entries?: BoxFile[] } | undefined;
          // 202: Box is still processing the parts and says when to ask again.
          if (poll >= COMMIT_POLLS)
            throw new ProviderError(`${LABEL}: the upload is still being processed`, {
              status: 202,
              retryable: true,
            });
          const ms = retryAfterOf(r.headers) ?? 1000;
          await delay(Math.min(ms, maxDelayMs), undefined, { signal });
        }
      }, signal);
      const stored = res?.entries?.[0];
      if (!stored) throw new ProviderError(`${LABEL}: the commit was answered without the file`);
      return stored;
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
    return authorizeUrl(hostsFor(client.endpoint).authorizeUrl, { client, redirectUri, state });
  },

  async exchangeCode({ client, code, redirectUri, signal }) {
    if (!client.clientSecret) throw new Error(`${LABEL}: the client secret is needed to connect`);
    return hostsFor(client.endpoint).token.exchangeCode(
      {
        code,
        redirect_uri: redirectUri,
        client_id: client.clientId,
        client_secret: client.clientSecret,
      },
      signal,
    );
  },

  async accountName({ client, tokens, signal }) {
    const hosts = hostsFor(client.endpoint);
    const http = new BoxHttp({ get: () => Promise.resolve(tokens.accessToken) });
    try {
      const me = await http.json<{ name?: string; login?: string }>(
        'GET',
        `${hosts.baseUrl}${API}/users/me`,
        {
          signal,
        },
      );
      return me.login && me.name ? `${me.name} (${me.login})` : (me.login ?? me.name ?? 'Box account');
    } catch (err) {
      throw classify(err);
    } finally {
      http.close();
    }
  },
};
