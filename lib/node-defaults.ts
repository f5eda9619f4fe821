/**
 * The default of each setting of the pack's flow nodes, read by both sides: the editor's
 * `defaults` take their `value` from here and the runtime gives a setting a flow does not have
 * (a flow saved before the setting existed, or written by hand) the same value, so that the
 * dialog, the node's label and what the node does agree.
 */
import { DEFAULT_SCHEDULE } from './retry-schedule';

export type SettingValue = string | number | boolean;
export type Settings = Readonly<Record<string, SettingValue>>;

export interface NodeDefaults<T extends Settings> {
  /** What a node dragged from the palette gets. */
  readonly value: T;
  /**
   * What a setting absent from a saved flow means, where that differs from `value`: the flow
   * was saved before the setting existed and keeps doing what it did then.
   */
  readonly whenMissing?: Settings;
  /**
   * What the runtime takes for a setting left empty, after its environment variable if it has
   * one; the dialog says so in the field's placeholder instead of filling the value in (which
   * would override the variable).
   */
  readonly whenEmpty?: Settings;
}

const sourceCommon = {
  backfill: '',
  backfillFrom: '',
  backfillTo: '',
  warnDays: 7,
} as const;

export const CALL_LOG_SOURCE = {
  value: {
    scope: 'account',
    archive: 'both',
    extensionId: '',
    // RingCentral keeps recordings 90 days.
    initialDays: 90,
    lookBackMinutes: 120,
    ...sourceCommon,
  },
  // Before the choice existed the node archived recordings only.
  whenMissing: { archive: 'recordings' },
} as const satisfies NodeDefaults<Settings>;

export const MESSAGE_SOURCE = {
  value: {
    scope: 'extension',
    voicemail: true,
    fax: true,
    sms: true,
    mms: true,
    // RingCentral keeps voicemail and fax 30 days.
    initialDays: 30,
    lookBackMinutes: 60,
    ...sourceCommon,
  },
} as const satisfies NodeDefaults<Settings>;

export const COMPLIANCE_EXPORT = {
  value: { initialDays: 1, contacts: '', chatIds: '', unpack: false, pollSeconds: 30 },
} as const satisfies NodeDefaults<Settings>;

export const RATE_LIMIT = {
  // A blank queue bound is Node-RED's nodeMessageBufferMaxLength.
  value: { group: 'auto', maxQueue: '' },
} as const satisfies NodeDefaults<Settings>;

export const RETRY = {
  value: { schedule: DEFAULT_SCHEDULE },
} as const satisfies NodeDefaults<Settings>;

export const ARCHIVE_LOG = {
  // RingCentral Archiver keeps its logs 6 months; 0 keeps them forever.
  value: { summaryDelay: 3, keepDays: 183 },
} as const satisfies NodeDefaults<Settings>;

/** The settings every sink has (nodes/shared/sink-fields.html); an empty template is the default one. */
export const SINK = {
  value: { template: '', timeZone: 'UTC', sidecar: true, concurrency: 4 },
} as const satisfies NodeDefaults<Settings>;

/** The Smarsh sink journals the record in the e-mail itself: no sidecar unless asked for. */
export const SMARSH_SINK = {
  value: { ...SINK.value, sidecar: false },
} as const satisfies NodeDefaults<Settings>;

export const FOLDER_SINK = {
  // Empty: RC_ARCHIVE_DIR.
  value: { directory: '', ...SINK.value },
} as const satisfies NodeDefaults<Settings>;

// Config nodes. Empty text fields of the RingCentral login, SFTP and S3 take their environment
// variables (RC_SERVER, SFTP_*, S3_*): their defaults stay empty.

export const RC_CONFIG = {
  value: {
    // Empty: RC_SERVER, else production.
    server: '',
    serverUrl: '',
    // What RingCentral keeps by default (lib/retention.ts reads these); 0: no limit.
    retentionRecordingDays: 90,
    retentionRecordingCount: 100000,
    retentionMessageDays: 30,
    retentionCallLogDays: 365,
    retentionTextDays: 0,
  },
} as const satisfies NodeDefaults<Settings>;

export const DROPBOX_ACCOUNT = {
  value: { clientId: '', root: '/RingCentral Archive', account: '', endpoint: '' },
} as const satisfies NodeDefaults<Settings>;

export const BOX_ACCOUNT = {
  value: {
    authMode: 'oauth',
    clientId: '',
    subjectType: 'enterprise',
    subjectId: '',
    rootPath: 'RingCentral Archive',
    account: '',
    endpoint: '',
  },
  // Written without a folder, an account writes at the top of the drive.
  whenMissing: { rootPath: '' },
} as const satisfies NodeDefaults<Settings>;

export const GDRIVE_ACCOUNT = {
  value: {
    authMode: 'oauth',
    clientId: '',
    driveId: '',
    rootPath: 'RingCentral Archive',
    account: '',
    endpoint: '',
  },
  whenMissing: { rootPath: '' },
} as const satisfies NodeDefaults<Settings>;

export const SFTP_SERVER = {
  value: { host: '', port: '', username: '', root: '', hostFingerprint: '', privateKeyFile: '' },
  whenEmpty: { port: 22 },
} as const satisfies NodeDefaults<Settings>;

export const S3_BUCKET = {
  value: {
    bucket: '',
    prefix: 'RingCentral Archive/',
    region: '',
    endpoint: '',
    forcePathStyle: false,
    storageClass: '',
    objectLockMode: '',
    objectLockDays: '',
    legalHold: false,
  },
  // Written without a prefix, a bucket config writes at the top of the bucket (or S3_PREFIX).
  whenMissing: { prefix: '' },
  whenEmpty: { region: 'us-east-1' },
} as const satisfies NodeDefaults<Settings>;

export const SMARSH_ACCOUNT = {
  value: {
    host: '',
    // Empty: the port of the connection security (below).
    port: '',
    security: 'starttls',
    user: '',
    from: '',
    to: '',
    maxMb: 25,
    ca: '',
  },
  whenEmpty: { port: 587 },
} as const satisfies NodeDefaults<Settings>;

/** Implicit TLS has a port of its own (RFC 8314); STARTTLS and plain SMTP use `whenEmpty.port`. */
export const SMTP_TLS_PORT = 465;

/** The defaults of each node type of the pack that has settings of its own. */
export const NODE_DEFAULTS: Readonly<Record<string, NodeDefaults<Settings>>> = {
  'rc-call-log-source': CALL_LOG_SOURCE,
  'rc-message-source': MESSAGE_SOURCE,
  'rc-compliance-export': COMPLIANCE_EXPORT,
  'rc-rate-limit': RATE_LIMIT,
  'rc-retry': RETRY,
  'rc-archive-log': ARCHIVE_LOG,
  'rc-folder-sink': FOLDER_SINK,
  'rc-sftp-sink': SINK,
  'rc-dropbox-sink': SINK,
  'rc-box-sink': SINK,
  'rc-gdrive-sink': SINK,
  'rc-s3-sink': SINK,
  'rc-smarsh-sink': SMARSH_SINK,
  'rc-config': RC_CONFIG,
  'rc-dropbox-account': DROPBOX_ACCOUNT,
  'rc-box-account': BOX_ACCOUNT,
  'rc-gdrive-account': GDRIVE_ACCOUNT,
  'rc-sftp-server': SFTP_SERVER,
  'rc-s3-bucket': S3_BUCKET,
  'rc-smarsh-account': SMARSH_ACCOUNT,
};

/** The value a saved setting stands for: its own, or the default when the flow does not have it. */
export function settingOf(defaults: NodeDefaults<Settings>, config: object, key: string): unknown {
  const saved = (config as Record<string, unknown>)[key];
  if (saved !== undefined && saved !== null) return saved;
  const missing = defaults.whenMissing;
  return missing && key in missing ? missing[key] : defaults.value[key];
}
