// The simulated account: extensions, calls and recordings, generated from a seed.
import { Prng } from './prng';
import { MP3_CONTENT_TYPE, type ContentFormat } from './content';

export type Direction = 'Inbound' | 'Outbound';
export type RecordingType = 'Automatic' | 'OnDemand';
/**
 * Where a call's recordings sit: `top` one recording on the record itself; `two` an Automatic one on
 * the record plus an OnDemand one in a second leg; `legOnly` one recording only in a second leg
 * (visible in Detailed view only).
 */
export type RecordingLayout = 'top' | 'two' | 'legOnly';

export interface SimExtension {
  id: string;
  extensionNumber: string;
  firstName: string;
  lastName: string;
  name: string;
  email: string;
  phoneNumber: string;
  admin: boolean;
  creationTime: number;
  /** Extension type (AllExtensionTypesEnum): 'User' for the call-making users, others for mailboxes. */
  type: string;
  status: 'Enabled' | 'Disabled';
}

export interface SimRecording {
  id: string;
  callId: string;
  extensionId: string;
  type: RecordingType;
  format: ContentFormat;
  bytes: number;
  duration: number;
  /** Sim-clock ms when the recording is attached to its call (it is invisible before). */
  availableAt: number;
  /** 0 = on the record itself (and its master leg), 1 = only in the second leg (Detailed view). */
  leg: 0 | 1;
}

export interface SimParty {
  phoneNumber?: string;
  extensionNumber?: string;
  extensionId?: string;
  name?: string;
  location?: string;
}

export interface SimCall {
  id: string;
  sessionId: string;
  telephonySessionId: string;
  partyId: string;
  extensionId: string;
  startTime: number;
  duration: number;
  type: 'Voice' | 'Fax';
  direction: Direction;
  action: string;
  result: string;
  reason?: string;
  internalType: string;
  from: SimParty;
  to: SimParty;
  /** Sim-clock ms when the record shows up in the call log. */
  appearsAt: number;
  recordings: SimRecording[];
  message?: { id: string; type: 'VoiceMail' | 'Fax' };
}

export interface GenerationOptions {
  seed: number;
  extensions: number;
  days: number;
  callsPerDay: number;
  recordingFraction: number;
  twoRecordingFraction: number;
  legOnlyFraction: number;
  wavFraction: number;
  faxFraction: number;
  lateFraction: number;
  lateDelaySec: number;
  lateRecordingFraction: number;
  lateRecordingDelaySec: number;
  recordingBytes: { min: number; max: number };
  /** Add the non-user mailboxes and a disabled user (they make no calls). */
  otherExtensions: boolean;
}

export interface NewCallOptions {
  /** Start time (ms, Date or ISO). Default: so that the call ended one second ago. */
  at?: number | string | Date;
  extensionId?: string;
  /** Seconds. */
  duration?: number;
  direction?: Direction;
  /** true: the call has a recording; false: none; default: by recordingFraction. */
  withRecording?: boolean;
  layout?: RecordingLayout;
  recordingType?: RecordingType;
  /** Size of each recording of the call. */
  recordingBytes?: number;
  format?: ContentFormat;
  /** The record shows up this many seconds after the call ended (a late record). Default 0. */
  visibleAfterSec?: number;
  /** The recording is attached this many seconds after the record shows up. Default 0. */
  recordingAfterSec?: number;
}

const FIRST_NAMES = [
  'Alice',
  'Bruno',
  'Chiara',
  'Dmitri',
  'Elena',
  'Farid',
  'Grace',
  'Hiroshi',
  'Ines',
  'Jamal',
  'Kerstin',
  'Luis',
  'Mei',
  'Noah',
  'Olga',
  'Priya',
  'Quentin',
  'Rosa',
  'Samuel',
  'Tamsin',
];
const LAST_NAMES = [
  'Anders',
  'Bianchi',
  'Costa',
  'Dubois',
  'Eriksen',
  'Fischer',
  'Garcia',
  'Haddad',
  'Ivanova',
  'Jensen',
  'Kowalski',
  'Lindqvist',
  'Moreau',
  'Nakamura',
  'Okafor',
  'Petrov',
  'Quinn',
  'Rossi',
  'Schmidt',
  'Tanaka',
];
const CALLER_NAMES = ['WIRELESS CALLER', 'ACME CORP', 'SMITH JOHN', 'GLOBEX INC', 'NGUYEN LAN', 'INITECH'];
const AREAS: ReadonlyArray<[string, string]> = [
  ['650', 'Palo Alto, CA'],
  ['415', 'San Francisco, CA'],
  ['212', 'New York, NY'],
  ['312', 'Chicago, IL'],
  ['617', 'Boston, MA'],
  ['206', 'Seattle, WA'],
  ['303', 'Denver, CO'],
  ['512', 'Austin, TX'],
  ['404', 'Atlanta, GA'],
  ['213', 'Los Angeles, CA'],
];

export function toMs(value: number | string | Date): number {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'string') {
    const ms = Date.parse(value);
    if (Number.isNaN(ms)) throw new Error(`invalid time: ${value}`);
    return ms;
  }
  return value;
}

/** Holds the generated account and adds activity to it. Calls are kept newest first. */
export class SimDataStore {
  /** The users that make calls (extension numbers 101, 102, …). */
  readonly extensions: SimExtension[] = [];
  /** Other mailboxes: a disabled user, Department, DigitalUser, VirtualUser, Voicemail, SharedLinesGroup. */
  readonly mailboxes: SimExtension[] = [];
  /** Sorted by startTime descending, then id descending. */
  readonly calls: SimCall[] = [];
  readonly callsById = new Map<string, SimCall>();
  readonly recordingsById = new Map<string, SimRecording>();
  private callCounter = 0;
  private recordingCounter = 0;
  private readonly rng: Prng;
  /** Separate stream for activity added after start, so the initial data never depends on it. */
  private readonly liveRng: Prng;

  constructor(
    readonly options: GenerationOptions,
    readonly nowAtStart: number,
  ) {
    this.rng = new Prng(options.seed);
    this.liveRng = new Prng(options.seed ^ 0x5bd1e995);
    this.generateExtensions();
    this.generateHistory();
    if (options.otherExtensions) this.generateMailboxes();
  }

  extension(id: string): SimExtension | undefined {
    return this.extensions.find((e) => e.id === id) ?? this.mailboxes.find((e) => e.id === id);
  }

  /** Users first, then the other mailboxes. */
  get allExtensions(): SimExtension[] {
    return [...this.extensions, ...this.mailboxes];
  }

  private generateMailboxes(): void {
    const kinds: Array<[string, string, string, 'Enabled' | 'Disabled']> = [
      ['User', 'Former', 'Employee', 'Disabled'],
      ['Department', 'Support', 'Queue', 'Enabled'],
      ['DigitalUser', 'Digital', 'Desk', 'Enabled'],
      ['VirtualUser', 'Virtual', 'Assistant', 'Enabled'],
      ['Voicemail', 'Sales', 'Voicemail', 'Enabled'],
      ['SharedLinesGroup', 'Front', 'Desk', 'Enabled'],
    ];
    kinds.forEach(([type, firstName, lastName, status], i) => {
      this.mailboxes.push({
        id: String(62992000004 + i * 1000),
        extensionNumber: String(201 + i),
        firstName,
        lastName,
        name: `${firstName} ${lastName}`,
        email: `${firstName}.${lastName}@example.com`.toLowerCase(),
        phoneNumber: `+1650555${String(2000 + i).padStart(4, '0')}`,
        admin: false,
        creationTime: this.nowAtStart - 300 * 86400_000 + i * 3600_000,
        type,
        status,
      });
    });
  }

  private generateExtensions(): void {
    const used = new Set<string>();
    for (let i = 0; i < this.options.extensions; i++) {
      let firstName: string;
      let lastName: string;
      do {
        firstName = this.rng.pick(FIRST_NAMES);
        lastName = this.rng.pick(LAST_NAMES);
      } while (used.has(firstName + lastName) && used.size < FIRST_NAMES.length * LAST_NAMES.length);
      used.add(firstName + lastName);
      const number = String(101 + i);
      this.extensions.push({
        id: String(62991000004 + i * 1000),
        extensionNumber: number,
        firstName,
        lastName,
        name: `${firstName} ${lastName}`,
        email: `${firstName}.${lastName}@example.com`.toLowerCase(),
        phoneNumber: `+1650555${String(1000 + i).padStart(4, '0')}`,
        admin: i === 0,
        creationTime: this.nowAtStart - 400 * 86400_000 + i * 3600_000,
        type: 'User',
        status: 'Enabled',
      });
    }
  }

  private generateHistory(): void {
    const o = this.options;
    const total = Math.round(o.days * o.callsPerDay);
    const span = o.days * 86400_000;
    for (let i = 0; i < total; i++) {
      const start = this.nowAtStart - span + Math.floor(this.rng.next() * span);
      // history has ended by the start (no call in progress); only late fractions stay pending
      this.addCall(this.rng, { at: start }, this.nowAtStart, true, this.nowAtStart - 1000);
    }
  }

  private externalNumber(rng: Prng): { phoneNumber: string; location: string; name?: string } {
    const [area, location] = rng.pick(AREAS);
    const phoneNumber = `+1${area}55501${String(rng.int(0, 99)).padStart(2, '0')}`;
    return { phoneNumber, location, name: rng.chance(0.6) ? rng.pick(CALLER_NAMES) : undefined };
  }

  private newRecording(
    rng: Prng,
    call: SimCall,
    type: RecordingType,
    leg: 0 | 1,
    opts: NewCallOptions,
    availableAt: number,
  ): SimRecording {
    const o = this.options;
    this.recordingCounter++;
    const id = String(2_301_000_000_000 + this.recordingCounter * 1009 + rng.int(0, 1000));
    const format: ContentFormat = opts.format ?? (rng.chance(o.wavFraction) ? 'wav' : 'mp3');
    const bytes =
      opts.recordingBytes ??
      rng.int(o.recordingBytes.min, Math.max(o.recordingBytes.min, o.recordingBytes.max));
    return {
      id,
      callId: call.id,
      extensionId: call.extensionId,
      type,
      format,
      bytes,
      duration: type === 'OnDemand' ? Math.max(1, Math.floor(call.duration / 2)) : call.duration,
      availableAt,
      leg,
    };
  }

  /**
   * Creates one call (and its recordings) and inserts it. `now` is the sim clock; `useFractions`
   * makes records and recordings late by the configured fractions.
   */
  addCall(rng: Prng, opts: NewCallOptions, now: number, useFractions = false, endBy?: number): SimCall {
    const o = this.options;
    this.callCounter++;
    const n = this.callCounter;
    const ext = opts.extensionId ? this.extension(opts.extensionId) : rng.pick(this.extensions);
    if (!ext) throw new Error(`unknown extension ${opts.extensionId}`);
    const isFax = opts.withRecording ? false : rng.chance(o.faxFraction);
    const direction: Direction = opts.direction ?? (rng.chance(0.55) ? 'Inbound' : 'Outbound');
    const duration =
      opts.duration ?? (isFax ? rng.int(20, 120) : Math.floor(8 + Math.pow(rng.next(), 2) * 1500));
    const startTime = opts.at !== undefined ? toMs(opts.at) : -1;
    const external = this.externalNumber(rng);
    const own: SimParty = {
      phoneNumber: ext.phoneNumber,
      extensionNumber: ext.extensionNumber,
      extensionId: ext.id,
      name: ext.name,
    };
    const other: SimParty = {
      phoneNumber: external.phoneNumber,
      name: external.name,
      location: external.location,
    };
    const wantRecording =
      !isFax && (opts.withRecording ?? (opts.layout !== undefined || rng.chance(o.recordingFraction)));
    let action: string;
    let result: string;
    let reason: string | undefined;
    let message: SimCall['message'];
    if (isFax) {
      action = direction === 'Inbound' ? 'Incoming Fax' : 'Outgoing Fax';
      result = direction === 'Inbound' ? 'Received' : 'Sent';
      message = { id: String(1_700_000_000_000 + n), type: 'Fax' };
    } else if (direction === 'Inbound') {
      action = 'Phone Call';
      const r = wantRecording ? 0 : rng.next();
      if (r < 0.7) {
        result = 'Accepted';
        reason = 'Accepted';
      } else if (r < 0.85) {
        result = 'Missed';
        reason = 'No Answer';
      } else {
        result = 'Voicemail';
        reason = 'No Answer';
        message = { id: String(1_700_000_000_000 + n), type: 'VoiceMail' };
      }
    } else {
      action = rng.chance(0.7) ? 'VoIP Call' : 'RingOut Web';
      const r = wantRecording ? 0 : rng.next();
      if (r < 0.8) {
        result = 'Call connected';
        reason = 'Accepted';
      } else if (r < 0.9) {
        result = 'No Answer';
        reason = 'Not Answered';
      } else {
        result = 'Busy';
        reason = 'Line Busy';
      }
    }
    const connected = result === 'Accepted' || result === 'Call connected' || isFax || result === 'Voicemail';
    const realDuration = connected ? duration : Math.min(duration, rng.int(0, 40));
    // by default the call ended one second ago; endBy keeps generated history from running into "now"
    let begin = startTime >= 0 ? startTime : now - realDuration * 1000 - 1000;
    if (endBy !== undefined) begin = Math.min(begin, endBy - realDuration * 1000);
    const call: SimCall = {
      id: Buffer.from(`{cs${this.options.seed}x${n}y${rng.hex(6)}}`).toString('base64url'),
      sessionId: String(48_000_000_000 + n * 17),
      telephonySessionId: `s-a${rng.hex(8)}${n.toString(16).padStart(8, '0')}z${rng.hex(12)}`,
      partyId: `p-a${rng.hex(8)}${n.toString(16).padStart(8, '0')}z${rng.hex(12)}-1`,
      extensionId: ext.id,
      startTime: Math.floor(begin / 1000) * 1000,
      duration: realDuration,
      type: isFax ? 'Fax' : 'Voice',
      direction,
      action,
      result,
      reason,
      internalType: other.phoneNumber?.startsWith('+1650') ? 'Local' : 'LongDistance',
      from: direction === 'Inbound' ? other : own,
      to: direction === 'Inbound' ? own : other,
      appearsAt: 0,
      recordings: [],
      message,
    };
    const late = useFractions ? rng.chance(o.lateFraction) : false;
    const visibleAfterSec = opts.visibleAfterSec ?? (late ? o.lateDelaySec : 0);
    call.appearsAt = call.startTime + realDuration * 1000 + visibleAfterSec * 1000;
    if (wantRecording) {
      const layout: RecordingLayout =
        opts.layout ??
        (() => {
          const r = rng.next();
          if (r < o.twoRecordingFraction) return 'two';
          if (r < o.twoRecordingFraction + o.legOnlyFraction) return 'legOnly';
          return 'top';
        })();
      const lateRec = useFractions ? rng.chance(o.lateRecordingFraction) : false;
      const recordingAfterSec = opts.recordingAfterSec ?? (lateRec ? o.lateRecordingDelaySec : 0);
      const availableAt = call.appearsAt + recordingAfterSec * 1000;
      if (layout === 'two') {
        call.recordings.push(this.newRecording(rng, call, 'Automatic', 0, opts, availableAt));
        call.recordings.push(this.newRecording(rng, call, 'OnDemand', 1, opts, availableAt));
      } else {
        const type: RecordingType = opts.recordingType ?? (rng.chance(0.85) ? 'Automatic' : 'OnDemand');
        call.recordings.push(
          this.newRecording(rng, call, type, layout === 'legOnly' ? 1 : 0, opts, availableAt),
        );
      }
    }
    this.insert(call);
    return call;
  }

  /** Adds activity after start (addCalls, live activity); uses the live random stream. */
  addLiveCall(opts: NewCallOptions, now: number, useFractions = false): SimCall {
    return this.addCall(this.liveRng, opts, now, useFractions);
  }

  private insert(call: SimCall): void {
    // binary search for the first index whose call is "older" than this one
    let lo = 0;
    let hi = this.calls.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = this.calls[mid];
      if (c.startTime > call.startTime || (c.startTime === call.startTime && c.id > call.id)) lo = mid + 1;
      else hi = mid;
    }
    this.calls.splice(lo, 0, call);
    this.callsById.set(call.id, call);
    for (const rec of call.recordings) this.recordingsById.set(rec.id, rec);
  }
}

export const DEFAULT_FORMAT_CONTENT_TYPE: Record<ContentFormat, string> = {
  mp3: MP3_CONTENT_TYPE,
  wav: 'audio/x-wav',
};
