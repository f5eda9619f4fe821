// A RingCentral platform simulator on 127.0.0.1: a platform listener (REST API + OAuth) and a media
// listener (recording content), with RingCentral's token life, rate limits, paging and error shapes.
// Shapes follow rc-public-openapi.yml; rate-limit groups come from rc-operations-throttling.tsv.
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  contentKey,
  digestContent,
  fillContent,
  DEFAULT_CHUNK_SIZE,
  type ContentDigest,
  type ContentSpec,
} from './content';
import {
  SimDataStore,
  toMs,
  type GenerationOptions,
  type NewCallOptions,
  type SimCall,
  type SimExtension,
  type SimParty,
  type SimRecording,
} from './data';
import {
  attachmentBytes,
  sha256,
  SimMessageStore,
  SimTeamMessaging,
  storedZip,
  type Availability,
  type MessageKind,
  type NewMessageOptions,
  type SimAttachment,
  type SimMessage,
} from './messages';
import {
  OperationTable,
  RateLimiter,
  THROTTLING_GROUPS,
  type GroupName,
  type OperationInfo,
  type RateDecision,
  type ThrottlingGroup,
} from './throttling';

export type { NewCallOptions, RecordingLayout, RecordingType, Direction } from './data';
export type { ThrottlingGroup } from './throttling';

// ---------------------------------------------------------------------------------------------
// Options and public types

export interface SimulatorOptions {
  /** Interface to listen on. Default 127.0.0.1. */
  host?: string;
  /** Platform listener port; 0 (default) = random. */
  port?: number;
  /** Media listener port; 0 (default) = random. */
  mediaPort?: number;
  /** Seed of all generated data and content. Default 1. */
  seed?: number;
  /** Sim-clock start (default: real now). The sim clock runs at real speed from there. */
  now?: number | string | Date;
  accountId?: string;
  /** Number of user extensions (101, 102, …); the first is the admin that the JWT logs in as. Default 5. */
  extensions?: number;
  /** Days of call history before start. Default 7. */
  days?: number;
  callsPerDay?: number;
  /** Fraction of voice calls with a recording (recorded calls are answered). Default 0.5. */
  recordingFraction?: number;
  /** Of recorded calls: fraction with two recordings (Automatic on the record, OnDemand in a leg). */
  twoRecordingFraction?: number;
  /** Of recorded calls: fraction whose only recording is in a leg (visible in Detailed view only). */
  legOnlyFraction?: number;
  /** Fraction of recordings that are WAV instead of MP3. Default 0.2. */
  wavFraction?: number;
  faxFraction?: number;
  /** Fraction of records that show up only lateDelaySec after the call ended. Default 0.05. */
  lateFraction?: number;
  lateDelaySec?: number;
  /** Fraction of recordings attached lateRecordingDelaySec after their record shows up. */
  lateRecordingFraction?: number;
  lateRecordingDelaySec?: number;
  /** Size range of generated recordings in bytes. Default 20 000–200 000. */
  recordingBytes?: { min: number; max: number };
  /** Content-Type of WAV recordings. Default audio/x-wav. */
  wavContentType?: string;
  clientId?: string;
  clientSecret?: string;
  /** The JWT credential that logs in as the admin (first extension). Default: generated. */
  jwt?: string;
  /** Access-token lifetime in seconds. Default 3600. */
  accessTokenTtlSec?: number;
  /** Refresh-token lifetime in seconds. Default 604800 (7 days). */
  refreshTokenTtlSec?: number;
  /** Parallel sessions per user and app; the oldest is revoked beyond this. Default 5. */
  maxSessions?: number;
  /** A refresh invalidates the session's previous access token at once. Default true. */
  refreshRevokesAccessToken?: boolean;
  /** Rate-limit window in seconds. Default 60. */
  rateWindowSec?: number;
  /** Penalty after exceeding, in seconds. Default = rateWindowSec. */
  penaltySec?: number;
  /** Requests per window per (user, group). Default Light 50, Medium 40, Heavy 10, Auth 5. */
  rateLimits?: Partial<Record<ThrottlingGroup, number>>;
  /** App permissions (token scope). */
  appPermissions?: string[];
  /** User permissions of the admin (authz-profile); other users get these minus FullCompanyCallLog. */
  userPermissions?: string[];
  /** perPage above 1000: answer 400 (default) or clamp to 1000. */
  perPageOverMax?: 'error' | 'clamp';
  /** Answer at most this many records a page whatever perPage asks (many pages from little data). Default 1000. */
  maxPerPage?: number;
  /** Include totalPages/totalElements and navigation.lastPage in call-log answers. Default false. */
  callLogTotals?: boolean;
  /** Add non-user mailboxes (Department, DigitalUser, VirtualUser, Voicemail, SharedLinesGroup) and a disabled user. Default true. */
  otherExtensions?: boolean;
  /** Messages (voicemail, fax, SMS, MMS, pager) per day of history. Default 12. */
  messagesPerDay?: number;
  /** Relative shares of the message kinds. Default VoiceMail .3, Fax .15, SMS .35, MMS .1, Pager .1. */
  messageFractions?: Partial<Record<MessageKind, number>>;
  /** Fax and voicemail older than this are gone from the message store. Default 30. */
  faxVoicemailRetentionDays?: number;
  /** Fractions of generated messages that are Deleted / Purged. Default 0.05 / 0.02. */
  deletedMessageFraction?: number;
  purgedMessageFraction?: number;
  /** Fraction of voicemails with an AudioTranscription. Default 0.5. */
  transcriptionFraction?: number;
  /** Team-messaging posts per day of history (what compliance exports contain). Default 20. */
  postsPerDay?: number;
  /** false: data-export answers 403 FeatureNotAvailable. Default true. */
  complianceExportEnabled?: boolean;
  /** Reads of a data-export task until it is Completed (the first read shows InProgress). Default 2. */
  exportPollsToComplete?: number;
  /**
   * Elements per numbered file of an export zip (`posts/posts_1.json`, `posts/posts_2.json`, …).
   * RingCentral's limit is 10,000; tests set a small one to get several files. Default 10000.
   */
  exportFileElements?: number;
  /**
   * The media host answers `Range: bytes=…` with 206 and Content-Range, as RingCentral's does.
   * false: it ignores Range and answers 200 with the whole file. Default true.
   */
  mediaRanges?: boolean;
  /** Adds calls while running. */
  liveActivity?: { intervalMs: number; callsPerTick?: number; messagesPerTick?: number };
  /** Receives one line per request. */
  log?: (line: string) => void;
}

export interface ResolvedOptions extends Required<
  Omit<SimulatorOptions, 'now' | 'liveActivity' | 'log' | 'rateLimits' | 'jwt' | 'messageFractions'>
> {
  messageFractions: Record<MessageKind, number>;
  rateLimits: Record<ThrottlingGroup, number>;
  jwt: string;
  liveActivity?: { intervalMs: number; callsPerTick: number; messagesPerTick: number };
}

export interface SimCredentials {
  server: string;
  clientId: string;
  clientSecret: string;
  jwt: string;
}

export interface RecordingInfo {
  id: string;
  callId: string;
  extensionId: string;
  extensionNumber: string;
  type: 'Automatic' | 'OnDemand';
  uri: string;
  contentUri: string;
  contentType: string;
  bytes: number;
  /** Seconds. */
  duration: number;
  /** Call start, ISO 8601 UTC. */
  startTime: string;
  /** True when the recording appears only in a leg, i.e. only with view=Detailed. */
  legOnly: boolean;
  /** Lazily computed SHA-256 (hex) of the content; not enumerable (absent from JSON). */
  readonly sha256: string;
}

export interface CallInfo {
  id: string;
  sessionId: string;
  extensionId: string;
  startTime: string;
  duration: number;
  direction: 'Inbound' | 'Outbound';
  type: 'Voice' | 'Fax';
  result: string;
  /** ISO time when the record shows up in the call log. */
  appearsAt: string;
  recordings: RecordingInfo[];
}

export interface SimStats {
  /** Requests on both listeners (control routes under /__sim excluded). */
  requests: number;
  byGroup: Record<string, number>;
  byOperation: Record<string, number>;
  byStatus: Record<string, number>;
  /** 429 answers sent. */
  rateLimited: number;
  /** 401 answers sent. */
  unauthorized: number;
  logins: number;
  loginFailures: number;
  refreshes: number;
  refreshFailures: number;
  revocations: number;
  /** Sessions ended because the user had more than `maxSessions` (the oldest goes). */
  sessionsEvicted: number;
  /** Content downloads; `ranged` of them answered 206 to a Range request. */
  downloads: { started: number; completed: number; failed: number; ranged: number };
  /** Body bytes of all answers. */
  bytesServed: number;
  /** Recording content bytes written. */
  contentBytesServed: number;
  /** Completed downloads per recording id. */
  recordingDownloads: Record<string, number>;
  /** Started downloads per recording id. */
  recordingDownloadsStarted: Record<string, number>;
  faultsApplied: number;
}

export interface RequestLogEntry {
  at: number;
  host: 'platform' | 'media';
  method: string;
  path: string;
  operationId?: string;
  group?: GroupName;
  user: string;
  status: number;
  /** The Range header of the request, when it had one. */
  range?: string;
}

interface FaultBase {
  /** Substring of, or pattern for, the request path (with query). Default: every request. */
  match?: string | RegExp;
  /** How many requests it applies to. Default 1; Infinity (or -1 over HTTP) = always. */
  times?: number;
  /** Limit to one listener. */
  host?: 'platform' | 'media';
}
export type FaultSpec =
  | (FaultBase & { kind: 'status'; status: number; body?: unknown; retryAfterSec?: number })
  | (FaultBase & { kind: 'reset'; afterBytes: number })
  | (FaultBase & { kind: 'close-early'; afterBytes: number })
  | (FaultBase & { kind: 'stall'; afterBytes: number })
  | (FaultBase & { kind: 'slow'; delayMs: number })
  | (FaultBase & { kind: 'malformed' });

export interface FaultHandle {
  readonly id: number;
  readonly spec: FaultSpec;
  /** Applications left. */
  readonly remaining: number;
  cancel(): void;
}

export interface AttachmentInfo {
  id: string;
  type: SimAttachment['type'];
  uri: string;
  contentType: string;
  size: number;
  fileName?: string;
}

export interface MessageInfo {
  id: string;
  extensionId: string;
  type: SimMessage['type'];
  /** An SMS with MmsAttachment attachments. */
  mms: boolean;
  direction: 'Inbound' | 'Outbound';
  availability: Availability;
  creationTime: string;
  uri: string;
  conversationId?: string;
  subject?: string;
  attachments: AttachmentInfo[];
}

export interface ExportDigest {
  bytes: number;
  sha256: string;
  /** File name in the zip -> SHA-256 of its content. */
  entries: Record<string, string>;
}

export interface ExportTaskInfo {
  id: string;
  status: 'Accepted' | 'InProgress' | 'Completed';
  timeFrom: string;
  timeTo: string;
  polls: number;
  datasetUri?: string;
}

// ---------------------------------------------------------------------------------------------
// Internals

interface ExportTask {
  id: string;
  creatorId: string;
  createdAt: number;
  modifiedAt: number;
  timeFrom: number;
  timeTo: number;
  contacts?: Array<{ id?: string; email?: string }>;
  chatIds?: string[];
  polls: number;
  zip?: Buffer;
  /** Set by rewriteExports when the task was created. */
  rewrite?: ExportRewrite;
}

/** Changes the files of an export zip (name and bytes, in the zip's order). */
export type ExportRewrite = (
  files: Array<{ name: string; data: Buffer }>,
) => Array<{ name: string; data: Buffer }>;

interface Session {
  id: string;
  clientId: string;
  ownerId: string;
  createdAt: number;
  revoked: boolean;
  accessToken?: string;
  refreshToken?: string;
}
interface AccessEntry {
  session: Session;
  expiresAt: number;
  revoked: boolean;
}
interface RefreshEntry {
  session: Session;
  expiresAt: number;
  used: boolean;
}
type TokenState = 'ok' | 'missing' | 'invalid' | 'expired';

interface Ctx {
  host: 'platform' | 'media';
  req: http.IncomingMessage;
  res: http.ServerResponse;
  url: URL;
  op?: OperationInfo;
  group?: GroupName;
  userKey: string;
  status: number;
  body?: Buffer;
}

interface ActiveFault {
  id: number;
  spec: FaultSpec;
  remaining: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(`HTTP ${status}`);
  }
}

const MAX_PER_PAGE = 1000;
const DEFAULT_APP_PERMISSIONS = [
  'ReadAccounts',
  'ReadCallLog',
  'ReadCallRecording',
  'ReadMessages',
  'ReadContacts',
  'ReadPresence',
  'TeamMessaging',
  'WebSocket',
];
const DEFAULT_USER_PERMISSIONS = [
  'ReadAccounts',
  'ReadCompanyInfo',
  'ReadExtensions',
  'ReadUserInfo',
  'ReadCallLog',
  'ReadCallRecording',
  'FullCompanyCallLog',
  'ReadMessages',
  'ReadPersonalContacts',
  'Glip',
];
const ADMIN_ONLY_PERMISSIONS = ['FullCompanyCallLog'];

/** Marks string values that are written as raw JSON numbers (int64 above 2^53). */
const BIG_MARK = '\u0000bigint:';

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** RingCentral's general error body (ApiErrorResponseModel / ParameterizedErrorResponseModel). */
export function apiError(errorCode: string, message: string, extra: Record<string, string> = {}): object {
  return { errorCode, message, errors: [{ errorCode, message, ...extra }], ...extra };
}

/** RingCentral's OAuth error body (OauthInvalidRequest). */
export function oauthError(error: string, description: string, errorCode: string): object {
  return { error, error_description: description, errors: [{ errorCode, message: description }] };
}

function invalidParameter(name: string, value: string | null): HttpError {
  return new HttpError(
    400,
    apiError('CMN-101', `Parameter [${name}] value is invalid`, {
      parameterName: name,
      ...(value !== null ? { parameterValue: value } : {}),
    }),
  );
}

function notFound(parameter: string): HttpError {
  return new HttpError(
    404,
    apiError('CMN-102', `Resource for parameter [${parameter}] is not found`, { parameterName: parameter }),
  );
}

function statusBody(status: number): object {
  switch (status) {
    case 429:
      return apiError('CMN-301', 'Request rate exceeded');
    case 500:
      return apiError('CMN-201', 'Internal Server Error');
    case 502:
      return apiError('AGW-502', 'Bad Gateway');
    case 503:
      return apiError('CMN-211', 'Service Temporarily Unavailable');
    case 504:
      return apiError('AGW-504', 'Gateway Timeout');
    default:
      return apiError(`CMN-${status}`, http.STATUS_CODES[status] ?? 'Error');
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function readBody(req: http.IncomingMessage, limit = 1024 * 1024): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new HttpError(413, apiError('CMN-413', 'Request entity too large')));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseList(params: URLSearchParams, name: string): string[] {
  return params
    .getAll(name)
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

function headerValue(n: number): string {
  return String(Number.isFinite(n) ? n : 2147483647);
}

// ---------------------------------------------------------------------------------------------

export class Simulator {
  readonly options: ResolvedOptions;
  readonly accountId: string;
  readonly operations: OperationTable;
  readonly limiter: RateLimiter;
  readonly data: SimDataStore;
  /** Voicemail, fax, SMS, MMS and pager messages of all extensions. */
  readonly messages: SimMessageStore;
  /** Team-messaging chats and posts (the content of compliance exports). */
  readonly team: SimTeamMessaging;
  /** Recording and attachment ids whose content answers 404 (see deleteContent). */
  private readonly deletedContent = new Set<string>();
  private readonly exportTasks = new Map<string, ExportTask>();
  private exportCounter = 0;
  private exportRewrite?: ExportRewrite;
  platformUrl = '';
  mediaUrl = '';
  /** The last 2000 requests (control routes excluded), oldest first. */
  readonly requestLog: RequestLogEntry[] = [];

  private readonly platformServer: http.Server;
  private readonly mediaServer: http.Server;
  private clockOffset = 0;
  private statsData: SimStats = Simulator.emptyStats();
  private readonly accessTokens = new Map<string, AccessEntry>();
  private readonly refreshTokens = new Map<string, RefreshEntry>();
  private readonly sessions = new Map<string, Session[]>();
  /** JWT credential -> extension id. */
  private readonly jwts = new Map<string, string>();
  private appPermissions: string[];
  private userPermissions: string[];
  private faults: ActiveFault[] = [];
  private faultCounter = 0;
  private readonly digests = new Map<string, ContentDigest>();
  private readonly specs = new Map<string, ContentSpec>();
  private liveTimer?: NodeJS.Timeout;
  private readonly openResponses = new Set<http.ServerResponse>();
  private closed = false;

  constructor(options: SimulatorOptions = {}) {
    const seed = options.seed ?? 1;
    const window = options.rateWindowSec ?? 60;
    const tag = (seed >>> 0).toString(36).padStart(4, '0');
    this.options = {
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 0,
      mediaPort: options.mediaPort ?? 0,
      seed,
      accountId: options.accountId ?? '400000001',
      extensions: Math.max(1, options.extensions ?? 5),
      days: options.days ?? 7,
      callsPerDay: options.callsPerDay ?? 20,
      recordingFraction: options.recordingFraction ?? 0.5,
      twoRecordingFraction: options.twoRecordingFraction ?? 0.1,
      legOnlyFraction: options.legOnlyFraction ?? 0.1,
      wavFraction: options.wavFraction ?? 0.2,
      faxFraction: options.faxFraction ?? 0.03,
      lateFraction: options.lateFraction ?? 0.05,
      lateDelaySec: options.lateDelaySec ?? 120,
      lateRecordingFraction: options.lateRecordingFraction ?? 0.05,
      lateRecordingDelaySec: options.lateRecordingDelaySec ?? 300,
      recordingBytes: options.recordingBytes ?? { min: 20_000, max: 200_000 },
      wavContentType: options.wavContentType ?? 'audio/x-wav',
      clientId: options.clientId ?? `SimClient${tag}AbCdEfGhIj`,
      clientSecret: options.clientSecret ?? `SimSecret${tag}KlMnOpQrStUvWxYz0123456789`,
      jwt: options.jwt ?? Simulator.makeJwt(seed, 'admin'),
      accessTokenTtlSec: options.accessTokenTtlSec ?? 3600,
      refreshTokenTtlSec: options.refreshTokenTtlSec ?? 604800,
      maxSessions: options.maxSessions ?? 5,
      refreshRevokesAccessToken: options.refreshRevokesAccessToken ?? true,
      rateWindowSec: window,
      penaltySec: options.penaltySec ?? window,
      rateLimits: { Light: 50, Medium: 40, Heavy: 10, Auth: 5, ...(options.rateLimits ?? {}) },
      appPermissions: options.appPermissions ?? [...DEFAULT_APP_PERMISSIONS],
      userPermissions: options.userPermissions ?? [...DEFAULT_USER_PERMISSIONS],
      perPageOverMax: options.perPageOverMax ?? 'error',
      maxPerPage: Math.max(1, Math.min(MAX_PER_PAGE, options.maxPerPage ?? MAX_PER_PAGE)),
      callLogTotals: options.callLogTotals ?? false,
      otherExtensions: options.otherExtensions ?? true,
      messagesPerDay: options.messagesPerDay ?? 12,
      messageFractions: {
        VoiceMail: 0.3,
        Fax: 0.15,
        SMS: 0.35,
        MMS: 0.1,
        Pager: 0.1,
        ...(options.messageFractions ?? {}),
      },
      faxVoicemailRetentionDays: options.faxVoicemailRetentionDays ?? 30,
      deletedMessageFraction: options.deletedMessageFraction ?? 0.05,
      purgedMessageFraction: options.purgedMessageFraction ?? 0.02,
      transcriptionFraction: options.transcriptionFraction ?? 0.5,
      postsPerDay: options.postsPerDay ?? 20,
      complianceExportEnabled: options.complianceExportEnabled ?? true,
      exportPollsToComplete: options.exportPollsToComplete ?? 2,
      exportFileElements: Math.max(1, Math.floor(options.exportFileElements ?? 10_000)),
      mediaRanges: options.mediaRanges ?? true,
      liveActivity: options.liveActivity
        ? {
            intervalMs: options.liveActivity.intervalMs,
            callsPerTick: options.liveActivity.callsPerTick ?? 1,
            messagesPerTick: options.liveActivity.messagesPerTick ?? 0,
          }
        : undefined,
    };
    this.accountId = this.options.accountId;
    this.appPermissions = [...this.options.appPermissions];
    this.userPermissions = [...this.options.userPermissions];
    if (options.now !== undefined) this.clockOffset = toMs(options.now) - Date.now();
    this.operations = OperationTable.load();
    this.limiter = new RateLimiter({
      limits: this.options.rateLimits,
      windowSec: this.options.rateWindowSec,
      penaltySec: this.options.penaltySec,
    });
    const gen: GenerationOptions = { ...this.options };
    this.data = new SimDataStore(gen, Math.floor(this.now() / 1000) * 1000);
    this.jwts.set(this.options.jwt, this.data.extensions[0].id);
    const o = this.options;
    this.messages = new SimMessageStore(
      {
        seed: o.seed,
        days: o.days,
        messagesPerDay: o.messagesPerDay,
        fractions: o.messageFractions,
        faxVoicemailRetentionDays: o.faxVoicemailRetentionDays,
        deletedFraction: o.deletedMessageFraction,
        purgedFraction: o.purgedMessageFraction,
        transcriptionFraction: o.transcriptionFraction,
      },
      () => this.data.allExtensions,
      this.data.nowAtStart,
    );
    this.team = new SimTeamMessaging(
      o.seed,
      this.data.extensions,
      o.days,
      o.postsPerDay,
      this.data.nowAtStart,
    );
    this.logFn = options.log;
    this.platformServer = http.createServer((req, res) => this.dispatch('platform', req, res));
    this.mediaServer = http.createServer((req, res) => this.dispatch('media', req, res));
  }

  private readonly logFn?: (line: string) => void;

  /** A JWT-shaped credential (not signed; the simulator only compares strings). */
  static makeJwt(seed: number, subject: string): string {
    const b64 = (v: object): string => Buffer.from(JSON.stringify(v)).toString('base64url');
    const header = b64({ kid: 'sim', alg: 'RS256' });
    const payload = b64({
      aud: 'https://platform.ringcentral.com/restapi/oauth/token',
      sub: subject,
      iss: 'sim',
      seed,
    });
    const signature = Buffer.from(`sim-signature-${seed}-${subject}`).toString('base64url');
    return `${header}.${payload}.${signature}`;
  }

  static emptyStats(): SimStats {
    return {
      requests: 0,
      byGroup: Object.fromEntries([...THROTTLING_GROUPS, 'NoThrottling'].map((g) => [g, 0])),
      byOperation: {},
      byStatus: {},
      rateLimited: 0,
      unauthorized: 0,
      logins: 0,
      loginFailures: 0,
      refreshes: 0,
      refreshFailures: 0,
      revocations: 0,
      sessionsEvicted: 0,
      downloads: { started: 0, completed: 0, failed: 0, ranged: 0 },
      bytesServed: 0,
      contentBytesServed: 0,
      recordingDownloads: {},
      recordingDownloadsStarted: {},
      faultsApplied: 0,
    };
  }

  async listen(): Promise<void> {
    const { host, port, mediaPort } = this.options;
    this.platformServer.listen(port, host);
    this.mediaServer.listen(mediaPort, host);
    await Promise.all([once(this.platformServer, 'listening'), once(this.mediaServer, 'listening')]);
    const urlHost = host.includes(':') ? `[${host}]` : host;
    this.platformUrl = `http://${urlHost}:${(this.platformServer.address() as AddressInfo).port}`;
    this.mediaUrl = `http://${urlHost}:${(this.mediaServer.address() as AddressInfo).port}`;
    if (this.options.liveActivity) this.startLiveActivity(this.options.liveActivity);
  }

  // -------------------------------------------------------------------------------------------
  // Public API

  get credentials(): SimCredentials {
    return {
      server: this.platformUrl,
      clientId: this.options.clientId,
      clientSecret: this.options.clientSecret,
      jwt: this.options.jwt,
    };
  }

  /** A snapshot of the counters. */
  get stats(): SimStats {
    return structuredClone(this.statsData);
  }

  resetStats(): void {
    this.statsData = Simulator.emptyStats();
    this.requestLog.length = 0;
  }

  /** The sim clock (ms since epoch): real time plus any advanceClock. Data visibility uses it. */
  now(): number {
    return Date.now() + this.clockOffset;
  }

  /** Moves the sim clock forward (late records and recordings become visible); tokens and rate limits use real time. */
  advanceClock(ms: number): number {
    this.clockOffset += ms;
    return this.now();
  }

  /** The admin extension the default JWT logs in as. */
  get adminExtension(): SimExtension {
    return this.data.extensions[0];
  }

  get extensions(): readonly SimExtension[] {
    return this.data.extensions;
  }

  /** A JWT credential that logs in as the given (non-admin or admin) extension. */
  jwtFor(extensionId: string): string {
    if (extensionId === this.adminExtension.id) return this.options.jwt;
    if (!this.data.extension(extensionId)) throw new Error(`unknown extension ${extensionId}`);
    const jwt = Simulator.makeJwt(this.options.seed, extensionId);
    this.jwts.set(jwt, extensionId);
    return jwt;
  }

  /** Every recording visible now (attached to a visible call), newest call first. */
  allRecordings(options: { includeHidden?: boolean } = {}): RecordingInfo[] {
    const now = this.now();
    const out: RecordingInfo[] = [];
    for (const call of this.data.calls) {
      if (!options.includeHidden && call.appearsAt > now) continue;
      for (const rec of call.recordings) {
        if (!options.includeHidden && rec.availableAt > now) continue;
        out.push(this.recordingInfo(rec, call));
      }
    }
    return out;
  }

  /** Every call visible now (or all with includeHidden), newest first. */
  allCalls(options: { includeHidden?: boolean } = {}): CallInfo[] {
    const now = this.now();
    return this.data.calls
      .filter((c) => options.includeHidden || c.appearsAt <= now)
      .map((c) => this.callInfo(c, options.includeHidden ? Infinity : now));
  }

  /** Size, SHA-256 and Content-Type of a recording's content, computed by the same generator as the download. */
  expectedContent(recordingId: string): ContentDigest {
    const cached = this.digests.get(recordingId);
    if (cached) return { ...cached };
    const digest = digestContent(this.contentSpec(recordingId));
    this.digests.set(recordingId, digest);
    return { ...digest };
  }

  /** The generator's description of a recording's bytes (for content.ts helpers). */
  contentSpec(recordingId: string): ContentSpec {
    let spec = this.specs.get(recordingId);
    if (spec) return spec;
    const rec = this.data.recordingsById.get(recordingId);
    if (!rec) throw new Error(`unknown recording ${recordingId}`);
    spec = {
      key: contentKey(this.options.seed, rec.id),
      bytes: rec.bytes,
      format: rec.format,
      contentType: rec.format === 'wav' ? this.options.wavContentType : 'audio/mpeg',
      title: `RingCentral call recording ${rec.id}`,
    };
    this.specs.set(recordingId, spec);
    return spec;
  }

  /** Adds n calls that ended just now (or at opts.at) to the account. */
  addCalls(n: number, opts: NewCallOptions = {}): CallInfo[] {
    const out: CallInfo[] = [];
    for (let i = 0; i < n; i++) {
      const call = this.data.addLiveCall(opts, this.now(), false);
      out.push(this.callInfo(call, Infinity));
    }
    return out;
  }

  /** Adds n messages created just now (or at opts.at); type 'MMS' is an SMS with images. */
  addMessages(n: number, opts: NewMessageOptions = {}): MessageInfo[] {
    const out: MessageInfo[] = [];
    for (let i = 0; i < n; i++) out.push(this.messageInfo(this.messages.addLive(opts, this.now())));
    return out;
  }

  /**
   * Every message still in the store (not past the fax/voicemail retention), newest first; with
   * `availability` (default all three) and `extensionId` filters.
   */
  allMessages(
    options: { extensionId?: string; availability?: Availability[]; includeExpired?: boolean } = {},
  ): MessageInfo[] {
    const now = this.now();
    return this.messages.messages
      .filter(
        (m) =>
          m.creationTime <= now &&
          (options.includeExpired || !this.messages.expired(m, now)) &&
          (!options.extensionId || m.extensionId === options.extensionId) &&
          (!options.availability || options.availability.includes(m.availability)),
      )
      .map((m) => this.messageInfo(m));
  }

  /** Size, SHA-256 and Content-Type of an attachment, from the same generator as the download. */
  expectedAttachment(
    messageId: string,
    attachmentId: string,
  ): { bytes: number; sha256: string; contentType: string } {
    const att = this.messages.attachmentsById.get(attachmentId);
    if (!att || att.messageId !== messageId)
      throw new Error(`unknown attachment ${messageId}/${attachmentId}`);
    const buf = attachmentBytes(this.options.seed, att);
    return { bytes: buf.length, sha256: sha256(buf), contentType: att.contentType };
  }

  /** The bytes of an attachment (as downloaded). */
  attachmentContent(attachmentId: string): Buffer {
    const att = this.messages.attachmentsById.get(attachmentId);
    if (!att) throw new Error(`unknown attachment ${attachmentId}`);
    return attachmentBytes(this.options.seed, att);
  }

  /**
   * Makes a recording's or an attachment's content vanish: its download answers 404 CMN-102 from
   * now on (metadata stays listed). Takes a contentUri, an attachment uri or a bare id.
   */
  deleteContent(uriOrId: string): void {
    const path = uriOrId.replace(/[?#].*$/, '');
    const m = /\/content\/([^/]+)$/.exec(path) ?? /\/recording\/([^/]+)\/content$/.exec(path);
    this.deletedContent.add(m ? m[1] : (path.split('/').pop() ?? path));
  }

  /** The data-export tasks created so far. */
  exportTasksInfo(): ExportTaskInfo[] {
    return [...this.exportTasks.values()].map((t) => ({
      id: t.id,
      status: this.exportStatus(t),
      timeFrom: iso(t.timeFrom),
      timeTo: iso(t.timeTo),
      polls: t.polls,
      ...(this.exportStatus(t) === 'Completed' ? { datasetUri: this.datasetUri(t) } : {}),
    }));
  }

  /**
   * Export tasks created from now on get zips whose files `rewrite` changes (a layout the unpack
   * must refuse, a damaged file); without an argument they are RingCentral's again.
   */
  rewriteExports(rewrite?: ExportRewrite): void {
    this.exportRewrite = rewrite;
  }

  /** Size and SHA-256 of a data-export task's dataset (zip), and the SHA-256 of each file in it. */
  expectedExport(taskId: string): ExportDigest {
    const task = this.exportTasks.get(taskId);
    if (!task) throw new Error(`unknown export task ${taskId}`);
    const entries: Record<string, string> = {};
    for (const f of this.exportFiles(task)) entries[f.name] = sha256(f.data);
    const zip = this.exportZip(task);
    return { bytes: zip.length, sha256: sha256(zip), entries };
  }

  startLiveActivity(opts: { intervalMs: number; callsPerTick?: number; messagesPerTick?: number }): void {
    this.stopLiveActivity();
    const perTick = opts.callsPerTick ?? 1;
    const messagesPerTick = opts.messagesPerTick ?? 0;
    this.liveTimer = setInterval(() => {
      for (let i = 0; i < perTick; i++) this.data.addLiveCall({}, this.now(), true);
      for (let i = 0; i < messagesPerTick; i++) this.messages.addLive({}, this.now());
    }, opts.intervalMs);
    this.liveTimer.unref();
  }

  stopLiveActivity(): void {
    if (this.liveTimer) clearInterval(this.liveTimer);
    this.liveTimer = undefined;
  }

  fault(spec: FaultSpec): FaultHandle {
    const times = spec.times === undefined ? 1 : spec.times < 0 ? Infinity : spec.times;
    const entry: ActiveFault = { id: ++this.faultCounter, spec, remaining: times };
    this.faults.push(entry);
    return {
      id: entry.id,
      spec,
      get remaining() {
        return entry.remaining;
      },
      cancel: () => {
        this.faults = this.faults.filter((f) => f !== entry);
      },
    };
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** Sessions not revoked, evicted or expired, of one user (the admin by default) of the app. */
  liveSessions(extensionId = this.adminExtension.id): number {
    const now = Date.now();
    const list = this.sessions.get(`${this.options.clientId}:${extensionId}`) ?? [];
    return list.filter((s) => {
      if (s.revoked) return false;
      const refresh = s.refreshToken ? this.refreshTokens.get(s.refreshToken) : undefined;
      return !!refresh && refresh.expiresAt > now;
    }).length;
  }

  /** Revokes every session: all access and refresh tokens answer 401 / invalid_grant. */
  revokeAllTokens(): void {
    for (const list of this.sessions.values()) for (const s of list) this.revokeSession(s);
  }

  /** Expires every access token now (refresh tokens stay valid). */
  expireAccessTokens(): void {
    const past = Date.now() - 1;
    for (const entry of this.accessTokens.values()) entry.expiresAt = Math.min(entry.expiresAt, past);
  }

  /** Replaces the app permissions (token scope) and/or the admin's user permissions. */
  setPermissions(p: { app?: string[]; user?: string[] }): void {
    if (p.app) this.appPermissions = [...p.app];
    if (p.user) this.userPermissions = [...p.user];
  }

  /** Removes a permission from both the app and the user permissions. */
  removePermission(permission: string): void {
    this.appPermissions = this.appPermissions.filter((x) => x !== permission);
    this.userPermissions = this.userPermissions.filter((x) => x !== permission);
  }

  get permissions(): { app: string[]; user: string[] } {
    return { app: [...this.appPermissions], user: [...this.userPermissions] };
  }

  /** Changes rate limits at run time; clears current counters and penalties. */
  setRateLimits(p: {
    limits?: Partial<Record<ThrottlingGroup, number>>;
    windowSec?: number;
    penaltySec?: number;
  }): void {
    if (p.limits) Object.assign(this.limiter.limits, p.limits);
    if (p.windowSec !== undefined) {
      this.limiter.windowSec = p.windowSec;
      if (p.penaltySec === undefined) this.limiter.penaltySec = p.windowSec;
    }
    if (p.penaltySec !== undefined) this.limiter.penaltySec = p.penaltySec;
    this.limiter.reset();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopLiveActivity();
    for (const res of this.openResponses) res.destroy();
    const done = Promise.all(
      [this.platformServer, this.mediaServer].map(
        (server) => new Promise<void>((resolve) => server.close(() => resolve())),
      ),
    );
    this.platformServer.closeAllConnections();
    this.mediaServer.closeAllConnections();
    await done;
  }

  // -------------------------------------------------------------------------------------------
  // Views of the data

  private recordingInfo(rec: SimRecording, call: SimCall): RecordingInfo {
    const ext = this.data.extension(rec.extensionId);
    const info = {
      id: rec.id,
      callId: call.id,
      extensionId: rec.extensionId,
      extensionNumber: ext?.extensionNumber ?? '',
      type: rec.type,
      uri: this.recordingUri(rec.id),
      contentUri: this.contentUri(rec.id),
      contentType: this.contentSpec(rec.id).contentType,
      bytes: rec.bytes,
      duration: rec.duration,
      startTime: iso(call.startTime),
      legOnly: rec.leg === 1,
    } as RecordingInfo;
    Object.defineProperty(info, 'sha256', {
      enumerable: false,
      get: () => this.expectedContent(rec.id).sha256,
    });
    return info;
  }

  private callInfo(call: SimCall, now: number): CallInfo {
    return {
      id: call.id,
      sessionId: call.sessionId,
      extensionId: call.extensionId,
      startTime: iso(call.startTime),
      duration: call.duration,
      direction: call.direction,
      type: call.type,
      result: call.result,
      appearsAt: iso(call.appearsAt),
      recordings: call.recordings.filter((r) => r.availableAt <= now).map((r) => this.recordingInfo(r, call)),
    };
  }

  private messageUri(m: SimMessage): string {
    return `${this.extensionUri(m.extensionId)}/message-store/${m.id}`;
  }

  private attachmentUri(m: SimMessage, a: SimAttachment): string {
    return `${this.mediaUrl}/restapi/v1.0/account/${this.accountId}/extension/${m.extensionId}/message-store/${m.id}/content/${a.id}`;
  }

  private visibleAttachments(m: SimMessage): SimAttachment[] {
    return m.availability === 'Purged' ? [] : m.attachments;
  }

  private messageInfo(m: SimMessage): MessageInfo {
    return {
      id: m.id,
      extensionId: m.extensionId,
      type: m.type,
      mms: m.mms,
      direction: m.direction,
      availability: m.availability,
      creationTime: iso(m.creationTime),
      uri: this.messageUri(m),
      ...(m.conversationId ? { conversationId: m.conversationId } : {}),
      ...(m.subject ? { subject: m.subject } : {}),
      attachments: this.visibleAttachments(m).map((a) => ({
        id: a.id,
        type: a.type,
        uri: this.attachmentUri(m, a),
        contentType: a.contentType,
        size: a.size,
        ...(a.fileName ? { fileName: a.fileName } : {}),
      })),
    };
  }

  /** A message record; conversationId is a placeholder string that sendBigJson writes as a raw number. */
  private renderMessage(m: SimMessage, single: boolean): Record<string, unknown> {
    const party = (p: SimParty): Record<string, string> => this.party(p) as Record<string, string>;
    const out: Record<string, unknown> = {
      uri: this.messageUri(m),
      id: Number(m.id),
      extensionId: m.extensionId,
      to: m.to.map(party),
      from: party(m.from),
      type: m.type,
      creationTime: iso(m.creationTime),
      readStatus: m.readStatus,
      priority: 'Normal',
      attachments: this.visibleAttachments(m).map((a) => ({
        id: Number(a.id),
        uri: this.attachmentUri(m, a),
        type: a.type,
        contentType: a.contentType,
        size: a.size,
        ...(a.fileName ? { fileName: a.fileName } : {}),
        ...(a.vmDuration !== undefined ? { vmDuration: a.vmDuration } : {}),
        ...(a.width !== undefined ? { width: a.width, height: a.height } : {}),
      })),
      direction: m.direction,
      availability: m.availability,
      ...(m.subject !== undefined ? { subject: m.subject } : {}),
      messageStatus: m.messageStatus,
      lastModifiedTime: iso(m.lastModifiedTime),
    };
    if (m.conversationId) {
      out.conversationId = `${BIG_MARK}${m.conversationId}`;
      out.conversation = {
        id: m.conversationId,
        uri: `${this.platformUrl}/restapi/v1.0/conversation/${m.conversationId}`,
      };
    }
    if (m.type === 'SMS') {
      out.smsSendingAttemptsCount = 1;
      if (m.direction === 'Outbound') out.smsDeliveryTime = iso(m.creationTime + 2000);
    }
    if (m.vmTranscriptionStatus) out.vmTranscriptionStatus = m.vmTranscriptionStatus;
    if (m.faxResolution) {
      out.faxResolution = m.faxResolution;
      out.faxPageCount = m.faxPageCount;
      if (m.direction === 'Outbound') out.coverIndex = 0;
    }
    if (single) out.vmSideRecipients = m.to.map(party);
    return out;
  }

  private recordingUri(id: string): string {
    return `${this.platformUrl}/restapi/v1.0/account/${this.accountId}/recording/${id}`;
  }

  private contentUri(id: string): string {
    return `${this.mediaUrl}/restapi/v1.0/account/${this.accountId}/recording/${id}/content`;
  }

  private extensionUri(id: string): string {
    return `${this.platformUrl}/restapi/v1.0/account/${this.accountId}/extension/${id}`;
  }

  // -------------------------------------------------------------------------------------------
  // Request pipeline

  private dispatch(host: 'platform' | 'media', req: http.IncomingMessage, res: http.ServerResponse): void {
    this.handle(host, req, res).catch((err: unknown) => {
      if (!res.headersSent && !res.destroyed) {
        const status = err instanceof HttpError ? err.status : 500;
        const body = err instanceof HttpError ? err.body : apiError('CMN-201', 'Internal Server Error');
        res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify(body));
      } else {
        res.destroy();
      }
      if (!(err instanceof HttpError))
        this.logFn?.(`simulator error: ${(err as Error)?.stack ?? String(err)}`);
    });
  }

  private async handle(
    host: 'platform' | 'media',
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim.invalid');
    if (host === 'platform' && url.pathname.startsWith('/__sim/')) {
      await this.handleControl(req, res, url);
      return;
    }
    const method = (req.method ?? 'GET').toUpperCase();
    const match =
      this.operations.match(method, url.pathname) ?? this.datasetMatch(host, method, url.pathname);
    const op = match?.op;
    const ctx: Ctx = {
      host,
      req,
      res,
      url,
      op,
      group: op ? op.group : 'Light',
      userKey: 'anonymous',
      status: 0,
    };
    this.statsData.requests++;
    this.openResponses.add(res);
    res.on('close', () => {
      this.openResponses.delete(res);
      this.finishLog(ctx, method);
    });
    res.setHeader('RCRequestId', randomUUID());

    const body =
      method === 'POST' || method === 'PUT' || method === 'PATCH' ? await readBody(req) : Buffer.alloc(0);
    ctx.body = body;

    // who is asking (decides the rate-limit bucket)
    let session: Session | undefined;
    let tokenState: TokenState = 'missing';
    if (op?.operationId === 'getToken' || op?.operationId === 'revokeToken') {
      ctx.userKey = this.tokenRequestUser(req, url, body);
    } else {
      const r = this.bearer(req, url);
      session = r.session;
      tokenState = r.state;
      if (session) ctx.userKey = `${session.clientId}:${session.ownerId}`;
    }

    // rate limit
    const group = ctx.group as GroupName;
    this.statsData.byGroup[group] = (this.statsData.byGroup[group] ?? 0) + 1;
    if (op)
      this.statsData.byOperation[op.operationId] = (this.statsData.byOperation[op.operationId] ?? 0) + 1;
    if (group !== 'NoThrottling') {
      const decision = this.limiter.check(ctx.userKey, group);
      this.setRateHeaders(res, decision);
      if (!decision.allowed) {
        this.statsData.rateLimited++;
        this.sendJson(ctx, 429, apiError('CMN-301', 'Request rate exceeded'), {
          'Retry-After': String(decision.retryAfterSec),
        });
        return;
      }
    }

    // faults that act before the answer
    const slow = this.takeFault(ctx, ['slow']);
    if (slow && slow.kind === 'slow') {
      await delay(slow.delayMs);
      if (res.destroyed) return;
    }
    const early = this.takeFault(ctx, ['status', 'malformed']);
    if (early?.kind === 'status') {
      const headers: Record<string, string> = {};
      if (early.status === 429 || early.status === 503) {
        headers['Retry-After'] = String(early.retryAfterSec ?? this.limiter.penaltySec);
      }
      if (early.status === 429) this.statsData.rateLimited++;
      this.sendJson(ctx, early.status, early.body ?? statusBody(early.status), headers);
      return;
    }
    if (early?.kind === 'malformed') {
      const text = '{"uri":"' + this.platformUrl + url.pathname + '","records":[{"id":"';
      this.sendRaw(ctx, 200, Buffer.from(text), { 'Content-Type': 'application/json; charset=utf-8' });
      return;
    }

    try {
      await this.route(ctx, method, match?.params ?? {}, body, session, tokenState);
    } catch (err) {
      if (err instanceof HttpError && !res.headersSent) {
        this.sendJson(ctx, err.status, err.body, err.headers);
        return;
      }
      throw err;
    }
  }

  private async route(
    ctx: Ctx,
    method: string,
    params: Record<string, string>,
    body: Buffer,
    session: Session | undefined,
    tokenState: TokenState,
  ): Promise<void> {
    const op = ctx.op;
    if (!op || op.media !== (ctx.host === 'media')) {
      throw new HttpError(404, apiError('CMN-102', `Resource not found: ${method} ${ctx.url.pathname}`));
    }
    switch (op.operationId) {
      case 'getToken':
        return this.handleToken(ctx, body);
      case 'revokeToken':
        return this.handleRevoke(ctx, body);
      case 'readAPIVersions':
        return this.sendJson(ctx, 200, {
          uri: `${this.platformUrl}/restapi`,
          apiVersions: [this.apiVersion()],
          serverVersion: '24.4.10',
          serverRevision: 'sim',
        });
      case 'readAPIVersion':
        if (params.apiVersion !== 'v1.0') throw notFound('apiVersion');
        return this.sendJson(ctx, 200, {
          ...this.apiVersion(),
          serverVersion: '24.4.10',
          serverRevision: 'sim',
        });
    }
    if (!session || tokenState !== 'ok') return this.unauthorized(ctx, tokenState);
    const handler = this.handlers[op.operationId];
    if (!handler) {
      throw new HttpError(404, apiError('CMN-102', `Operation ${op.operationId} is not simulated`));
    }
    if (
      op.appPermission &&
      !op.appPermission.split(/\s+OR\s+/).some((p) => this.appPermissions.includes(p))
    ) {
      throw this.permissionError('application', op.appPermission);
    }
    if (op.userPermission) {
      const granted = this.userPermissionsOf(session.ownerId);
      if (!op.userPermission.split(/\s+OR\s+/).some((p) => granted.includes(p))) {
        throw this.permissionError('user', op.userPermission);
      }
    }
    if (params.accountId !== undefined && params.accountId !== '~' && params.accountId !== this.accountId) {
      throw notFound('accountId');
    }
    await handler.call(this, ctx, params, session);
  }

  /**
   * The dataset download of a compliance export is not in the throttling table: it is served here on
   * the media host as `readDataExportDataset`, group Heavy (like the other archive downloads).
   */
  private datasetMatch(
    host: 'platform' | 'media',
    method: string,
    path: string,
  ): { op: OperationInfo; params: Record<string, string> } | undefined {
    const m = /^\/team-messaging\/v1\/data-export\/([^/]+)\/datasets\/([^/]+)$/.exec(path);
    if (!m || host !== 'media' || (method !== 'GET' && method !== 'HEAD')) return undefined;
    return {
      op: {
        method: 'GET',
        template: '/team-messaging/v1/data-export/{taskId}/datasets/{datasetId}',
        operationId: 'readDataExportDataset',
        group: 'Heavy',
        appPermission: 'TeamMessaging',
        media: true,
      },
      params: { taskId: decodeURIComponent(m[1]), datasetId: decodeURIComponent(m[2]) },
    };
  }

  private permissionError(who: 'application' | 'user', permission: string): HttpError {
    const message =
      who === 'application'
        ? `In order to call this API endpoint, application needs to have [${permission}] permission`
        : `In order to call this API endpoint, user needs to have [${permission}] permission for requested resource`;
    return new HttpError(403, apiError('CMN-408', message, { permissionName: permission }));
  }

  private userPermissionsOf(extensionId: string): string[] {
    const ext = this.data.extension(extensionId);
    if (ext?.admin) return this.userPermissions;
    return this.userPermissions.filter((p) => !ADMIN_ONLY_PERMISSIONS.includes(p));
  }

  private apiVersion(): object {
    return {
      uri: `${this.platformUrl}/restapi/v1.0`,
      versionString: '1.0.56',
      releaseDate: '2024-04-10T00:00:00.000Z',
      uriString: 'v1.0',
    };
  }

  private setRateHeaders(res: http.ServerResponse, d: RateDecision): void {
    res.setHeader('X-Rate-Limit-Group', d.group);
    res.setHeader('X-Rate-Limit-Limit', headerValue(d.limit));
    res.setHeader('X-Rate-Limit-Remaining', headerValue(d.remaining));
    res.setHeader('X-Rate-Limit-Window', headerValue(d.windowSec));
  }

  private takeFault(ctx: Ctx, kinds: FaultSpec['kind'][]): FaultSpec | undefined {
    const path = ctx.url.pathname + ctx.url.search;
    for (const f of this.faults) {
      if (f.remaining <= 0 || !kinds.includes(f.spec.kind)) continue;
      if (f.spec.host && f.spec.host !== ctx.host) continue;
      const m = f.spec.match;
      if (m !== undefined && !(typeof m === 'string' ? path.includes(m) : m.test(path))) continue;
      f.remaining--;
      if (f.remaining <= 0) this.faults = this.faults.filter((x) => x !== f);
      this.statsData.faultsApplied++;
      return f.spec;
    }
    return undefined;
  }

  private finishLog(ctx: Ctx, method: string): void {
    const status = ctx.status || ctx.res.statusCode;
    this.statsData.byStatus[status] = (this.statsData.byStatus[status] ?? 0) + 1;
    const entry: RequestLogEntry = {
      at: Date.now(),
      host: ctx.host,
      method,
      path: ctx.url.pathname + ctx.url.search,
      operationId: ctx.op?.operationId,
      group: ctx.group,
      user: ctx.userKey,
      status,
      ...(typeof ctx.req.headers.range === 'string' ? { range: ctx.req.headers.range } : {}),
    };
    this.requestLog.push(entry);
    if (this.requestLog.length > 2000) this.requestLog.splice(0, this.requestLog.length - 2000);
    this.logFn?.(`${ctx.host} ${method} ${entry.path} -> ${status} [${ctx.group}]`);
  }

  // -------------------------------------------------------------------------------------------
  // Writing answers (with the body-cutting faults)

  private sendJson(ctx: Ctx, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const buf = Buffer.from(JSON.stringify(body));
    this.sendRaw(ctx, status, buf, { 'Content-Type': 'application/json; charset=utf-8', ...headers });
  }

  /** Like sendJson, but string values marked with BIG_MARK are written as raw (unrounded) numbers. */
  private sendBigJson(ctx: Ctx, status: number, body: unknown): void {
    const text = JSON.stringify(body).replace(/"\\u0000bigint:(\d+)"/g, '$1');
    this.sendRaw(ctx, status, Buffer.from(text), { 'Content-Type': 'application/json; charset=utf-8' });
  }

  private sendRaw(ctx: Ctx, status: number, buf: Buffer, headers: Record<string, string>): void {
    const { res } = ctx;
    ctx.status = status;
    if (status === 401) this.statsData.unauthorized++;
    const cut = status < 300 ? this.takeFault(ctx, ['reset', 'close-early', 'stall']) : undefined;
    if (cut && (cut.kind === 'close-early' || cut.kind === 'reset')) res.setHeader('Connection', 'close');
    res.writeHead(status, { ...headers, 'Content-Length': String(buf.length) });
    if (ctx.req.method === 'HEAD') {
      res.end();
      return;
    }
    if (!cut || !('afterBytes' in cut) || cut.afterBytes >= buf.length) {
      this.statsData.bytesServed += buf.length;
      res.end(buf);
      return;
    }
    const part = buf.subarray(0, Math.max(0, cut.afterBytes));
    this.statsData.bytesServed += part.length;
    res.write(part, () => this.cutResponse(ctx, cut.kind));
  }

  /** Ends an answer early: reset (RST), close-early (clean end, then FIN) or stall (keep open). */
  private cutResponse(ctx: Ctx, kind: FaultSpec['kind']): void {
    const socket = ctx.req.socket as Socket & { resetAndDestroy?: () => void };
    if (kind === 'reset') {
      if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
      else socket.destroy();
    } else if (kind === 'close-early') {
      ctx.res.end();
    }
    // stall: leave the response open; it ends when the client gives up or the simulator closes
  }

  private unauthorized(ctx: Ctx, state: TokenState): void {
    const body =
      state === 'expired'
        ? {
            ...apiError('TokenExpired', 'Access token expired'),
            errors: [{ errorCode: 'OAU-213', message: 'Token expired' }],
          }
        : state === 'missing'
          ? { ...apiError('AGW-401', 'Authorization header is not specified') }
          : {
              ...apiError('TokenInvalid', 'Invalid token'),
              errors: [{ errorCode: 'OAU-213', message: 'Token not found' }],
            };
    this.sendJson(ctx, 401, body, { 'WWW-Authenticate': 'Bearer realm="RingCentral"' });
  }

  // -------------------------------------------------------------------------------------------
  // OAuth

  private bearer(req: http.IncomingMessage, url: URL): { state: TokenState; session?: Session } {
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    const token = m?.[1] ?? url.searchParams.get('access_token') ?? undefined;
    if (!token) return { state: 'missing' };
    const entry = this.accessTokens.get(token);
    if (!entry) return { state: 'invalid' };
    if (entry.revoked || entry.session.revoked) return { state: 'invalid', session: entry.session };
    if (entry.expiresAt <= Date.now()) return { state: 'expired', session: entry.session };
    return { state: 'ok', session: entry.session };
  }

  private clientFromRequest(
    req: http.IncomingMessage,
    form: URLSearchParams,
  ): { id?: string; secret?: string } {
    const header = req.headers.authorization ?? '';
    const m = /^Basic\s+(\S+)$/i.exec(header);
    if (m) {
      const decoded = Buffer.from(m[1], 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      return i < 0 ? { id: decoded } : { id: decoded.slice(0, i), secret: decoded.slice(i + 1) };
    }
    return { id: form.get('client_id') ?? undefined, secret: form.get('client_secret') ?? undefined };
  }

  private tokenRequestUser(req: http.IncomingMessage, url: URL, body: Buffer): string {
    const form = new URLSearchParams(body.toString('utf8'));
    const client = this.clientFromRequest(req, form);
    let owner: string | undefined;
    const assertion = form.get('assertion');
    const refresh = form.get('refresh_token');
    const token = form.get('token') ?? url.searchParams.get('token');
    if (assertion) owner = this.jwts.get(assertion);
    else if (refresh) owner = this.refreshTokens.get(refresh)?.session.ownerId;
    else if (token) owner = (this.accessTokens.get(token) ?? this.refreshTokens.get(token))?.session.ownerId;
    return `${client.id ?? 'unknown'}:${owner ?? 'anonymous'}`;
  }

  private checkClient(req: http.IncomingMessage, form: URLSearchParams): void {
    const client = this.clientFromRequest(req, form);
    if (!client.id) {
      throw new HttpError(400, oauthError('invalid_client', 'Client authentication is required', 'OAU-123'));
    }
    if (client.id !== this.options.clientId || client.secret !== this.options.clientSecret) {
      throw new HttpError(400, oauthError('invalid_client', `Invalid client: ${client.id}`, 'OAU-153'));
    }
  }

  private async handleToken(ctx: Ctx, body: Buffer): Promise<void> {
    const type = String(ctx.req.headers['content-type'] ?? '');
    if (!type.includes('application/x-www-form-urlencoded')) {
      throw new HttpError(415, oauthError('invalid_request', 'Unsupported Media Type', 'OAU-250'));
    }
    const form = new URLSearchParams(body.toString('utf8'));
    const grant = form.get('grant_type');
    const isRefresh = grant === 'refresh_token';
    try {
      this.checkClient(ctx.req, form);
      let session: Session;
      if (grant === 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
        const assertion = form.get('assertion');
        if (!assertion)
          throw new HttpError(
            400,
            oauthError('invalid_request', 'Parameter [assertion] is required', 'OAU-101'),
          );
        const owner = this.jwts.get(assertion);
        if (!owner) throw new HttpError(400, oauthError('invalid_grant', 'Invalid assertion', 'OAU-144'));
        session = this.newSession(this.options.clientId, owner);
        this.statsData.logins++;
      } else if (isRefresh) {
        const token = form.get('refresh_token');
        if (!token) {
          throw new HttpError(
            400,
            oauthError('invalid_request', 'Parameter [refresh_token] is required', 'OAU-101'),
          );
        }
        const entry = this.refreshTokens.get(token);
        if (!entry || entry.used || entry.session.revoked) {
          throw new HttpError(400, oauthError('invalid_grant', 'Token not found', 'OAU-211'));
        }
        if (entry.expiresAt <= Date.now()) {
          throw new HttpError(400, oauthError('invalid_grant', 'Token is expired', 'OAU-213'));
        }
        entry.used = true;
        session = entry.session;
        this.statsData.refreshes++;
      } else if (grant === 'password') {
        throw new HttpError(
          400,
          oauthError('unsupported_grant_type', 'Password grant is not supported', 'OAU-251'),
        );
      } else {
        throw new HttpError(
          400,
          oauthError('unsupported_grant_type', `Unsupported grant type: ${grant ?? ''}`, 'OAU-251'),
        );
      }
      const ttl = (name: string, max: number): number => {
        const requested = Number(form.get(name));
        return Number.isFinite(requested) && requested > 0 ? Math.min(requested, max) : max;
      };
      const accessTtl = ttl('access_token_ttl', this.options.accessTokenTtlSec);
      const refreshTtl = ttl('refresh_token_ttl', this.options.refreshTokenTtlSec);
      // a session keeps one live refresh token; by default the previous access token dies too
      if (session.accessToken && this.options.refreshRevokesAccessToken) {
        const old = this.accessTokens.get(session.accessToken);
        if (old) old.revoked = true;
      }
      if (session.refreshToken) {
        const old = this.refreshTokens.get(session.refreshToken);
        if (old) old.used = true;
      }
      const accessToken = `SIMAT${randomBytes(36).toString('base64url')}`;
      const refreshToken = `SIMRT${randomBytes(36).toString('base64url')}`;
      const now = Date.now();
      this.accessTokens.set(accessToken, { session, expiresAt: now + accessTtl * 1000, revoked: false });
      this.refreshTokens.set(refreshToken, { session, expiresAt: now + refreshTtl * 1000, used: false });
      session.accessToken = accessToken;
      session.refreshToken = refreshToken;
      this.sendJson(
        ctx,
        200,
        {
          access_token: accessToken,
          token_type: 'bearer',
          expires_in: accessTtl,
          refresh_token: refreshToken,
          refresh_token_expires_in: refreshTtl,
          scope: this.appPermissions.join(' '),
          owner_id: session.ownerId,
          endpoint_id: form.get('endpoint_id') ?? `sim-endpoint-${session.id.slice(0, 8)}`,
          session_id: session.id,
        },
        { 'Cache-Control': 'no-store', Pragma: 'no-cache' },
      );
    } catch (err) {
      if (isRefresh) this.statsData.refreshFailures++;
      else this.statsData.loginFailures++;
      throw err;
    }
  }

  private newSession(clientId: string, ownerId: string): Session {
    const key = `${clientId}:${ownerId}`;
    const list = (this.sessions.get(key) ?? []).filter((s) => !s.revoked);
    const session: Session = { id: randomUUID(), clientId, ownerId, createdAt: Date.now(), revoked: false };
    list.push(session);
    while (list.length > this.options.maxSessions) {
      const oldest = list.shift();
      if (oldest) {
        this.revokeSession(oldest);
        this.statsData.sessionsEvicted++;
      }
    }
    this.sessions.set(key, list);
    return session;
  }

  private revokeSession(session: Session): void {
    session.revoked = true;
    if (session.accessToken) {
      const entry = this.accessTokens.get(session.accessToken);
      if (entry) entry.revoked = true;
    }
  }

  private async handleRevoke(ctx: Ctx, body: Buffer): Promise<void> {
    const form = new URLSearchParams(body.toString('utf8'));
    this.checkClient(ctx.req, form);
    const token = form.get('token') ?? ctx.url.searchParams.get('token');
    if (!token)
      throw new HttpError(400, oauthError('invalid_request', 'Parameter [token] is required', 'OAU-101'));
    const entry = this.accessTokens.get(token) ?? this.refreshTokens.get(token);
    if (entry) {
      this.revokeSession(entry.session);
      this.statsData.revocations++;
    }
    this.sendRaw(ctx, 200, Buffer.alloc(0), {});
  }

  // -------------------------------------------------------------------------------------------
  // REST handlers (by operationId)

  private readonly handlers: Record<
    string,
    (this: Simulator, ctx: Ctx, params: Record<string, string>, session: Session) => Promise<void> | void
  > = {
    readAccountInfo(ctx) {
      this.sendJson(ctx, 200, this.accountJson());
    },
    readExtension(ctx, params, session) {
      const ext = this.resolveExtension(params.extensionId, session);
      this.sendJson(ctx, 200, this.extensionJson(ext, ext.id === session.ownerId));
    },
    listExtensions(ctx) {
      const q = ctx.url.searchParams;
      const number = q.get('extensionNumber');
      const statuses = parseList(q, 'status');
      const types = parseList(q, 'type');
      const all = this.data.allExtensions.filter(
        (e) =>
          (!number || e.extensionNumber === number) &&
          (statuses.length === 0 || statuses.includes(e.status)) &&
          (types.length === 0 || types.includes(e.type)),
      );
      const { perPage, page } = this.pagingParams(q, 100);
      this.sendJson(
        ctx,
        200,
        this.pageOf(
          ctx,
          all.map((e) => this.extensionListJson(e)),
          page,
          perPage,
          true,
          {},
        ),
      );
    },
    readAuthorizationProfile(ctx, params, session) {
      const ext = this.resolveExtension(params.extensionId, session);
      const scope = ext.admin ? 'Account' : 'Self';
      const base = `${this.extensionUri(ext.id)}/authz-profile`;
      this.sendJson(ctx, 200, {
        uri: base,
        permissions: this.userPermissionsOf(ext.id).map((id) => ({
          permission: { uri: `${this.platformUrl}/restapi/v1.0/dictionary/permission/${id}`, id },
          effectiveRole: {
            uri: `${this.platformUrl}/restapi/v1.0/account/${this.accountId}/user-role/${ext.admin ? '1' : '3'}`,
            id: ext.admin ? '1' : '3',
          },
          scopes: [scope],
        })),
      });
    },
    readCompanyCallLog(ctx) {
      this.listCallLog(ctx, undefined);
    },
    readUserCallLog(ctx, params, session) {
      const ext = this.resolveExtension(params.extensionId, session);
      this.listCallLog(ctx, ext);
    },
    readCompanyCallRecord(ctx, params) {
      this.singleCallRecord(ctx, params.callRecordId, undefined);
    },
    readUserCallRecord(ctx, params, session) {
      const ext = this.resolveExtension(params.extensionId, session);
      this.singleCallRecord(ctx, params.callRecordId, ext);
    },
    readCallRecording(ctx, params) {
      const { rec } = this.visibleRecording(params.recordingId);
      const spec = this.contentSpec(rec.id);
      this.sendJson(ctx, 200, {
        uri: this.recordingUri(rec.id),
        id: rec.id,
        contentUri: this.contentUri(rec.id),
        contentType: spec.contentType,
        duration: rec.duration,
      });
    },
    async readCallRecordingContent(ctx, params) {
      const { rec } = this.visibleRecording(params.recordingId);
      if (this.deletedContent.has(rec.id)) throw notFound('recordingId');
      await this.streamContent(ctx, rec);
    },
    listMessages(ctx, params, session) {
      const ext = this.resolveExtension(params.extensionId, session);
      this.listMessages(ctx, ext);
    },
    readMessage(ctx, params, session) {
      const ext = this.resolveExtension(params.extensionId, session);
      const m = this.visibleMessage(ext, params.messageId);
      this.sendBigJson(ctx, 200, this.renderMessage(m, true));
    },
    async readMessageContent(ctx, params, session) {
      const ext = this.resolveExtension(params.extensionId, session);
      const m = this.visibleMessage(ext, params.messageId);
      const att = this.visibleAttachments(m).find((a) => a.id === params.attachmentId);
      if (!att || this.deletedContent.has(att.id)) throw notFound('attachmentId');
      await this.streamBuffer(
        ctx,
        attachmentBytes(this.options.seed, att),
        att.contentType,
        att.id,
        att.fileName,
      );
    },
    listDataExportTasksNew(ctx) {
      this.checkComplianceExport();
      const q = ctx.url.searchParams;
      const statuses = parseList(q, 'status');
      const { page, perPage } = this.pagingParams(q, 30);
      const tasks = [...this.exportTasks.values()]
        .sort((a, b) => b.createdAt - a.createdAt)
        .map((t) => {
          t.polls++;
          return t;
        })
        .filter((t) => statuses.length === 0 || statuses.includes(this.exportStatus(t)))
        .map((t) => this.exportTaskJson(t));
      const paged = this.pageOf(ctx, tasks, page, perPage, true, {});
      this.sendJson(ctx, 200, { tasks: paged.records, navigation: paged.navigation, paging: paged.paging });
    },
    createDataExportTaskNew(ctx, _params, session) {
      this.checkComplianceExport();
      let input: Record<string, unknown> = {};
      const raw = (ctx.body ?? Buffer.alloc(0)).toString('utf8').trim();
      if (raw) {
        try {
          input = JSON.parse(raw) as Record<string, unknown>;
        } catch {
          throw new HttpError(400, apiError('CMN-101', 'Request body is not valid JSON'));
        }
      }
      const now = this.now();
      const time = (name: string): number | undefined => {
        const v = input[name];
        if (v === undefined || v === null) return undefined;
        const ms = typeof v === 'string' ? Date.parse(v) : NaN;
        if (Number.isNaN(ms)) throw invalidParameter(name, String(v));
        return ms;
      };
      const timeTo = time('timeTo') ?? now;
      const timeFrom = time('timeFrom') ?? timeTo - 86400_000;
      if (timeFrom >= timeTo) throw invalidParameter('timeFrom', iso(timeFrom));
      if (timeTo - timeFrom > 183 * 86400_000) {
        throw new HttpError(
          400,
          apiError(
            'CMN-101',
            'Parameter [timeFrom] value is invalid: the time frame must not exceed 6 months',
            {
              parameterName: 'timeFrom',
              parameterValue: iso(timeFrom),
            },
          ),
        );
      }
      const contacts = input.contacts as Array<{ id?: string; email?: string }> | undefined;
      const chatIds = input.chatIds as string[] | undefined;
      if (contacts !== undefined && (!Array.isArray(contacts) || contacts.length > 10))
        throw invalidParameter('contacts', null);
      if (chatIds !== undefined && (!Array.isArray(chatIds) || chatIds.length > 10))
        throw invalidParameter('chatIds', null);
      const active = [...this.exportTasks.values()].filter((t) => this.exportStatus(t) !== 'Completed');
      if (active.length >= 2) {
        throw new HttpError(
          400,
          apiError('CMN-101', 'No more than 2 data export tasks can be in progress simultaneously'),
        );
      }
      const id = String(8_100_000 + ++this.exportCounter * 37);
      const task: ExportTask = {
        id,
        creatorId: session.ownerId,
        createdAt: now,
        modifiedAt: now,
        timeFrom,
        timeTo,
        contacts,
        chatIds,
        polls: 0,
        rewrite: this.exportRewrite,
      };
      this.exportTasks.set(id, task);
      this.sendJson(ctx, 202, this.exportTaskJson(task));
    },
    readDataExportTaskNew(ctx, params) {
      this.checkComplianceExport();
      const task = this.exportTasks.get(params.taskId);
      if (!task) throw notFound('taskId');
      task.polls++;
      this.sendJson(ctx, 200, this.exportTaskJson(task));
    },
    async readDataExportDataset(ctx, params) {
      // dataset links need the Bearer header (no access_token query parameter)
      if (!/^Bearer\s+\S+$/i.test(ctx.req.headers.authorization ?? ''))
        return this.unauthorized(ctx, 'missing');
      this.checkComplianceExport();
      const task = this.exportTasks.get(params.taskId);
      if (!task || this.exportStatus(task) !== 'Completed' || params.datasetId !== `${task.id}-1`)
        throw notFound('datasetId');
      if (this.deletedContent.has(params.datasetId)) throw notFound('datasetId');
      await this.streamBuffer(
        ctx,
        this.exportZip(task),
        'application/zip',
        params.datasetId,
        `${task.id}.zip`,
      );
    },
  };

  private visibleMessage(ext: SimExtension, id: string): SimMessage {
    const m = this.messages.byId.get(id);
    const now = this.now();
    if (!m || m.extensionId !== ext.id || m.creationTime > now || this.messages.expired(m, now))
      throw notFound('messageId');
    return m;
  }

  private listMessages(ctx: Ctx, ext: SimExtension): void {
    const q = ctx.url.searchParams;
    const { perPage, page } = this.pagingParams(q, 100);
    const now = this.now();
    const { dateFrom, dateTo } = this.dateRange(q, now);
    const types = parseList(q, 'messageType');
    for (const t of types)
      if (!['Fax', 'SMS', 'VoiceMail', 'Pager', 'Text'].includes(t)) throw invalidParameter('messageType', t);
    const availability = parseList(q, 'availability');
    for (const a of availability)
      if (!['Alive', 'Deleted', 'Purged'].includes(a)) throw invalidParameter('availability', a);
    const avail = availability.length ? availability : ['Alive'];
    const directions = parseList(q, 'direction');
    for (const d of directions)
      if (d !== 'Inbound' && d !== 'Outbound') throw invalidParameter('direction', d);
    const readStatus = parseList(q, 'readStatus');
    const conversationId = q.get('conversationId');
    const matches: SimMessage[] = [];
    for (const m of this.messages.messages) {
      if (m.creationTime > dateTo || m.creationTime > now) continue;
      if (m.creationTime < dateFrom) break; // newest first
      if (m.extensionId !== ext.id) continue;
      if (this.messages.expired(m, now)) continue;
      if (types.length && !types.includes(m.type)) continue;
      if (!avail.includes(m.availability)) continue;
      if (directions.length && !directions.includes(m.direction)) continue;
      if (readStatus.length && !readStatus.includes(m.readStatus)) continue;
      if (conversationId && m.conversationId !== conversationId) continue;
      matches.push(m);
    }
    const rendered = this.renderPage(matches, page, perPage, (m) => this.renderMessage(m, false));
    const fixed = { dateFrom: iso(dateFrom), dateTo: iso(dateTo) };
    this.sendBigJson(ctx, 200, this.pageOf(ctx, rendered, page, perPage, false, fixed));
  }

  private checkComplianceExport(): void {
    if (!this.options.complianceExportEnabled) {
      throw new HttpError(
        403,
        apiError('FeatureNotAvailable', 'Compliance Exports feature is not available for the account'),
      );
    }
  }

  private exportStatus(t: ExportTask): 'Accepted' | 'InProgress' | 'Completed' {
    if (t.polls >= this.options.exportPollsToComplete) return 'Completed';
    return t.polls >= 1 ? 'InProgress' : 'Accepted';
  }

  private datasetUri(t: ExportTask): string {
    return `${this.mediaUrl}/team-messaging/v1/data-export/${t.id}/datasets/${t.id}-1`;
  }

  private exportFiles(t: ExportTask): Array<{ name: string; data: Buffer }> {
    const users = this.data.extensions;
    const contactIds = t.contacts?.map(
      (c) => c.id ?? users.find((u) => u.email === c.email?.toLowerCase())?.id ?? '-',
    );
    const files = this.team.exportFiles(users, {
      timeFrom: t.timeFrom,
      timeTo: t.timeTo,
      chatIds: t.chatIds,
      contacts: t.contacts,
      contactIds,
      perFile: this.options.exportFileElements,
    });
    return t.rewrite ? t.rewrite(files) : files;
  }

  private exportZip(t: ExportTask): Buffer {
    t.zip ??= storedZip(this.exportFiles(t), t.createdAt);
    return t.zip;
  }

  private exportTaskJson(t: ExportTask): object {
    const status = this.exportStatus(t);
    const creator = this.data.extension(t.creatorId);
    const completedAt = t.createdAt + 1000 * Math.max(1, this.options.exportPollsToComplete);
    return {
      uri: `${this.platformUrl}/team-messaging/v1/data-export/${t.id}`,
      id: t.id,
      creationTime: iso(t.createdAt),
      lastModifiedTime: iso(
        status === 'Completed' ? completedAt : status === 'InProgress' ? t.createdAt + 1000 : t.createdAt,
      ),
      status,
      creator: { id: t.creatorId, firstName: creator?.firstName ?? '', lastName: creator?.lastName ?? '' },
      specific: {
        timeFrom: iso(t.timeFrom),
        timeTo: iso(t.timeTo),
        ...(t.contacts ? { contacts: t.contacts } : {}),
        ...(t.chatIds ? { chatIds: t.chatIds } : {}),
      },
      ...(status === 'Completed'
        ? {
            datasets: [
              {
                id: `${t.id}-1`,
                uri: this.datasetUri(t),
                size: this.exportZip(t).length,
                expiresAt: iso(completedAt + 24 * 3600_000),
              },
            ],
          }
        : {}),
    };
  }

  /** Streams an in-memory body in 64 KB chunks with backpressure (with the body-cutting faults). */
  private async streamBuffer(
    ctx: Ctx,
    buf: Buffer,
    contentType: string,
    id: string,
    fileName?: string,
  ): Promise<void> {
    const { req, res } = ctx;
    const headers: Record<string, string> = {
      'Content-Type': contentType,
      'Content-Length': String(buf.length),
    };
    const disposition = ctx.url.searchParams.get('contentDisposition');
    if (disposition) {
      const name = ctx.url.searchParams.get('contentDispositionFilename') ?? fileName ?? id;
      headers['Content-Disposition'] = `${disposition.toLowerCase()}; filename="${name.replace(/"/g, '')}"`;
    }
    const range = this.mediaRange(ctx, buf.length, headers);
    if (!range) return;
    const cut = this.takeFault(ctx, ['reset', 'close-early', 'stall']);
    if (cut && (cut.kind === 'reset' || cut.kind === 'close-early')) headers.Connection = 'close';
    ctx.status = range.status;
    res.writeHead(range.status, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const stats = this.statsData;
    stats.downloads.started++;
    if (range.status === 206) stats.downloads.ranged++;
    const size = range.end - range.start;
    const limit =
      range.start + (cut && 'afterBytes' in cut ? Math.min(Math.max(0, cut.afterBytes), size) : size);
    for (let offset = range.start; offset < limit && !res.destroyed; offset += DEFAULT_CHUNK_SIZE) {
      const chunk = buf.subarray(offset, Math.min(limit, offset + DEFAULT_CHUNK_SIZE));
      stats.bytesServed += chunk.length;
      stats.contentBytesServed += chunk.length;
      if (!res.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        });
      }
    }
    if (res.destroyed) {
      stats.downloads.failed++;
      return;
    }
    if (cut && limit < range.end) {
      stats.downloads.failed++;
      if (cut.kind === 'stall') return;
      if (cut.kind === 'reset')
        await new Promise<void>((resolve) => res.write(Buffer.alloc(0), () => resolve()));
      this.cutResponse(ctx, cut.kind);
      return;
    }
    res.end(() => {
      stats.downloads.completed++;
    });
  }

  private resolveExtension(id: string, session: Session): SimExtension {
    const extId = id === '~' ? session.ownerId : id;
    const ext = this.data.extension(extId);
    if (!ext) throw notFound('extensionId');
    const owner = this.data.extension(session.ownerId);
    if (ext.id !== session.ownerId && !owner?.admin) {
      throw this.permissionError('user', 'ReadExtensions');
    }
    return ext;
  }

  private visibleRecording(id: string): { rec: SimRecording; call: SimCall } {
    const rec = this.data.recordingsById.get(id);
    const call = rec ? this.data.callsById.get(rec.callId) : undefined;
    const now = this.now();
    if (!rec || !call || call.appearsAt > now || rec.availableAt > now) throw notFound('recordingId');
    return { rec, call };
  }

  private accountJson(): object {
    const admin = this.adminExtension;
    const us = {
      id: '1',
      uri: `${this.platformUrl}/restapi/v1.0/dictionary/country/1`,
      name: 'United States',
      isoCode: 'US',
      callingCode: '1',
    };
    return {
      uri: `${this.platformUrl}/restapi/v1.0/account/${this.accountId}`,
      id: Number(this.accountId),
      serviceInfo: {
        uri: `${this.platformUrl}/restapi/v1.0/account/${this.accountId}/service-info`,
        brand: { id: '1210', name: 'RingCentral', homeCountry: us },
        servicePlan: { id: '10001', name: 'RingEX Premium', edition: 'Premium' },
        billingPlan: { id: '20001', name: 'Monthly', durationUnit: 'Month', duration: 1, type: 'Regular' },
        contractedCountry: us,
      },
      operator: {
        uri: this.extensionUri(admin.id),
        id: Number(admin.id),
        extensionNumber: admin.extensionNumber,
      },
      mainNumber: '+16505550100',
      status: 'Confirmed',
      setupWizardState: 'Completed',
      signupInfo: { tosAccepted: true, signupState: ['AccountConfirmed'] },
      regionalSettings: {
        homeCountry: us,
        timezone: {
          uri: `${this.platformUrl}/restapi/v1.0/dictionary/timezone/58`,
          id: '58',
          name: 'US/Pacific',
          description: 'Pacific Time (US & Canada)',
          bias: '-480',
        },
        language: { id: '1033', name: 'English (United States)', localeCode: 'en-US' },
        greetingLanguage: { id: '1033', name: 'English (United States)', localeCode: 'en-US' },
        formattingLocale: { id: '1033', name: 'English (United States)', localeCode: 'en-US' },
        timeFormat: '12h',
        currency: { id: 1, code: 'USD', name: 'Dollar', symbol: '$' },
      },
      federated: false,
      limits: { maxExtensionNumberLength: 5, siteCodeLength: 0, shortExtensionNumberLength: 3 },
    };
  }

  private contactJson(e: SimExtension): object {
    return {
      firstName: e.firstName,
      lastName: e.lastName,
      name: e.name,
      email: e.email,
      businessPhone: e.phoneNumber,
      emailAsLoginName: true,
      pronouncedName: { type: 'Default' },
    };
  }

  private extensionListJson(e: SimExtension): object {
    return {
      uri: this.extensionUri(e.id),
      id: Number(e.id),
      extensionNumber: e.extensionNumber,
      name: e.name,
      type: e.type,
      status: e.status,
      contact: this.contactJson(e),
      permissions: { admin: { enabled: e.admin }, internationalCalling: { enabled: false } },
      profileImage: { uri: `${this.extensionUri(e.id)}/profile-image` },
      hidden: false,
      creationTime: iso(e.creationTime),
    };
  }

  private extensionJson(e: SimExtension, self: boolean): object {
    return {
      ...this.extensionListJson(e),
      account: { uri: `${this.platformUrl}/restapi/v1.0/account/${this.accountId}`, id: this.accountId },
      setupWizardState: 'Completed',
      regionalSettings: {
        homeCountry: {
          id: '1',
          uri: `${this.platformUrl}/restapi/v1.0/dictionary/country/1`,
          name: 'United States',
        },
        timezone: {
          uri: `${this.platformUrl}/restapi/v1.0/dictionary/timezone/58`,
          id: '58',
          name: 'US/Pacific',
          bias: '-480',
        },
        timeFormat: '12h',
      },
      ...(self
        ? {
            serviceFeatures: [
              { featureName: 'Archiver', enabled: true },
              { featureName: 'AutomaticInboundCallRecording', enabled: true },
              { featureName: 'AutomaticOutboundCallRecording', enabled: true },
              { featureName: 'OnDemandCallRecording', enabled: true },
            ],
          }
        : {}),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Paging

  /** dateFrom/dateTo of a listing in ms: dateTo defaults to now, dateFrom to 24 h before dateTo. */
  private dateRange(q: URLSearchParams, now: number): { dateFrom: number; dateTo: number } {
    const parseDate = (name: string): number | undefined => {
      const raw = q.get(name);
      if (raw === null || raw === '') return undefined;
      const ms = Date.parse(raw);
      if (Number.isNaN(ms)) throw invalidParameter(name, raw);
      return ms;
    };
    const dateTo = parseDate('dateTo') ?? now;
    return { dateFrom: parseDate('dateFrom') ?? dateTo - 86400_000, dateTo };
  }

  /**
   * The records array of one page: as long as all matches (pageOf reads its length for the
   * totals), with only this page's entries rendered.
   */
  private renderPage<T>(matches: T[], page: number, perPage: number, render: (match: T) => object): object[] {
    const start = (page - 1) * perPage;
    const rendered: object[] = new Array(matches.length);
    matches.slice(start, start + perPage).forEach((m, i) => {
      rendered[start + i] = render(m);
    });
    return rendered;
  }

  private pagingParams(q: URLSearchParams, defaultPerPage: number): { perPage: number; page: number } {
    const rawPerPage = q.get('perPage');
    let perPage = defaultPerPage;
    if (rawPerPage !== null) {
      if (rawPerPage === 'max') perPage = MAX_PER_PAGE;
      else {
        if (!/^\d+$/.test(rawPerPage) || Number(rawPerPage) < 1)
          throw invalidParameter('perPage', rawPerPage);
        perPage = Number(rawPerPage);
        if (perPage > MAX_PER_PAGE) {
          if (this.options.perPageOverMax === 'error') throw invalidParameter('perPage', rawPerPage);
          perPage = MAX_PER_PAGE;
        }
      }
    }
    perPage = Math.min(perPage, this.options.maxPerPage);
    const rawPage = q.get('page');
    let page = 1;
    if (rawPage !== null) {
      if (!/^\d+$/.test(rawPage) || Number(rawPage) < 1) throw invalidParameter('page', rawPage);
      page = Number(rawPage);
    }
    return { perPage, page };
  }

  private pageUri(ctx: Ctx, page: number, perPage: number, fixed: Record<string, string>): string {
    const params = new URLSearchParams(ctx.url.search);
    params.delete('access_token');
    for (const [k, v] of Object.entries(fixed)) params.set(k, v);
    params.set('page', String(page));
    params.set('perPage', String(perPage));
    return `${this.platformUrl}${ctx.url.pathname}?${params.toString()}`;
  }

  private pageOf(
    ctx: Ctx,
    all: object[],
    page: number,
    perPage: number,
    totals: boolean,
    fixed: Record<string, string>,
  ): { uri: string; records: object[]; paging: object; navigation: object } {
    const start = (page - 1) * perPage;
    const records = all.slice(start, start + perPage);
    const totalPages = Math.max(1, Math.ceil(all.length / perPage));
    const paging: Record<string, number> = { page, perPage };
    if (records.length > 0) {
      paging.pageStart = start;
      paging.pageEnd = start + records.length - 1;
    }
    if (totals) {
      paging.totalPages = totalPages;
      paging.totalElements = all.length;
    }
    const nav: Record<string, { uri: string }> = { firstPage: { uri: this.pageUri(ctx, 1, perPage, fixed) } };
    if (start + perPage < all.length) nav.nextPage = { uri: this.pageUri(ctx, page + 1, perPage, fixed) };
    if (page > 1)
      nav.previousPage = { uri: this.pageUri(ctx, Math.min(page - 1, totalPages), perPage, fixed) };
    if (totals) nav.lastPage = { uri: this.pageUri(ctx, totalPages, perPage, fixed) };
    return { uri: this.pageUri(ctx, page, perPage, fixed), records, paging, navigation: nav };
  }

  // -------------------------------------------------------------------------------------------
  // Call log

  private listCallLog(ctx: Ctx, ext: SimExtension | undefined): void {
    const q = ctx.url.searchParams;
    const view = q.get('view') ?? 'Simple';
    if (view !== 'Simple' && view !== 'Detailed') throw invalidParameter('view', view);
    const detailed = view === 'Detailed';
    const { perPage, page } = this.pagingParams(q, 100);
    const now = this.now();
    const { dateFrom, dateTo } = this.dateRange(q, now);
    const types = parseList(q, 'type');
    for (const t of types) if (t !== 'Voice' && t !== 'Fax') throw invalidParameter('type', t);
    const directions = parseList(q, 'direction');
    for (const d of directions)
      if (d !== 'Inbound' && d !== 'Outbound') throw invalidParameter('direction', d);
    const recordingTypeRaw = q.get('recordingType');
    if (recordingTypeRaw !== null && !['Automatic', 'OnDemand', 'All'].includes(recordingTypeRaw)) {
      throw invalidParameter('recordingType', recordingTypeRaw);
    }
    const withRecording = q.get('withRecording');
    if (withRecording !== null && withRecording !== 'true' && withRecording !== 'false') {
      throw invalidParameter('withRecording', withRecording);
    }
    const recordingFilter = recordingTypeRaw ?? (withRecording === 'true' ? 'All' : undefined);
    const extensionNumber = q.get('extensionNumber');
    const phoneNumber = q.get('phoneNumber')?.replace(/^\+/, '');
    const sessionId = q.get('sessionId');
    const telephonySessionId = q.get('telephonySessionId');
    let extFilter = ext?.id;
    if (!ext && extensionNumber) {
      const byNumber = this.data.extensions.find((e) => e.extensionNumber === extensionNumber);
      if (!byNumber) throw notFound('extensionNumber');
      extFilter = byNumber.id;
    }

    const matches: SimCall[] = [];
    for (const call of this.data.calls) {
      if (call.startTime > dateTo) continue;
      if (call.startTime < dateFrom) break; // calls are sorted newest first
      if (call.appearsAt > now) continue;
      if (extFilter && call.extensionId !== extFilter) continue;
      if (types.length && !types.includes(call.type)) continue;
      if (directions.length && !directions.includes(call.direction)) continue;
      if (sessionId && call.sessionId !== sessionId) continue;
      if (telephonySessionId && call.telephonySessionId !== telephonySessionId) continue;
      if (phoneNumber) {
        const numbers = [call.from.phoneNumber, call.to.phoneNumber].map((n) => n?.replace(/^\+/, ''));
        if (!numbers.includes(phoneNumber)) continue;
      }
      if (recordingFilter) {
        const recs = call.recordings.filter((r) => r.availableAt <= now && (detailed || r.leg === 0));
        if (!recs.some((r) => recordingFilter === 'All' || r.type === recordingFilter)) continue;
      }
      matches.push(call);
    }
    const rendered = this.renderPage(matches, page, perPage, (c) =>
      this.renderCall(c, detailed, now, ext ? 'extension' : 'account'),
    );
    const fixed = { view, dateFrom: iso(dateFrom), dateTo: iso(dateTo) };
    this.sendJson(ctx, 200, this.pageOf(ctx, rendered, page, perPage, this.options.callLogTotals, fixed));
  }

  private singleCallRecord(ctx: Ctx, id: string, ext: SimExtension | undefined): void {
    const view = ctx.url.searchParams.get('view') ?? 'Simple';
    if (view !== 'Simple' && view !== 'Detailed') throw invalidParameter('view', view);
    const call = this.data.callsById.get(id);
    const now = this.now();
    if (!call || call.appearsAt > now || (ext && call.extensionId !== ext.id)) throw notFound('callRecordId');
    this.sendJson(ctx, 200, this.renderCall(call, view === 'Detailed', now, ext ? 'extension' : 'account'));
  }

  private party(p: SimParty): object {
    const out: Record<string, string> = {};
    if (p.phoneNumber) out.phoneNumber = p.phoneNumber;
    if (p.extensionNumber) out.extensionNumber = p.extensionNumber;
    if (p.extensionId) out.extensionId = p.extensionId;
    if (p.name) out.name = p.name;
    if (p.location) out.location = p.location;
    return out;
  }

  private recordingJson(rec: SimRecording): object {
    return {
      uri: this.recordingUri(rec.id),
      id: rec.id,
      type: rec.type,
      contentUri: this.contentUri(rec.id),
    };
  }

  private renderCall(call: SimCall, detailed: boolean, now: number, scope: 'account' | 'extension'): object {
    const view = detailed ? 'Detailed' : 'Simple';
    const extUri = this.extensionUri(call.extensionId);
    const uri =
      scope === 'account'
        ? `${this.platformUrl}/restapi/v1.0/account/${this.accountId}/call-log/${call.id}?view=${view}`
        : `${extUri}/call-log/${call.id}?view=${view}`;
    const recs = call.recordings.filter((r) => r.availableAt <= now);
    const top = recs.find((r) => r.leg === 0);
    const common: Record<string, unknown> = {
      startTime: iso(call.startTime),
      duration: call.duration,
      durationMs: call.duration * 1000,
      type: call.type,
      direction: call.direction,
      action: call.action,
      result: call.result,
      ...(call.reason ? { reason: call.reason } : {}),
      to: this.party(call.to),
      from: this.party(call.from),
      extension: { uri: extUri, id: Number(call.extensionId) },
      telephonySessionId: call.telephonySessionId,
      partyId: call.partyId,
      transport: 'PSTN',
    };
    const record: Record<string, unknown> = { uri, id: call.id, sessionId: call.sessionId, ...common };
    if (top) record.recording = this.recordingJson(top);
    if (call.message) {
      record.message = {
        id: call.message.id,
        type: call.message.type,
        uri: `${extUri}/message-store/${call.message.id}`,
      };
    }
    if (!detailed) return record;
    const lastModified = Math.max(call.appearsAt, ...recs.map((r) => r.availableAt));
    record.internalType = call.internalType;
    record.billing = { costIncluded: 0, costPurchased: 0 };
    record.lastModifiedTime = iso(lastModified);
    const legs: Record<string, unknown>[] = [];
    const masterLegType =
      call.type === 'Fax'
        ? call.direction === 'Inbound'
          ? 'Accept'
          : 'FaxSent'
        : call.direction === 'Inbound'
          ? 'Accept'
          : call.action === 'RingOut Web'
            ? 'RingOutWebToCaller'
            : 'SipToPstnMetered';
    legs.push({
      ...common,
      internalType: call.internalType,
      legType: masterLegType,
      master: true,
      ...(top ? { recording: this.recordingJson(top) } : {}),
    });
    const legRecordings = call.recordings.filter((r) => r.leg === 1);
    if (legRecordings.length > 0) {
      const offset = Math.min(5, Math.max(0, call.duration - 1));
      const legRec = legRecordings.find((r) => r.availableAt <= now);
      legs.push({
        ...common,
        startTime: iso(call.startTime + offset * 1000),
        duration: call.duration - offset,
        durationMs: (call.duration - offset) * 1000,
        action: 'Transfer',
        internalType: call.internalType,
        legType: 'TransferCall',
        master: false,
        ...(legRec ? { recording: this.recordingJson(legRec) } : {}),
      });
    }
    record.legs = legs;
    return record;
  }

  // -------------------------------------------------------------------------------------------
  // Media

  /**
   * The part of a media answer to send, [start, end) of `total` bytes, with its status and headers
   * set: one `Range: bytes=a-b | a- | -n` gets 206 and Content-Range; none, several ranges, a
   * malformed one or `mediaRanges: false` get the whole file (200), as HTTP allows. A range starting
   * past the end is answered 416 here, and undefined is returned.
   */
  private mediaRange(
    ctx: Ctx,
    total: number,
    headers: Record<string, string>,
  ): { status: 200 | 206; start: number; end: number } | undefined {
    const whole = { status: 200 as const, start: 0, end: total };
    if (!this.options.mediaRanges) return whole;
    headers['Accept-Ranges'] = 'bytes';
    const header = ctx.req.headers.range;
    const m = typeof header === 'string' ? /^\s*bytes=(\d*)-(\d*)\s*$/i.exec(header) : null;
    if (!m || (!m[1] && !m[2])) return whole;
    let start: number;
    let end: number;
    if (!m[1]) {
      start = Math.max(0, total - Number(m[2]));
      end = total;
    } else {
      start = Number(m[1]);
      end = m[2] ? Math.min(total, Number(m[2]) + 1) : total;
      if (m[2] && Number(m[2]) < start) return whole;
    }
    if (start >= total || end <= start) {
      ctx.status = 416;
      ctx.res.writeHead(416, { 'Content-Range': `bytes */${total}`, 'Content-Length': '0' });
      ctx.res.end();
      return undefined;
    }
    headers['Content-Range'] = `bytes ${start}-${end - 1}/${total}`;
    headers['Content-Length'] = String(end - start);
    return { status: 206, start, end };
  }

  private async streamContent(ctx: Ctx, rec: SimRecording): Promise<void> {
    const { req, res } = ctx;
    const spec = this.contentSpec(rec.id);
    const headers: Record<string, string> = {
      'Content-Type': spec.contentType,
      'Content-Length': String(spec.bytes),
    };
    const disposition = ctx.url.searchParams.get('contentDisposition');
    if (disposition) {
      const name = ctx.url.searchParams.get('contentDispositionFilename') ?? `${rec.id}.${spec.format}`;
      headers['Content-Disposition'] = `${disposition.toLowerCase()}; filename="${name.replace(/"/g, '')}"`;
    }
    const range = this.mediaRange(ctx, spec.bytes, headers);
    if (!range) return;
    const cut = this.takeFault(ctx, ['reset', 'close-early', 'stall']);
    if (cut && (cut.kind === 'reset' || cut.kind === 'close-early')) headers.Connection = 'close';
    ctx.status = range.status;
    res.writeHead(range.status, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const stats = this.statsData;
    stats.downloads.started++;
    if (range.status === 206) stats.downloads.ranged++;
    stats.recordingDownloadsStarted[rec.id] = (stats.recordingDownloadsStarted[rec.id] ?? 0) + 1;
    const size = range.end - range.start;
    const limit =
      range.start + (cut && 'afterBytes' in cut ? Math.min(Math.max(0, cut.afterBytes), size) : size);
    let offset = range.start;
    let aborted = false;
    const onClose = (): void => {
      aborted = true;
    };
    res.on('close', onClose);
    while (offset < limit && !aborted && !res.destroyed) {
      const n = Math.min(DEFAULT_CHUNK_SIZE, limit - offset);
      const chunk = Buffer.allocUnsafe(n);
      fillContent(spec, offset, chunk);
      offset += n;
      stats.bytesServed += n;
      stats.contentBytesServed += n;
      if (!res.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        });
      }
    }
    if (aborted || res.destroyed) {
      stats.downloads.failed++;
      return;
    }
    if (cut && limit < range.end) {
      stats.downloads.failed++;
      res.off('close', onClose);
      if (cut.kind === 'stall') return;
      if (cut.kind === 'reset') {
        // let the written bytes reach the socket, then reset it
        await new Promise<void>((resolve) => res.write(Buffer.alloc(0), () => resolve()));
      }
      this.cutResponse(ctx, cut.kind);
      return;
    }
    res.off('close', onClose);
    res.end(() => {
      stats.downloads.completed++;
      stats.recordingDownloads[rec.id] = (stats.recordingDownloads[rec.id] ?? 0) + 1;
    });
  }

  // -------------------------------------------------------------------------------------------
  // Control routes for other processes (platform listener, /__sim/…)

  private async handleControl(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const send = (status: number, body: unknown): void => {
      const buf = Buffer.from(JSON.stringify(body));
      res.writeHead(status, {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': String(buf.length),
      });
      res.end(buf);
    };
    let input: Record<string, unknown> = {};
    if (method === 'POST' || method === 'PUT' || method === 'DELETE') {
      const raw = (await readBody(req)).toString('utf8').trim();
      if (raw) {
        try {
          input = JSON.parse(raw) as Record<string, unknown>;
        } catch {
          send(400, { error: 'body is not JSON' });
          return;
        }
      }
    }
    const route = `${method} ${url.pathname.replace(/\/$/, '')}`;
    switch (route) {
      case 'GET /__sim/info':
        return send(200, this.info());
      case 'GET /__sim/stats':
        return send(200, this.stats);
      case 'POST /__sim/stats/reset':
        this.resetStats();
        return send(200, { ok: true });
      case 'GET /__sim/requests':
        return send(200, this.requestLog);
      case 'GET /__sim/recordings': {
        const withHash = url.searchParams.get('sha256') === '1' || url.searchParams.get('sha256') === 'true';
        const list = this.allRecordings({ includeHidden: url.searchParams.get('all') === '1' });
        return send(
          200,
          list.map((r) => (withHash ? { ...r, sha256: r.sha256 } : { ...r })),
        );
      }
      case 'GET /__sim/calls':
        return send(200, this.allCalls({ includeHidden: url.searchParams.get('all') === '1' }));
      case 'POST /__sim/calls': {
        const { count, ...opts } = input as { count?: number } & NewCallOptions;
        return send(200, { calls: this.addCalls(Math.max(1, Number(count ?? 1)), opts) });
      }
      case 'GET /__sim/messages':
        return send(200, this.allMessages({ extensionId: url.searchParams.get('extensionId') ?? undefined }));
      case 'POST /__sim/messages': {
        const { count, ...opts } = input as { count?: number } & NewMessageOptions;
        return send(200, { messages: this.addMessages(Math.max(1, Number(count ?? 1)), opts) });
      }
      case 'POST /__sim/content/delete': {
        const target = String(input.uri ?? input.id ?? '');
        if (!target) return send(400, { error: 'uri or id is required' });
        this.deleteContent(target);
        return send(200, { ok: true });
      }
      case 'GET /__sim/exports':
        return send(200, this.exportTasksInfo());
      case 'POST /__sim/fault': {
        const spec = { ...input } as Record<string, unknown>;
        if (typeof spec.matchRegex === 'string') {
          spec.match = new RegExp(spec.matchRegex);
          delete spec.matchRegex;
        }
        const kinds = ['status', 'reset', 'close-early', 'stall', 'slow', 'malformed'];
        if (!kinds.includes(String(spec.kind)))
          return send(400, { error: `kind must be one of ${kinds.join(', ')}` });
        if (typeof spec.times === 'number' && spec.times < 0) spec.times = Infinity;
        const handle = this.fault(spec as unknown as FaultSpec);
        return send(200, { id: handle.id });
      }
      case 'DELETE /__sim/fault':
      case 'POST /__sim/fault/clear':
        this.clearFaults();
        return send(200, { ok: true });
      case 'POST /__sim/tokens/revoke':
        this.revokeAllTokens();
        return send(200, { ok: true });
      case 'POST /__sim/tokens/expire':
        this.expireAccessTokens();
        return send(200, { ok: true });
      case 'POST /__sim/clock':
        return send(200, { now: iso(this.advanceClock(Number(input.advanceMs ?? 0))) });
      case 'POST /__sim/permissions':
        if (typeof input.remove === 'string') this.removePermission(input.remove);
        this.setPermissions({
          app: input.app as string[] | undefined,
          user: input.user as string[] | undefined,
        });
        return send(200, this.permissions);
      case 'POST /__sim/rate-limits':
        this.setRateLimits({
          limits: input.limits as Partial<Record<ThrottlingGroup, number>> | undefined,
          windowSec: input.windowSec as number | undefined,
          penaltySec: input.penaltySec as number | undefined,
        });
        return send(200, {
          limits: this.limiter.limits,
          windowSec: this.limiter.windowSec,
          penaltySec: this.limiter.penaltySec,
        });
      default:
        return send(404, { error: `unknown control route ${route}` });
    }
  }

  /** What the CLI prints: URLs, credentials and the account. */
  info(): object {
    return {
      platformUrl: this.platformUrl,
      mediaUrl: this.mediaUrl,
      accountId: this.accountId,
      clientId: this.options.clientId,
      clientSecret: this.options.clientSecret,
      jwt: this.options.jwt,
      adminExtensionId: this.adminExtension.id,
      seed: this.options.seed,
      rateWindowSec: this.limiter.windowSec,
      rateLimits: this.limiter.limits,
    };
  }
}

/** Starts a simulator on two random 127.0.0.1 ports (unless given) and resolves when both listen. */
export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const sim = new Simulator(options);
  await sim.listen();
  return sim;
}
