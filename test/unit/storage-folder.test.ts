import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { FolderStorage } from '../../lib/storage/folder';
import { safeRelativePath } from '../../lib/storage/paths';

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** Every file below dir, relative, including hidden ones. */
function walk(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) =>
      path.relative(dir, path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)),
    )
    .sort();
}

/** Sends `chunks`, then fails with `error` (a download cut off midway). */
function failingStream(
  chunks: Buffer[],
  error = new Error('socket hang up'),
): Readable & { wasDestroyed(): boolean } {
  let i = 0;
  let destroyed = false;
  const r = new Readable({
    read() {
      if (i < chunks.length) this.push(chunks[i++]);
      else setImmediate(() => this.destroy(error));
    },
    destroy(err, cb) {
      destroyed = true;
      cb(err);
    },
  });
  return Object.assign(r, { wasDestroyed: () => destroyed });
}

describe('FolderStorage', () => {
  let base: string;
  let root: string;
  let storage: FolderStorage;

  before(() => {
    base = mkdtempSync(path.join(os.tmpdir(), 'rc-folder-test-'));
    root = path.join(base, 'archive');
    storage = new FolderStorage(root);
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  it('writes the bytes, creates folders and returns the size and SHA-256', async () => {
    const data = Buffer.from('RIFF....WAVEfmt some audio bytes');
    const result = await storage.put(
      'A/B/2024-05-01/call.wav',
      Readable.from([data.subarray(0, 10), data.subarray(10)]),
      {
        expectedBytes: data.length,
      },
    );
    assert.deepEqual(result, {
      path: 'A/B/2024-05-01/call.wav',
      bytes: data.length,
      sha256: sha256(data),
      alreadyPresent: false,
    });
    assert.deepEqual(readFileSync(path.join(root, 'A/B/2024-05-01/call.wav')), data);
    assert.deepEqual(walk(root), ['A/B/2024-05-01/call.wav'], 'no temporary file left');
    assert.deepEqual(await storage.stat('A/B/2024-05-01/call.wav'), { bytes: data.length });
    assert.equal(await storage.stat('A/B/nothing.wav'), undefined);
    assert.equal(await storage.stat('nowhere/at/all.wav'), undefined);
  });

  it('many files into one folder at once: each arrives with its bytes, and they share folder fsyncs', async () => {
    const probe = await open(path.join(base, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as { sync(): Promise<void> };
    await probe.close();
    const original = proto.sync;
    let syncs = 0;
    proto.sync = function (this: unknown) {
      syncs++;
      return original.call(this);
    };
    const files = Array.from({ length: 40 }, (_, i) => Buffer.from(`record ${i} `.repeat(100 + i)));
    try {
      const results = await Promise.all(
        files.map((data, i) =>
          storage.put(`burst/${i}.json`, Readable.from([data]), { expectedBytes: data.length }),
        ),
      );
      assert.deepEqual(
        results.map((r) => r.sha256),
        files.map((d) => sha256(d)),
      );
    } finally {
      proto.sync = original;
    }
    for (const [i, data] of files.entries())
      assert.deepEqual(readFileSync(path.join(root, `burst/${i}.json`)), data);
    // One fsync per file, and fewer for the folder than renames into it.
    assert.ok(syncs >= 41 && syncs < 80, `${syncs} fsyncs for 40 files`);
  });

  it('a folder removed, or replaced by a symlink out of the root, after a file went into it', async () => {
    const own = new FolderStorage(path.join(base, 'moved'));
    await own.put('day/1.txt', Readable.from([Buffer.from('one')]));
    // Removed (an operator cleaning up): made again, the file arrives.
    rmSync(path.join(base, 'moved'), { recursive: true });
    await own.put('day/2.txt', Readable.from([Buffer.from('two')]));
    assert.equal(readFileSync(path.join(base, 'moved', 'day', '2.txt'), 'utf8'), 'two');
    // Replaced by a link leading out: refused, once the folder is checked again.
    const outside = path.join(base, 'moved-out');
    mkdirSync(outside);
    rmSync(path.join(base, 'moved', 'day'), { recursive: true });
    symlinkSync(outside, path.join(base, 'moved', 'day'));
    const wait = Date.now() + 10_000;
    let refused: unknown;
    while (!refused && Date.now() < wait) {
      await own
        .put('day/3.txt', Readable.from([Buffer.from('three')]))
        .catch((err: unknown) => (refused = err));
      if (!refused) {
        rmSync(path.join(outside, '3.txt'), { force: true });
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    assert.match(String(refused), /resolves outside the storage root/);
  });

  it('writes empty files', async () => {
    const result = await storage.put('empty.txt', Readable.from([]), { expectedBytes: 0 });
    assert.equal(result.bytes, 0);
    assert.equal(result.sha256, sha256(''));
    assert.equal(statSync(path.join(root, 'empty.txt')).size, 0);
  });

  it('reports an identical file as already present and leaves it alone', async () => {
    const data = Buffer.from('same bytes twice');
    await storage.put('dup/file.mp3', Readable.from([data]));
    const before = statSync(path.join(root, 'dup/file.mp3'));
    const again = await storage.put('dup/file.mp3', Readable.from([data]));
    assert.equal(again.alreadyPresent, true);
    assert.equal(again.sha256, sha256(data));
    const afterStat = statSync(path.join(root, 'dup/file.mp3'));
    assert.equal(afterStat.ino, before.ino, 'the file was not replaced');
    assert.deepEqual(walk(path.join(root, 'dup')), ['file.mp3']);
  });

  it('replaces a file with different content (same size too)', async () => {
    await storage.put('replace/x.bin', Readable.from([Buffer.from('aaaa')]));
    const same = await storage.put('replace/x.bin', Readable.from([Buffer.from('bbbb')]));
    assert.equal(same.alreadyPresent, false);
    assert.equal(readFileSync(path.join(root, 'replace/x.bin'), 'utf8'), 'bbbb');
    const longer = await storage.put('replace/x.bin', Readable.from([Buffer.from('ccccccc')]));
    assert.equal(longer.alreadyPresent, false);
    assert.equal(readFileSync(path.join(root, 'replace/x.bin'), 'utf8'), 'ccccccc');
    assert.deepEqual(walk(path.join(root, 'replace')), ['x.bin']);
  });

  it('a stream that fails midway leaves neither the target nor a temporary file, and is destroyed', async () => {
    const body = failingStream([Buffer.alloc(100_000, 1), Buffer.alloc(100_000, 2)]);
    await assert.rejects(
      storage.put('broken/rec.mp3', body),
      /cannot store broken\/rec\.mp3: socket hang up/,
    );
    assert.equal(body.wasDestroyed(), true);
    assert.deepEqual(walk(path.join(root, 'broken')), []);
  });

  it('a failing stream does not touch an existing good file', async () => {
    await storage.put('keep/rec.mp3', Readable.from([Buffer.from('good')]));
    await assert.rejects(storage.put('keep/rec.mp3', failingStream([Buffer.from('bad')])));
    assert.equal(readFileSync(path.join(root, 'keep/rec.mp3'), 'utf8'), 'good');
    assert.deepEqual(walk(path.join(root, 'keep')), ['rec.mp3']);
  });

  it('fails when the stream delivers fewer or more bytes than expected', async () => {
    await assert.rejects(
      storage.put('len/short.mp3', Readable.from([Buffer.alloc(10)]), { expectedBytes: 11 }),
      /length mismatch: expected 11 bytes, received 10/,
    );
    await assert.rejects(
      storage.put('len/long.mp3', Readable.from([Buffer.alloc(10), Buffer.alloc(10)]), { expectedBytes: 15 }),
      /length mismatch: expected 15 bytes, received more/,
    );
    assert.deepEqual(walk(path.join(root, 'len')), []);
  });

  it('refuses paths that escape the root', async () => {
    for (const bad of [
      '../outside.txt',
      'a/../../outside.txt',
      '/etc/passwd',
      '..',
      '',
      'C:/x',
      '..\\x',
      'a/\0b',
    ]) {
      await assert.rejects(storage.put(bad, Readable.from([Buffer.from('x')])), /refused path/, bad);
    }
    assert.equal(readdirSync(base).includes('outside.txt'), false);
    assert.equal(safeRelativePath('./a//b/./c.txt'), 'a/b/c.txt');
  });

  it('refuses a folder that is a symlink leading out of the root', async () => {
    const outside = path.join(base, 'elsewhere');
    mkdirSync(outside);
    symlinkSync(outside, path.join(root, 'link'));
    await assert.rejects(
      storage.put('link/f.txt', Readable.from([Buffer.from('x')])),
      /resolves outside the storage root/,
    );
    assert.deepEqual(readdirSync(outside), []);
  });

  it('stops on abort and cleans up', async () => {
    const ac = new AbortController();
    let sent = 0;
    const body = new Readable({
      read() {
        sent++;
        if (sent === 3) ac.abort();
        this.push(Buffer.alloc(64 * 1024, sent));
      },
    });
    await assert.rejects(storage.put('aborted/f.bin', body, { signal: ac.signal }), { name: 'AbortError' });
    assert.equal(body.destroyed, true);
    assert.deepEqual(walk(path.join(root, 'aborted')), []);
  });

  it('check() passes on a writable root and explains a missing one', async () => {
    await storage.check();
    assert.deepEqual(
      readdirSync(root).filter((f) => f.startsWith('.rcarchiver-probe')),
      [],
    );
    const strict = new FolderStorage({ root: path.join(base, 'missing'), createRoot: false });
    await assert.rejects(strict.check(), /root folder .*missing does not exist/);
    await assert.rejects(strict.put('x.txt', Readable.from([Buffer.from('x')])), /does not exist/);
    const file = path.join(base, 'a-file');
    writeFileSync(file, 'x');
    await assert.rejects(new FolderStorage(file).check(), /folder storage: cannot write to/);
  });

  it('keeps memory flat for a 200 MB stream', async () => {
    const total = 200 * 1024 * 1024;
    const chunk = 64 * 1024;
    const hash = createHash('sha256');
    let produced = 0;
    let peakHeap = 0;
    let peakBuffers = 0;
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const start = process.memoryUsage();
    const body = new Readable({
      highWaterMark: chunk,
      read() {
        if (produced >= total) return this.push(null);
        const buf = Buffer.allocUnsafe(chunk).fill(produced % 251);
        produced += chunk;
        hash.update(buf);
        if ((produced / chunk) % 64 === 0) {
          const m = process.memoryUsage();
          peakHeap = Math.max(peakHeap, m.heapUsed - start.heapUsed);
          peakBuffers = Math.max(peakBuffers, m.arrayBuffers - start.arrayBuffers);
        }
        this.push(buf);
      },
    });
    const result = await storage.put('big/200mb.bin', body, { expectedBytes: total });
    assert.equal(result.bytes, total);
    assert.equal(result.sha256, hash.digest('hex'));
    assert.equal(statSync(path.join(root, 'big/200mb.bin')).size, total);
    const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;
    assert.ok(peakHeap < 40 * 1048576, `heap grew by ${mb(peakHeap)} while streaming 200 MB`);
    // Buffers already written are garbage until the next GC: far below the 200 MB, not near zero.
    assert.ok(peakBuffers < 96 * 1048576, `buffers grew by ${mb(peakBuffers)} while streaming 200 MB`);
    rmSync(path.join(root, 'big'), { recursive: true });
  });
});
