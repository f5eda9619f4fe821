// Message store (voicemail, fax, SMS, MMS, pager) and team-messaging compliance export data for the
// simulator, generated from the seed with random streams of their own (the call data never depends
// on them). Attachment bytes and export archives are pure functions of the seed and the ids.
import { createHash } from 'node:crypto';
import zlib from 'node:zlib';
import { contentKey, contentSlice, type ContentSpec } from './content';
import { toMs, type Direction, type SimExtension, type SimParty } from './data';
import { hashString, mix32, Prng } from './prng';

export type MessageType = 'VoiceMail' | 'Fax' | 'SMS' | 'Pager';
/** What `addMessages` and the fractions speak of: MMS is an SMS with MmsAttachment attachments. */
export type MessageKind = MessageType | 'MMS';
export type Availability = 'Alive' | 'Deleted' | 'Purged';
export type AttachmentType =
  'AudioRecording' | 'AudioTranscription' | 'RenderedDocument' | 'SourceDocument' | 'MmsAttachment' | 'Text';
type Format = 'mp3' | 'wav' | 'pdf' | 'doc' | 'text' | 'jpeg' | 'png';

export interface SimAttachment {
  id: string;
  messageId: string;
  type: AttachmentType;
  contentType: string;
  size: number;
  fileName?: string;
  format: Format;
  /** Text content (Text, AudioTranscription, text SourceDocument). */
  text?: string;
  vmDuration?: number;
  width?: number;
  height?: number;
}

export interface SimMessage {
  id: string;
  extensionId: string;
  type: MessageType;
  mms: boolean;
  direction: Direction;
  from: SimParty;
  to: SimParty[];
  creationTime: number;
  lastModifiedTime: number;
  readStatus: 'Read' | 'Unread';
  messageStatus: 'Received' | 'Sent' | 'Delivered';
  availability: Availability;
  /** Digits above 2^53 (SMS, MMS and Pager only). */
  conversationId?: string;
  subject?: string;
  attachments: SimAttachment[];
  vmTranscriptionStatus?: 'NotAvailable' | 'Completed';
  faxResolution?: 'High' | 'Low';
  faxPageCount?: number;
}

export interface MessageOptions {
  seed: number;
  days: number;
  messagesPerDay: number;
  fractions: Record<MessageKind, number>;
  faxVoicemailRetentionDays: number;
  deletedFraction: number;
  purgedFraction: number;
  transcriptionFraction: number;
}

export interface NewMessageOptions {
  extensionId?: string;
  type?: MessageKind;
  at?: number | string | Date;
  direction?: Direction;
  availability?: Availability;
}

const SMS_TEXTS = [
  'Running 10 minutes late, start without me.',
  'Can you send the signed contract today?',
  'Your appointment is confirmed for Tuesday at 3 pm.',
  'Thanks! Received the invoice.',
  'Call me back when you are free — it is about the Q3 report.',
  'Package delivered to the front desk.',
  'Meeting moved to room 4B 🚀',
  'Ok, see you tomorrow.',
];
const TRANSCRIPTS = [
  'Hi, this is a message about your order. Please call us back at your convenience.',
  'Hello, just checking in about the meeting next week. Talk soon.',
  'This is the pharmacy, your prescription is ready for pickup.',
];
const AREAS = ['650', '415', '212', '312', '617', '206'];

/** Extensions that own messages: users (also disabled ones) and the message-taking mailboxes. */
export function ownsMessages(e: SimExtension): boolean {
  return ['User', 'Department', 'Voicemail', 'DigitalUser'].includes(e.type);
}

export class SimMessageStore {
  /** Newest first. */
  readonly messages: SimMessage[] = [];
  readonly byId = new Map<string, SimMessage>();
  readonly attachmentsById = new Map<string, SimAttachment>();
  private counter = 0;
  private readonly rng: Prng;
  private readonly liveRng: Prng;

  constructor(
    readonly options: MessageOptions,
    readonly extensions: () => readonly SimExtension[],
    nowAtStart: number,
  ) {
    this.rng = new Prng(options.seed ^ 0x3c6ef372);
    this.liveRng = new Prng(options.seed ^ 0x27d4eb2f);
    const total = Math.round(options.days * options.messagesPerDay);
    const span = options.days * 86400_000;
    for (let i = 0; i < total; i++) {
      const at = nowAtStart - span + Math.floor(this.rng.next() * span);
      this.add(this.rng, { at: Math.min(at, nowAtStart - 1000) }, nowAtStart, true);
    }
  }

  addLive(opts: NewMessageOptions, now: number): SimMessage {
    return this.add(this.liveRng, opts, now, false);
  }

  /** Fax and voicemail older than the retention are gone (RingCentral deletes them). */
  expired(m: SimMessage, now: number): boolean {
    return (
      (m.type === 'Fax' || m.type === 'VoiceMail') &&
      m.creationTime < now - this.options.faxVoicemailRetentionDays * 86400_000
    );
  }

  private pickKind(rng: Prng): MessageKind {
    const f = this.options.fractions;
    const kinds = Object.keys(f) as MessageKind[];
    const sum = kinds.reduce((s, k) => s + Math.max(0, f[k]), 0) || 1;
    let r = rng.next() * sum;
    for (const k of kinds) {
      r -= Math.max(0, f[k]);
      if (r < 0) return k;
    }
    return 'SMS';
  }

  private add(rng: Prng, opts: NewMessageOptions, now: number, history: boolean): SimMessage {
    const owners = this.extensions().filter(ownsMessages);
    const ext = opts.extensionId ? owners.find((e) => e.id === opts.extensionId) : rng.pick(owners);
    if (!ext) throw new Error(`unknown or message-less extension ${opts.extensionId}`);
    if (opts.type !== undefined && !['VoiceMail', 'Fax', 'SMS', 'MMS', 'Pager'].includes(opts.type))
      throw new Error(`unknown message type ${String(opts.type)}`);
    const kind = opts.type ?? this.pickKind(rng);
    const n = ++this.counter;
    const id = String(1_800_000_000_000 + n * 131 + rng.int(0, 100));
    const type: MessageType = kind === 'MMS' ? 'SMS' : kind;
    const direction: Direction =
      opts.direction ?? (type === 'VoiceMail' ? 'Inbound' : rng.chance(0.6) ? 'Inbound' : 'Outbound');
    const creationTime = Math.floor((opts.at !== undefined ? toMs(opts.at) : now - 1000) / 1000) * 1000;
    const own: SimParty =
      type === 'Pager'
        ? { extensionNumber: ext.extensionNumber, extensionId: ext.id, name: ext.name }
        : { phoneNumber: ext.phoneNumber, extensionNumber: ext.extensionNumber, name: ext.name };
    let other: SimParty;
    if (type === 'Pager') {
      const peer = rng.pick(owners);
      other = { extensionNumber: peer.extensionNumber, extensionId: peer.id, name: peer.name };
    } else {
      other = { phoneNumber: `+1${rng.pick(AREAS)}55502${String(rng.int(0, 99)).padStart(2, '0')}` };
    }
    const r = history ? rng.next() : 1;
    const availability: Availability =
      opts.availability ??
      (r < this.options.purgedFraction
        ? 'Purged'
        : r < this.options.purgedFraction + this.options.deletedFraction
          ? 'Deleted'
          : 'Alive');
    const m: SimMessage = {
      id,
      extensionId: ext.id,
      type,
      mms: kind === 'MMS',
      direction,
      from: direction === 'Inbound' ? other : own,
      to: [direction === 'Inbound' ? own : other],
      creationTime,
      lastModifiedTime: creationTime + rng.int(0, 60) * 1000,
      readStatus: rng.chance(0.6) ? 'Read' : 'Unread',
      messageStatus: direction === 'Inbound' ? 'Received' : type === 'Fax' ? 'Sent' : 'Delivered',
      availability,
      attachments: [],
    };
    let k = 0;
    const att = (a: Omit<SimAttachment, 'id' | 'messageId'>): void => {
      k++;
      const attId = String(Number(id) * 10 + k);
      m.attachments.push({ id: attId, messageId: id, ...a });
    };
    if (type === 'VoiceMail') {
      const wav = rng.chance(0.25);
      const vmDuration = rng.int(3, 90);
      att({
        type: 'AudioRecording',
        format: wav ? 'wav' : 'mp3',
        contentType: wav ? 'audio/wav' : 'audio/mpeg',
        size: rng.int(8_000, 60_000),
        vmDuration,
      });
      if (rng.chance(this.options.transcriptionFraction)) {
        const text = rng.pick(TRANSCRIPTS);
        att({ type: 'AudioTranscription', format: 'text', contentType: 'text/plain', size: 0, text });
        m.vmTranscriptionStatus = 'Completed';
      } else m.vmTranscriptionStatus = 'NotAvailable';
    } else if (type === 'Fax') {
      m.faxResolution = rng.chance(0.7) ? 'High' : 'Low';
      m.faxPageCount = rng.int(1, 6);
      att({
        type: 'RenderedDocument',
        format: 'pdf',
        contentType: 'application/pdf',
        size: rng.int(4_000, 40_000),
      });
      if (direction === 'Outbound' && rng.chance(0.6)) {
        if (rng.chance(0.5)) {
          att({
            type: 'SourceDocument',
            format: 'doc',
            contentType: 'application/msword',
            size: rng.int(3_000, 20_000),
            fileName: `document-${n}.doc`,
          });
        } else {
          const text = `Fax cover note ${n}: please find the attached pages.`;
          att({
            type: 'SourceDocument',
            format: 'text',
            contentType: 'text/plain',
            size: 0,
            text,
            fileName: `note-${n}.txt`,
          });
        }
      }
    } else {
      const text = rng.pick(SMS_TEXTS);
      m.subject = text;
      m.conversationId = (
        7_000_000_000_000_000_000n +
        BigInt(hashString(`conv:${ext.id}:${other.phoneNumber ?? other.extensionId}`, this.options.seed)) *
          1000n
      ).toString();
      att({ type: 'Text', format: 'text', contentType: 'text/plain', size: 0, text });
      if (m.mms) {
        const count = rng.int(1, 2);
        for (let i = 0; i < count; i++) {
          const png = rng.chance(0.4);
          att({
            type: 'MmsAttachment',
            format: png ? 'png' : 'jpeg',
            contentType: png ? 'image/png' : 'image/jpeg',
            size: rng.int(2_000, 30_000),
            fileName: `image${i + 1}.${png ? 'png' : 'jpg'}`,
            width: 640,
            height: 480,
          });
        }
      }
    }
    for (const a of m.attachments) if (a.text !== undefined) a.size = Buffer.byteLength(a.text, 'utf8');
    this.insert(m);
    return m;
  }

  private insert(m: SimMessage): void {
    let lo = 0;
    let hi = this.messages.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = this.messages[mid];
      if (c.creationTime > m.creationTime || (c.creationTime === m.creationTime && c.id > m.id)) lo = mid + 1;
      else hi = mid;
    }
    this.messages.splice(lo, 0, m);
    this.byId.set(m.id, m);
    for (const a of m.attachments) this.attachmentsById.set(a.id, a);
  }
}

/** The bytes of an attachment: a pure function of (seed, attachment). */
export function attachmentBytes(seed: number, a: SimAttachment): Buffer {
  if (a.text !== undefined) return Buffer.from(a.text, 'utf8');
  if (a.format === 'mp3' || a.format === 'wav') {
    const spec: ContentSpec = {
      key: contentKey(seed, `vm:${a.id}`),
      bytes: a.size,
      format: a.format,
      contentType: a.contentType,
      title: `Voicemail ${a.messageId}`,
    };
    return contentSlice(spec, 0, a.size);
  }
  const key = hashString(`attachment:${a.id}`, seed);
  const out = Buffer.alloc(a.size);
  for (let i = 0; i < a.size; i += 4) {
    const w = mix32(Math.imul(i >>> 2, 0x9e3779b1) ^ key);
    for (let j = 0; j < 4 && i + j < a.size; j++) out[i + j] = (w >>> (j * 8)) & 0xff;
  }
  let head: Buffer;
  let tail = Buffer.alloc(0);
  switch (a.format) {
    case 'pdf':
      head = Buffer.from(
        `%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\nstream\n`,
        'latin1',
      );
      tail = Buffer.from('\nendstream\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n', 'latin1');
      break;
    case 'doc':
      head = Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]);
      break;
    case 'jpeg':
      head = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01]);
      tail = Buffer.from([0xff, 0xd9]);
      break;
    default: // png
      head = Buffer.from([
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52,
      ]);
      tail = Buffer.from([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);
  }
  head.copy(out, 0);
  tail.copy(out, Math.max(head.length, a.size - tail.length));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Store-only zip writer

let crcTable: Uint32Array | undefined;
export function crc32(buf: Buffer): number {
  const native = (zlib as unknown as { crc32?: (b: Buffer) => number }).crc32;
  if (typeof native === 'function') return native(buf) >>> 0;
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < buf.length; i++) crc = crcTable[(crc ^ buf[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** A zip archive (method 0, stored) of the given files, with a fixed DOS time from `at`. */
export function storedZip(files: Array<{ name: string; data: Buffer }>, at: number): Buffer {
  const d = new Date(at);
  const time = (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | (d.getUTCSeconds() >> 1);
  const date = ((d.getUTCFullYear() - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate();
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const f of files) {
    const name = Buffer.from(f.name, 'utf8');
    const crc = crc32(f.data);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(20, 4);
    lh.writeUInt16LE(0x0800, 6); // UTF-8 names
    lh.writeUInt16LE(0, 8);
    lh.writeUInt16LE(time, 10);
    lh.writeUInt16LE(date, 12);
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(f.data.length, 18);
    lh.writeUInt32LE(f.data.length, 22);
    lh.writeUInt16LE(name.length, 26);
    lh.writeUInt16LE(0, 28);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(20, 4);
    ch.writeUInt16LE(20, 6);
    ch.writeUInt16LE(0x0800, 8);
    ch.writeUInt16LE(0, 10);
    ch.writeUInt16LE(time, 12);
    ch.writeUInt16LE(date, 14);
    ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(f.data.length, 20);
    ch.writeUInt32LE(f.data.length, 24);
    ch.writeUInt16LE(name.length, 28);
    ch.writeUInt32LE(offset, 42);
    locals.push(lh, name, f.data);
    centrals.push(ch, name);
    offset += lh.length + name.length + f.data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

// ---------------------------------------------------------------------------------------------
// Team messaging (what a compliance export contains)

export interface SimChat {
  id: string;
  type: 'Team' | 'Group' | 'Direct';
  name?: string;
  members: string[];
  creationTime: number;
}
export interface SimPost {
  id: string;
  chatId: string;
  creatorId: string;
  text: string;
  creationTime: number;
  attachments: Array<{ id: string; type: 'File'; name: string; contentType: string; size: number }>;
}

const POST_TEXTS = [
  'Morning all, stand-up in 5.',
  'Pushed the fix, please review.',
  'Who has the customer deck?',
  'Lunch order closes at 11:30.',
  'Great work on the release 🎉',
  'Can someone cover the support queue this afternoon?',
];

export class SimTeamMessaging {
  readonly chats: SimChat[] = [];
  /** Oldest first. */
  readonly posts: SimPost[] = [];

  constructor(seed: number, users: readonly SimExtension[], days: number, postsPerDay: number, now: number) {
    const rng = new Prng(seed ^ 0x165667b1);
    const ids = users.map((u) => u.id);
    const created = now - 300 * 86400_000;
    this.chats.push({ id: '3001001', type: 'Team', name: 'All Hands', members: ids, creationTime: created });
    this.chats.push({
      id: '3001002',
      type: 'Team',
      name: 'Support',
      members: ids.filter((_, i) => i % 2 === 0),
      creationTime: created + 86400_000,
    });
    if (ids.length > 1)
      this.chats.push({ id: '3001003', type: 'Direct', members: ids.slice(0, 2), creationTime: created });
    if (ids.length > 2)
      this.chats.push({ id: '3001004', type: 'Group', members: ids.slice(0, 3), creationTime: created });
    const total = Math.round(days * postsPerDay);
    const times: number[] = [];
    for (let i = 0; i < total; i++) times.push(now - Math.floor(rng.next() * days * 86400_000) - 1000);
    times.sort((a, b) => a - b);
    times.forEach((t, i) => {
      const chat = rng.pick(this.chats);
      const post: SimPost = {
        id: String(5_000_000_000 + i * 7),
        chatId: chat.id,
        creatorId: rng.pick(chat.members),
        text: rng.pick(POST_TEXTS),
        creationTime: Math.floor(t / 1000) * 1000,
        attachments: [],
      };
      if (rng.chance(0.15)) {
        post.attachments.push({
          id: String(6_000_000_000 + i),
          type: 'File',
          name: `notes-${i}.txt`,
          contentType: 'text/plain',
          size: rng.int(100, 5000),
        });
      }
      this.posts.push(post);
    });
  }

  /**
   * The files of an export of [timeFrom, timeTo], limited to chatIds and contacts when given, in
   * the layout RingCentral documents ("Compliance Export File Structure"): `request_info.json` and
   * the folders chats, members, guests, posts, events, tasks, notes and files, each holding
   * numbered files of at most `perFile` elements (`posts/posts_1.json`, `posts/posts_2.json`, …).
   * Posts are in time order across all chats, so one chat's posts can span several files.
   */
  exportFiles(
    users: readonly SimExtension[],
    spec: {
      timeFrom: number;
      timeTo: number;
      chatIds?: string[];
      contacts?: Array<{ id?: string; email?: string }>;
      contactIds?: string[];
      perFile?: number;
    },
  ): Array<{ name: string; data: Buffer }> {
    const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v, null, 2), 'utf8');
    const perFile = Math.max(1, Math.floor(spec.perFile ?? 10_000));
    const files: Array<{ name: string; data: Buffer }> = [
      {
        name: 'request_info.json',
        data: json({
          timeFrom: new Date(spec.timeFrom).toISOString(),
          timeTo: new Date(spec.timeTo).toISOString(),
          ...(spec.contacts?.length ? { contacts: spec.contacts } : {}),
          ...(spec.chatIds?.length ? { chatIds: spec.chatIds } : {}),
        }),
      },
    ];
    // Every folder has at least its first file, an empty list when there is nothing to hold.
    const numbered = (folder: string, elements: unknown[]): void => {
      for (let at = 0, n = 1; at === 0 || at < elements.length; at += perFile, n++)
        files.push({ name: `${folder}/${folder}_${n}.json`, data: json(elements.slice(at, at + perFile)) });
    };
    const chats = this.chats.filter((c) => !spec.chatIds?.length || spec.chatIds.includes(c.id));
    const chatIds = new Set(chats.map((c) => c.id));
    const posts = this.posts.filter(
      (p) =>
        chatIds.has(p.chatId) &&
        p.creationTime >= spec.timeFrom &&
        p.creationTime <= spec.timeTo &&
        (!spec.contactIds?.length || spec.contactIds.includes(p.creatorId)),
    );
    numbered(
      'chats',
      chats.map((c) => ({
        id: c.id,
        type: c.type,
        ...(c.name ? { name: c.name } : {}),
        members: c.members.map((id) => ({ id })),
        creationTime: new Date(c.creationTime).toISOString(),
        lastModifiedTime: new Date(c.creationTime).toISOString(),
      })),
    );
    numbered(
      'members',
      users.map((u) => ({ id: u.id, firstName: u.firstName, lastName: u.lastName, email: u.email })),
    );
    numbered('guests', []);
    numbered(
      'posts',
      posts.map((p) => ({
        id: p.id,
        groupId: p.chatId,
        type: 'TextMessage',
        creatorId: p.creatorId,
        text: p.text,
        creationTime: new Date(p.creationTime).toISOString(),
        lastModifiedTime: new Date(p.creationTime).toISOString(),
        attachments: p.attachments,
      })),
    );
    numbered('events', []);
    numbered('tasks', []);
    numbered('notes', []);
    numbered(
      'files',
      posts.flatMap((p) =>
        p.attachments.map((a) => ({
          id: a.id,
          name: a.name,
          contentType: a.contentType,
          size: a.size,
          groupId: p.chatId,
          postId: p.id,
          creatorId: p.creatorId,
          creationTime: new Date(p.creationTime).toISOString(),
        })),
      ),
    );
    return files;
  }
}

export function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}
