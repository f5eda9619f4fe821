import { createReadStream } from 'node:fs';
import { lstat, mkdir, open, realpath, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CheckSteps, type CheckReport } from './check';
import { hashingStream, hashReadable } from './hash';
import { randomSuffix, safeRelativePath, UnsafePathError } from './paths';
import { asTargetError, TargetError } from './target';
import type { PutOptions, PutResult, StorageAdapter, CheckOptions } from './types';

export interface FolderStorageOptions {
  /** The folder everything is written under. */
  root: string;
  /** Create the root folder when it is missing (default true). False refuses to write instead. */
  createRoot?: boolean;
  /** Mode of new files (default 0o644, subject to the umask). */
  fileMode?: number;
}

/**
 * Local folder storage. Each put streams into a temporary file beside the target while hashing,
 * fsyncs it and renames it into place, so readers never see a partial file.
 */
export class FolderStorage implements StorageAdapter {
  readonly provider = 'folder';
  readonly root: string;
  private readonly createRoot: boolean;
  private readonly fileMode: number;

  constructor(options: string | FolderStorageOptions) {
    const opts = typeof options === 'string' ? { root: options } : options;
    if (!opts.root) throw new Error('folder storage: no root folder configured');
    this.root = path.resolve(opts.root);
    this.createRoot = opts.createRoot ?? true;
    this.fileMode = opts.fileMode ?? 0o644;
  }

  async put(relPath: string, body: Readable, options: PutOptions = {}): Promise<PutResult> {
    const { signal, expectedBytes } = options;
    let fh: FileHandle | undefined;
    let tmp: string | undefined;
    let rel = relPath;
    try {
      signal?.throwIfAborted();
      rel = safeRelativePath(relPath);
      const target = path.join(this.root, ...rel.split('/'));
      await this.ensureRoot();
      const dir = path.dirname(target);
      await mkdir(dir, { recursive: true });
      await this.assertInside(dir, rel);

      tmp = path.join(dir, `.${path.basename(target)}.${randomSuffix()}.part`);
      fh = await open(tmp, 'wx', this.fileMode);
      const hasher = hashingStream(expectedBytes);
      await pipeline(body, hasher, fileWriter(fh), signal ? { signal } : {});
      await fh.close();
      fh = undefined;

      const existing = await lstat(target).catch(ignoreNotFound);
      if (existing?.isDirectory()) throw new Error('a folder is in the way');
      if (existing?.isFile() && existing.size === hasher.bytes) {
        const current = await hashReadable(createReadStream(target), signal);
        if (current.sha256 === hasher.sha256) {
          await rm(tmp, { force: true });
          tmp = undefined;
          return { path: rel, bytes: hasher.bytes, sha256: hasher.sha256, alreadyPresent: true };
        }
      }
      await rename(tmp, target);
      tmp = undefined;
      await syncDir(dir);
      return { path: rel, bytes: hasher.bytes, sha256: hasher.sha256, alreadyPresent: false };
    } catch (err) {
      if (!body.destroyed) body.destroy();
      throw this.wrap(err, `cannot store ${rel}`);
    } finally {
      if (fh) await fh.close().catch(() => undefined);
      if (tmp) await rm(tmp, { force: true }).catch(() => undefined);
    }
  }

  async stat(relPath: string): Promise<{ bytes: number } | undefined> {
    const rel = safeRelativePath(relPath);
    const target = path.join(this.root, ...rel.split('/'));
    const st = await lstat(target).catch(ignoreNotFound);
    if (!st || !st.isFile()) return undefined;
    await this.assertInside(path.dirname(target), rel);
    return { bytes: st.size };
  }

  // A removed probe leaves no trace here, so even the routine check (leaveNoTrace) writes one.
  async check(_options: CheckOptions = {}): Promise<CheckReport> {
    const steps = new CheckSteps(this.provider);
    try {
      await steps.run('folder', () => this.ensureRoot());
      const probe = path.join(this.root, `.rcarchiver-probe-${randomSuffix()}`);
      await steps.run('write', async () => {
        const fh = await open(probe, 'wx', 0o600);
        await fh.close();
      });
      await steps.run('remove', () => rm(probe));
      return steps.report();
    } catch (err) {
      throw steps.fail(this.wrap(err, `cannot write to ${this.root}`));
    }
  }

  async close(): Promise<void> {
    // Nothing held open between puts.
  }

  private async ensureRoot(): Promise<void> {
    if (this.createRoot) {
      try {
        await mkdir(this.root, { recursive: true });
      } catch (err) {
        // No file can go anywhere below a root that cannot be made. A file where the root should
        // be (EEXIST) is a conflicting path: each item fails with that reason (and is retried).
        if ((err as NodeJS.ErrnoException)?.code === 'EEXIST')
          (err as Error & { target?: boolean }).target = false;
        else asTargetError(err as Error);
        throw err;
      }
      return;
    }
    const st = await stat(this.root).catch(ignoreNotFound);
    if (!st) throw new TargetError(`root folder ${this.root} does not exist`);
    if (!st.isDirectory()) throw new Error(`root ${this.root} is not a folder`);
  }

  /** Refuses a directory that resolves (through symlinks) outside the root. */
  private async assertInside(dir: string, rel: string): Promise<void> {
    const [realRoot, realDir] = await Promise.all([realpath(this.root), realpath(dir)]);
    const r = path.relative(realRoot, realDir);
    if (r === '..' || r.startsWith('..' + path.sep) || path.isAbsolute(r)) {
      throw new UnsafePathError(rel, 'resolves outside the storage root');
    }
  }

  private wrap(err: unknown, what: string): Error {
    if (err instanceof Error && err.name === 'AbortError') return err;
    const e = err as NodeJS.ErrnoException;
    let reason = e instanceof Error ? e.message : String(err);
    if (e?.code === 'EACCES' || e?.code === 'EPERM') reason = `permission denied (${e.message})`;
    else if (e?.code === 'ENOSPC') reason = 'no space left on the device';
    return new Error(`folder storage: ${what}: ${reason}`, { cause: err });
  }
}

function ignoreNotFound(err: NodeJS.ErrnoException): undefined {
  if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
  throw err;
}

interface DirSync {
  /** The fsync running now; it may have begun before a rename that waits. */
  current: Promise<void>;
  /** The one after it, shared by every rename since `current` began. */
  next?: Promise<void>;
}

/** Folder fsyncs in flight, by folder. */
const dirSyncs = new Map<string, DirSync>();

/**
 * Makes a rename in `dir` durable. Renames in one folder share fsyncs: one that lands while an
 * fsync runs waits for the next one, which covers every rename before it began (a backlog of
 * small files otherwise pays a folder fsync each, on top of its own).
 */
function syncDir(dir: string): Promise<void> {
  const state = dirSyncs.get(dir);
  if (!state) return startDirSync(dir);
  state.next ??= state.current.then(() => startDirSync(dir));
  return state.next;
}

function startDirSync(dir: string): Promise<void> {
  const current: Promise<void> = fsyncDir(dir).finally(() => {
    const state = dirSyncs.get(dir);
    if (state?.current === current && !state.next) dirSyncs.delete(dir);
  });
  const state = dirSyncs.get(dir);
  if (state) {
    state.current = current;
    state.next = undefined;
  } else dirSyncs.set(dir, { current });
  return current;
}

/** Some platforms cannot fsync a directory; that is not an error. */
async function fsyncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // best effort
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/**
 * Writes to an open file handle and fsyncs it at the end. The handle stays open (the caller closes
 * it), unlike `FileHandle.createWriteStream`, whose handle cannot be closed independently.
 */
function fileWriter(fh: FileHandle): Writable {
  return new Writable({
    highWaterMark: 256 * 1024,
    writev(chunks, callback) {
      const buffers = chunks.map((c) =>
        typeof c.chunk === 'string' ? Buffer.from(c.chunk, c.encoding) : c.chunk,
      );
      writeAll(fh, buffers).then(() => callback(), callback);
    },
    final(callback) {
      fh.sync().then(() => callback(), callback);
    },
  });
}

async function writeAll(fh: FileHandle, buffers: Buffer[]): Promise<void> {
  const pending = buffers.filter((b) => b.length > 0);
  while (pending.length > 0) {
    const { bytesWritten } = await fh.writev(pending);
    let left = bytesWritten;
    while (pending.length > 0 && left >= pending[0].length) left -= pending.shift()!.length;
    if (left > 0) pending[0] = pending[0].subarray(left);
  }
}
