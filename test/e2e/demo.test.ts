// `npm start` as a newcomer runs it: call-log records and recordings arrive in the demo's archive
// folder within a minute, as the source's label says, and Ctrl+C stops everything.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { root } from '../support/node-red';
import { freePort, removeDir } from '../support/node-red-process';

function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true }).map(String);
}
const recordings = (dir: string) => files(dir).filter((f) => /\.(mp3|wav)$/.test(f));
/** The call-log records themselves, not the sidecars beside recordings. */
const callLogRecords = (dir: string) => files(dir).filter((f) => /(^|\/)Call Log\/[^/]+\.json$/.test(f));

describe('npm start', { timeout: 180_000 }, () => {
  it('shows the editor and archives call-log records and recordings into .demo/archive within a minute', async () => {
    const demoDir = mkdtempSync(join(tmpdir(), 'rc-archiver-demo-'));
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'scripts', 'demo.ts')], {
      cwd: root,
      env: { ...process.env, PORT: String(port), RC_DEMO_DIR: demoDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const started = Date.now();
      while (!output.includes('Node-RED editor:')) {
        if (child.exitCode !== null || Date.now() - started > 60_000)
          assert.fail(`demo did not start:\n${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const editor = await fetch(`http://127.0.0.1:${port}/`);
      assert.equal(editor.status, 200, 'the editor answers');
      const shown = Date.now();
      const archive = join(demoDir, 'archive');
      while (recordings(archive).length === 0 || callLogRecords(archive).length === 0) {
        if (Date.now() - shown > 60_000)
          assert.fail(
            `within a minute ${recordings(archive).length} recordings, ${callLogRecords(archive).length} call-log records:\n${output.slice(-3000)}`,
          );
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      child.kill('SIGINT');
      const code = await exited;
      removeDir(demoDir);
      assert.equal(code, 0, `the demo stops cleanly on Ctrl+C:\n${output.slice(-2000)}`);
    }
  });
});
