import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import zlib from 'node:zlib';
import { crc32, unsafeEntryName, ZipError, ZipReader } from '../../lib/zip';
import { storedZip } from '../sim/index';

const dir = mkdtempSync(path.join(os.tmpdir(), 'rc-zip-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

function file(bytes: Buffer): string {
  const p = path.join(dir, `t${++n}.zip`);
  writeFileSync(p, bytes);
  return p;
}

interface Spec {
  name: string;
  data: Buffer;
  method?: 0 | 8;
  /** Written in place of the real CRC. */
  crc?: number;
  /** Written in place of the real size. */
  size?: number;
}

/** A zip written by hand: stored or deflated entries, optionally with a data descriptor flag. */
function makeZip(specs: Spec[], options: { comment?: string; zip64?: boolean } = {}): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const s of specs) {
    const method = s.method ?? 8;
    const body = method === 8 ? zlib.deflateRawSync(s.data) : s.data;
    const name = Buffer.from(s.name, 'utf8');
    const crc = s.crc ?? crc32(s.data);
    const size = s.size ?? s.data.length;
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(20, 4);
    lh.writeUInt16LE(0x0800, 6);
    lh.writeUInt16LE(method, 8);
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(body.length, 18);
    lh.writeUInt32LE(size, 22);
    lh.writeUInt16LE(name.length, 26);
    // An extra field in the local header only: the reader must take its length from here.
    const localExtra = Buffer.from([0xfe, 0xca, 4, 0, 1, 2, 3, 4]);
    lh.writeUInt16LE(localExtra.length, 28);
    const zip64Extra = Buffer.alloc(options.zip64 ? 4 + 24 : 0);
    if (options.zip64) {
      zip64Extra.writeUInt16LE(0x0001, 0);
      zip64Extra.writeUInt16LE(24, 2);
      zip64Extra.writeBigUInt64LE(BigInt(size), 4);
      zip64Extra.writeBigUInt64LE(BigInt(body.length), 12);
      zip64Extra.writeBigUInt64LE(BigInt(offset), 20);
    }
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(45, 4);
    ch.writeUInt16LE(20, 6);
    ch.writeUInt16LE(0x0800, 8);
    ch.writeUInt16LE(method, 10);
    ch.writeUInt16LE((12 << 11) | (30 << 5), 12);
    ch.writeUInt16LE(((2026 - 1980) << 9) | (5 << 5) | 1, 14);
    ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(options.zip64 ? 0xffffffff : body.length, 20);
    ch.writeUInt32LE(options.zip64 ? 0xffffffff : size, 24);
    ch.writeUInt16LE(name.length, 28);
    ch.writeUInt16LE(zip64Extra.length, 30);
    ch.writeUInt32LE(options.zip64 ? 0xffffffff : offset, 42);
    locals.push(lh, name, localExtra, body);
    centrals.push(ch, name, zip64Extra);
    offset += lh.length + name.length + localExtra.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const comment = Buffer.from(options.comment ?? '', 'utf8');
  const tail: Buffer[] = [];
  if (options.zip64) {
    const rec = Buffer.alloc(56);
    rec.writeUInt32LE(0x06064b50, 0);
    rec.writeBigUInt64LE(44n, 4);
    rec.writeUInt16LE(45, 12);
    rec.writeUInt16LE(45, 14);
    rec.writeBigUInt64LE(BigInt(specs.length), 24);
    rec.writeBigUInt64LE(BigInt(specs.length), 32);
    rec.writeBigUInt64LE(BigInt(cd.length), 40);
    rec.writeBigUInt64LE(BigInt(offset), 48);
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(0x07064b50, 0);
    loc.writeBigUInt64LE(BigInt(offset + cd.length), 8);
    loc.writeUInt32LE(1, 16);
    tail.push(rec, loc);
  }
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(options.zip64 ? 0xffff : specs.length, 8);
  end.writeUInt16LE(options.zip64 ? 0xffff : specs.length, 10);
  end.writeUInt32LE(options.zip64 ? 0xffffffff : cd.length, 12);
  end.writeUInt32LE(options.zip64 ? 0xffffffff : offset, 16);
  end.writeUInt16LE(comment.length, 20);
  return Buffer.concat([...locals, cd, ...tail, end, comment]);
}

async function withZip<T>(bytes: Buffer, fn: (zip: ZipReader) => Promise<T>): Promise<T> {
  const zip = await ZipReader.open(file(bytes));
  try {
    return await fn(zip);
  } finally {
    await zip.close();
  }
}

const text = Buffer.from('Hello, team messaging! '.repeat(5000), 'utf8');
const json = Buffer.from(JSON.stringify([{ id: '1', text: 'ünïcødé ✓' }]), 'utf8');

describe('zip reader', () => {
  it('reads deflated and stored entries, checking CRC and size', async () => {
    const bytes = makeZip(
      [
        { name: 'posts/posts_1.json', data: json, method: 8 },
        { name: 'big.txt', data: text, method: 8 },
        { name: 'stored.txt', data: Buffer.from('as is'), method: 0 },
        { name: 'empty/', data: Buffer.alloc(0), method: 0 },
      ],
      { comment: 'a comment with PK\u0005\u0006 inside' },
    );
    await withZip(bytes, async (zip) => {
      assert.deepEqual(
        zip.entries.map((e) => [e.name, e.method, e.size, e.isDirectory]),
        [
          ['posts/posts_1.json', 8, json.length, false],
          ['big.txt', 8, text.length, false],
          ['stored.txt', 0, 5, false],
          ['empty/', 0, 0, true],
        ],
      );
      assert.ok(zip.entries[1].compressedSize < text.length / 10, 'really deflated');
      assert.equal(zip.entries[0].modifiedAt?.toISOString(), '2026-05-01T12:30:00.000Z');
      assert.deepEqual(await zip.read('posts/posts_1.json'), json);
      assert.deepEqual(await zip.read('big.txt'), text);
      assert.equal((await zip.read('stored.txt')).toString(), 'as is');
      assert.equal((await zip.read('empty/')).length, 0);
      await zip.verify();
      await assert.rejects(zip.read('nope.txt'), ZipError);
    });
  });

  it("reads the simulator's stored zip", async () => {
    const files = [
      { name: 'members/members_1.json', data: Buffer.from('[]') },
      { name: 'posts/posts_2.json', data: json },
    ];
    await withZip(storedZip(files, Date.UTC(2026, 0, 2, 3, 4, 6)), async (zip) => {
      assert.deepEqual(
        zip.entries.map((e) => e.name),
        files.map((f) => f.name),
      );
      assert.deepEqual(await zip.read('posts/posts_2.json'), json);
      await zip.verify();
    });
  });

  it('reads zip64 directories', async () => {
    await withZip(makeZip([{ name: 'a.txt', data: text }], { zip64: true }), async (zip) => {
      assert.equal(zip.entries[0].size, text.length);
      assert.deepEqual(await zip.read('a.txt'), text);
    });
  });

  it('refuses an entry whose CRC-32 is wrong (stored and deflated)', async () => {
    for (const method of [0, 8] as const) {
      const bytes = makeZip([
        { name: 'ok.txt', data: Buffer.from('fine'), method },
        { name: 'bad.txt', data: text, method, crc: crc32(text) ^ 1 },
      ]);
      await withZip(bytes, async (zip) => {
        assert.equal((await zip.read('ok.txt')).toString(), 'fine');
        await assert.rejects(zip.read('bad.txt'), /bad\.txt" fails its CRC-32 check/);
        await assert.rejects(zip.verify(), ZipError);
      });
    }
  });

  it('refuses an entry whose size is not what the directory says', async () => {
    const bigger = makeZip([{ name: 'a.txt', data: text, size: text.length - 1 }]);
    await withZip(bigger, (zip) => assert.rejects(zip.read('a.txt'), /larger than its directory says/));
    const smaller = makeZip([{ name: 'a.txt', data: text, size: text.length + 1 }]);
    await withZip(smaller, (zip) => assert.rejects(zip.read('a.txt'), /has \d+ bytes, its directory says/));
  });

  it('refuses corrupt deflate data', async () => {
    const bytes = makeZip([{ name: 'a.txt', data: text }]);
    const at = bytes.indexOf(Buffer.from('a.txt')) + 5 + 8 + 10;
    bytes.fill(0xff, at, at + 40);
    await withZip(bytes, (zip) => assert.rejects(zip.verify(), ZipError));
  });

  it('refuses names that climb out or are absolute', async () => {
    for (const name of [
      '../evil.txt',
      'a/../../evil.txt',
      '/etc/passwd',
      '..\\evil.txt',
      'C:/x.txt',
      'a\u0000b',
    ]) {
      await assert.rejects(
        ZipReader.open(file(makeZip([{ name, data: Buffer.from('x') }]))),
        (err: Error) => err instanceof ZipError && /refusing entry/.test(err.message),
        name,
      );
    }
    assert.equal(unsafeEntryName('posts/posts_1.json'), undefined);
    assert.equal(unsafeEntryName('a..b/c..json'), undefined);
  });

  it('refuses a truncated file, whatever is cut', async () => {
    const bytes = makeZip([
      { name: 'a.txt', data: text },
      { name: 'b.txt', data: Buffer.from('x'.repeat(1000)), method: 0 },
    ]);
    // Cut in the end record, the central directory, and the data.
    for (const keep of [bytes.length - 5, bytes.length - 40, 200, 10, 0]) {
      await assert.rejects(
        ZipReader.open(file(bytes.subarray(0, keep))),
        (err: Error) => err instanceof ZipError && /truncated|not a zip/.test(err.message),
        `cut at ${keep}`,
      );
    }
    // A zip whose data is cut but whose directory is kept (as a download cut short and patched).
    const cd = bytes.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]), bytes.length - 23);
    const firstCd = bytes.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    assert.ok(firstCd > 0 && cd >= firstCd);
    const holed = Buffer.concat([bytes.subarray(0, 100), bytes.subarray(firstCd)]);
    await assert.rejects(
      (async () => {
        const zip = await ZipReader.open(file(holed));
        try {
          await zip.verify();
        } finally {
          await zip.close();
        }
      })(),
      ZipError,
    );
  });

  it('refuses what is not a zip', async () => {
    await assert.rejects(
      ZipReader.open(file(Buffer.from('just some text, no zip here at all'))),
      /not a zip/,
    );
  });
});
