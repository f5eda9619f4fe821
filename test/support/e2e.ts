// What the end-to-end tests share: reading an archive root and waiting on a Node-RED process.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Ledger } from '../../lib/ledger';
import type { Simulator } from '../sim/index';
import type { NodeRedProcess } from './node-red-process';
import type { SshdServer } from './sshd';

/**
 * The environment the example flow's empty config nodes read: RingCentral is the simulator, SFTP
 * the test sshd with its private key written into `work`.
 */
export function archiverEnv(
  sim: Simulator,
  sshd: SshdServer,
  work: string,
  sftpRoot = sshd.root,
): Record<string, string> {
  const keyFile = join(work, 'id_sftp');
  writeFileSync(keyFile, sshd.privateKey, { mode: 0o600 });
  return {
    RC_SERVER: sim.platformUrl,
    RC_CLIENT_ID: sim.credentials.clientId,
    RC_CLIENT_SECRET: sim.credentials.clientSecret,
    RC_JWT: sim.credentials.jwt,
    SFTP_HOST: sshd.host,
    SFTP_PORT: String(sshd.port),
    SFTP_USER: sshd.username,
    SFTP_PRIVATE_KEY_FILE: keyFile,
    SFTP_HOST_FINGERPRINT: sshd.hostFingerprint,
    SFTP_ROOT: sftpRoot,
  };
}

/** Every file under `dir`, relative to it, sorted. */
export function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  // Entries carry their type: no separate stat that a rename of a `.part` file could race.
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

export function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** Polls `check`; fails early with Node-RED's output when the process died or threw. */
export async function until(
  check: () => boolean,
  timeoutMs: number,
  what: string,
  red?: NodeRedProcess,
): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (red && (red.child.exitCode !== null || /Uncaught Exception/.test(red.output()))) {
      throw new Error(`node-red failed while waiting for ${what}:\n${red.output().slice(-3000)}`);
    }
    if (Date.now() - started > timeoutMs) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${red ? `\n${red.output().slice(-3000)}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Reads the ledger file of a (running or stopped) Node-RED; undefined before it exists. */
export function readLedger<T>(file: string, read: (ledger: Ledger) => T): T | undefined {
  if (!existsSync(file)) return undefined;
  const ledger = Ledger.open(file);
  try {
    return read(ledger);
  } finally {
    ledger.close();
  }
}

/**
 * Waits until the ledger has nothing Pending and its Archived count has not moved for `quietMs`:
 * a source listing mailbox after mailbox can leave nothing Pending for a moment between two.
 */
export async function untilSettled(
  file: string,
  timeoutMs: number,
  red?: NodeRedProcess,
  quietMs = 3000,
): Promise<void> {
  let last = -1;
  let since = Date.now();
  await until(
    () => {
      const counts = readLedger(file, (l) => l.counts());
      if (!counts || counts.Pending > 0 || counts.Archived !== last) {
        last = counts?.Archived ?? -1;
        since = Date.now();
        return false;
      }
      return Date.now() - since >= quietMs;
    },
    timeoutMs,
    'the ledger to settle with nothing Pending',
    red,
  );
}
