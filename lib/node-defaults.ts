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

/** The defaults of each flow node type of the pack that has settings of its own. */
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
};

/** The value a saved setting stands for: its own, or the default when the flow does not have it. */
export function settingOf(defaults: NodeDefaults<Settings>, config: object, key: string): unknown {
  const saved = (config as Record<string, unknown>)[key];
  if (saved !== undefined && saved !== null) return saved;
  const missing = defaults.whenMissing;
  return missing && key in missing ? missing[key] : defaults.value[key];
}
