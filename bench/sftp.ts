// SFTP upload speed: the pack's SftpStorage.put against OpenSSH's own `sftp` client.
//
// Both put the same file to the same real sshd (test/support/sshd.ts, 127.0.0.1), alternating in
// one run so that a noisy machine slows both alike. The pack runs as a sink does: a read stream
// in, SHA-256 computed on the way, written to `<name>.part`, fsync, renamed into place. Each pack
// run is a child process of its own, so that one can run with ssh2's native crypto binding and
// one with it blocked (what npm leaves when it skips ssh2's install script).
//
//   npm run bench:sftp                       (500 MB, 3 repeats; writes the table into BENCHMARKS.md)
//   RC_BENCH_SFTP_MB=100 RC_BENCH_SFTP_REPEATS=5 npm run bench:sftp
//   RC_BENCH_SFTP_WRITE=0 npm run bench:sftp (print only)
//   RC_BENCH_SFTP_CHUNK_KB=1024 npm run bench:sftp (the pack's input stream in 1 MiB chunks)
import { execFile, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import Module from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { startSshd, type SshdServer } from '../test/support/sshd';
import { machineLine, writeSection } from './report';

const MB = 1_000_000;
const SIZE_MB = Number(process.env.RC_BENCH_SFTP_MB ?? 500);
const REPEATS = Math.max(1, Number(process.env.RC_BENCH_SFTP_REPEATS ?? 3));
const WRITE = process.env.RC_BENCH_SFTP_WRITE !== '0';
const GCM = 'aes128-gcm@openssh.com';
/** Chunk size of the stream the pack is given (Node's default for a file: 64 KiB). */
const SOURCE_CHUNK = Number(process.env.RC_BENCH_SFTP_CHUNK_KB ?? 64) * 1024;

type Contender = 'openssh' | 'openssh-gcm' | 'pack' | 'pack-js';

interface ChildJob {
  file: string;
  remoteName: string;
  server: Pick<SshdServer, 'host' | 'port' | 'username' | 'privateKey' | 'hostFingerprint' | 'root'>;
  blockBinding: boolean;
}

interface RunResult {
  seconds: number;
  /** CPU time of the client process (user + system). */
  cpuSeconds: number;
  bytes: number;
  binding?: boolean;
  cipher?: string;
  sha256?: string;
}

// -- child: one put with the pack's adapter ---------------------------------------------------

async function childPut(job: ChildJob): Promise<RunResult> {
  if (job.blockBinding) {
    // ssh2 loads its binding in a try/catch and falls back to JavaScript when it is missing.
    const loader = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
    const original = loader._load;
    loader._load = function (request: string, ...rest: unknown[]) {
      if (request.endsWith('sshcrypto.node')) throw new Error('binding blocked for the benchmark');
      return original.call(this, request, ...rest);
    };
  }
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { bindingAvailable } = require('ssh2/lib/protocol/crypto') as { bindingAvailable: boolean };
  const ssh2 = require('ssh2') as typeof import('ssh2');
  const { SftpStorage } = require('../lib/storage/sftp') as typeof import('../lib/storage/sftp');
  /* eslint-enable @typescript-eslint/no-require-imports */

  // Read what the handshake settled on, without changing the adapter.
  let cipher: string | undefined;
  const connect = ssh2.Client.prototype.connect;
  ssh2.Client.prototype.connect = function (this: import('ssh2').Client, cfg: import('ssh2').ConnectConfig) {
    this.once('handshake', (n: { cs: { cipher: string; mac: string } }) => {
      cipher = n.cs.mac && !/gcm|poly1305/.test(n.cs.cipher) ? `${n.cs.cipher} + ${n.cs.mac}` : n.cs.cipher;
    });
    return connect.call(this, cfg);
  };

  const storage = new SftpStorage({ ...job.server, idleCloseMs: 0 });
  try {
    await storage.check(); // connect and log in outside the timed part, as OpenSSH's is not timed either
    const bytes = statSync(job.file).size;
    const cpuBefore = process.cpuUsage();
    const started = process.hrtime.bigint();
    const result = await storage.put(
      job.remoteName,
      createReadStream(job.file, { highWaterMark: SOURCE_CHUNK }),
      {
        expectedBytes: bytes,
      },
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpu = process.cpuUsage(cpuBefore);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    return {
      seconds,
      cpuSeconds,
      bytes: result.bytes,
      binding: bindingAvailable,
      cipher,
      sha256: result.sha256,
    };
  } finally {
    await storage.close();
  }
}

// -- parent ------------------------------------------------------------------------------------

function runPack(job: ChildJob): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    // RC_BENCH_SFTP_PROFILE=<folder> writes a CPU profile of each pack run there.
    const profile = process.env.RC_BENCH_SFTP_PROFILE;
    const execArgv = profile
      ? [...process.execArgv, '--cpu-prof', `--cpu-prof-dir=${profile}`]
      : process.execArgv;
    const child = fork(__filename, ['child', JSON.stringify(job)], { stdio: 'inherit', execArgv });
    child.once('message', (m: RunResult | { error: string }) =>
      'error' in m ? reject(new Error(m.error)) : resolve(m),
    );
    child.once('exit', (code) => (code ? reject(new Error(`pack run exited ${code}`)) : undefined));
  });
}

function execOut(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { maxBuffer: 16 * MB }, (err, stdout, stderr) =>
      err ? reject(Object.assign(err, { stderr })) : resolve({ stdout, stderr }),
    ),
  );
}

/** `sftp -b` with OpenSSH's default algorithms; the timed part includes its login (~0.1 s). */
async function runOpenSsh(
  server: SshdServer,
  keyFile: string,
  knownHosts: string,
  file: string,
  remoteName: string,
  cipher?: string,
): Promise<RunResult> {
  const batch = join(server.dir, 'bench.batch');
  writeFileSync(batch, `put ${file} ${join(server.root, remoteName)}\n`);
  const started = process.hrtime.bigint();
  // GNU time prints the client's CPU seconds as the last line of stderr.
  const { stderr } = await execOut('/usr/bin/time', [
    '-f',
    'cpu %U %S',
    'sftp',
    ...(cipher ? ['-c', cipher] : []),
    '-v',
    '-b',
    batch,
    '-i',
    keyFile,
    '-P',
    String(server.port),
    '-o',
    `UserKnownHostsFile=${knownHosts}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'BatchMode=yes',
    `${server.username}@${server.host}`,
  ]);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const m = /kex: client->server cipher: (\S+) MAC: (\S+)/.exec(stderr);
  const negotiated = m ? (m[2] === '<implicit>' ? m[1] : `${m[1]} + ${m[2]}`) : undefined;
  const cpu = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(stderr);
  const cpuSeconds = cpu ? Number(cpu[1]) + Number(cpu[2]) : NaN;
  return { seconds, cpuSeconds, bytes: statSync(join(server.root, remoteName)).size, cipher: negotiated };
}

async function makeFile(path: string, bytes: number): Promise<void> {
  const out = createWriteStream(path);
  for (let left = bytes; left > 0;) {
    const n = Math.min(left, 4 * 1024 * 1024);
    if (!out.write(randomBytes(n))) await once(out, 'drain');
    left -= n;
  }
  out.end();
  await once(out, 'finish');
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0], median: s[Math.floor((s.length - 1) / 2)] ?? 0, max: s[s.length - 1] };
};

async function main(): Promise<void> {
  const loadAtStart = os.loadavg()[0];
  const server = await startSshd();
  const work = mkdtempSync(join(os.tmpdir(), 'rc-bench-sftp-'));
  try {
    const file = join(work, 'payload.bin');
    await makeFile(file, SIZE_MB * MB);
    const keyFile = join(work, 'client_key');
    writeFileSync(keyFile, server.privateKey, { mode: 0o600 });
    const hostPub = readFileSync(join(server.dir, 'host_ed25519.pub'), 'utf8').trim();
    const knownHosts = join(work, 'known_hosts');
    writeFileSync(knownHosts, `[${server.host}]:${server.port} ${hostPub}\n`);

    /* eslint-disable-next-line @typescript-eslint/no-require-imports */
    const bindingBuilt = (require('ssh2/lib/protocol/crypto') as { bindingAvailable: boolean })
      .bindingAvailable;
    const contenders: Contender[] = [
      'openssh',
      'openssh-gcm',
      ...(bindingBuilt ? ['pack' as const] : []),
      'pack-js',
    ];
    const results = new Map<Contender, RunResult[]>(contenders.map((c) => [c, []]));
    const server4child = {
      host: server.host,
      port: server.port,
      username: server.username,
      privateKey: server.privateKey,
      hostFingerprint: server.hostFingerprint,
      root: server.root,
    };
    for (let r = 0; r < REPEATS; r++) {
      // Rotate the order so that no contender always goes first after the file was written.
      const order = contenders.map((_, i) => contenders[(i + r) % contenders.length]);
      for (const c of order) {
        const remoteName = `bench-${c}-${r}.bin`;
        const res =
          c === 'openssh' || c === 'openssh-gcm'
            ? await runOpenSsh(
                server,
                keyFile,
                knownHosts,
                file,
                remoteName,
                c === 'openssh-gcm' ? GCM : undefined,
              )
            : await runPack({ file, remoteName, server: server4child, blockBinding: c === 'pack-js' });
        if (res.bytes !== SIZE_MB * MB) throw new Error(`${c}: ${res.bytes} bytes arrived`);
        rmSync(join(server.root, remoteName), { force: true });
        results.get(c)!.push(res);
        const rate = res.bytes / MB / res.seconds;
        console.log(
          `${c.padEnd(8)} run ${r + 1}: ${rate.toFixed(1)} MB/s (${res.seconds.toFixed(2)} s, client CPU ${res.cpuSeconds.toFixed(2)} s, ${res.cipher ?? '?'}${res.binding === undefined ? '' : `, binding ${res.binding ? 'loaded' : 'not loaded'}`})`,
        );
      }
    }

    const label: Record<Contender, string> = {
      openssh: 'OpenSSH `sftp -b` put, its default cipher',
      'openssh-gcm': `OpenSSH \`sftp -b -c ${GCM}\` put (the cipher ssh2 picks)`,
      pack: 'SftpStorage.put, ssh2 binding loaded (as installed from the tarball)',
      'pack-js': "SftpStorage.put, ssh2 binding not loaded (ssh2's install script skipped)",
    };
    const openSshRuns = results.get('openssh')!;
    const ssh = stats(openSshRuns.map((x) => x.bytes / MB / x.seconds));
    const rows = contenders.map((c) => {
      const runs = results.get(c)!;
      const s = stats(runs.map((x) => x.bytes / MB / x.seconds));
      const binding = runs[0].binding === undefined ? '—' : runs[0].binding ? 'loaded' : 'not loaded';
      const cpu = stats(runs.map((x) => x.cpuSeconds / (x.bytes / 1e9)));
      // Each round's runs are seconds apart, so their ratio drifts less with the machine's load.
      const paired = stats(runs.map((x, r) => openSshRuns[r].seconds / x.seconds));
      return `| ${label[c]} | ${runs[0].cipher ?? '?'} | ${binding} | ${s.min.toFixed(1)} | ${s.median.toFixed(1)} | ${s.max.toFixed(1)} | ${(s.median / ssh.median).toFixed(2)} | ${paired.min.toFixed(2)} / ${paired.median.toFixed(2)} / ${paired.max.toFixed(2)} | ${cpu.median.toFixed(2)} |`;
    });
    const table = [
      `${machineLine()}; load average ${loadAtStart.toFixed(1)} at the start, ${os.loadavg()[0].toFixed(1)} at the end; ${SIZE_MB} MB of random bytes (read in ${SOURCE_CHUNK / 1024} KiB chunks for the pack), ${REPEATS} runs each, alternating; sshd ${(await execOut('ssh', ['-V']).catch((e: { stderr: string }) => e)).stderr.trim()} on 127.0.0.1.`,
      '',
      '| contender | cipher negotiated | ssh2 binding | min MB/s | median MB/s | max MB/s | median ÷ OpenSSH | ÷ OpenSSH in the same round, min / median / max | client CPU s/GB (median) |',
      '|---|---|---|---:|---:|---:|---:|---:|---:|',
      ...rows,
      '',
      `Command: \`${[
        process.env.RC_BENCH_SFTP_MB && `RC_BENCH_SFTP_MB=${SIZE_MB}`,
        process.env.RC_BENCH_SFTP_REPEATS && `RC_BENCH_SFTP_REPEATS=${REPEATS}`,
        process.env.RC_BENCH_SFTP_CHUNK_KB && `RC_BENCH_SFTP_CHUNK_KB=${SOURCE_CHUNK / 1024}`,
        'npm run bench:sftp',
      ]
        .filter(Boolean)
        .join(
          ' ',
        )}\`. The pack's time runs from the first byte read to the rename (login excluded); OpenSSH's includes its login, about 0.1 s. Client CPU is the client process's user + system time (the server's is not counted).`,
    ].join('\n');
    console.log('\n' + table);
    if (WRITE)
      writeSection(
        'SFTP upload against OpenSSH' +
          (SOURCE_CHUNK === 64 * 1024 ? '' : `, input in ${SOURCE_CHUNK / 1024} KiB chunks`),
        table,
      );
  } finally {
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'child') {
  childPut(JSON.parse(process.argv[3]) as ChildJob).then(
    (r) => process.send!(r, () => process.exit(0)),
    (err: Error) => process.send!({ error: err.stack ?? String(err) }, () => process.exit(0)),
  );
} else {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
