import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, open, realpath, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { CheckSteps, type CheckReport } from './check';
import { ByteCountError, hashReadable } from './hash';
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
  /** Folders made and found inside the root, and when (see prepareDir). */
  private readonly readyDirs = new Map<string, { at: number; ready: Promise<void> }>();
  /** Temporary names: random per storage, then counted (`wx` refuses a name that exists anyway). */
  private readonly partPrefix = randomSuffix();
  private parts = 0;

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
      const dir = path.dirname(target);
      tmp = path.join(dir, `.${path.basename(target)}.${this.partPrefix}${(this.parts++).toString(36)}.part`);
      await this.prepareDir(dir, rel);
      try {
        fh = await open(tmp, 'wx', this.fileMode);
      } catch (err) {
        // The folder went away since it was made (or checked): make it (and check it) again.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        this.forgetDirs();
        await this.prepareDir(dir, rel);
        fh = await open(tmp, 'wx', this.fileMode);
      }
      const written = await writeHashed(body, fh, expectedBytes, signal);
      await fh.close();
      fh = undefined;

      const existing = await lstat(target).catch(ignoreNotFound);
      if (existing?.isDirectory()) throw new Error('a folder is in the way');
      if (existing?.isFile() && existing.size === written.bytes) {
        const current = await hashReadable(createReadStream(target), signal);
        if (current.sha256 === written.sha256) {
          await rm(tmp, { force: true });
          tmp = undefined;
          return { path: rel, bytes: written.bytes, sha256: written.sha256, alreadyPresent: true };
        }
      }
      await rename(tmp, target);
      tmp = undefined;
      await syncDir(dir);
      return { path: rel, bytes: written.bytes, sha256: written.sha256, alreadyPresent: false };
    } catch (err) {
      if (!body.destroyed) body.destroy();
      // Whatever failed may have been the folders: the next put makes and checks them afresh.
      this.forgetDirs();
      throw this.wrap(err, `cannot store ${rel}`);
    } finally {
      if (fh) await fh.close().catch(() => undefined);
      if (tmp) await rm(tmp, { force: true }).catch(() => undefined);
    }
  }

  /**
   * Makes `dir` (and the root) and checks that it resolves inside the root. A backlog writes
   * thousands of files into a few folders: a folder made and checked is not made and checked again
   * for READY_DIR_MS, nor after a failure (see forgetDirs).
   */
  private prepareDir(dir: string, rel: string): Promise<void> {
    const now = Date.now();
    const known = this.readyDirs.get(dir);
    if (known && now - known.at < READY_DIR_MS) return known.ready;
    if (this.readyDirs.size >= MAX_READY_DIRS) this.readyDirs.clear();
    const ready = (async () => {
      await this.ensureRoot();
      await mkdir(dir, { recursive: true });
      await this.assertInside(dir, rel);
    })();
    this.readyDirs.set(dir, { at: now, ready });
    ready.catch(() => this.readyDirs.delete(dir));
    return ready;
  }

  private forgetDirs(): void {
    this.readyDirs.clear();
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

/** How long a folder made and checked is taken as still there and still inside the root. */
const READY_DIR_MS = 2000;
const MAX_READY_DIRS = 1000;
/** Small chunks are gathered up to this many bytes before they are written. */
const WRITE_BATCH_BYTES = 256 * 1024;

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
 * Writes the body to an open file handle while hashing and counting it, then fsyncs it. A loop
 * rather than a stream pipeline: for a file of a few KB the pipeline's streams and abort wiring
 * cost more than the write.
 */
async function writeHashed(
  body: Readable,
  fh: FileHandle,
  expectedBytes: number | undefined,
  signal: AbortSignal | undefined,
): Promise<{ bytes: number; sha256: string }> {
  if (expectedBytes !== undefined && (!Number.isSafeInteger(expectedBytes) || expectedBytes < 0)) {
    throw new RangeError(`expectedBytes must be a non-negative integer, got ${String(expectedBytes)}`);
  }
  const hash = createHash('sha256');
  let bytes = 0;
  let batch: Buffer[] = [];
  let batched = 0;
  const onAbort = () => body.destroy(signal?.reason as Error);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of body as AsyncIterable<Buffer | string>) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      bytes += buf.length;
      if (expectedBytes !== undefined && bytes > expectedBytes) {
        throw new ByteCountError(expectedBytes, bytes, false);
      }
      hash.update(buf);
      batch.push(buf);
      batched += buf.length;
      if (batched >= WRITE_BATCH_BYTES) {
        await writeAll(fh, batch);
        batch = [];
        batched = 0;
      }
    }
    signal?.throwIfAborted();
    if (expectedBytes !== undefined && bytes !== expectedBytes) {
      throw new ByteCountError(expectedBytes, bytes, true);
    }
    await writeAll(fh, batch);
    await fh.sync();
    return { bytes, sha256: hash.digest('hex') };
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
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
