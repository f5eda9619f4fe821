// Deterministic recording content. Every byte is a pure function of (spec, position), so the
// simulator can stream any size in small chunks and tests can compute the expected SHA-256
// without HTTP and without holding the file in memory.
//
// MP3: an ID3v2.4 tag (title frame), then MPEG-1 Layer III frame headers (128 kbit/s, 44.1 kHz,
// mono) every 417 bytes over pseudo-random payload. WAV: a 44-byte RIFF/WAVE PCM header (8 kHz,
// 16 bit, mono) over pseudo-random samples.
import { createHash } from 'node:crypto';
import { endianness } from 'node:os';
import { Readable } from 'node:stream';
import { hashString, mix32 } from './prng';

export type ContentFormat = 'mp3' | 'wav';

export interface ContentSpec {
  /** 32-bit key of the pseudo-random payload. */
  key: number;
  bytes: number;
  format: ContentFormat;
  contentType: string;
  /** Written into the ID3 title frame of MP3 files. */
  title: string;
}

export interface ContentDigest {
  bytes: number;
  sha256: string;
  contentType: string;
}

export const MP3_CONTENT_TYPE = 'audio/mpeg';
export const WAV_CONTENT_TYPE = 'audio/x-wav';
export const DEFAULT_CHUNK_SIZE = 64 * 1024;

const MP3_FRAME_BYTES = 417;
const MP3_FRAME_HEADER = Buffer.from([0xff, 0xfb, 0x90, 0xc4]);
const LITTLE_ENDIAN = endianness() === 'LE';

export function contentKey(seed: number, recordingId: string): number {
  return hashString(`recording:${recordingId}`, seed);
}

function syncsafe(value: number): Buffer {
  return Buffer.from([(value >>> 21) & 0x7f, (value >>> 14) & 0x7f, (value >>> 7) & 0x7f, value & 0x7f]);
}

const headerCache = new WeakMap<ContentSpec, Buffer>();

/** The fixed bytes at the start of the file (ID3 tag or RIFF header). */
export function contentHeader(spec: ContentSpec): Buffer {
  const cached = headerCache.get(spec);
  if (cached) return cached;
  let header: Buffer;
  if (spec.format === 'wav') {
    header = Buffer.alloc(44);
    const dataBytes = Math.max(0, spec.bytes - 44);
    header.write('RIFF', 0, 'ascii');
    header.writeUInt32LE(Math.max(0, spec.bytes - 8) >>> 0, 4);
    header.write('WAVE', 8, 'ascii');
    header.write('fmt ', 12, 'ascii');
    header.writeUInt32LE(16, 16); // fmt chunk size
    header.writeUInt16LE(1, 20); // PCM
    header.writeUInt16LE(1, 22); // mono
    header.writeUInt32LE(8000, 24); // sample rate
    header.writeUInt32LE(16000, 28); // byte rate
    header.writeUInt16LE(2, 32); // block align
    header.writeUInt16LE(16, 34); // bits per sample
    header.write('data', 36, 'ascii');
    header.writeUInt32LE(dataBytes >>> 0, 40);
  } else {
    const text = Buffer.from(spec.title, 'utf8');
    const frameBody = Buffer.concat([Buffer.from([0x03]), text]); // 0x03 = UTF-8
    const frame = Buffer.concat([
      Buffer.from('TIT2', 'ascii'),
      syncsafe(frameBody.length),
      Buffer.alloc(2),
      frameBody,
    ]);
    const tagHeader = Buffer.concat([
      Buffer.from('ID3', 'ascii'),
      Buffer.from([4, 0, 0]),
      syncsafe(frame.length),
    ]);
    header = Buffer.concat([tagHeader, frame]);
  }
  headerCache.set(spec, header);
  return header;
}

/** The pseudo-random 32-bit word number `index` of the payload. */
function word(key: number, index: number): number {
  return mix32(Math.imul(index, 0x9e3779b1) ^ key);
}

/**
 * Fills `out` with the content bytes starting at `offset`. Bytes past the end of the file are left
 * untouched; callers size `out` to stay inside the file.
 */
export function fillContent(spec: ContentSpec, offset: number, out: Buffer): void {
  const length = out.length;
  if (length === 0) return;
  // 1. pseudo-random payload, four bytes per word, little-endian
  let pos = 0;
  if (LITTLE_ENDIAN && offset % 4 === 0 && out.byteOffset % 4 === 0) {
    const words = length >>> 2;
    const u32 = new Uint32Array(out.buffer, out.byteOffset, words);
    const first = offset / 4;
    const key = spec.key;
    for (let i = 0; i < words; i++) u32[i] = word(key, first + i);
    pos = words * 4;
  }
  let cachedIndex = -1;
  let cachedWord = 0;
  for (; pos < length; pos++) {
    const abs = offset + pos;
    const index = Math.floor(abs / 4);
    if (index !== cachedIndex) {
      cachedIndex = index;
      cachedWord = word(spec.key, index);
    }
    out[pos] = (cachedWord >>> ((abs % 4) * 8)) & 0xff;
  }
  // 2. the file header
  const end = offset + length;
  const header = contentHeader(spec);
  if (offset < header.length) {
    header.copy(out, 0, offset, Math.min(header.length, end));
  }
  // 3. MP3 frame headers at fixed intervals after the tag
  if (spec.format === 'mp3') {
    const base = header.length;
    let k = Math.max(0, Math.floor((offset - base - 3) / MP3_FRAME_BYTES));
    for (; ; k++) {
      const start = base + k * MP3_FRAME_BYTES;
      if (start >= end) break;
      const stop = start + MP3_FRAME_HEADER.length;
      if (stop <= offset) continue;
      const from = Math.max(start, offset);
      const to = Math.min(stop, end);
      MP3_FRAME_HEADER.copy(out, from - offset, from - start, to - start);
    }
  }
}

/** A fresh buffer holding bytes [offset, offset + length) of the file (clipped to its end). */
export function contentSlice(spec: ContentSpec, offset: number, length: number): Buffer {
  const size = Math.max(0, Math.min(length, spec.bytes - offset));
  const out = Buffer.allocUnsafe(size);
  fillContent(spec, offset, out);
  return out;
}

/** Hashes the whole file in 1 MB pieces (never holds it). */
export function digestContent(spec: ContentSpec): ContentDigest {
  const hash = createHash('sha256');
  const piece = 1024 * 1024;
  const buf = Buffer.allocUnsafeSlow(piece);
  for (let offset = 0; offset < spec.bytes; offset += piece) {
    const n = Math.min(piece, spec.bytes - offset);
    const view = n === piece ? buf : buf.subarray(0, n);
    fillContent(spec, offset, view);
    hash.update(view);
  }
  return { bytes: spec.bytes, sha256: hash.digest('hex'), contentType: spec.contentType };
}

/** A readable stream of the file, produced chunk by chunk on demand (respects backpressure). */
export function contentStream(spec: ContentSpec, chunkSize = DEFAULT_CHUNK_SIZE): Readable {
  let offset = 0;
  return new Readable({
    highWaterMark: chunkSize,
    read() {
      if (offset >= spec.bytes) {
        this.push(null);
        return;
      }
      const chunk = contentSlice(spec, offset, chunkSize);
      offset += chunk.length;
      this.push(chunk);
    },
  });
}
