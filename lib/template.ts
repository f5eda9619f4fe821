import type { ArchiveItem, ItemKind } from './items';

/**
 * Path templates: where a sink puts an item, relative to its root.
 *
 * A template is folders separated by `/`, with placeholders in braces (`{ownerName}`). Only the
 * template's own `/` make folders: a value is rendered into one segment whatever it contains, and
 * every rendered segment is sanitised so that it is legal on Windows, Dropbox, Box, Google Drive
 * and SFTP servers and can never climb out of the root.
 */

/**
 * The default layout mirrors RingCentral Archiver's (`RingCentral Archiver/<Name>_<ext>/<YYYY-MM-DD>/<Type>/…`)
 * and improves on it where its users complained:
 * - the file name carries the time zone the date and time are in (`UTC`, or an offset such as
 *   `-0400` when a zone is set), so nobody has to guess which day a folder means;
 * - the RingCentral id of the item (`{id}`, e.g. the recording id, which the call-log record lists)
 *   is kept, so every file joins back to its call; the sidecar holds the whole record;
 * - no phone numbers: they are personal data. `{from}` and `{to}` are there for who wants them.
 *
 * e.g. `RingCentral Archiver/Alice Smith_101/2024-05-01/Call Recordings/2024-05-01_134501UTC_Inbound_9876.mp3`
 */
export const DEFAULT_TEMPLATE =
  'RingCentral Archiver/{ownerName}_{extensionNumber}/{date}/{kindFolder}/{date}_{time}{tz}_{direction}_{id}.{ext}';

/** Rendered for a placeholder whose value is missing. */
export const MISSING_VALUE = 'unknown';

/**
 * Longest rendered segment, in UTF-8 bytes. Most providers allow 255 per name; the margin leaves
 * room for the sidecar's `.json` and the temporary suffixes adapters add while uploading.
 */
export const MAX_SEGMENT_BYTES = 200;

const KIND_FOLDERS: Record<ItemKind, string> = {
  CallRecording: 'Call Recordings',
  CallLog: 'Call Log',
  Voicemail: 'Voicemail',
  Fax: 'Fax',
  SMS: 'SMS',
  MMS: 'MMS',
  TeamMessagingExport: 'Team Messaging',
};

const EXTENSIONS: Record<string, string> = {
  'audio/mpeg': 'mp3',
  'audio/mp3': 'mp3',
  'audio/mpeg3': 'mp3',
  'audio/x-mpeg': 'mp3',
  'audio/x-mpeg-3': 'mp3',
  'audio/wav': 'wav',
  'audio/x-wav': 'wav',
  'audio/wave': 'wav',
  'audio/vnd.wave': 'wav',
  'audio/mp4': 'm4a',
  'audio/x-m4a': 'm4a',
  'audio/aac': 'aac',
  'audio/ogg': 'ogg',
  'audio/webm': 'weba',
  'audio/amr': 'amr',
  'audio/3gpp': '3gp',
  'application/pdf': 'pdf',
  'image/tiff': 'tif',
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/jpg': 'jpg',
  'image/pjpeg': 'jpg',
  'image/gif': 'gif',
  'image/bmp': 'bmp',
  'image/webp': 'webp',
  'image/heic': 'heic',
  'image/svg+xml': 'svg',
  'video/mp4': 'mp4',
  'video/3gpp': '3gp',
  'video/quicktime': 'mov',
  'video/mpeg': 'mpg',
  'video/webm': 'webm',
  'text/plain': 'txt',
  'text/html': 'html',
  'text/csv': 'csv',
  'text/xml': 'xml',
  'text/vcard': 'vcf',
  'text/x-vcard': 'vcf',
  'text/calendar': 'ics',
  'application/json': 'json',
  'application/xml': 'xml',
  'application/zip': 'zip',
  'application/x-zip-compressed': 'zip',
  'application/gzip': 'gz',
  'application/rtf': 'rtf',
  'application/msword': 'doc',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'docx',
  'application/vnd.ms-excel': 'xls',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'xlsx',
  'application/vnd.ms-powerpoint': 'ppt',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': 'pptx',
  'application/octet-stream': 'bin',
};

/** The file extension (without dot) for a Content-Type; parameters are ignored; unknown: `bin`. */
export function extensionFor(contentType: string): string {
  const type = String(contentType ?? '')
    .split(';')[0]
    .trim()
    .toLowerCase();
  return EXTENSIONS[type] ?? 'bin';
}

/** The sidecar (the record as JSON) beside a file: `x.mp3` → `x.mp3.json`. */
export function sidecarPathFor(filePath: string): string {
  return `${filePath}.json`;
}

export interface RenderOptions {
  /** IANA time zone for the date and time placeholders; default UTC. */
  timeZone?: string;
  /** Extension without dot, e.g. from the response's Content-Type; default from the item. */
  extension?: string;
}

interface DateParts {
  yyyy: string;
  MM: string;
  dd: string;
  HH: string;
  mm: string;
  ss: string;
  tz: string;
}

interface Context {
  item: ArchiveItem;
  date: DateParts | undefined;
  ext: string;
}

type Resolver = (ctx: Context) => unknown;

function recordField(item: ArchiveItem, field: string): unknown {
  const record = item.record;
  return record && typeof record === 'object' ? (record as Record<string, unknown>)[field] : undefined;
}

function idOf(key: string): string {
  const colon = key.indexOf(':');
  return colon >= 0 ? key.slice(colon + 1) : key;
}

function stemOf(fileName: string): string {
  const base = String(fileName ?? '')
    .split(/[\\/]/)
    .pop()!;
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

const PLACEHOLDERS: Record<string, Resolver> = {
  ownerName: ({ item }) => item.ownerName,
  extensionNumber: ({ item }) => item.extensionNumber,
  extensionId: ({ item }) => item.extensionId,
  accountId: ({ item }) => item.accountId,
  kind: ({ item }) => item.kind,
  kindFolder: ({ item }) => KIND_FOLDERS[item.kind] ?? item.kind,
  yyyy: ({ date }) => date?.yyyy,
  MM: ({ date }) => date?.MM,
  dd: ({ date }) => date?.dd,
  HH: ({ date }) => date?.HH,
  mm: ({ date }) => date?.mm,
  ss: ({ date }) => date?.ss,
  date: ({ date }) => date && `${date.yyyy}-${date.MM}-${date.dd}`,
  time: ({ date }) => date && `${date.HH}${date.mm}${date.ss}`,
  tz: ({ date }) => date?.tz,
  // Team messaging has no direction: its files say what they are instead of "unknown".
  direction: ({ item }) =>
    item.direction ?? (item.kind === 'TeamMessagingExport' ? 'TeamMessaging' : undefined),
  from: ({ item }) => item.from,
  to: ({ item }) => (Array.isArray(item.to) ? item.to[0] : undefined),
  id: ({ item }) => idOf(item.key),
  key: ({ item }) => item.key,
  callId: ({ item }) => recordField(item, 'id') ?? recordField(item, 'callId'),
  fileName: ({ item }) => stemOf(item.fileName),
  ext: ({ ext }) => ext,
};

/** The placeholders a template may use. */
export const PLACEHOLDER_NAMES: readonly string[] = Object.keys(PLACEHOLDERS);

/** Placeholders that make a file name unique per item; the file name needs one of them. */
const UNIQUE_PLACEHOLDERS = ['id', 'key'];

const PLACEHOLDER = /\{([^{}]*)\}/g;

/**
 * An error message for a template that cannot be used, or undefined when it is fine: empty,
 * absolute, `..` or `.` folders, empty folders (`//`), backslashes, unbalanced braces, unknown
 * placeholders, or a file name without `{id}` or `{key}` (items would overwrite each other).
 */
export function validateTemplate(template: string): string | undefined {
  if (typeof template !== 'string' || !template.trim()) return 'the path template is empty';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(template)) return 'the path template contains control characters';
  if (template.includes('\\')) return 'the path template contains a backslash: separate folders with /';
  if (template.startsWith('/') || /^[A-Za-z]:/.test(template) || template.startsWith('~')) {
    return 'the path template must be relative to the storage root (no leading /, ~ or drive letter)';
  }
  const segments = template.split('/');
  for (const segment of segments) {
    if (!segment.trim()) return 'the path template has an empty folder name (// or a / at the end)';
    if (segment.trim() === '..' || segment.trim() === '.')
      return `the path template may not contain "${segment.trim()}"`;
    const unknown: string[] = [];
    const literal = segment.replace(PLACEHOLDER, (_match, name: string) => {
      if (!Object.prototype.hasOwnProperty.call(PLACEHOLDERS, name)) unknown.push(name);
      return '';
    });
    if (unknown.length) {
      return `unknown placeholder {${unknown[0]}} in the path template; known: ${PLACEHOLDER_NAMES.map((n) => `{${n}}`).join(' ')}`;
    }
    if (literal.includes('{') || literal.includes('}'))
      return `unbalanced { } in the path template: "${segment}"`;
  }
  const fileName = segments[segments.length - 1];
  if (!UNIQUE_PLACEHOLDERS.some((name) => fileName.includes(`{${name}}`))) {
    return 'the file name in the path template needs {id} or {key}, or items would overwrite each other';
  }
  return undefined;
}

const UTC_NAMES = /^(?:Etc\/)?(?:UTC|UCT|GMT|GMT[+-]?0|Universal|Zulu|Greenwich)$/i;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    try {
      formatter = new Intl.DateTimeFormat('en-US', {
        timeZone,
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
        hourCycle: 'h23',
      });
    } catch {
      throw new Error(`unknown time zone "${timeZone}": use an IANA name such as "Europe/Berlin" or "UTC"`);
    }
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** The date and time of `instant` on the wall clock of `timeZone`, and the zone's label then. */
export function dateParts(instant: Date, timeZone: string): DateParts {
  const formatter = formatterFor(timeZone);
  const parts: Record<string, number> = {};
  for (const part of formatter.formatToParts(instant)) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  const { year, month, day, hour, minute, second } = parts;
  let tz: string;
  if (UTC_NAMES.test(timeZone)) {
    tz = 'UTC';
  } else {
    const wall = Date.UTC(year, month - 1, day, hour, minute, second);
    const offset = Math.round((wall - Math.floor(instant.getTime() / 1000) * 1000) / 60_000);
    const abs = Math.abs(offset);
    tz = `${offset < 0 ? '-' : '+'}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`;
  }
  return {
    yyyy: pad(year, 4),
    MM: pad(month),
    dd: pad(day),
    HH: pad(hour),
    mm: pad(minute),
    ss: pad(second),
    tz,
  };
}

// Illegal on Windows, Dropbox, Box, Drive or SFTP servers: <>:"/\|?* and control characters; also
// the bidirectional overrides that make "exe.mp3" look like "3pm.exe".
// eslint-disable-next-line no-control-regex
const ILLEGAL = /[<>:"/\\|?*\u0000-\u001f\u007f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const RESERVED = /^(?:CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³]|CONIN\$|CONOUT\$)(?:\..*)?$/i;
const segmenter = new Intl.Segmenter('en', { granularity: 'grapheme' });

/** Cuts text to at most maxBytes of UTF-8 without splitting a character (or an emoji sequence). */
function cutUtf8(text: string, maxBytes: number): string {
  let out = '';
  let bytes = 0;
  for (const { segment } of segmenter.segment(text)) {
    const size = Buffer.byteLength(segment, 'utf8');
    if (bytes + size > maxBytes) break;
    out += segment;
    bytes += size;
  }
  return out;
}

function trimEnds(text: string): string {
  return text.trim().replace(/[. ]+$/, '');
}

/**
 * One path segment made safe for every provider: illegal characters become `_`, surrounding
 * spaces and trailing dots go, Windows device names get a `_` prefix, the length is capped (an
 * extension of up to 16 characters is kept), and an empty result becomes `_`. A segment can never
 * be `.` or `..`.
 */
export function sanitizeSegment(text: string): string {
  let s = trimEnds(String(text).normalize('NFC').replace(ILLEGAL, '_'));
  if (RESERVED.test(s)) s = `_${s}`;
  if (Buffer.byteLength(s, 'utf8') > MAX_SEGMENT_BYTES) {
    const dot = s.lastIndexOf('.');
    const ext = dot > 0 && s.length - dot <= 16 ? s.slice(dot) : '';
    s =
      trimEnds(
        cutUtf8(s.slice(0, s.length - ext.length), MAX_SEGMENT_BYTES - Buffer.byteLength(ext, 'utf8')),
      ) + ext;
  }
  return s === '' || s === '.' || s === '..' ? '_' : s;
}

function valueText(value: unknown): string {
  if (value === undefined || value === null) return MISSING_VALUE;
  const text = String(value).trim();
  return text === '' ? MISSING_VALUE : text;
}

function extensionOf(item: ArchiveItem, requested: string | undefined): string {
  const clean = (ext: string) => ext.replace(/^\.+/, '').toLowerCase();
  if (requested && clean(requested)) return clean(requested);
  const fromType = extensionFor(item.contentType);
  if (fromType !== 'bin') return fromType;
  const match = /\.([A-Za-z0-9]{1,8})$/.exec(String(item.fileName ?? ''));
  return match ? match[1].toLowerCase() : 'bin';
}

/**
 * Renders the template for an item: a relative path with `/` between segments, each segment
 * sanitised. Throws on an invalid template or an unknown time zone. A missing value renders as
 * `unknown`; so do the date placeholders when the item's createdAt is not a date.
 */
export function renderPath(template: string, item: ArchiveItem, options: RenderOptions = {}): string {
  const problem = validateTemplate(template);
  if (problem) throw new Error(`invalid path template "${template}": ${problem}`);
  const timeZone = options.timeZone?.trim() || 'UTC';
  formatterFor(timeZone); // an unknown zone fails even for an item without a date
  const instant = new Date(String(item.createdAt ?? ''));
  const ctx: Context = {
    item,
    date: Number.isNaN(instant.getTime()) ? undefined : dateParts(instant, timeZone),
    ext: extensionOf(item, options.extension),
  };
  return template
    .split('/')
    .map((segment) =>
      sanitizeSegment(
        segment.replace(PLACEHOLDER, (_match, name: string) => valueText(PLACEHOLDERS[name](ctx))),
      ),
    )
    .join('/');
}
