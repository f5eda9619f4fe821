import type { ItemKind, ItemStatus } from './items';
import { RC_CONFIG } from './node-defaults';

/**
 * RingCentral's retention (shared/ringcentral/retention-policy.md): what it deletes, and when.
 * The figures differ between accounts (HIPAA accounts keep recordings 30 days; some accounts say
 * 80 days or 8,000 recordings), so each is a setting of the rc-config node with these defaults.
 */
export interface RetentionSettings {
  /** Call recordings are deleted after this many days… */
  recordingDays: number;
  /** …or when the account holds more than this many (the oldest go first). */
  recordingCount: number;
  /** Voicemail and fax. */
  messageDays: number;
  /** Call-log records. */
  callLogDays: number;
  /** SMS and MMS; 0: no time limit. */
  textDays: number;
}

/** The rc-config node's defaults, which the dialog shows too. */
export const DEFAULT_RETENTION: Readonly<RetentionSettings> = {
  recordingDays: RC_CONFIG.value.retentionRecordingDays,
  recordingCount: RC_CONFIG.value.retentionRecordingCount,
  messageDays: RC_CONFIG.value.retentionMessageDays,
  callLogDays: RC_CONFIG.value.retentionCallLogDays,
  textDays: RC_CONFIG.value.retentionTextDays,
};

/** How far back "all retained" reaches for texts, which RingCentral keeps without a time limit. */
export const TEXTS_WITHOUT_LIMIT_DAYS = 3650;

function setting(value: unknown, fallback: number): number {
  const n = typeof value === 'number' ? value : Number.parseFloat(String(value ?? ''));
  return Number.isFinite(n) && n >= 0 ? n : fallback;
}

/** Settings from a node's config fields (retentionRecordingDays, …); blanks take the defaults. */
export function retentionFrom(def: Record<string, unknown> | undefined): RetentionSettings {
  const d = def ?? {};
  return {
    recordingDays: setting(d.retentionRecordingDays, DEFAULT_RETENTION.recordingDays),
    recordingCount: setting(d.retentionRecordingCount, DEFAULT_RETENTION.recordingCount),
    messageDays: setting(d.retentionMessageDays, DEFAULT_RETENTION.messageDays),
    callLogDays: setting(d.retentionCallLogDays, DEFAULT_RETENTION.callLogDays),
    textDays: setting(d.retentionTextDays, DEFAULT_RETENTION.textDays),
  };
}

/** Days RingCentral keeps an item of this kind; undefined when it sets no time limit. */
export function retentionDays(kind: ItemKind, settings: RetentionSettings): number | undefined {
  let days: number;
  switch (kind) {
    case 'CallRecording':
      days = settings.recordingDays;
      break;
    case 'CallLog':
      days = settings.callLogDays;
      break;
    case 'Voicemail':
    case 'Fax':
      days = settings.messageDays;
      break;
    case 'SMS':
    case 'MMS':
      days = settings.textDays;
      break;
    default:
      return undefined;
  }
  return days > 0 ? days : undefined;
}

/** How far back a backfill of "all retained" reaches for these kinds: the longest any is kept. */
export function allRetainedDays(kinds: readonly ItemKind[], settings: RetentionSettings): number {
  let days = 0;
  for (const kind of kinds) {
    const kept = retentionDays(kind, settings);
    const unlimited = (kind === 'SMS' || kind === 'MMS') && kept === undefined;
    days = Math.max(days, unlimited ? TEXTS_WITHOUT_LIMIT_DAYS : (kept ?? 0));
  }
  return days;
}

export interface RetentionCandidate {
  key: string;
  kind: ItemKind;
  status: ItemStatus;
  createdAt: string;
  lastError?: string;
}

export interface RetentionWarning extends RetentionCandidate {
  /** When RingCentral is expected to delete it (ISO 8601). */
  deletesAt: string;
  /** Days from now until then, one decimal; 0 or less: due now. */
  daysLeft: number;
  /** What decides the date: the age limit, or the account's count of recordings. */
  by: 'age' | 'count';
}

export interface CountFacts {
  /** Recordings created in the last 7 days: the pace at which the count limit pushes old ones out. */
  lastWeek: number;
  /** How many recordings are newer than the given one. */
  newerThan(createdAt: string): number;
}

/**
 * The candidates (not yet archived) that RingCentral is expected to delete within `warnDays`,
 * soonest first. Recordings also go by count: when the account holds more than the limit, the
 * oldest are deleted first, so a recording with k newer ones is deleted once `limit − k` more
 * arrive, at the pace of the last week.
 */
export function nearDeletion(
  candidates: readonly RetentionCandidate[],
  options: { settings: RetentionSettings; warnDays: number; now?: Date; recordings?: CountFacts },
): RetentionWarning[] {
  const now = (options.now ?? new Date()).getTime();
  const horizon = now + options.warnDays * 86_400_000;
  const warnings: RetentionWarning[] = [];
  for (const c of candidates) {
    if (c.status === 'Archived' || c.status === 'Lost') continue;
    const created = Date.parse(c.createdAt);
    if (Number.isNaN(created)) continue;
    let deletesAt = Number.POSITIVE_INFINITY;
    let by: RetentionWarning['by'] = 'age';
    const days = retentionDays(c.kind, options.settings);
    if (days !== undefined) deletesAt = created + days * 86_400_000;
    const facts = options.recordings;
    if (c.kind === 'CallRecording' && facts && options.settings.recordingCount > 0) {
      const room = options.settings.recordingCount - facts.newerThan(c.createdAt);
      const perDay = facts.lastWeek / 7;
      const byCount = room <= 0 ? now : perDay > 0 ? now + (room / perDay) * 86_400_000 : Infinity;
      if (byCount < deletesAt) {
        deletesAt = byCount;
        by = 'count';
      }
    }
    if (deletesAt > horizon) continue;
    warnings.push({
      key: c.key,
      kind: c.kind,
      status: c.status,
      createdAt: c.createdAt,
      ...(c.lastError ? { lastError: c.lastError } : {}),
      deletesAt: new Date(deletesAt).toISOString(),
      daysLeft: Math.round(((deletesAt - now) / 86_400_000) * 10) / 10,
      by,
    });
  }
  return warnings.sort((a, b) => Date.parse(a.deletesAt) - Date.parse(b.deletesAt));
}
