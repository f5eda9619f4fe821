import { open, type FileHandle } from 'node:fs/promises';
import { Readable, pipeline } from 'node:stream';
import zlib from 'node:zlib';

/**
 * A small zip reader for the archives RingCentral hands out (team-messaging compliance exports):
 * finds the end of the central directory (zip64 too), lists the entries, and reads one entry at a
 * time from the file, stored (method 0) or deflated (method 8), checking its CRC-32 and size.
 * Names that could climb out of a folder (`..`, absolute, drive letters) are refused when the zip
 * is opened. Only one entry's bytes are in memory at a time, and only when asked for as a Buffer.
 */

/** Why a zip cannot be read: not a zip, truncated, corrupt, or something this reader refuses. */
export class ZipError extends Error {
  override name = 'ZipError';
}

export interface ZipEntry {
  /** The name as stored, with `/` between folders. */
  name: string;
  /** 0 stored, 8 deflated (others are listed but cannot be read). */
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
  /** Offset of the local file header. */
  headerOffset: number;
  isDirectory: boolean;
  /** The DOS date and time stored with the entry, read as UTC (zip stores no zone). */
  modifiedAt?: Date;
}

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
const CHUNK = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// CRC-32

let crcTable: Uint32Array | undefined;

/** CRC-32 (as zip uses it) of `data`, continuing from `previous`. */
export function crc32(data: Uint8Array, previous = 0): number {
  const native = (zlib as unknown as { crc32?: (d: Uint8Array, v?: number) => number }).crc32;
  if (typeof native === 'function') return native(data, previous) >>> 0;
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = (previous ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) crc = crcTable[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Names

/**
 * Why an entry name is unsafe to unpack, or undefined when it is fine: empty, NUL or other
 * control characters, absolute (`/x`, `\x`, `C:`), or with a `..` folder (`\` counts as `/`).
 */
export function unsafeEntryName(name: string): string | undefined {
  if (!name) return 'an empty name';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f]/.test(name)) return 'a control character';
  const path = name.replace(/\\/g, '/');
  if (path.startsWith('/')) return 'an absolute path';
  if (/^[A-Za-z]:/.test(path)) return 'a drive letter';
  if (path.split('/').some((part) => part === '..')) return 'a ".." folder';
  return undefined;
}

function decodeName(raw: Buffer, utf8: boolean): string {
  // Without the UTF-8 flag the name is CP437; ASCII is the same in both, anything else is rare
  // in RingCentral's archives and read as Latin-1 rather than refused.
  return utf8 ? raw.toString('utf8') : raw.toString('latin1');
}

function dosDate(date: number, time: number): Date | undefined {
  if (!date) return undefined;
  const d = new Date(
    Date.UTC(
      ((date >> 9) & 0x7f) + 1980,
      ((date >> 5) & 0x0f) - 1,
      date & 0x1f,
      (time >> 11) & 0x1f,
      (time >> 5) & 0x3f,
      (time & 0x1f) * 2,
    ),
  );
  return Number.isNaN(d.getTime()) ? undefined : d;
}

// ---------------------------------------------------------------------------------------------
// The reader

export class ZipReader {
  private closed = false;

  private constructor(
    private readonly file: FileHandle,
    /** Size of the zip file in bytes. */
    readonly fileSize: number,
    readonly entries: readonly ZipEntry[],
    private readonly where: string,
  ) {}

  /**
   * Opens a zip file and reads its central directory. Throws ZipError when the file is not a
   * zip, is truncated, has an unsafe or duplicate entry name, or an encrypted entry.
   */
  static async open(path: string, options: { label?: string } = {}): Promise<ZipReader> {
    const file = await open(path, 'r');
    const where = options.label ?? 'the zip';
    try {
      const { size } = await file.stat();
      const entries = await readDirectory(file, size, where);
      return new ZipReader(file, size, entries, where);
    } catch (err) {
      await file.close().catch(() => undefined);
      throw err;
    }
  }

  /** The entry of that name (exactly as stored), if any. */
  entry(name: string): ZipEntry | undefined {
    return this.entries.find((e) => e.name === name);
  }

  /**
   * The entry's bytes, one chunk at a time, uncompressed. Throws ZipError when the data is cut
   * short, inflates to more or fewer bytes than the directory says, or fails its CRC-32 (the last
   * chunk is followed by the check, so a consumer sees the error before it is done).
   */
  async *chunks(entry: ZipEntry): AsyncGenerator<Buffer, void, undefined> {
    if (this.closed) throw new ZipError(`${this.where} is closed`);
    if (entry.isDirectory) return;
    const start = await this.dataOffset(entry);
    if (start + entry.compressedSize > this.fileSize) {
      throw new ZipError(`${this.where}: "${entry.name}" runs past the end of the file (truncated)`);
    }
    const raw = this.rawChunks(start, entry.compressedSize, entry.name);
    let source: AsyncIterable<Buffer>;
    if (entry.method === 0) {
      if (entry.compressedSize !== entry.size)
        throw new ZipError(`${this.where}: "${entry.name}" is stored but its two sizes differ`);
      source = raw;
    } else if (entry.method === 8) {
      const inflate = zlib.createInflateRaw();
      source = pipeline(Readable.from(raw), inflate, () => undefined) as unknown as AsyncIterable<Buffer>;
    } else {
      throw new ZipError(
        `${this.where}: "${entry.name}" uses compression method ${entry.method}; only stored (0) and deflate (8) can be read`,
      );
    }
    let crc = 0;
    let total = 0;
    try {
      for await (const chunk of source) {
        total += chunk.length;
        if (total > entry.size)
          throw new ZipError(
            `${this.where}: "${entry.name}" is larger than its directory says (${entry.size})`,
          );
        crc = crc32(chunk, crc);
        yield chunk;
      }
    } catch (err) {
      if (err instanceof ZipError) throw err;
      throw new ZipError(`${this.where}: "${entry.name}" cannot be inflated: ${(err as Error).message}`);
    } finally {
      (source as Partial<Readable>).destroy?.();
    }
    if (total !== entry.size)
      throw new ZipError(
        `${this.where}: "${entry.name}" has ${total} bytes, its directory says ${entry.size}`,
      );
    if (crc !== entry.crc32)
      throw new ZipError(
        `${this.where}: "${entry.name}" fails its CRC-32 check (${hex(crc)}, expected ${hex(entry.crc32)})`,
      );
  }

  /** The entry's bytes, checked. Refuses entries larger than `maxBytes` (default 512 MiB). */
  async read(entry: ZipEntry | string, options: { maxBytes?: number } = {}): Promise<Buffer> {
    const found = typeof entry === 'string' ? this.entry(entry) : entry;
    if (!found) throw new ZipError(`${this.where} has no "${String(entry)}"`);
    const max = options.maxBytes ?? 512 * 1024 * 1024;
    if (found.size > max)
      throw new ZipError(
        `${this.where}: "${found.name}" is ${found.size} bytes, more than ${max} can be read`,
      );
    const parts: Buffer[] = [];
    for await (const chunk of this.chunks(found)) parts.push(chunk);
    return Buffer.concat(parts);
  }

  /** Reads every entry through its CRC-32 and size check, holding none in memory. */
  async verify(): Promise<void> {
    for (const entry of this.entries) {
      for await (const _chunk of this.chunks(entry)) {
        // checking only
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.file.close();
  }

  /** Where the entry's data starts: after its local header, whose name and extra lengths are its own. */
  private async dataOffset(entry: ZipEntry): Promise<number> {
    const header = await readAt(this.file, entry.headerOffset, 30);
    if (header.length < 30 || header.readUInt32LE(0) !== LOCAL_SIG)
      throw new ZipError(`${this.where}: the local header of "${entry.name}" is missing or damaged`);
    if (header.readUInt16LE(6) & 1) throw new ZipError(`${this.where}: "${entry.name}" is encrypted`);
    return entry.headerOffset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
  }

  private async *rawChunks(start: number, length: number, name: string): AsyncGenerator<Buffer> {
    let position = start;
    let left = length;
    while (left > 0) {
      const want = Math.min(CHUNK, left);
      const buffer = Buffer.allocUnsafe(want);
      const { bytesRead } = await this.file.read(buffer, 0, want, position);
      if (bytesRead === 0) throw new ZipError(`${this.where}: "${name}" is cut short (truncated)`);
      position += bytesRead;
      left -= bytesRead;
      yield buffer.subarray(0, bytesRead);
    }
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}

async function readAt(file: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await file.read(buffer, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buffer.subarray(0, got);
}

function safeNumber(value: bigint, what: string, where: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipError(`${where}: ${what} is too large`);
  return Number(value);
}

interface Directory {
  count: number;
  size: number;
  offset: number;
}

/** The end of central directory record (and the zip64 one when the classic fields overflow). */
async function findDirectory(file: FileHandle, fileSize: number, where: string): Promise<Directory> {
  if (fileSize < EOCD_SIZE) throw new ZipError(`${where} is not a zip file (too short or truncated)`);
  const tailLength = Math.min(fileSize, EOCD_SIZE + MAX_COMMENT);
  const tailStart = fileSize - tailLength;
  const tail = await readAt(file, tailStart, tailLength);
  let at = -1;
  // The last signature whose comment length reaches exactly to the end of the file; else the last one.
  let fallback = -1;
  for (let i = tail.length - EOCD_SIZE; i >= 0; i--) {
    if (tail.readUInt32LE(i) !== EOCD_SIG) continue;
    if (fallback < 0) fallback = i;
    if (i + EOCD_SIZE + tail.readUInt16LE(i + 20) === tail.length) {
      at = i;
      break;
    }
  }
  if (at < 0) at = fallback;
  if (at < 0)
    throw new ZipError(`${where} is not a zip file or is truncated (no end of central directory found)`);
  const eocd = tail.subarray(at, at + EOCD_SIZE);
  if (eocd.readUInt16LE(4) !== 0 || eocd.readUInt16LE(6) !== 0)
    throw new ZipError(`${where} spans several disks, which is not supported`);
  let count = eocd.readUInt16LE(10);
  let size = eocd.readUInt32LE(12);
  let offset = eocd.readUInt32LE(16);
  const eocdPosition = tailStart + at;
  if (count === 0xffff || size === 0xffffffff || offset === 0xffffffff) {
    // zip64: a locator just before the classic record points to the zip64 end record.
    const locator = eocdPosition >= 20 ? await readAt(file, eocdPosition - 20, 20) : Buffer.alloc(0);
    if (locator.length < 20 || locator.readUInt32LE(0) !== ZIP64_LOCATOR_SIG)
      throw new ZipError(`${where}: zip64 end of central directory locator missing (damaged zip)`);
    const recordAt = safeNumber(locator.readBigUInt64LE(8), 'the zip64 record offset', where);
    const record = await readAt(file, recordAt, 56);
    if (record.length < 56 || record.readUInt32LE(0) !== ZIP64_EOCD_SIG)
      throw new ZipError(`${where}: zip64 end of central directory record missing (damaged zip)`);
    count = safeNumber(record.readBigUInt64LE(32), 'the entry count', where);
    size = safeNumber(record.readBigUInt64LE(40), 'the central directory size', where);
    offset = safeNumber(record.readBigUInt64LE(48), 'the central directory offset', where);
  }
  if (offset + size > fileSize)
    throw new ZipError(`${where} is truncated (its central directory lies past the end of the file)`);
  return { count, size, offset };
}

async function readDirectory(file: FileHandle, fileSize: number, where: string): Promise<ZipEntry[]> {
  const dir = await findDirectory(file, fileSize, where);
  const data = await readAt(file, dir.offset, dir.size);
  if (data.length < dir.size) throw new ZipError(`${where} is truncated (central directory cut short)`);
  const entries: ZipEntry[] = [];
  const names = new Set<string>();
  let p = 0;
  for (let i = 0; i < dir.count; i++) {
    if (p + 46 > data.length || data.readUInt32LE(p) !== CENTRAL_SIG)
      throw new ZipError(`${where}: central directory entry ${i + 1} of ${dir.count} is damaged`);
    const flags = data.readUInt16LE(p + 8);
    const method = data.readUInt16LE(p + 10);
    const time = data.readUInt16LE(p + 12);
    const date = data.readUInt16LE(p + 14);
    const crc = data.readUInt32LE(p + 16);
    let compressedSize = data.readUInt32LE(p + 20);
    let size = data.readUInt32LE(p + 24);
    const nameLength = data.readUInt16LE(p + 28);
    const extraLength = data.readUInt16LE(p + 30);
    const commentLength = data.readUInt16LE(p + 32);
    let headerOffset = data.readUInt32LE(p + 42);
    const end = p + 46 + nameLength + extraLength + commentLength;
    if (end > data.length) throw new ZipError(`${where}: central directory entry ${i + 1} is cut short`);
    const name = decodeName(data.subarray(p + 46, p + 46 + nameLength), (flags & 0x0800) !== 0);
    const extra = data.subarray(p + 46 + nameLength, p + 46 + nameLength + extraLength);
    if (size === 0xffffffff || compressedSize === 0xffffffff || headerOffset === 0xffffffff) {
      // zip64 extended information: only the fields that overflowed, in this order.
      let q = 0;
      let found = false;
      while (q + 4 <= extra.length) {
        const id = extra.readUInt16LE(q);
        const length = extra.readUInt16LE(q + 2);
        if (id === 0x0001) {
          let r = q + 4;
          const next = (what: string) => {
            if (r + 8 > q + 4 + length) throw new ZipError(`${where}: "${name}" has a short zip64 field`);
            const v = safeNumber(extra.readBigUInt64LE(r), what, where);
            r += 8;
            return v;
          };
          if (size === 0xffffffff) size = next('a size');
          if (compressedSize === 0xffffffff) compressedSize = next('a size');
          if (headerOffset === 0xffffffff) headerOffset = next('an offset');
          found = true;
          break;
        }
        q += 4 + length;
      }
      if (!found) throw new ZipError(`${where}: "${name}" lacks its zip64 sizes`);
    }
    const unsafe = unsafeEntryName(name);
    if (unsafe) throw new ZipError(`${where}: refusing entry "${name.slice(0, 200)}" with ${unsafe}`);
    if (names.has(name)) throw new ZipError(`${where}: the entry "${name.slice(0, 200)}" is there twice`);
    names.add(name);
    if (flags & 1) throw new ZipError(`${where}: "${name}" is encrypted, which is not supported`);
    if (headerOffset + 30 > fileSize) throw new ZipError(`${where}: "${name}" lies past the end of the file`);
    entries.push({
      name,
      method,
      compressedSize,
      size,
      crc32: crc,
      headerOffset,
      isDirectory: name.endsWith('/'),
      modifiedAt: dosDate(date, time),
    });
    p = end;
  }
  return entries;
}
