import type { Readable } from 'node:stream';
import { SDK } from '@ringcentral/sdk';
import {
  abortReason,
  apiGroupOf,
  onAbort,
  RateBudget,
  readRateLimitHeaders,
  sleep,
  type BudgetPermit,
  type RateBudgetOptions,
} from './budget';
import { ContentBody, DownloadAgents, ResumingContent, type ContentPart } from './content';
import { RcApiError, redactSecrets } from './errors';
import { groupFor, pathOf } from './groups';
import { loginIdOf, type RcSession, type RcSessionStore } from './session';
import type { CallLogRecord } from './call-log-types';
import type { ApiGroup, ContentFetcher, ContentResponse, OpenContentOptions } from './types';

export { RcApiError } from './errors';

export const RC_SERVERS = {
  production: 'https://platform.ringcentral.com',
  sandbox: 'https://platform.devtest.ringcentral.com',
} as const;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface RcClientOptions {
  /** "production", "sandbox" or the platform URL (http or https). */
  server: string;
  clientId: string;
  clientSecret: string;
  jwt: string;
  /** Unique per login (e.g. the rc-config node's id): SDK instances must never share tokens. */
  cachePrefix?: string;
  /**
   * Keeps the tokens and what each API group has spent across a restart (one store per
   * rc-config). Only one client at a time may use a store: a refresh token is single-use.
   */
  session?: RcSessionStore;
  /** Longest wait for an answer (headers and, for JSON, the body). Default 60 s. */
  requestTimeoutMs?: number;
  /** A download errors after this long without a byte. Default 60 s. */
  idleTimeoutMs?: number;
  /**
   * Requests after a download was cut short, each for the rest from the byte reached (`Range`),
   * before it fails. Default 3; 0 turns resuming off.
   */
  maxResumes?: number;
  /**
   * Hosts (and their subdomains) besides RingCentral's own that may receive the access token
   * with an absolute URI. The platform's host and domain, ringcentral.com, ringcentral.biz and
   * glip.com are always trusted.
   */
  trustedHosts?: string[];
  /** Tries after a 429 (each waits out the penalty). Default 3. */
  maxRateLimitRetries?: number;
  /** Tries after a 5xx or a network error (idempotent requests). Default 3. */
  maxServerErrorRetries?: number;
  /** First back-off after a 5xx; doubles each time. Default 1000 ms. */
  retryBaseMs?: number;
  /** Options of every group's budget (margin, penalty defaults). */
  budget?: Omit<RateBudgetOptions, 'limit' | 'windowSec' | 'onChange'>;
  log?: (level: LogLevel, message: string) => void;
  /**
   * Called when RingCentral refuses the JWT login itself (an invalid JWT or app: 400/401/403 at
   * the token endpoint), as opposed to a limit, an outage or a network error. A pool of logins
   * takes such a login out of service.
   */
  onLoginRefused?: (error: RcApiError) => void;
}

export interface RcConnectionSettings {
  server: string;
  clientId: string;
  clientSecret: string;
  jwt: string;
}

export type QueryValue = string | number | boolean | undefined | null | Array<string | number | boolean>;

export interface RequestOptions {
  query?: Record<string, QueryValue>;
  body?: unknown;
  /** Defaults to the operation's group in RingCentral's table. */
  group?: ApiGroup;
  signal?: AbortSignal;
}

// ---------------------------------------------------------------------------------------------
// Call log types: see ./call-log-types

export type {
  CallLogParty,
  CallLogRecording,
  CallLogExtensionRef,
  CallLogRecordBase,
  CallLogLeg,
  CallLogRecord,
} from './call-log-types';

export interface PageNavigation {
  firstPage?: { uri?: string };
  nextPage?: { uri?: string };
  previousPage?: { uri?: string };
  lastPage?: { uri?: string };
}

export interface CallLogPage {
  uri?: string;
  records?: CallLogRecord[];
  navigation?: PageNavigation;
  paging?: { page?: number; perPage?: number; totalPages?: number; totalElements?: number };
}

export interface ListCallLogOptions {
  scope: 'account' | 'extension';
  /** For scope "extension"; "~" (the logged-in extension) by default. */
  extensionId?: string;
  /** Always sent: RingCentral otherwise returns only the last 24 hours. */
  dateFrom: string;
  dateTo?: string;
  view?: 'Simple' | 'Detailed';
  /** 1–1000, default 1000. */
  perPage?: number;
  recordingType?: 'Automatic' | 'OnDemand' | 'All';
  type?: 'Voice' | 'Fax';
  /** Deprecated by RingCentral in favour of recordingType. */
  withRecording?: boolean;
  signal?: AbortSignal;
}

// ---------------------------------------------------------------------------------------------
// Message store types (the parts of GetMessageInfoResponse the archiver reads)

export interface MessageRecord {
  /** int64: exact in `uri`. */
  id: number | string;
  uri?: string;
  type?: string;
  creationTime: string;
  direction?: 'Inbound' | 'Outbound';
  from?: { phoneNumber?: string; extensionNumber?: string; extensionId?: string; name?: string };
  to?: Array<{ phoneNumber?: string; extensionNumber?: string; extensionId?: string; name?: string }>;
  attachments?: Array<{
    id?: number | string;
    uri?: string;
    type?: string;
    contentType?: string;
    fileName?: string;
    size?: number;
    vmDuration?: number;
  }>;
  /** Beyond 2^53: digits are lost in JSON.parse. Use `conversation.id`. */
  conversationId?: unknown;
  conversation?: { id?: string; uri?: string };
  [field: string]: unknown;
}

export interface MessageListPage {
  uri?: string;
  records?: MessageRecord[];
  navigation?: PageNavigation;
  paging?: { page?: number; perPage?: number; totalPages?: number; totalElements?: number };
}

export interface ListMessagesOptions {
  /** "~" (the logged-in extension) by default. */
  extensionId?: string;
  /** Always sent: RingCentral otherwise returns only the last 24 hours. */
  dateFrom: string;
  dateTo?: string;
  /** VoiceMail, Fax, SMS, Pager; all when absent. */
  messageType?: string[];
  /** Alive, Deleted, Purged; RingCentral's default when absent. */
  availability?: string[];
  /** 1–1000, default 1000. */
  perPage?: number;
  signal?: AbortSignal;
}

export interface ConnectionInfo {
  accountId: string;
  accountName?: string;
  mainNumber?: string;
  extensionId: string;
  extensionNumber?: string;
  name?: string;
  isAdmin?: boolean;
  /** Of ReadCallLog, ReadCallRecording, ReadAccounts: those the app or user lacks. */
  missingPermissions: string[];
}

export const REQUIRED_PERMISSIONS = ['ReadCallLog', 'ReadCallRecording', 'ReadAccounts'] as const;

// ---------------------------------------------------------------------------------------------
// Settings

/** The platform URL of "production", "sandbox" or a URL (http or https only). */
export function resolveServer(server: string | undefined): string {
  const value = (server ?? '').trim();
  if (!value || value.toLowerCase() === 'production') return RC_SERVERS.production;
  if (value.toLowerCase() === 'sandbox') return RC_SERVERS.sandbox;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(
      `RingCentral server "${value.slice(0, 100)}" is not valid: use "production", "sandbox" or an http(s) URL`,
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`RingCentral server must be an http(s) URL, not ${url.protocol.replace(/:$/, '')}`);
  }
  if (url.username || url.password)
    throw new Error('RingCentral server URL must not contain a user name or password');
  return (url.origin + url.pathname).replace(/\/+$/, '');
}

/**
 * Fills empty settings from the environment (RC_SERVER, RC_CLIENT_ID, RC_CLIENT_SECRET, RC_JWT)
 * and checks that nothing is missing. The server defaults to production.
 */
export function configFromEnv(
  partial: Partial<Record<keyof RcConnectionSettings, string | undefined | null>> = {},
  env: NodeJS.ProcessEnv = process.env,
): RcConnectionSettings {
  const pick = (value: string | undefined | null, name: string) => {
    const own = typeof value === 'string' ? value.trim() : '';
    return own || (env[name] ?? '').trim();
  };
  const settings = {
    server: pick(partial.server, 'RC_SERVER'),
    clientId: pick(partial.clientId, 'RC_CLIENT_ID'),
    clientSecret: pick(partial.clientSecret, 'RC_CLIENT_SECRET'),
    jwt: pick(partial.jwt, 'RC_JWT'),
  };
  const missing: string[] = [];
  if (!settings.clientId) missing.push('client ID (RC_CLIENT_ID)');
  if (!settings.clientSecret) missing.push('client secret (RC_CLIENT_SECRET)');
  if (!settings.jwt) missing.push('JWT (RC_JWT)');
  if (missing.length) {
    throw new Error(
      `RingCentral settings missing: ${missing.join(', ')}. Set them in the RingCentral config node or the environment.`,
    );
  }
  return { ...settings, server: resolveServer(settings.server) };
}

// ---------------------------------------------------------------------------------------------
// node-fetch v2 as the SDK uses it (typed as far as needed here)

interface FetchHeaders {
  get(name: string): string | null;
  set(name: string, value: string): void;
}

interface FetchResponse {
  ok: boolean;
  status: number;
  statusText: string;
  url: string;
  headers: FetchHeaders;
  body: Readable | null;
  text(): Promise<string>;
}

interface FetchRequest {
  url: string;
  method: string;
  headers: FetchHeaders;
  signal?: AbortSignal | null;
}

type FetchImpl = (request: FetchRequest) => Promise<FetchResponse>;
type RequestCtor = new (input: FetchRequest, init: Record<string, unknown>) => FetchRequest;

interface SdkError extends Error {
  response?: FetchResponse;
}

interface TokenData {
  access_token?: string;
  expire_time?: number;
  expires_in?: string | number;
  refresh_token?: string;
  refresh_token_expire_time?: number;
  scope?: string;
  owner_id?: string;
}

/** Token storage of one client (the SDK's Cache reads it like localStorage, keys() for clean). */
class MemoryStorage {
  private readonly items = new Map<string, string>();
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, String(value));
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
  keys(): string[] {
    return [...this.items.keys()];
  }
  clear(): void {
    this.items.clear();
  }
  get length(): number {
    return this.items.size;
  }
}

/** One try of one request: its abort signal, its timeout, what the fetch gate learned. */
interface Attempt {
  group: ApiGroup;
  signal: AbortSignal;
  tokenUsed?: string;
  /** Starts the request timeout (called when the request really goes out). */
  sent(): void;
  clearTimer(): void;
  timedOut(): boolean;
  abort(): void;
  /** Unlinks the attempt from the caller's signal and the client; stops its timer. */
  release(): void;
  /** Set when the response outlives the attempt (a content stream owns it). */
  keep?: boolean;
  /** A permit the caller already holds (from a scheduler's grant): used instead of acquiring one. */
  permit?: BudgetPermit;
}

const RETRYABLE_STATUS = new Set([500, 502, 503, 504]);

/**
 * RingCentral said no to the login itself (invalid JWT, unknown or wrong app, a user without
 * access): trying again cannot help until the settings change. A 429, a 5xx or a network error
 * is not a refusal.
 */
export function isLoginRefusal(err: unknown): err is RcApiError {
  return (
    err instanceof RcApiError &&
    err.path === '/restapi/oauth/token' &&
    (err.status === 400 || err.status === 401 || err.status === 403)
  );
}
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);
let instances = 0;

/**
 * A RingCentral client for one login (one rc-config): JWT login on first use, token refresh
 * ahead of expiry (serialised, never on every request), re-login when a refresh or a request is
 * refused, one rate budget per API group that every request of this login passes through, paging,
 * and content streams that cannot hang.
 */
export class RcClient implements ContentFetcher {
  readonly server: string;
  /** Counters, for tests and status: logins and refreshes done, 429s seen. */
  readonly stats = { logins: 0, refreshes: 0, revocations: 0, rateLimited: 0, requests: 0 };
  private readonly options: RcClientOptions;
  private readonly sdk: SDK;
  private readonly rawFetch: FetchImpl;
  private readonly RequestImpl: RequestCtor;
  private readonly budgets: Record<ApiGroup, RateBudget>;
  private readonly lifetime = new AbortController();
  private readonly attempts = new WeakMap<AbortSignal, Attempt>();
  private readonly bodies = new Set<ContentBody>();
  private authChain: Promise<unknown> = Promise.resolve();
  private disposed = false;
  /** Which login this is (server, app, JWT), so a kept session of another one is not used. */
  private readonly loginId: string;
  /** The tokens as last kept in the session store. */
  private tokens: Record<string, unknown> | undefined;
  /** Settles once the kept tokens are in the SDK's storage. */
  private readonly restored: Promise<void>;
  /** Tokens kept under a JWT this node no longer uses (see revokeReplaced). */
  private replaced: Record<string, unknown> | undefined;
  private saveFailed = false;
  private saveQueued = false;

  constructor(options: RcClientOptions) {
    for (const name of ['clientId', 'clientSecret', 'jwt'] as const) {
      if (!options[name])
        throw new Error(`RingCentral client needs ${name === 'jwt' ? 'a JWT' : `a ${name}`}`);
    }
    this.options = { ...options };
    this.server = resolveServer(options.server);
    const cachePrefix = options.cachePrefix || `rcarchiver-${process.pid}-${++instances}-`;
    this.sdk = new SDK({
      server: this.server,
      clientId: options.clientId,
      clientSecret: options.clientSecret,
      cachePrefix,
      // Rate limits are this client's business: the SDK must neither wait nor retry on its own.
      handleRateLimit: false,
      refreshDelayMs: 0,
      // A failed refresh is followed by a JWT login here; the SDK must not wipe tokens on a 429.
      clearCacheOnRefreshError: false,
      appName: 'node-red-ringcentral-archiver',
      // Each client keeps its tokens in its own memory; the session store gets a copy of its own.
      localStorage: new MemoryStorage() as unknown as Storage,
    });
    const externals = this.sdk.externals();
    this.rawFetch = externals.fetch as FetchImpl;
    this.RequestImpl = externals.Request as RequestCtor;
    // Every request the SDK sends (API calls, login, refresh) passes the rate budget here.
    externals.fetch = (request: FetchRequest) => this.gatedFetch(request);
    // Token life is managed here (ensureToken): the SDK's own check would refresh before every
    // request when tokens live less than a minute, and burn the Auth budget.
    this.sdk.platform().ensureLoggedIn = async () => null;

    this.loginId = loginIdOf({ server: this.server, clientId: options.clientId, jwt: options.jwt });
    const stored = this.keptSession();
    const kept = stored?.login === this.loginId ? stored : undefined;
    // Another JWT of the same app on the same server: its session can still be revoked.
    if (!kept && stored?.server === this.server && stored.clientId === options.clientId)
      this.replaced = stored.tokens;
    const groups: ApiGroup[] = ['Light', 'Medium', 'Heavy', 'Auth'];
    this.budgets = Object.fromEntries(
      groups.map((g) => [
        g,
        new RateBudget(g, { firstAnswerGate: true, ...options.budget, restore: kept?.budgets?.[g] }),
      ]),
    ) as Record<ApiGroup, RateBudget>;
    for (const budget of Object.values(this.budgets)) budget.on('spent', () => this.queueSave());
    this.tokens = kept?.tokens;
    this.restored = kept?.tokens
      ? this.sdk
          .platform()
          .auth()
          .setData(kept.tokens as never)
          .catch(() => {
            this.tokens = undefined;
          })
      : Promise.resolve();
  }

  /** The rate budget of one API group of this login (shared by everything that uses it). */
  budget(group: ApiGroup): RateBudget {
    return this.budgets[group];
  }

  /**
   * Sends one API request and returns its JSON (undefined for an empty answer). A GET answer cut
   * short or malformed is asked for again, like a 5xx.
   */
  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const upper = method.toUpperCase();
    // A GET gets its own connection, watched: an answer cut off by a clean close is noticed at
    // once (node-fetch would wait for the rest until the request timeout).
    const watched = upper === 'GET';
    let agents: DownloadAgents | undefined;
    try {
      return await this.exchange(
        {
          method: upper,
          url: path,
          query: options.query,
          body: options.body,
          group: options.group ?? groupFor(upper, path),
          signal: options.signal,
          ...(watched
            ? {
                agents: () => {
                  agents?.destroy();
                  agents = new DownloadAgents();
                  return agents;
                },
              }
            : {}),
        },
        async (response) => {
          const text = agents ? await this.answerText(response, agents, upper, path) : await response.text();
          if (!text.trim()) return undefined as T;
          try {
            return JSON.parse(text) as T;
          } catch {
            // Retried like a 5xx when the method is idempotent (see classify): often a cut answer.
            const bytes = Buffer.byteLength(text);
            throw new RcApiError(
              `RingCentral answered ${upper} ${pathOf(path)} with invalid JSON (malformed or cut short, ${bytes} bytes)`,
              {
                status: response.status,
                errorCode: 'InvalidJson',
                method: upper,
                path: pathOf(path),
              },
            );
          }
        },
      );
    } finally {
      agents?.destroy();
    }
  }

  /** The text of an answer, checked against Content-Length and the connection's close. */
  private async answerText(
    response: FetchResponse,
    agents: DownloadAgents,
    method: string,
    path: string,
  ): Promise<string> {
    const source = response.body;
    if (!source) return '';
    const lengthHeader = response.headers.get('content-length');
    const length = Number(lengthHeader);
    const encoding = (response.headers.get('content-encoding') ?? 'identity').trim().toLowerCase();
    // node-fetch inflates a compressed answer: Content-Length then counts other bytes.
    const expected =
      encoding === 'identity' && lengthHeader !== null && Number.isSafeInteger(length) ? length : undefined;
    const body = new ContentBody(source, {
      expected,
      idleTimeoutMs: this.options.requestTimeoutMs ?? 60_000,
      what: `${method} ${pathOf(path)}`,
      label: 'RingCentral answer',
      onClose: () => agents.destroy(),
    });
    agents.watchClose(() => body.connectionClose());
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  /**
   * Call-log records page by page (Heavy). Sends dateFrom always and follows
   * navigation.nextPage.uri, as given, until there is none; totals are not trusted.
   */
  async *listCallLog(options: ListCallLogOptions): AsyncGenerator<CallLogRecord[], void, undefined> {
    if (!options.dateFrom)
      throw new Error('listCallLog needs dateFrom (RingCentral defaults to the last 24 hours)');
    const path =
      options.scope === 'account'
        ? '/restapi/v1.0/account/~/call-log'
        : `/restapi/v1.0/account/~/extension/${encodeURIComponent(options.extensionId || '~')}/call-log`;
    const perPage = Math.min(1000, Math.max(1, Math.floor(options.perPage ?? 1000)));
    let url: string | undefined = path;
    let query: Record<string, QueryValue> | undefined = {
      dateFrom: options.dateFrom,
      dateTo: options.dateTo,
      view: options.view ?? 'Simple',
      perPage,
      recordingType: options.recordingType,
      type: options.type,
      withRecording: options.withRecording,
    };
    const seen = new Set<string>();
    while (url) {
      const page: CallLogPage | undefined = await this.request<CallLogPage>('GET', url, {
        query,
        group: 'Heavy',
        signal: options.signal,
      });
      yield page?.records ?? [];
      const next: string | undefined = page?.navigation?.nextPage?.uri;
      if (!next) return;
      if (seen.has(next))
        throw new RcApiError(`RingCentral call log paging repeats a page (${pathOf(next)})`);
      seen.add(next);
      url = next;
      query = undefined;
    }
  }

  /**
   * Message-store messages of one extension page by page (Light): dateFrom always sent, the
   * messageType filter repeated per type, perPage up to 1000, navigation.nextPage.uri followed as
   * given until there is none. `conversationId` in the answer exceeds JavaScript's safe integers:
   * read `conversation.id` (a string) instead.
   */
  async *listMessages(options: ListMessagesOptions): AsyncGenerator<MessageRecord[], void, undefined> {
    if (!options.dateFrom)
      throw new Error('listMessages needs dateFrom (RingCentral defaults to the last 24 hours)');
    const path = `/restapi/v1.0/account/~/extension/${encodeURIComponent(options.extensionId || '~')}/message-store`;
    const perPage = Math.min(1000, Math.max(1, Math.floor(options.perPage ?? 1000)));
    let url: string | undefined = path;
    let query: Record<string, QueryValue> | undefined = {
      dateFrom: options.dateFrom,
      dateTo: options.dateTo,
      messageType: options.messageType?.length ? options.messageType : undefined,
      availability: options.availability?.length ? options.availability : undefined,
      perPage,
    };
    const seen = new Set<string>();
    while (url) {
      const page: MessageListPage | undefined = await this.request<MessageListPage>('GET', url, {
        query,
        group: 'Light',
        signal: options.signal,
      });
      yield page?.records ?? [];
      const next: string | undefined = page?.navigation?.nextPage?.uri;
      if (!next) return;
      if (seen.has(next))
        throw new RcApiError(`RingCentral message store paging repeats a page (${pathOf(next)})`);
      seen.add(next);
      url = next;
      query = undefined;
    }
  }

  /**
   * Opens a content download (recording, attachment, export dataset): the absolute URI as given,
   * Bearer auth, the group's budget (Heavy by default). The body errors when the connection goes
   * idle, when it ends short of Content-Length, and aborts the request when destroyed. A body cut
   * short is asked for again from the byte it reached (`Range`, through the same group's budget),
   * up to `maxResumes` times, and goes on in the same stream.
   */
  async openContent(uri: string, options: OpenContentOptions = {}): Promise<ContentResponse> {
    const what = `GET ${pathOf(uri)}`;
    const group = options.group ?? 'Heavy';
    const { signal } = options;
    // A permit given by the scheduler pays for the first request only; a resume acquires its own.
    const first = await this.openContentPart(uri, what, group, signal, 0, undefined, options.permit);
    const maxResumes = Math.max(0, Math.floor(this.options.maxResumes ?? 3));
    const body = new ResumingContent({
      what,
      first,
      maxResumes,
      canResume: () => !this.disposed && !signal?.aborted,
      reopen: async (offset, resume) => {
        // The first resume goes at once; further ones back off as after a failed request.
        if (resume > 1) await this.pause(this.backoff(resume - 1), signal);
        return this.openContentPart(uri, what, group, signal, offset, first.total);
      },
      log: (message) => this.log('warn', message),
    });
    return { body, contentType: first.contentType, contentLength: first.total };
  }

  /** One request of a download, from `offset` on (`Range`) when it is not 0. */
  private async openContentPart(
    uri: string,
    what: string,
    group: ApiGroup,
    signal: AbortSignal | undefined,
    offset: number,
    total?: number,
    permit?: BudgetPermit,
  ): Promise<ContentPart & { contentType?: string }> {
    let agents = new DownloadAgents();
    let opened = false;
    try {
      return await this.exchange(
        {
          method: 'GET',
          url: uri,
          group,
          signal,
          permit,
          download: true,
          ...(offset > 0 ? { headers: { Range: `bytes=${offset}-` } } : {}),
          agents: () => {
            agents.destroy();
            agents = new DownloadAgents();
            return agents;
          },
        },
        async (response, attempt) => {
          attempt.clearTimer();
          const source = response.body;
          if (!source)
            throw new RcApiError(`RingCentral answered ${what} without a body`, { status: response.status });
          const lengthHeader = response.headers.get('content-length');
          const length = Number(lengthHeader);
          const contentLength = lengthHeader !== null && Number.isSafeInteger(length) ? length : undefined;
          const contentType = response.headers.get('content-type') ?? undefined;
          const etag = response.headers.get('etag') ?? undefined;
          let start = 0;
          let size = contentLength;
          if (response.status === 206) {
            const range = parseContentRange(response.headers.get('content-range'));
            if (!range) {
              throw new RcApiError(`RingCentral answered ${what} with 206 without a valid Content-Range`, {
                status: 206,
                errorCode: 'InvalidContentRange',
                method: 'GET',
                path: pathOf(uri),
                group,
              });
            }
            start = range.start;
            size = range.total ?? total;
          }
          const owned = agents;
          const body = new ContentBody(source, {
            expected: contentLength,
            idleTimeoutMs: this.options.idleTimeoutMs ?? 60_000,
            what,
            offset: start,
            total: size,
            onClose: () => {
              this.bodies.delete(body);
              attempt.abort();
              attempt.release();
              owned.destroy();
            },
          });
          owned.watchClose(() => body.connectionClose());
          this.bodies.add(body);
          attempt.keep = true;
          opened = true;
          return { body, status: response.status, start, total: size, etag, contentType };
        },
      );
    } finally {
      if (!opened) agents.destroy();
    }
  }

  /** Account, extension and the permissions the archiver needs that are missing. */
  async testConnection(signal?: AbortSignal): Promise<ConnectionInfo> {
    interface Account {
      id?: number | string;
      name?: string;
      companyName?: string;
      mainNumber?: string;
      operator?: { name?: string };
    }
    interface Extension {
      id?: number | string;
      extensionNumber?: string;
      name?: string;
      contact?: { firstName?: string; lastName?: string; company?: string };
      permissions?: { admin?: { enabled?: boolean } };
      account?: { id?: string | number };
    }
    interface AuthzProfile {
      permissions?: Array<{ permission?: { id?: string } }>;
    }
    const forbidden = new Set<string>();
    // Without ReadAccounts these answer 403: report it as missing rather than fail.
    const read = async <T>(path: string): Promise<T | undefined> => {
      try {
        return await this.request<T>('GET', path, { signal });
      } catch (err) {
        if (err instanceof RcApiError && err.status === 403) {
          forbidden.add('ReadAccounts');
          return undefined;
        }
        throw err;
      }
    };
    const account = (await read<Account>('/restapi/v1.0/account/~')) ?? {};
    const extension = (await read<Extension>('/restapi/v1.0/account/~/extension/~')) ?? {};
    let profile: AuthzProfile | undefined;
    try {
      profile = await this.request<AuthzProfile>('GET', '/restapi/v1.0/account/~/extension/~/authz-profile', {
        signal,
      });
    } catch (err) {
      if (!(err instanceof RcApiError) || (err.status !== 403 && err.status !== 404)) throw err;
    }
    const token = (await this.sdk.platform().auth().data()) as TokenData;
    const scopes = new Set((token.scope ?? '').split(/[\s,]+/).filter(Boolean));
    const granted = new Set(
      (profile?.permissions ?? []).map((p) => p.permission?.id).filter(Boolean) as string[],
    );
    // App permissions are the token's scope. The user's permissions (authz-profile) use other
    // names, except ReadCallLog; without a scope in the token, the profile is all there is.
    const missingPermissions = REQUIRED_PERMISSIONS.filter((p) => {
      if (forbidden.has(p)) return true;
      if (scopes.size && !scopes.has(p)) return true;
      if (!profile) return false;
      return (!scopes.size || p === 'ReadCallLog') && !granted.has(p);
    });
    const contactName = [extension.contact?.firstName, extension.contact?.lastName].filter(Boolean).join(' ');
    return {
      accountId: String(account.id ?? extension.account?.id ?? ''),
      accountName: account.name ?? account.companyName ?? extension.contact?.company ?? undefined,
      mainNumber: account.mainNumber,
      extensionId: String(extension.id ?? token.owner_id ?? ''),
      extensionNumber: extension.extensionNumber,
      name: extension.name || contactName || undefined,
      isAdmin: extension.permissions?.admin?.enabled,
      missingPermissions,
    };
  }

  /**
   * Ends this login's session at RingCentral and forgets its tokens (when its rc-config is
   * removed, or after a one-off connection test), so it does not hold one of the user's sessions.
   */
  async revokeSession(): Promise<void> {
    await this.restored;
    await this.serialAuth(() => this.revokeHeld());
  }

  /**
   * Stops everything: rejects budget waiters, aborts requests and downloads. No logout: the
   * session store keeps the tokens and the budgets' state for the next start.
   */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.saveSession();
    this.disposed = true;
    this.lifetime.abort(new Error('RingCentral client closed'));
    for (const budget of Object.values(this.budgets)) budget.dispose();
    for (const body of [...this.bodies]) body.destroy(new Error('RingCentral client closed'));
    this.bodies.clear();
  }

  // -------------------------------------------------------------------------------------------
  // Sending

  /**
   * Sends a request with retries: after a 429 (the group has been paused by the fetch gate),
   * after a 401 (one JWT login), after a 5xx or a network error (idempotent requests, backing off).
   * `consume` reads the answer within the same attempt (its timeout still runs).
   */
  private async exchange<R>(
    request: {
      method: string;
      url: string;
      query?: Record<string, QueryValue>;
      body?: unknown;
      group: ApiGroup;
      signal?: AbortSignal;
      download?: boolean;
      agents?: () => DownloadAgents;
      headers?: Record<string, string>;
      /** Pays for the first try (see Attempt.permit); later tries acquire their own. */
      permit?: BudgetPermit;
    },
    consume: (response: FetchResponse, attempt: Attempt) => Promise<R>,
  ): Promise<R> {
    let given = request.permit;
    try {
      return await this.exchangeTries(request, consume, () => {
        const permit = given;
        given = undefined;
        return permit;
      });
    } finally {
      // Not sent after all (closed, aborted, refused before the fetch): the slot goes back.
      given?.cancel();
    }
  }

  private async exchangeTries<R>(
    request: Parameters<RcClient['exchange']>[0],
    consume: (response: FetchResponse, attempt: Attempt) => Promise<R>,
    takeGiven: () => BudgetPermit | undefined,
  ): Promise<R> {
    const { method, url, group, signal } = request;
    const path = pathOf(url);
    this.checkTarget(url, method);
    const maxRateLimited = this.options.maxRateLimitRetries ?? 3;
    const maxFailures = this.options.maxServerErrorRetries ?? 3;
    const idempotent = IDEMPOTENT.has(method);
    let rateLimited = 0;
    let failures = 0;
    let reauthenticated = false;
    for (;;) {
      this.checkOpen();
      if (signal?.aborted) throw abortReason(signal);
      const attempt = this.newAttempt(group, signal);
      attempt.permit = takeGiven();
      let response: FetchResponse | undefined;
      try {
        try {
          const agents = request.agents?.();
          response = (await this.sdk.platform().send({
            method,
            url,
            query: cleanQuery(request.query),
            body: request.body,
            ...(request.headers ? { headers: request.headers } : {}),
            retry: true, // the SDK must not retry on its own (401, 429)
            signal: attempt.signal,
            ...(agents ? { agent: agents.agent } : {}),
            ...(request.download ? { compress: false } : {}),
          } as Parameters<ReturnType<SDK['platform']>['send']>[0])) as unknown as FetchResponse;
        } catch (err) {
          const failed = (err as SdkError)?.response;
          if (!failed) throw err;
          response = failed;
        }
        if (response.ok) {
          this.stats.requests++;
          return await consume(response, attempt);
        }
        const status = response.status;
        const text = await response.text().catch(() => '');
        const details = errorDetails(text);
        const retryAfterSec = readRateLimitHeaders(response.headers).retryAfterSec;
        const error = new RcApiError(
          `RingCentral answered ${method} ${path} with ${status}${details.code ? ` ${details.code}` : ''}` +
            `${details.message ? `: ${this.redact(details.message)}` : ''}`,
          { status, errorCode: details.code, method, path, group, retryAfterSec },
        );
        if (status === 429) {
          if (++rateLimited > maxRateLimited) throw error;
          continue; // the fetch gate has paused the group; the next try waits for it
        }
        if (status === 401 && !reauthenticated) {
          reauthenticated = true;
          this.log(
            'warn',
            `RingCentral refused the access token (${method} ${path}); logging in again with the JWT`,
          );
          await this.relogin(attempt.tokenUsed, signal);
          continue;
        }
        if (RETRYABLE_STATUS.has(status) && (idempotent || status === 503) && failures < maxFailures) {
          failures++;
          const wait = Math.min(
            120_000,
            retryAfterSec !== undefined ? retryAfterSec * 1000 : this.backoff(failures),
          );
          this.log('warn', `${error.message}; trying again in ${Math.round(wait / 100) / 10} s`);
          await this.pause(wait, signal);
          continue;
        }
        throw error;
      } catch (err) {
        const error = this.classify(err, attempt, request.method, path, group, signal);
        if (error.retryable && idempotent && failures < maxFailures) {
          failures++;
          const wait = this.backoff(failures);
          this.log('warn', `${error.error.message}; trying again in ${Math.round(wait / 100) / 10} s`);
          attempt.release();
          await this.pause(wait, signal);
          continue;
        }
        throw error.error;
      } finally {
        // A given permit the fetch never took: that try sent nothing.
        attempt.permit?.cancel();
        attempt.permit = undefined;
        if (!attempt.keep) attempt.release();
      }
    }
  }

  /** Turns whatever a try threw into an error safe to hand out, and says whether to try again. */
  private classify(
    err: unknown,
    attempt: Attempt,
    method: string,
    path: string,
    group: ApiGroup,
    signal: AbortSignal | undefined,
  ): { error: Error; retryable: boolean } {
    if (this.disposed) return { error: new Error('RingCentral client closed'), retryable: false };
    if (signal?.aborted) return { error: abortReason(signal), retryable: false };
    if (attempt.timedOut()) {
      const seconds = Math.round((this.options.requestTimeoutMs ?? 60_000) / 100) / 10;
      return {
        error: new RcApiError(`RingCentral did not answer ${method} ${path} within ${seconds} s`, {
          errorCode: 'Timeout',
          method,
          path,
          group,
        }),
        retryable: true,
      };
    }
    if (err instanceof RcApiError) {
      // Our own error, perhaps passed through the SDK, which hangs the request on errors.
      const clean = new RcApiError(err.message, err);
      clean.stack = err.stack;
      // A malformed or truncated JSON answer is a server fault like a 5xx, not a verdict.
      return {
        error: clean,
        retryable: err.errorCode === 'InvalidJson' || err.errorCode === 'IncompleteContent',
      };
    }
    const e = err as { message?: string; code?: string; errno?: string; type?: string };
    const reason = this.redact(String(e?.message ?? err).replace(/^request to \S+ failed, reason:\s*/, ''));
    return {
      error: new RcApiError(`RingCentral request ${method} ${path} failed: ${reason}`, {
        errorCode: e?.code ?? e?.errno ?? 'NetworkError',
        method,
        path,
        group,
      }),
      retryable: true,
    };
  }

  private newAttempt(group: ApiGroup, signal: AbortSignal | undefined): Attempt {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const abort = () => controller.abort(abortReason(signal?.aborted ? signal : this.lifetime.signal));
    const unlink = [onAbort(this.lifetime.signal, abort), ...(signal ? [onAbort(signal, abort)] : [])];
    if (signal?.aborted || this.lifetime.signal.aborted) abort();
    const clearTimer = () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
    };
    const attempt: Attempt = {
      group,
      signal: controller.signal,
      sent: () => {
        clearTimer();
        timer = setTimeout(() => {
          timedOut = true;
          controller.abort(new Error('timeout'));
        }, this.options.requestTimeoutMs ?? 60_000);
        timer.unref();
      },
      clearTimer,
      timedOut: () => timedOut,
      abort: () => controller.abort(new Error('closed')),
      release: () => {
        clearTimer();
        for (const fn of unlink) fn();
      },
    };
    this.attempts.set(controller.signal, attempt);
    return attempt;
  }

  /**
   * The one gate every HTTP request of this client passes (it is the SDK's fetch): waits for the
   * group's budget, puts a fresh access token on API requests, learns the rate-limit headers of
   * every answer, and pauses the group on a 429.
   */
  private async gatedFetch(input: FetchRequest): Promise<FetchResponse> {
    let request = input;
    let attempt = request.signal ? this.attempts.get(request.signal) : undefined;
    let own: Attempt | undefined;
    if (!attempt) {
      // Sent by the SDK itself (login, refresh): bound to the client's life and the timeout.
      own = this.newAttempt(groupFor(request.method, request.url), undefined);
      request = new this.RequestImpl(request, { signal: own.signal });
      attempt = own;
    }
    try {
      const group = attempt.group;
      const budget = this.budgets[group];
      const given = attempt.permit;
      attempt.permit = undefined;
      let permit: BudgetPermit;
      try {
        // Log in or refresh first, while holding no permit of the request's group (a given
        // permit is held already: it waits for the token).
        if (!own) await this.ensureToken(attempt.signal);
        permit = given ?? (await budget.acquire(attempt.signal));
      } catch (err) {
        given?.cancel();
        throw err;
      }
      let response: FetchResponse;
      try {
        while (!own) {
          // Normally at once; renews only when the wait for budget outlasted the token.
          const token = await this.ensureToken(attempt.signal);
          request.headers.set('Authorization', `Bearer ${token}`);
          attempt.tokenUsed = token;
          // A 429 of another request may have paused the group meanwhile: wait, then start over.
          // So does a given permit kept past its window.
          if (!(await budget.unpaused(attempt.signal)) && !permit.expired?.()) break;
          permit.cancel();
          permit = await budget.acquire(attempt.signal);
        }
      } catch (err) {
        permit.cancel();
        throw err;
      }
      attempt.sent();
      const sentAt = Date.now();
      permit.sending?.();
      try {
        response = await this.rawFetch(request);
      } finally {
        permit.done();
      }
      this.learn(response, group, request.method, pathOf(request.url), sentAt);
      return response;
    } finally {
      // The SDK reads the token answer after fetch returns; its timer may stay until then.
      if (own) {
        const release = own.release;
        setTimeout(release, this.options.requestTimeoutMs ?? 60_000).unref();
      }
    }
  }

  private learn(
    response: FetchResponse,
    group: ApiGroup,
    method: string,
    path: string,
    sentAt: number,
  ): void {
    const info = readRateLimitHeaders(response.headers);
    const counted = apiGroupOf(info.group) ?? group;
    this.budgets[counted].observeParsed(info, sentAt);
    if (response.status === 429) {
      this.stats.rateLimited++;
      this.budgets[counted].penalize(info.retryAfterSec);
      const seconds = info.retryAfterSec ?? this.options.budget?.defaultPenaltySec ?? 30;
      this.log(
        'warn',
        `RingCentral rate limit reached (${counted}, ${method} ${path}): pausing the group for ${seconds} s`,
      );
    }
  }

  // -------------------------------------------------------------------------------------------
  // Tokens

  /** A valid access token: logs in on first use, refreshes ahead of expiry. */
  private async ensureToken(signal?: AbortSignal): Promise<string> {
    await this.restored;
    const data = (await this.sdk.platform().auth().data()) as TokenData;
    if (data.access_token && this.fresh(data)) return data.access_token;
    return this.serialAuth(() => this.renewToken(), signal);
  }

  /**
   * Refresh when less than min(60 s, a quarter of the token's life) is left: a token that lives
   * only seconds is not refreshed before every request.
   */
  private fresh(data: TokenData): boolean {
    const ttlMs = Number(data.expires_in) * 1000;
    const threshold = Number.isFinite(ttlMs) && ttlMs > 0 ? Math.min(60_000, ttlMs / 4) : 60_000;
    return (data.expire_time ?? 0) - Date.now() > threshold;
  }

  private async renewToken(): Promise<string> {
    const platform = this.sdk.platform();
    const data = (await platform.auth().data()) as TokenData;
    if (data.access_token && this.fresh(data)) return data.access_token;
    if (data.refresh_token && (data.refresh_token_expire_time ?? 0) - Date.now() > 5_000) {
      try {
        await this.authCall('refresh', () => platform.refresh());
        this.stats.refreshes++;
        this.log('debug', 'RingCentral access token refreshed');
        const renewed = await this.keepTokens();
        if (renewed.access_token) return renewed.access_token;
      } catch (err) {
        if (this.disposed) throw err;
        this.log('warn', `${(err as Error).message}; logging in again with the JWT`);
      }
    }
    return this.login();
  }

  private async login(): Promise<string> {
    const platform = this.sdk.platform();
    // The session held until now was refused or cannot be renewed: revoked, it no longer takes
    // one of the user's sessions (RingCentral evicts the oldest beyond 5).
    await this.revokeReplaced();
    await this.revokeHeld();
    try {
      await this.authCall('login', () => platform.login({ jwt: this.options.jwt }));
    } catch (err) {
      if (isLoginRefusal(err)) {
        try {
          this.options.onLoginRefused?.(err);
        } catch {
          // the listener's failure must not hide RingCentral's answer
        }
      }
      throw err;
    }
    this.stats.logins++;
    this.log('info', 'Logged in to RingCentral with the JWT');
    const data = await this.keepTokens();
    if (!data.access_token) throw new RcApiError('RingCentral login answered without an access token');
    return data.access_token;
  }

  /**
   * Revokes the session of the tokens held (by the refresh token, which names the session as long
   * as it lives), then forgets them. A token already past its expiry has no session left to end.
   * A revoke that fails is only logged: the login that follows must not depend on it.
   */
  private async revokeHeld(): Promise<void> {
    const token = liveTokenOf((await this.sdk.platform().auth().data()) as TokenData);
    if (token) await this.revoke(token);
    await this.sdk.cache().clean();
    if (this.tokens) {
      this.tokens = undefined;
      this.saveSession();
    }
  }

  /**
   * The session kept for this rc-config under another JWT of the same app (the node was deployed
   * with a new one): revoked once, before the first login, instead of being left to expire.
   */
  private async revokeReplaced(): Promise<void> {
    const replaced = this.replaced;
    this.replaced = undefined;
    const token = replaced && liveTokenOf(replaced as TokenData);
    if (token) await this.revoke(token);
  }

  private async revoke(token: string): Promise<void> {
    this.checkOpen();
    const platform = this.sdk.platform();
    try {
      await platform.send({
        method: 'POST',
        url: '/restapi/oauth/revoke',
        body: { token },
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          Authorization: platform.basicAuthHeader(),
        },
        skipAuthCheck: true,
        retry: true, // the SDK must not retry on its own (401, 429)
      });
      this.stats.revocations++;
      this.log('debug', 'Revoked the previous RingCentral session');
    } catch (err) {
      this.checkOpen();
      const status = (err as SdkError)?.response?.status;
      const reason = status ? String(status) : this.redact(String((err as Error)?.message ?? err));
      this.log('warn', `RingCentral did not revoke the previous session (${reason})`);
    }
  }

  /** The SDK's tokens after a login or refresh, written to the session store at once. */
  private async keepTokens(): Promise<TokenData> {
    const data = (await this.sdk.platform().auth().data()) as TokenData;
    this.tokens = { ...data };
    this.saveSession();
    return data;
  }

  /** The session kept by an earlier start of this rc-config, if any (perhaps of another login). */
  private keptSession(): RcSession | undefined {
    try {
      return this.options.session?.load();
    } catch (err) {
      this.log('warn', `The kept RingCentral session could not be read: ${(err as Error)?.message ?? err}`);
      return undefined;
    }
  }

  /**
   * One save for what changes in one go (an answer's count and its headers), within the same turn
   * of the event loop: a process killed later has the request on file.
   */
  private queueSave(): void {
    if (this.saveQueued) return;
    this.saveQueued = true;
    queueMicrotask(() => {
      this.saveQueued = false;
      this.saveSession();
    });
  }

  /** Keeps tokens and the budgets' state for the next start; called on every change of either. */
  private saveSession(): void {
    const store = this.options.session;
    if (!store || this.disposed || !this.budgets) return;
    const budgets = Object.fromEntries(
      Object.entries(this.budgets).map(([group, budget]) => [group, budget.state()]),
    );
    try {
      store.save({
        login: this.loginId,
        server: this.server,
        clientId: this.options.clientId,
        tokens: this.tokens,
        budgets,
        savedAt: new Date().toISOString(),
      });
      this.saveFailed = false;
    } catch (err) {
      // Once per failure spell: this runs on every request.
      if (!this.saveFailed)
        this.log(
          'warn',
          `The RingCentral session could not be kept for the next start: ${(err as Error)?.message ?? err}`,
        );
      this.saveFailed = true;
    }
  }

  /** After a 401: one JWT login, unless another request has already renewed the token. */
  private async relogin(tokenUsed: string | undefined, signal?: AbortSignal): Promise<void> {
    await this.serialAuth(async () => {
      const data = (await this.sdk.platform().auth().data()) as TokenData;
      if (data.access_token && data.access_token !== tokenUsed && this.fresh(data)) return;
      await this.login();
    }, signal);
  }

  /** Runs token operations one at a time: a refresh token is single-use. */
  private serialAuth<T>(operation: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const run = this.authChain.then(operation, operation);
    this.authChain = run.catch(() => undefined);
    if (!signal) return run;
    return new Promise<T>((resolve, reject) => {
      if (signal.aborted) return reject(abortReason(signal));
      const onAbort = () => reject(abortReason(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      run.then(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (err) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      );
    });
  }

  /** A login or refresh through the SDK, retried after 429 and 5xx, failing with a safe error. */
  private async authCall(kind: 'login' | 'refresh', call: () => Promise<unknown>): Promise<void> {
    const label = kind === 'login' ? 'RingCentral login with the JWT' : 'RingCentral token refresh';
    const max = Math.max(this.options.maxRateLimitRetries ?? 3, this.options.maxServerErrorRetries ?? 3);
    for (let tries = 1; ; tries++) {
      this.checkOpen();
      try {
        await call();
        return;
      } catch (err) {
        this.checkOpen();
        const response = (err as SdkError)?.response;
        if (!response) {
          if (err instanceof RcApiError) throw new RcApiError(`${label} failed: ${err.message}`, err);
          const reason = this.redact(
            String((err as Error)?.message ?? err).replace(/^request to \S+ failed, reason:\s*/, ''),
          );
          throw new RcApiError(`${label} failed: ${reason}`, {
            errorCode: 'NetworkError',
            path: '/restapi/oauth/token',
          });
        }
        const status = response.status;
        const text = await response.text().catch(() => '');
        const details = errorDetails(text);
        const error = new RcApiError(
          `${label} failed: ${status}${details.code ? ` ${details.code}` : ''}${details.message ? ` (${this.redact(details.message)})` : ''}`,
          { status, errorCode: details.code, method: 'POST', path: '/restapi/oauth/token', group: 'Auth' },
        );
        if (tries <= max && (status === 429 || RETRYABLE_STATUS.has(status))) {
          if (status !== 429) await this.pause(this.backoff(tries));
          continue;
        }
        throw error;
      }
    }
  }

  // -------------------------------------------------------------------------------------------

  private backoff(failures: number): number {
    const base = this.options.retryBaseMs ?? 1000;
    const ms = base * 2 ** (failures - 1);
    return Math.min(30_000, ms * (0.8 + Math.random() * 0.4));
  }

  /** Waits before another try; ends early (rejecting) when the caller aborts or the client closes. */
  private async pause(ms: number, signal?: AbortSignal): Promise<void> {
    const controller = new AbortController();
    const abort = () => controller.abort(abortReason(signal?.aborted ? signal : this.lifetime.signal));
    const unlink = [onAbort(this.lifetime.signal, abort), ...(signal ? [onAbort(signal, abort)] : [])];
    if (signal?.aborted || this.lifetime.signal.aborted) abort();
    try {
      await sleep(ms, controller.signal);
    } finally {
      for (const fn of unlink) fn();
    }
  }

  /**
   * An absolute URI gets the access token only when it is on a RingCentral host: an archive item
   * can come from anywhere in a flow, and its content URI must not carry the token elsewhere.
   */
  private checkTarget(url: string, method: string): void {
    if (!/^[a-z][a-z0-9+.-]*:/i.test(url)) return;
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      throw new RcApiError(`Invalid RingCentral URI for ${method}: ${url.slice(0, 200)}`, {
        errorCode: 'InvalidUri',
      });
    }
    const server = new URL(this.server);
    if (target.protocol !== 'https:' && target.protocol !== 'http:') {
      throw new RcApiError(`Refusing ${method} ${target.protocol} URI: only http(s) is supported`, {
        errorCode: 'InvalidUri',
      });
    }
    const host = target.hostname.toLowerCase();
    if (server.protocol === 'https:' && target.protocol !== 'https:') {
      throw new RcApiError(
        `Refusing ${method} http://${host}${pathOf(url)}: the access token is only sent over https`,
        {
          errorCode: 'UntrustedHost',
        },
      );
    }
    const serverHost = server.hostname.toLowerCase();
    if (host === serverHost) return;
    const labels = serverHost.split('.');
    const isIp = /^[\d.]+$/.test(serverHost) || serverHost.includes(':') || labels.length < 2;
    // The server's own domain ("platform.devtest.ringcentral.com" -> "ringcentral.com"; three
    // labels for country domains such as "example.co.uk").
    const countryPair =
      labels.length >= 3 && labels[labels.length - 1].length === 2 && labels[labels.length - 2].length <= 3;
    const trusted = [
      ...(isIp ? [] : [labels.slice(countryPair ? -3 : -2).join('.')]),
      'ringcentral.com',
      'ringcentral.biz',
      'glip.com',
      ...(this.options.trustedHosts ?? []).map((h) => h.toLowerCase().replace(/^\*?\./, '')),
    ];
    if (trusted.some((domain) => host === domain || host.endsWith(`.${domain}`))) return;
    throw new RcApiError(
      `Refusing ${method} ${host}${pathOf(url)}: not a RingCentral host, the access token would leak`,
      { errorCode: 'UntrustedHost', method, path: pathOf(url) },
    );
  }

  private checkOpen(): void {
    if (this.disposed) throw new Error('RingCentral client closed');
  }

  private redact(text: string): string {
    return redactSecrets(text, [this.options.jwt, this.options.clientSecret]);
  }

  private log(level: LogLevel, message: string): void {
    try {
      this.options.log?.(level, this.redact(message));
    } catch {
      // a failing logger must not break a request
    }
  }
}

/**
 * A token that still names a live session: the refresh token while it lives (it outlives the
 * access token), else the access token while it lives. A token past its expiry has no session.
 */
function liveTokenOf(data: TokenData): string | undefined {
  const now = Date.now();
  if (data.refresh_token && (data.refresh_token_expire_time ?? 0) > now) return data.refresh_token;
  if (data.access_token && (data.expire_time ?? 0) > now) return data.access_token;
  return undefined;
}

function cleanQuery(query: Record<string, QueryValue> | undefined): Record<string, unknown> | undefined {
  if (!query) return undefined;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null) continue;
    out[key] = Array.isArray(value) ? value.map(String) : String(value);
  }
  return Object.keys(out).length ? out : undefined;
}

/** `bytes <first>-<last>/<total or *>` of a 206 answer. */
function parseContentRange(value: string | null): { start: number; end: number; total?: number } | undefined {
  const match = value ? /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(value) : null;
  if (!match) return undefined;
  const start = Number(match[1]);
  const end = Number(match[2]);
  const total = match[3] === '*' ? undefined : Number(match[3]);
  if (end < start || (total !== undefined && end >= total)) return undefined;
  return { start, end, ...(total !== undefined ? { total } : {}) };
}

/** RingCentral's error body: {errorCode, message, errors:[...]} or OAuth's {error, error_description}. */
function errorDetails(text: string): { code?: string; message?: string } {
  if (!text) return {};
  try {
    const body = JSON.parse(text) as {
      errorCode?: string;
      message?: string;
      error?: string;
      error_description?: string;
      errors?: Array<{ errorCode?: string; message?: string }>;
    };
    const first = Array.isArray(body.errors) ? body.errors[0] : undefined;
    const code = body.errorCode ?? body.error ?? first?.errorCode;
    const message = body.error_description ?? body.message ?? first?.message;
    return {
      code: typeof code === 'string' ? code.slice(0, 100) : undefined,
      message: typeof message === 'string' ? message.slice(0, 300) : undefined,
    };
  } catch {
    return { message: text.replace(/\s+/g, ' ').trim().slice(0, 200) || undefined };
  }
}
