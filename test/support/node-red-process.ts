import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { nodeRedDir, root } from './node-red';

export interface NodeRedProcess {
  url: string;
  port: number;
  userDir: string;
  child: ChildProcess;
  /** Everything the process printed so far. */
  output(): string;
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * Prepares a Node-RED user directory with this pack installed the way a user has it (a package
 * under node_modules, here a link to the built checkout) and the given flow. `extraSettings` is
 * JavaScript for more settings.js properties (e.g. `adminAuth: {…},`).
 */
export function prepareUserDir(userDir: string, flows: unknown[], extraSettings = ''): void {
  mkdirSync(join(userDir, 'node_modules', '@rcarchiver'), { recursive: true });
  const link = join(userDir, 'node_modules', '@rcarchiver', 'node-red-ringcentral-archiver');
  if (!existsSync(link)) symlinkSync(root, link, 'dir');
  writeFileSync(join(userDir, 'flows.json'), JSON.stringify(flows, null, 2));
  writeFileSync(
    join(userDir, 'settings.js'),
    `module.exports = {
  uiHost: '127.0.0.1',
  flowFile: 'flows.json',
  credentialSecret: false,
  flowFilePretty: true,
  logging: { console: { level: 'info', metrics: false, audit: false } },
  editorTheme: { tours: false, projects: { enabled: false } },
  externalModules: { autoInstall: false, palette: { allowInstall: false } },
  diagnostics: { enabled: false },
  telemetry: { enabled: false },
${extraSettings}
};
`,
  );
}

export async function startNodeRed(options: {
  userDir: string;
  env?: Record<string, string>;
  port?: number;
  readyTimeoutMs?: number;
}): Promise<NodeRedProcess> {
  const port = options.port ?? (await freePort());
  const redJs = join(nodeRedDir(), 'red.js');
  const child = spawn(
    process.execPath,
    [
      redJs,
      '--userDir',
      options.userDir,
      '--settings',
      join(options.userDir, 'settings.js'),
      '--port',
      String(port),
    ],
    { env: { ...process.env, ...options.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    out += chunk.toString();
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const waitForOutput = (pattern: RegExp, timeoutMs = 60_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (pattern.test(out)) {
          listeners.delete(check);
          clearTimeout(timer);
          resolve();
        } else if (child.exitCode !== null) {
          listeners.delete(check);
          clearTimeout(timer);
          reject(new Error(`node-red exited (${child.exitCode}) before ${pattern}:\n${out.slice(-4000)}`));
        }
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`timed out waiting for ${pattern} from node-red:\n${out.slice(-4000)}`));
      }, timeoutMs);
      listeners.add(check);
      child.once('exit', check);
      check();
    });

  await waitForOutput(/Started flows|Server now running/, options.readyTimeoutMs ?? 60_000);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    userDir: options.userDir,
    child,
    output: () => out,
    waitForOutput,
    async stop() {
      if (child.exitCode === null) child.kill('SIGINT');
      await exited;
    },
    async kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** The password of every editor user that `editorUsersSetting` defines. */
export const EDITOR_PASSWORD = 'secret-pass';

/**
 * A settings.js `adminAuth` with two editor users: `admin` (every permission) and `viewer`
 * (read only), both with EDITOR_PASSWORD; for `prepareUserDir`'s extra settings.
 */
export function editorUsersSetting(): string {
  const bcrypt = require('bcryptjs') as { hashSync(password: string, rounds: number): string };
  const hash = bcrypt.hashSync(EDITOR_PASSWORD, 8);
  return `adminAuth: { type: 'credentials', users: [
    { username: 'admin', password: '${hash}', permissions: '*' },
    { username: 'viewer', password: '${hash}', permissions: 'read' },
  ] },`;
}

/** Logs in as an editor user (see editorUsersSetting) and returns the admin API's bearer token. */
export async function editorToken(url: string, username: 'admin' | 'viewer'): Promise<string> {
  const res = await fetch(`${url}/auth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      client_id: 'node-red-admin',
      grant_type: 'password',
      scope: username === 'admin' ? '*' : 'read',
      username,
      password: EDITOR_PASSWORD,
    }),
  });
  if (res.status !== 200) throw new Error(`${username} could not log in to the editor: ${res.status}`);
  return ((await res.json()) as { access_token: string }).access_token;
}
