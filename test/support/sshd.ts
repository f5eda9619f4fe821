/**
 * Starts a real OpenSSH sshd (Debian's openssh-server) on 127.0.0.1 for the SFTP tests, with its
 * own config, host key, client keys and SFTP root in a temporary folder. Nothing touches the
 * system's sshd or its config. Install the server with `scripts/ensure-sshd.sh`.
 *
 * When the tests run as root, a dedicated system user (`rcarchiver-sftp`, shell nologin) is
 * created once and used for key and password logins, so file permissions behave as they do on a
 * real server. Its random password is kept in a root-only file so that parallel test processes
 * agree on it. Otherwise the current user logs in with a key and password tests are skipped.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const SSHD_PATH = process.env.RC_TEST_SSHD ?? '/usr/sbin/sshd';
export const SFTP_TEST_USER = 'rcarchiver-sftp';
const PASSWORD_FILE = '/var/lib/rcarchiver-test/sftp-user.password';

export interface SshdServer {
  host: string;
  port: number;
  /** The user that logs in (with privateKey, encryptedPrivateKey or password). */
  username: string;
  /** Unencrypted OpenSSH private key text, authorised for `username`. */
  privateKey: string;
  /** The same kind of key, encrypted with `passphrase`. */
  encryptedPrivateKey: string;
  passphrase: string;
  /** Password of `username`, when password logins could be set up. */
  password?: string;
  /** Why `password` is missing, for `t.skip(reason)`. */
  passwordSkipReason?: string;
  /** SHA-256 of the host key as OpenSSH prints it: `SHA256:<base64 without padding>`. */
  hostFingerprint: string;
  /** Absolute path of an empty folder the user can write to (also usable as the SFTP root). */
  root: string;
  /** Folder with the config, keys and pid file. */
  dir: string;
  /** What sshd wrote to stderr so far (for debugging a failing test). */
  logs(): string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

export function sshdInstalled(): boolean {
  return existsSync(SSHD_PATH);
}

export async function startSshd(): Promise<SshdServer> {
  if (!sshdInstalled()) {
    throw new Error(
      `OpenSSH sshd not found at ${SSHD_PATH}: run scripts/ensure-sshd.sh (as root) to install Debian's openssh-server`,
    );
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rcarchiver-sshd-'));
  try {
    return await setUp(dir);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function setUp(dir: string): Promise<SshdServer> {
  await chmod(dir, 0o755); // the login user must reach authorized_keys and the root
  const hostKey = path.join(dir, 'host_ed25519');
  const clientKey = path.join(dir, 'client_ed25519');
  const encKey = path.join(dir, 'client_enc_ed25519');
  const passphrase = 'test-' + randomBytes(9).toString('base64url');
  await keygen(hostKey, '');
  await keygen(clientKey, '');
  await keygen(encKey, passphrase);
  const authorizedKeys = path.join(dir, 'authorized_keys');
  const pubs = await Promise.all([readFile(clientKey + '.pub', 'utf8'), readFile(encKey + '.pub', 'utf8')]);
  await writeFile(authorizedKeys, pubs.map((p) => p.trim()).join('\n') + '\n', { mode: 0o644 });

  const { stdout } = await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', hostKey + '.pub']);
  const hostFingerprint = stdout.split(/\s+/).find((t) => t.startsWith('SHA256:'));
  if (!hostFingerprint) throw new Error(`cannot read the host key fingerprint from ssh-keygen: ${stdout}`);

  const root = path.join(dir, 'root');
  await mkdir(root, { mode: 0o755 });

  const login = await loginUser();
  if (login.uid !== undefined) await chown(root, login.uid, login.gid!);

  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const config = path.join(dir, 'sshd_config');
    await writeFile(
      config,
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${hostKey}`,
        `PidFile ${path.join(dir, 'sshd.pid')}`,
        'UsePAM no',
        'StrictModes no',
        `AuthorizedKeysFile ${authorizedKeys}`,
        'PubkeyAuthentication yes',
        'PasswordAuthentication yes',
        'KbdInteractiveAuthentication no',
        'PermitEmptyPasswords no',
        'PermitRootLogin yes',
        `AllowUsers ${login.username}`,
        // Per-connection sshd children end when their client disconnects.
        'Subsystem sftp internal-sftp',
        'MaxStartups 100',
        'MaxSessions 100',
        'MaxAuthTries 10',
        'LoginGraceTime 30',
        'PrintMotd no',
        'X11Forwarding no',
        'AllowTcpForwarding no',
        'AllowAgentForwarding no',
        'LogLevel VERBOSE',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    try {
      const { child, logs } = await launch(config, port);
      return {
        host: '127.0.0.1',
        port,
        username: login.username,
        privateKey: await readFile(clientKey, 'utf8'),
        encryptedPrivateKey: await readFile(encKey, 'utf8'),
        passphrase,
        password: login.password,
        passwordSkipReason: login.password ? undefined : login.reason,
        hostFingerprint,
        root,
        dir,
        logs,
        stop: () => stop(child, dir),
      };
    } catch (err) {
      lastError = err;
      if (!/Address already in use/i.test(String(err))) break;
    }
  }
  throw lastError;
}

async function keygen(file: string, passphrase: string): Promise<void> {
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', 'rcarchiver-test', '-f', file]);
}

interface Login {
  username: string;
  uid?: number;
  gid?: number;
  password?: string;
  reason?: string;
}

async function loginUser(): Promise<Login> {
  const current = os.userInfo().username;
  if (process.getuid?.() !== 0) {
    return {
      username: current,
      reason: 'password login needs a dedicated user; tests are not running as root',
    };
  }
  try {
    if (!(await userExists(SFTP_TEST_USER))) {
      await run('useradd', [
        '--system',
        '--no-create-home',
        '--home-dir',
        '/nonexistent',
        '--shell',
        '/usr/sbin/nologin',
        SFTP_TEST_USER,
      ]).catch(async (err) => {
        if (!(await userExists(SFTP_TEST_USER))) throw err; // lost a race with a parallel test
      });
    }
    const password = await testPassword();
    await chpasswd(SFTP_TEST_USER, password);
    const { stdout } = await run('id', ['-u', SFTP_TEST_USER]);
    const { stdout: g } = await run('id', ['-g', SFTP_TEST_USER]);
    return { username: SFTP_TEST_USER, uid: Number(stdout.trim()), gid: Number(g.trim()), password };
  } catch (err) {
    return {
      username: current,
      reason: `could not set up the ${SFTP_TEST_USER} user for password logins: ${(err as Error).message}`,
    };
  }
}

async function userExists(name: string): Promise<boolean> {
  try {
    await run('id', ['-u', name]);
    return true;
  } catch {
    return false;
  }
}

/** One random password for the test user, shared by parallel test processes (root-only file). */
async function testPassword(): Promise<string> {
  await mkdir(path.dirname(PASSWORD_FILE), { recursive: true, mode: 0o700 });
  try {
    await writeFile(PASSWORD_FILE, randomBytes(18).toString('base64url'), { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const password = (await readFile(PASSWORD_FILE, 'utf8')).trim();
  if (password.length < 16) throw new Error(`${PASSWORD_FILE} holds no usable password`);
  return password;
}

function chpasswd(user: string, password: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('chpasswd', [], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`chpasswd failed: ${err.trim()}`)),
    );
    child.stdin.end(`${user}:${password}\n`);
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function launch(config: string, port: number): Promise<{ child: ChildProcess; logs: () => string }> {
  // Syntax check first: a config error is reported at once instead of as a timeout.
  await run(SSHD_PATH, ['-t', '-f', config]).catch((err: { stderr?: string; message: string }) => {
    throw new Error(`sshd rejected its test config: ${err.stderr?.trim() || err.message}`);
  });
  let log = '';
  const child = spawn(SSHD_PATH, ['-D', '-e', '-f', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true, // own process group: a signal reaches sshd, never the test runner
  });
  running.add(child);
  installExitHook();
  child.stderr!.on('data', (d: Buffer) => {
    log += d.toString();
    if (log.length > 200_000) log = log.slice(-100_000);
  });
  const exited = new Promise<never>((_, reject) => {
    child.once('error', (err) => reject(new Error(`cannot start sshd: ${err.message}`)));
    child.once('exit', (code, signal) =>
      reject(new Error(`sshd exited before accepting connections (${signal ?? code}): ${log.trim()}`)),
    );
  });
  try {
    await Promise.race([waitForBanner(port, 10_000), exited]);
  } catch (err) {
    killGroup(child, 'SIGKILL');
    running.delete(child);
    throw err;
  }
  exited.catch(() => undefined);
  return { child, logs: () => log };
}

async function waitForBanner(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect(port, '127.0.0.1');
      let data = '';
      const done = (v: boolean) => {
        sock.destroy();
        resolve(v);
      };
      sock.setTimeout(1000, () => done(false));
      sock.on('data', (d: Buffer) => {
        data += d.toString('latin1');
        if (data.includes('\n')) done(data.startsWith('SSH-2.0-'));
      });
      sock.on('error', () => done(false));
      sock.on('close', () => done(false));
    });
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`sshd did not accept connections on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

async function stop(child: ChildProcess, dir: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    killGroup(child, 'SIGTERM');
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }
  running.delete(child);
  await rm(dir, { recursive: true, force: true });
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) killGroup(child, 'SIGKILL');
  });
}
