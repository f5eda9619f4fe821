// Peak memory while archiving a 1 GiB recording to each storage provider.
//
// Each provider runs in a child process of its own (so peaks do not mix), and the provider's fake
// runs in yet another process, so the bytes the fake keeps are not counted. The measured process
// serves the recording over HTTP on 127.0.0.1 and archives it with archiveItem(), exactly as a
// sink does: download stream → hashing → the adapter's upload with its production chunk sizes.
// A "null" run (the same download hashed and dropped) is the floor each provider is compared to.
//
//   npm run bench            (writes the table into BENCHMARKS.md)
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import { archiveItem, hashReadable } from '../lib/archive';
import { Ledger } from '../lib/ledger/index';
import type { OAuthTokens } from '../lib/oauth/types';
import { FolderStorage } from '../lib/storage/folder';
import type { StorageAdapter } from '../lib/storage/types';
import { DEFAULT_TEMPLATE } from '../lib/template';

// Each process loads only its provider's SDK, so the baseline is what a sink of that kind costs.
/* eslint-disable @typescript-eslint/no-require-imports */
const load = {
  box: () => require('../lib/storage/box') as typeof import('../lib/storage/box'),
  dropbox: () => require('../lib/storage/dropbox') as typeof import('../lib/storage/dropbox'),
  gdrive: () => require('../lib/storage/gdrive') as typeof import('../lib/storage/gdrive'),
  s3: () => require('../lib/storage/s3') as typeof import('../lib/storage/s3'),
  smarsh: () => require('../lib/storage/smarsh') as typeof import('../lib/storage/smarsh'),
  fakeBox: () => require('../test/fakes/box') as typeof import('../test/fakes/box'),
  fakeDropbox: () => require('../test/fakes/dropbox') as typeof import('../test/fakes/dropbox'),
  fakeDrive: () => require('../test/fakes/gdrive') as typeof import('../test/fakes/gdrive'),
  fakeS3: () => require('../test/fakes/s3') as typeof import('../test/fakes/s3'),
  fakeSmtp: () => require('../test/fakes/smtp') as typeof import('../test/fakes/smtp'),
  s3Client: () => require('@aws-sdk/client-s3') as typeof import('@aws-sdk/client-s3'),
};
/* eslint-enable @typescript-eslint/no-require-imports */

const SIZE = 1024 * 1024 * 1024;
const BLOCK = 1024 * 1024;
const providers = ['null', 'folder', 'dropbox', 'box', 'gdrive', 's3', 'smarsh'] as const;
type ProviderName = (typeof providers)[number];

/** The same pseudo-random 1 MiB block in every process, from a fixed seed. */
function baseBlock(): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; parts.length * 32 < BLOCK; i++)
    parts.push(createHash('sha256').update(`rc-bench ${i}`).digest());
  return Buffer.concat(parts).subarray(0, BLOCK);
}

/** Deterministic content: the base block with its index stamped in, repeated. */
function blockAt(base: Buffer, i: number): Buffer {
  const b = Buffer.from(base);
  b.writeUInt32BE(i, 0);
  return b;
}
function recordingStream(base: Buffer): Readable {
  let i = 0;
  return new Readable({
    read() {
      this.push(i < SIZE / BLOCK ? blockAt(base, i++) : null);
    },
  });
}
function expectedSha256(base: Buffer): string {
  const h = createHash('sha256');
  for (let i = 0; i < SIZE / BLOCK; i++) h.update(blockAt(base, i));
  return h.digest('hex');
}

// -- the fake's process ------------------------------------------------------------------------

interface FakeInfo {
  [key: string]: string | number;
}

async function runFake(name: ProviderName): Promise<void> {
  let info: FakeInfo = {};
  let digest: () => Promise<Array<{ path: string; bytes: number; sha256: string }>> = async () => [];
  let close: () => Promise<void> = async () => undefined;
  const hashOf = (data: Buffer) => createHash('sha256').update(data).digest('hex');
  if (name === 'dropbox') {
    const fake = await load.fakeDropbox().startFakeDropbox();
    info = { url: fake.url, clientId: fake.appKey, refreshToken: fake.issueRefreshToken() };
    digest = async () =>
      fake.files().map((f) => ({ path: f.path, bytes: f.data.length, sha256: hashOf(f.data) }));
    close = fake.close;
  } else if (name === 'box') {
    const fake = await load.fakeBox().startFakeBox({ partSize: 8 * 1024 * 1024 });
    info = {
      url: fake.url,
      clientId: fake.clientId,
      clientSecret: fake.clientSecret,
      refreshToken: fake.issueRefreshToken(),
    };
    digest = async () =>
      fake.files().map((f) => ({ path: f.path, bytes: f.data.length, sha256: hashOf(f.data) }));
    close = fake.close;
  } else if (name === 'gdrive') {
    const fake = await load.fakeDrive().startFakeDrive();
    info = {
      url: fake.url,
      clientId: fake.clientId,
      clientSecret: fake.clientSecret,
      refreshToken: fake.issueRefreshToken(),
    };
    digest = async () =>
      fake.files().map((f) => ({ path: f.path, bytes: f.data.length, sha256: hashOf(f.data) }));
    close = fake.close;
  } else if (name === 's3') {
    const { GetObjectCommand, ListObjectsV2Command, S3Client } = load.s3Client();
    const fake = await load.fakeS3().startS3();
    info = {
      url: fake.url,
      bucket: fake.bucket,
      accessKeyId: fake.accessKeyId,
      secretAccessKey: fake.secretAccessKey,
    };
    const client = new S3Client({
      endpoint: fake.directUrl,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: fake.accessKeyId, secretAccessKey: fake.secretAccessKey },
    });
    digest = async () => {
      const out = [];
      const listed = await client.send(new ListObjectsV2Command({ Bucket: fake.bucket }));
      for (const o of listed.Contents ?? []) {
        const got = await client.send(new GetObjectCommand({ Bucket: fake.bucket, Key: o.Key! }));
        const h = createHash('sha256');
        let bytes = 0;
        for await (const chunk of got.Body as Readable) {
          h.update(chunk as Buffer);
          bytes += (chunk as Buffer).length;
        }
        out.push({ path: o.Key!, bytes, sha256: h.digest('hex') });
      }
      return out;
    };
    close = async () => {
      client.destroy();
      await fake.close();
    };
  } else if (name === 'smarsh') {
    const fake = await load.fakeSmtp().startSmtp();
    info = { port: fake.port, user: fake.requireAuth.user, pass: fake.requireAuth.pass };
    // A 1 GiB attachment is 1.4 GB of base64 in one e-mail: the size of what arrived is shown,
    // the bytes are checked by the hash the adapter computed of what it sent.
    digest = async () =>
      fake.messages.map((m, i) => ({ path: `message ${i + 1}`, bytes: m.length, sha256: '' }));
    close = fake.close;
  }
  process.send!({ ready: info });
  process.on('message', (msg: { cmd: string }) => {
    if (msg.cmd === 'digest') void digest().then((files) => process.send!({ files }));
    if (msg.cmd === 'close') void close().then(() => process.exit(0));
  });
}

// -- the measured process ----------------------------------------------------------------------

interface Result {
  provider: ProviderName;
  baselineMb: number;
  peakMb: number;
  seconds: number;
  ok: boolean;
  note: string;
}

function serve(base: Buffer): Promise<{ server: Server; url: string }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'audio/mpeg', 'Content-Length': String(SIZE) });
    recordingStream(base).pipe(res);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({
        server,
        url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/recording`,
      });
    }),
  );
}

async function runMeasured(name: ProviderName): Promise<void> {
  const base = baseBlock();
  const mb = (n: number) => Math.round((n / 1024 / 1024) * 10) / 10;
  let peak = process.memoryUsage().rss;
  const baseline = peak;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);

  const fakeProc =
    name === 'null' || name === 'folder'
      ? undefined
      : fork(__filename, ['fake', name], { stdio: 'inherit', execArgv: process.execArgv });
  const info: FakeInfo = fakeProc
    ? await new Promise((resolve) => fakeProc.once('message', (m: { ready: FakeInfo }) => resolve(m.ready)))
    : {};
  const ask = <T>(cmd: string): Promise<T> =>
    new Promise((resolve) => {
      fakeProc!.once('message', (m: T) => resolve(m));
      fakeProc!.send({ cmd });
    });
  const keeper = (clientSecret?: string) => {
    let tokens: OAuthTokens = {
      accessToken: '',
      refreshToken: String(info.refreshToken),
    };
    return {
      client: { clientId: String(info.clientId), clientSecret, endpoint: String(info.url) },
      current: () => tokens,
      save: (t: OAuthTokens) => {
        tokens = t;
      },
    };
  };

  const dir = mkdtempSync(join(os.tmpdir(), 'rc-bench-'));
  let storage: StorageAdapter;
  let note = '';
  if (name === 'null') {
    storage = {
      provider: 'null',
      async put(relPath, body) {
        const { sha256, bytes } = await hashReadable(body);
        return { path: relPath, bytes, sha256, alreadyPresent: false };
      },
      stat: async () => undefined,
      check: async () => undefined,
      close: async () => undefined,
    };
  } else if (name === 'folder') {
    storage = new FolderStorage(dir);
  } else if (name === 'dropbox') {
    storage = new (load.dropbox().DropboxStorage)({
      keeper: keeper(),
      root: '/Archive',
      endpoint: String(info.url),
    });
  } else if (name === 'box') {
    storage = new (load.box().BoxStorage)({
      auth: { kind: 'oauth', keeper: keeper(String(info.clientSecret)) },
      rootPath: 'Archive',
      endpoint: String(info.url),
    });
  } else if (name === 'gdrive') {
    storage = new (load.gdrive().DriveStorage)({
      auth: { kind: 'oauth', keeper: keeper(String(info.clientSecret)) },
      rootPath: 'Archive',
      endpoint: String(info.url),
    });
  } else if (name === 's3') {
    storage = new (load.s3().S3Storage)({
      bucket: String(info.bucket),
      prefix: 'Archive/',
      endpoint: String(info.url),
      forcePathStyle: true,
      accessKeyId: String(info.accessKeyId),
      secretAccessKey: String(info.secretAccessKey),
    });
  } else {
    storage = new (load.smarsh().SmarshStorage)({
      host: '127.0.0.1',
      port: Number(info.port),
      user: String(info.user),
      password: String(info.pass),
      from: 'archiver@example.com',
      to: 'journal@smarsh.example',
      // Raised for the benchmark only: a real relay refuses a message this large.
      maxBytes: 2 * SIZE,
    });
    note = 'size limit raised to 2 GiB for this run';
  }

  const { server, url } = await serve(base);
  const fetcher = {
    async openContent(uri: string, options?: { signal?: AbortSignal }) {
      const res = await fetch(uri, { signal: options?.signal });
      return {
        body: Readable.fromWeb(res.body as ReadableStream),
        contentType: res.headers.get('content-type') ?? undefined,
        contentLength: Number(res.headers.get('content-length')) || undefined,
      };
    },
  };
  const ledger = Ledger.openMemory();
  const item = {
    key: 'CallRecording:bench-1gib',
    kind: 'CallRecording' as const,
    accountId: '1',
    extensionNumber: '101',
    ownerName: 'Bench',
    direction: 'Inbound' as const,
    createdAt: new Date().toISOString(),
    fileName: 'bench-1gib.mp3',
    contentType: 'audio/mpeg',
    size: SIZE,
    content: { uri: url },
    record: { id: 'bench-1gib' },
    rc: 'bench',
  };
  ledger.recordFound([item], 'bench');
  const started = process.hrtime.bigint();
  const receipt = await archiveItem(item, {
    fetcher,
    storage,
    ledger,
    sinkName: 'bench',
    template: DEFAULT_TEMPLATE,
    timeZone: 'UTC',
    sidecar: name !== 'smarsh',
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  clearInterval(sampler);
  peak = Math.max(peak, process.resourceUsage().maxRSS * 1024);

  const expected = expectedSha256(base);
  let ok = receipt.sha256 === expected && receipt.bytes === SIZE;
  if (fakeProc) {
    const { files } = await ask<{ files: Array<{ path: string; bytes: number; sha256: string }> }>('digest');
    const stored = files.find((f) => f.bytes >= SIZE);
    if (name === 'smarsh') ok = ok && !!stored;
    else ok = ok && stored?.sha256 === expected && stored.bytes === SIZE;
    fakeProc.send({ cmd: 'close' });
  } else if (name === 'folder') {
    ok = ok && (await hashReadable(createReadStream(join(dir, receipt.path)))).sha256 === expected;
  }
  server.close();
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
  const result: Result = { provider: name, baselineMb: mb(baseline), peakMb: mb(peak), seconds, ok, note };
  process.send!(result);
  process.exit(0);
}

// -- the parent ----------------------------------------------------------------------------------

/**
 * The measured code runs as users run it: bundled JavaScript (as build.mjs bundles the nodes), in
 * a plain `node` without the TypeScript loader this script starts under.
 */
async function bundle(): Promise<string> {
  const esbuild = require('esbuild') as typeof import('esbuild'); // eslint-disable-line @typescript-eslint/no-require-imports
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
  };
  // Inside node_modules, so the bundle resolves the pack's dependencies as an installed node does.
  const outfile = join(__dirname, '..', 'node_modules', '.cache', 'rc-bench', 'storage-memory.js');
  await esbuild.build({
    entryPoints: [__filename],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: [...Object.keys(pkg.dependencies), ...Object.keys(pkg.devDependencies)],
    logLevel: 'warning',
  });
  return outfile;
}

let script = __filename;
let execArgv = process.execArgv;

function measure(name: ProviderName): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = fork(script, ['measure', name], { stdio: 'inherit', execArgv });
    child.once('message', (m: Result) => resolve(m));
    child.once('exit', (code) => (code ? reject(new Error(`${name}: exited ${code}`)) : undefined));
  });
}

async function main(): Promise<void> {
  script = await bundle();
  execArgv = [];
  const results: Result[] = [];
  // BENCH_PROVIDERS=s3,box measures a few (the null floor is always measured).
  const only = process.env.BENCH_PROVIDERS?.split(',').map((p) => p.trim());
  for (const name of providers.filter((p) => !only || p === 'null' || only.includes(p))) {
    process.stdout.write(`${name}: archiving 1 GiB… `);
    const r = await measure(name);
    results.push(r);
    console.log(
      `peak ${r.peakMb} MB (baseline ${r.baselineMb} MB), ${r.seconds.toFixed(1)} s, ${r.ok ? 'bytes verified' : 'BYTES WRONG'}`,
    );
  }
  const floor = results.find((r) => r.provider === 'null')!;
  const over = (r: Result) => Math.round((r.peakMb - r.baselineMb) * 10) / 10;
  const rows = results.map(
    (r) =>
      `| ${r.provider} | ${r.peakMb} | ${r.baselineMb} | ${over(r)} | ${(r.peakMb / floor.peakMb).toFixed(2)} | ${r.seconds.toFixed(1)} | ${Math.round(1024 / r.seconds)} | ${r.peakMb < 200 ? 'yes' : 'NO'} | ${r.ok ? 'yes' : 'NO'}${r.note ? ` (${r.note})` : ''} |`,
  );
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const section = [
    '## Peak memory archiving a 1 GiB recording',
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} on ${cpu}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, with \`npm run bench\` (bench/storage-memory.ts).`,
    '',
    'Each row is a fresh `node` process running the bundled JavaScript (as Node-RED runs the nodes) that downloads a 1 GiB recording over HTTP on 127.0.0.1 and archives it with `archiveItem()` (the sink pipeline: SHA-256 on the way, the JSON sidecar, the ledger) through the adapter with its production chunk sizes, into the provider fake running in another process. Peak is the largest resident set (RSS) of the measuring process; *null* hashes the download and drops it, the floor for the ratio. Target: under 200 MB.',
    '',
    '| provider | peak RSS MB | baseline MB | peak − baseline MB | ratio to null | seconds | MB/s | under 200 MB | bytes verified |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
  if (results.some((r) => !r.ok)) process.exitCode = 1;
  if (only) {
    console.log(rows.join('\n'));
    return; // a partial run does not replace the table
  }
  const file = join(__dirname, '..', 'BENCHMARKS.md');
  const head =
    '# Benchmarks\n\nNumbers from the benchmarks in `bench/`, each with the command that produced them.\n\n';
  let text = existsSync(file) ? readFileSync(file, 'utf8') : head;
  const start = text.indexOf('## Peak memory archiving a 1 GiB recording');
  if (start >= 0) {
    const next = text.indexOf('\n## ', start + 3);
    text = text.slice(0, start) + section + (next >= 0 ? text.slice(next + 1) : '');
  } else text = text.trimEnd() + '\n\n' + section;
  writeFileSync(file, text);
  console.log(`written to ${file}`);
}

const [role, name] = process.argv.slice(2);
if (role === 'fake') void runFake(name as ProviderName);
else if (role === 'measure') void runMeasured(name as ProviderName);
else void main();
