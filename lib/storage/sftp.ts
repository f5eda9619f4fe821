import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Client, utils, type ConnectConfig, type SFTPWrapper, type Stats } from 'ssh2';
import { CheckSteps, type CheckReport } from './check';
import { hashingStream, hashReadable } from './hash';
import { randomSuffix, safeRelativePath } from './paths';
import { asTargetError, TargetError } from './target';
import type { PutOptions, PutResult, StorageAdapter, CheckOptions } from './types';

export interface SftpOptions {
  host: string;
  /** Default 22. */
  port?: number;
  username: string;
  password?: string;
  /** OpenSSH, PEM or PPK private key text. */
  privateKey?: string | Buffer;
  /** A file to read the private key from when `privateKey` is empty. */
  privateKeyFile?: string;
  passphrase?: string;
  /**
   * SHA-256 of the server's host key: `SHA256:<base64>` as OpenSSH prints it (padding optional),
   * or 64 hex digits with or without colons. Required: without it the adapter refuses to connect
   * and reports the fingerprint the server presented.
   */
  hostFingerprint?: string;
  /** Folder on the server everything goes under; relative to the login folder unless absolute. Default ".". */
  root?: string;
  /** Handshake and login timeout (default 20 s). */
  connectTimeoutMs?: number;
  /** Keepalive interval; three unanswered keepalives drop the connection (default 15 s). */
  keepaliveIntervalMs?: number;
  /** Close the connection after this long without transfers (default 60 s; 0 keeps it open). */
  idleCloseMs?: number;
  /** At most this many transfers at once on the shared connection (default 4). */
  maxConcurrent?: number;
}

const SFTP_STATUS = { NO_SUCH_FILE: 2, PERMISSION_DENIED: 3, FAILURE: 4 } as const;
/** SSH packets per write request: 2 × 32 KiB, about OpenSSH's own. */
const PACKETS_PER_WRITE = 2;
/** As much as OpenSSH's server lets a channel have unacknowledged (2 MiB): more would only queue. */
const BYTES_IN_FLIGHT = 2 * 1024 * 1024;
/** ssh2's smallest write limit: 34,000 bytes less its 2 KiB allowance for the request's header. */
const SSH2_MIN_WRITE_LEN = 34_000 - 2 * 1024;

// ---------------------------------------------------------------------------------------------
// Host key fingerprints

/** Parses a SHA-256 host key fingerprint in any accepted form into its 32 bytes. */
export function parseFingerprint(input: string): Buffer {
  let text = String(input ?? '').trim();
  // Accept a whole `ssh-keygen -l` line: "256 SHA256:abc… comment (ED25519)".
  const token = text.split(/\s+/).find((t) => /^sha256:/i.test(t));
  if (token) text = token;
  if (/^md5:/i.test(text))
    throw new Error('host fingerprint: MD5 fingerprints are not accepted; use the SHA256: form');
  const body = text.replace(/^sha256:/i, '');
  const hex = body.replace(/:/g, '');
  if (/^[0-9a-f]{64}$/i.test(hex) && (body === hex || /^([0-9a-f]{2}:){31}[0-9a-f]{2}$/i.test(body))) {
    return Buffer.from(hex, 'hex');
  }
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(body)) {
    const buf = Buffer.from(body.replace(/=$/, '').replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (buf.length === 32) return buf;
  }
  throw new Error(
    'host fingerprint: not a SHA-256 fingerprint (expected "SHA256:" followed by 43 base64 characters, or 64 hex digits)',
  );
}

/** `SHA256:<base64 without padding>`, as OpenSSH prints it. */
export function formatFingerprint(sha256: Buffer): string {
  return 'SHA256:' + sha256.toString('base64').replace(/=+$/, '');
}

function keyTypeOf(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown key type';
  const len = keyBlob.readUInt32BE(0);
  return len > 0 && len < 64 && keyBlob.length >= 4 + len
    ? keyBlob.toString('latin1', 4, 4 + len)
    : 'unknown key type';
}

// ---------------------------------------------------------------------------------------------
// Environment fallback

const isEmpty = (v: unknown): boolean => v === undefined || v === null || v === '' || Number.isNaN(v);

/**
 * Fills empty fields from SFTP_HOST, SFTP_PORT, SFTP_USER, SFTP_PASSWORD, SFTP_PRIVATE_KEY_FILE
 * (the file is read; a `privateKeyFile` given in `partial` comes first), SFTP_PASSPHRASE,
 * SFTP_HOST_FINGERPRINT and SFTP_ROOT.
 */
export function sftpOptionsFromEnv(
  partial: Partial<SftpOptions> = {},
  env: NodeJS.ProcessEnv = process.env,
): SftpOptions {
  const pick = <T>(value: T | undefined, name: string): T | string | undefined =>
    isEmpty(value) ? (env[name] === '' ? undefined : env[name]) : value;
  const out: SftpOptions = {
    ...partial,
    host: String(pick(partial.host, 'SFTP_HOST') ?? ''),
    username: String(pick(partial.username, 'SFTP_USER') ?? ''),
  };
  const port = pick(partial.port, 'SFTP_PORT');
  if (port !== undefined) out.port = Number(port);
  const password = pick(partial.password, 'SFTP_PASSWORD');
  if (password !== undefined) out.password = String(password);
  const passphrase = pick(partial.passphrase, 'SFTP_PASSPHRASE');
  if (passphrase !== undefined) out.passphrase = String(passphrase);
  const fingerprint = pick(partial.hostFingerprint, 'SFTP_HOST_FINGERPRINT');
  if (fingerprint !== undefined) out.hostFingerprint = String(fingerprint);
  const root = pick(partial.root, 'SFTP_ROOT');
  if (root !== undefined) out.root = String(root);
  if (isEmpty(partial.privateKey)) {
    const file = pick(partial.privateKeyFile, 'SFTP_PRIVATE_KEY_FILE');
    if (file !== undefined) out.privateKey = readKeyFile(String(file));
  }
  return out;
}

function readKeyFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(
      `SFTP: cannot read the private key file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// The adapter

interface Conn {
  client: Client;
  sftp: SFTPWrapper;
  closed: boolean;
  /** The socket is gone (the client emitted 'close'). */
  gone: boolean;
  /** Folders known to exist on this connection. */
  dirs: Set<string>;
  /** Called when the connection is lost: ssh2 never answers requests sent after that. */
  onLost: Set<() => void>;
}

type Cb<T> = (err: Error | undefined | null, value: T) => void;

const lostError = () => new Error('the connection to the server was lost');

/** One SFTP request as a promise that also settles when the connection is lost meanwhile. */
function call<T = void>(conn: Conn, fn: (cb: Cb<T>) => void): Promise<T> {
  if (conn.closed) return Promise.reject(lostError());
  return new Promise<T>((resolve, reject) => {
    const onLost = () => reject(lostError());
    conn.onLost.add(onLost);
    try {
      fn((err, value) => {
        conn.onLost.delete(onLost);
        if (err) reject(err);
        else resolve(value);
      });
    } catch (err) {
      conn.onLost.delete(onLost);
      reject(err);
    }
  });
}

function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * SFTP storage over ssh2 with a pinned host key. One connection is shared by all puts (opened on
 * first use, reopened after a drop, closed when idle); each put streams to a temporary `.part`
 * file while hashing, then renames it into place.
 */
export class SftpStorage implements StorageAdapter {
  readonly provider = 'sftp';
  readonly root: string;
  private readonly opts: SftpOptions;
  private readonly port: number;
  private readonly expected: Buffer | undefined;
  private readonly maxConcurrent: number;
  private pending: Promise<Conn> | undefined;
  private active = 0;
  private readonly queue: Array<() => void> = [];
  private idleTimer: NodeJS.Timeout | undefined;
  private parsedKeyChecked = false;

  constructor(options: SftpOptions) {
    if (!options || isEmpty(options.host)) throw new Error('SFTP: no host configured');
    if (isEmpty(options.username)) throw new Error('SFTP: no username configured');
    this.opts = { ...options };
    if (isEmpty(this.opts.privateKey) && !isEmpty(this.opts.privateKeyFile)) {
      this.opts.privateKey = readKeyFile(this.opts.privateKeyFile!);
    }
    if (isEmpty(this.opts.password) && isEmpty(this.opts.privateKey)) {
      throw new Error('SFTP: configure a password or a private key');
    }
    this.port = options.port === undefined || isEmpty(options.port) ? 22 : Number(options.port);
    if (!Number.isInteger(this.port) || this.port < 1 || this.port > 65535) {
      throw new Error(`SFTP: invalid port ${String(options.port)}`);
    }
    this.expected = isEmpty(options.hostFingerprint) ? undefined : parseFingerprint(options.hostFingerprint!);
    const root = isEmpty(options.root) ? '.' : String(options.root).replace(/\\/g, '/');
    this.root = posix.normalize(root).replace(/(.)\/+$/, '$1');
    this.maxConcurrent = Math.max(1, Math.floor(options.maxConcurrent ?? 4));
  }

  private get where(): string {
    return `SFTP ${this.opts.host}:${this.port}`;
  }

  // -- public API ------------------------------------------------------------------------------

  async put(relPath: string, body: Readable, options: PutOptions = {}): Promise<PutResult> {
    let rel = relPath;
    try {
      rel = safeRelativePath(relPath);
      options.signal?.throwIfAborted();
      return await this.withSlot(options.signal, (conn) => this.transfer(conn, rel, body, options));
    } catch (err) {
      if (!body.destroyed) body.destroy();
      throw this.describe(err, `cannot store ${rel}`);
    }
  }

  async stat(relPath: string): Promise<{ bytes: number } | undefined> {
    const rel = safeRelativePath(relPath);
    try {
      return await this.withSlot(undefined, async (conn) => {
        const st = await this.statOrUndefined(conn, this.remote(rel));
        return st && st.isFile() ? { bytes: st.size } : undefined;
      });
    } catch (err) {
      throw this.describe(err, `cannot look at ${rel}`);
    }
  }

  // A removed probe leaves no trace here, so even the routine check (leaveNoTrace) writes one.
  async check(_options: CheckOptions = {}): Promise<CheckReport> {
    const steps = new CheckSteps(this.provider);
    let connected = false;
    try {
      await this.withSlot(undefined, async (conn) => {
        connected = true;
        steps.passed('connect', 'hostKey', 'login');
        await steps.run('folder', async () => {
          const st = await this.statOrUndefined(conn, this.root);
          if (!st) throw new Error(`root folder "${this.root}" does not exist on the server`);
          if (!st.isDirectory()) throw new Error(`root "${this.root}" is not a folder`);
        });
        const probe = posix.join(this.root, `.rcarchiver-probe-${randomSuffix()}`);
        await steps.run('write', async () => {
          try {
            const handle = await call<Buffer>(conn, (cb) => conn.sftp.open(probe, 'wx', { mode: 0o600 }, cb));
            await call(conn, (cb) => conn.sftp.close(handle, cb));
          } catch (err) {
            if (statusOf(err) === SFTP_STATUS.PERMISSION_DENIED) {
              throw new Error(
                `cannot write to root folder "${this.root}": permission denied for user "${this.opts.username}"`,
              );
            }
            throw err;
          }
        });
        await steps.run('remove', () => call(conn, (cb) => conn.sftp.unlink(probe, cb)));
      });
      return steps.report();
    } catch (err) {
      const described = this.describe(err, 'check failed');
      if (connected) throw steps.fail(described);
      const e = err as Error & { cause?: { level?: string } };
      const message = e?.message ?? '';
      // The key file is read before connecting; the server is only reached for the other two.
      if (/private key/.test(message)) throw steps.fail(described, 'login');
      if (/^(no host key fingerprint configured|host key mismatch)/.test(message)) {
        steps.passed('connect');
        throw steps.fail(described, 'hostKey');
      }
      if (e?.cause?.level === 'client-authentication') {
        steps.passed('connect', 'hostKey');
        throw steps.fail(described, 'login');
      }
      throw steps.fail(described, 'connect');
    }
  }

  async close(): Promise<void> {
    this.clearIdle();
    const p = this.pending;
    this.pending = undefined;
    if (!p) return;
    const conn = await p.catch(() => undefined);
    if (conn) await this.endConn(conn);
  }

  // -- transfers -------------------------------------------------------------------------------

  private async transfer(conn: Conn, rel: string, body: Readable, options: PutOptions): Promise<PutResult> {
    const { signal, expectedBytes } = options;
    const target = this.remote(rel);
    await this.mkdirp(conn, rel);
    // A fixed name: a retry after a dropped connection overwrites what the failed try left.
    const part = `${target}.part`;
    const { sftp } = conn;
    let handle: Buffer | undefined;
    let partExists = false;
    try {
      handle = await call<Buffer>(conn, (cb) => sftp.open(part, 'w', { mode: 0o644 }, cb));
      partExists = true;
      const hasher = hashingStream(expectedBytes);
      await pipeline(body, hasher, new SftpFileWriter(conn, handle), signal ? { signal } : {});
      await call(conn, (cb) => sftp.ext_openssh_fsync(handle!, cb)).catch(() => undefined); // best effort
      const h = handle;
      handle = undefined;
      await call(conn, (cb) => sftp.close(h, cb));

      const existing = await this.statOrUndefined(conn, target);
      if (existing?.isDirectory()) throw new Error('a folder is in the way');
      if (existing && existing.size === hasher.bytes) {
        const current = await this.hashRemote(conn, target, signal);
        if (current.sha256 === hasher.sha256) {
          await call(conn, (cb) => sftp.unlink(part, cb));
          partExists = false;
          return { path: rel, bytes: hasher.bytes, sha256: hasher.sha256, alreadyPresent: true };
        }
      }
      await this.moveIntoPlace(conn, part, target, existing !== undefined);
      partExists = false;
      return { path: rel, bytes: hasher.bytes, sha256: hasher.sha256, alreadyPresent: false };
    } finally {
      if (handle) {
        const h = handle;
        await call(conn, (cb) => sftp.close(h, cb)).catch(() => undefined);
      }
      if (partExists && !conn.closed) await call(conn, (cb) => sftp.unlink(part, cb)).catch(() => undefined);
    }
  }

  private async hashRemote(conn: Conn, file: string, signal?: AbortSignal): Promise<{ sha256: string }> {
    if (conn.closed) throw lostError();
    const stream = conn.sftp.createReadStream(file);
    const onLost = () => stream.destroy(lostError());
    conn.onLost.add(onLost);
    try {
      return await hashReadable(stream, signal);
    } finally {
      conn.onLost.delete(onLost);
    }
  }

  private async moveIntoPlace(
    conn: Conn,
    part: string,
    target: string,
    targetExists: boolean,
  ): Promise<void> {
    const { sftp } = conn;
    try {
      // posix-rename@openssh.com replaces the target atomically.
      await call(conn, (cb) => sftp.ext_openssh_rename(part, target, cb));
      return;
    } catch (err) {
      if (statusOf(err) !== undefined) throw err; // the server tried and refused
    }
    if (targetExists) await call(conn, (cb) => sftp.unlink(target, cb));
    await call(conn, (cb) => sftp.rename(part, target, cb));
  }

  private remote(rel: string): string {
    return posix.join(this.root, rel);
  }

  private async statOrUndefined(conn: Conn, p: string): Promise<Stats | undefined> {
    try {
      return await call<Stats>(conn, (cb) => conn.sftp.stat(p, cb));
    } catch (err) {
      if (statusOf(err) === SFTP_STATUS.NO_SUCH_FILE) return undefined;
      throw err;
    }
  }

  /** Creates the folders of rel (below the root, which must exist), ignoring existing ones. */
  private async mkdirp(conn: Conn, rel: string): Promise<void> {
    const segments = rel.split('/').slice(0, -1);
    const full = posix.join(this.root, ...segments);
    if (conn.dirs.has(full)) return;
    const st = await this.statOrUndefined(conn, full);
    if (st?.isDirectory()) {
      conn.dirs.add(full);
      return;
    }
    let cur = this.root;
    for (const seg of segments) {
      cur = posix.join(cur, seg);
      if (conn.dirs.has(cur)) continue;
      try {
        await call(conn, (cb) => conn.sftp.mkdir(cur, cb));
      } catch (err) {
        const existing = await this.statOrUndefined(conn, cur).catch(() => undefined);
        if (!existing) {
          if (statusOf(err) === SFTP_STATUS.NO_SUCH_FILE && cur === posix.join(this.root, segments[0])) {
            // No file can go anywhere until the root is back: the target's failure, not the item's.
            throw new TargetError(`root folder "${this.root}" does not exist on the server`);
          }
          throw Object.assign(new Error(`cannot create folder ${cur}: ${(err as Error).message}`), {
            code: statusOf(err),
          });
        }
        if (!existing.isDirectory()) throw new Error(`${cur} exists and is not a folder`);
      }
      conn.dirs.add(cur);
    }
  }

  // -- connection and concurrency --------------------------------------------------------------

  private async withSlot<T>(signal: AbortSignal | undefined, fn: (conn: Conn) => Promise<T>): Promise<T> {
    await this.acquire(signal);
    try {
      const conn = await this.connection();
      return await fn(conn);
    } finally {
      this.release();
    }
  }

  private acquire(signal?: AbortSignal): Promise<void> {
    this.clearIdle();
    if (this.active < this.maxConcurrent) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        this.active++;
        resolve();
      };
      const onAbort = () => {
        const i = this.queue.indexOf(grant);
        if (i >= 0) this.queue.splice(i, 1);
        reject(signal!.reason ?? new Error('aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(grant);
    });
  }

  private release(): void {
    this.active--;
    const next = this.queue.shift();
    if (next) next();
    else if (this.active === 0) this.scheduleIdle();
  }

  private scheduleIdle(): void {
    const ms = this.opts.idleCloseMs ?? 60_000;
    if (ms <= 0) return;
    this.clearIdle();
    this.idleTimer = setTimeout(() => {
      if (this.active === 0) void this.close();
    }, ms);
    this.idleTimer.unref();
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private async connection(): Promise<Conn> {
    for (let i = 0; i < 3; i++) {
      if (!this.pending) {
        const p = this.open();
        this.pending = p;
        p.catch(() => {
          if (this.pending === p) this.pending = undefined;
        });
      }
      const p = this.pending;
      const conn = await p;
      if (!conn.closed) return conn;
      if (this.pending === p) this.pending = undefined;
    }
    throw new Error('the connection keeps dropping');
  }

  private checkKey(): void {
    if (this.parsedKeyChecked || isEmpty(this.opts.privateKey)) return;
    const parsed = utils.parseKey(this.opts.privateKey!, this.opts.passphrase);
    if (parsed instanceof Error) {
      const m = parsed.message;
      if (/no passphrase given/i.test(m)) throw new Error('the private key is encrypted: set its passphrase');
      if (/bad passphrase|integrity check failed|decrypt/i.test(m)) {
        throw new Error('cannot decrypt the private key: wrong passphrase');
      }
      throw new Error('cannot read the private key (expected an OpenSSH, PEM or PuTTY private key)');
    }
    this.parsedKeyChecked = true;
  }

  private open(): Promise<Conn> {
    return new Promise<Conn>((resolve, reject) => {
      try {
        this.checkKey();
      } catch (err) {
        reject(Object.assign(err as Error, { sftpConnect: true, target: true }));
        return;
      }
      const client = new Client();
      let settled = false;
      let presented: string | undefined;
      let presentedType = '';
      let hostProblem: 'unpinned' | 'mismatch' | undefined;
      let conn: Conn | undefined;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        client.end();
        reject(this.connectError(err, hostProblem, presented, presentedType));
      };
      const cfg: ConnectConfig = {
        host: this.opts.host,
        port: this.port,
        username: this.opts.username,
        readyTimeout: this.opts.connectTimeoutMs ?? 20_000,
        keepaliveInterval: this.opts.keepaliveIntervalMs ?? 15_000,
        keepaliveCountMax: 3,
        tryKeyboard: false,
        hostVerifier: (key: Buffer): boolean => {
          const hash = createHash('sha256').update(key).digest();
          presented = formatFingerprint(hash);
          presentedType = keyTypeOf(key);
          if (!this.expected) {
            hostProblem = 'unpinned';
            return false;
          }
          if (!timingSafeEqual(hash, this.expected)) {
            hostProblem = 'mismatch';
            return false;
          }
          return true;
        },
      };
      if (!isEmpty(this.opts.password)) cfg.password = this.opts.password;
      if (!isEmpty(this.opts.privateKey)) {
        cfg.privateKey = this.opts.privateKey;
        if (!isEmpty(this.opts.passphrase)) cfg.passphrase = this.opts.passphrase;
      }
      client.on('ready', () => {
        client.sftp((err, sftp) => {
          if (err) return fail(err);
          if (settled) return;
          settled = true;
          conn = { client, sftp, closed: false, gone: false, dirs: new Set(), onLost: new Set() };
          sftp.on('close', () => this.markClosed(conn!));
          resolve(conn);
        });
      });
      client.on('error', (err) => {
        if (!settled) fail(err);
        else if (conn) this.markClosed(conn);
      });
      client.on('close', () => {
        if (conn) {
          conn.gone = true;
          this.markClosed(conn);
        }
        fail(new Error('the server closed the connection during login'));
      });
      try {
        client.connect(cfg);
      } catch (err) {
        fail(err as Error);
      }
    });
  }

  private markClosed(conn: Conn): void {
    if (conn.closed) return;
    conn.closed = true;
    const waiting = [...conn.onLost];
    conn.onLost.clear();
    for (const fn of waiting) fn();
    conn.client.end();
  }

  private endConn(conn: Conn): Promise<void> {
    return new Promise((resolve) => {
      if (conn.gone) return resolve();
      const timer = setTimeout(resolve, 2000);
      timer.unref();
      conn.client.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      conn.closed = true;
      conn.client.end();
    });
  }

  // -- errors ----------------------------------------------------------------------------------

  private connectError(
    err: Error & { level?: string; code?: string },
    hostProblem: 'unpinned' | 'mismatch' | undefined,
    presented: string | undefined,
    presentedType: string,
  ): Error {
    const user = `"${this.opts.username}"`;
    let msg: string;
    if (hostProblem === 'unpinned') {
      msg =
        `no host key fingerprint configured, so the server is not trusted. It presented ${presented} (${presentedType}). ` +
        `Confirm that with the server's administrator (ssh-keygen -lf <host key>.pub) and set it as the host fingerprint.`;
    } else if (hostProblem === 'mismatch') {
      msg =
        `host key mismatch: expected ${formatFingerprint(this.expected!)}, got ${presented} (${presentedType}). ` +
        `Refusing to connect: the server's key changed or someone is intercepting the connection.`;
    } else if (err.level === 'client-authentication') {
      const how = [
        !isEmpty(this.opts.privateKey) && 'private key',
        !isEmpty(this.opts.password) && 'password',
      ]
        .filter(Boolean)
        .join(' and ');
      msg = `authentication failed for user ${user} (tried ${how}); check the username and credentials`;
    } else if (err.code === 'ECONNREFUSED') {
      msg = 'connection refused (is the SSH server running, and is the port right?)';
    } else if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') {
      msg = `host "${this.opts.host}" not found`;
    } else if (err.level === 'client-timeout' || err.code === 'ETIMEDOUT') {
      msg = `timed out connecting after ${this.opts.connectTimeoutMs ?? 20_000} ms`;
    } else if (err.code === 'ECONNRESET' || err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH') {
      msg = `connection failed (${err.code})`;
    } else {
      msg = err.message;
    }
    return Object.assign(new Error(msg, { cause: err }), { sftpConnect: true, target: true });
  }

  private describe(err: unknown, what: string): Error {
    if (err instanceof Error && err.name === 'AbortError') return err;
    const e = err as Error & { sftpConnect?: boolean };
    const status = statusOf(err);
    let reason = e instanceof Error ? e.message : String(err);
    if (status === SFTP_STATUS.PERMISSION_DENIED)
      reason = `permission denied for user "${this.opts.username}"`;
    else if (status === SFTP_STATUS.NO_SUCH_FILE) reason = `no such file or folder (${reason})`;
    // OpenSSH answers a full disk or an exceeded quota with the bare status 4, "Failure".
    else if (status === SFTP_STATUS.FAILURE)
      reason = `the server refused the write, often a full disk or quota (SFTP status 4: ${reason})`;
    const prefix = e?.sftpConnect ? `${this.where}: ` : `${this.where}: ${what}: `;
    const described = new Error(this.redact(prefix + reason), { cause: err });
    // SSH_FX_FAILURE on a write is how OpenSSH reports a full disk or quota: no file can go there.
    return status === SFTP_STATUS.FAILURE ? asTargetError(described) : described;
  }

  /** Defence in depth: no secret ever appears in an error text. */
  private redact(text: string): string {
    let out = text;
    for (const secret of [this.opts.password, this.opts.passphrase]) {
      if (typeof secret === 'string' && secret.length >= 4) out = out.split(secret).join('***');
    }
    return out;
  }
}

/**
 * The size of each SFTP write request. A request that ends just short of a full SSH packet is
 * followed by a packet of a few bytes (a 64 KiB write is 32,768 + 32,768 + 29 bytes on the wire),
 * so the data per request is chosen to fill whole packets of the channel.
 */
export function writePieceSize(channelPacketSize: number, maxWriteLen: number, handleLength: number): number {
  // uint32 length, byte type, uint32 id, string handle, uint64 offset, uint32 data length
  const header = 4 + 1 + 4 + 4 + handleLength + 8 + 4;
  const packet =
    Number.isInteger(channelPacketSize) && channelPacketSize > header ? channelPacketSize : 32 * 1024;
  const packets = Math.max(1, Math.min(PACKETS_PER_WRITE, Math.floor((maxWriteLen + header) / packet)));
  const size = packets * packet - header;
  return size > 0 && size <= maxWriteLen ? size : Math.max(1, maxWriteLen);
}

/** What ssh2 keeps about the SFTP channel (not in its typings): the largest write, the packet size. */
function channelLimits(sftp: SFTPWrapper): { maxWriteLen: number; packetSize: number } {
  const inner = sftp as unknown as { _maxWriteLen?: unknown; outgoing?: { packetSize?: unknown } };
  const maxWriteLen = inner._maxWriteLen;
  const packetSize = inner.outgoing?.packetSize;
  return {
    // Beyond its limit ssh2 sends the rest of a write later, from the caller's buffer; the writer
    // reuses its buffer, so it never goes past the smallest limit ssh2 uses when it cannot tell.
    maxWriteLen: typeof maxWriteLen === 'number' && maxWriteLen > 0 ? maxWriteLen : SSH2_MIN_WRITE_LEN,
    packetSize: typeof packetSize === 'number' ? packetSize : 32 * 1024,
  };
}

/**
 * Writes a stream to an open SFTP handle, keeping several write requests in flight (the ssh2
 * write stream waits for each before sending the next). The caller closes the handle.
 *
 * ssh2 copies a request's data into its own packet before `write` returns, so whole pieces of an
 * incoming chunk go out as they are and the rest is gathered in one buffer that is reused: no
 * allocation per chunk.
 */
class SftpFileWriter extends Writable {
  private position = 0;
  private inFlight = 0;
  private failure: Error | undefined;
  private onSettled: (() => void) | undefined;
  private readonly piece: number;
  private readonly maxInFlight: number;
  private readonly staging: Buffer;
  private staged = 0;
  private readonly lost = () => {
    this.failure ??= lostError();
    this.wake();
  };

  constructor(
    private readonly conn: Conn,
    private readonly handle: Buffer,
  ) {
    super({ highWaterMark: 256 * 1024 });
    const { maxWriteLen, packetSize } = channelLimits(conn.sftp);
    this.piece = writePieceSize(packetSize, maxWriteLen, handle.length);
    this.maxInFlight = Math.max(1, Math.floor(BYTES_IN_FLIGHT / this.piece));
    this.staging = Buffer.allocUnsafe(this.piece);
    conn.onLost.add(this.lost);
  }

  override _writev(
    chunks: Array<{ chunk: Buffer | string; encoding: BufferEncoding }>,
    callback: (error?: Error | null) => void,
  ): void {
    if (this.conn.closed) this.failure ??= lostError();
    if (this.failure) return callback(this.failure);
    for (const { chunk, encoding } of chunks) {
      const data = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk;
      let off = 0;
      if (this.staged > 0) {
        off = Math.min(data.length, this.piece - this.staged);
        data.copy(this.staging, this.staged, 0, off);
        this.staged += off;
        if (this.staged === this.piece) this.flushStaged();
      }
      for (; data.length - off >= this.piece; off += this.piece) this.send(data, off, this.piece);
      if (off < data.length) {
        data.copy(this.staging, 0, off);
        this.staged = data.length - off;
      }
    }
    this.whenBelow(this.maxInFlight, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.staged > 0 && !this.failure) this.flushStaged();
    this.whenBelow(1, (err) => {
      this.conn.onLost.delete(this.lost);
      callback(err);
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.conn.onLost.delete(this.lost);
    callback(error);
  }

  private flushStaged(): void {
    const n = this.staged;
    this.staged = 0;
    this.send(this.staging, 0, n);
  }

  private send(data: Buffer, offset: number, length: number): void {
    this.inFlight++;
    try {
      this.conn.sftp.write(this.handle, data, offset, length, this.position, (err) => this.settled(err));
    } catch (err) {
      this.settled(err as Error);
    }
    this.position += length;
  }

  private settled(err: Error | undefined | null): void {
    this.inFlight--;
    if (err && !this.failure) this.failure = err;
    this.wake();
  }

  private wake(): void {
    const next = this.onSettled;
    this.onSettled = undefined;
    next?.();
  }

  private whenBelow(limit: number, callback: (error?: Error | null) => void): void {
    const check = () => {
      if (this.failure) callback(this.failure);
      else if (this.inFlight < limit) callback();
      else this.onSettled = check;
    };
    check();
  }
}
