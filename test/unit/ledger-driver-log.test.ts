// What a Node-RED user sees of the ledger's SQLite driver: one log line naming it, and no
// ExperimentalWarning from Node when the driver is the built-in node:sqlite.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { openLedger } from '../../nodes/shared/ledger';
import type { RED } from '../../nodes/shared/red';

const root = resolve(__dirname, '../..');
const tmp = mkdtempSync(join(tmpdir(), 'rc-ledger-driver-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const hasNodeSqlite = spawnSync(process.execPath, ['-e', "require('node:sqlite')"]).status === 0;

/** Runs `code` in a fresh Node (with tsx, from the project root) and returns what it printed. */
function runChild(code: string, env: Record<string, string> = {}): { stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '', ...env },
  });
  assert.equal(res.status, 0, res.stderr);
  return { stdout: res.stdout, stderr: res.stderr };
}

describe('ledger driver, as the user sees it', () => {
  it('logs once per ledger file which SQLite driver it uses', () => {
    const lines: string[] = [];
    const red = {
      settings: { userDir: tmp },
      _: (key: string) => key,
      log: { info: (m: string) => lines.push(m), warn: () => undefined, error: () => undefined },
    } as unknown as RED;
    const a = openLedger(red);
    const b = openLedger(red);
    try {
      assert.equal(lines.length, 1, lines.join('\n'));
      assert.match(lines[0], /uses SQLite through (better-sqlite3|node:sqlite)$/);
      assert.ok(lines[0].includes(join(tmp, 'rc-archiver', 'ledger.sqlite')), lines[0]);
    } finally {
      a.close();
      b.close();
    }
  });

  it(
    'node:sqlite loads without the ExperimentalWarning; other warnings still show',
    { skip: hasNodeSqlite ? false : `Node ${process.version} has no node:sqlite` },
    () => {
      // Without the ledger in between, this Node does print the warning: the check below means something.
      const bare = runChild("require('node:sqlite')");
      assert.match(bare.stderr, /ExperimentalWarning: SQLite is an experimental feature/);

      const { stdout, stderr } = runChild(
        [
          "const { Ledger } = require('./lib/ledger');",
          'const ledger = Ledger.openMemory();',
          'console.log(ledger.driver);',
          'ledger.close();',
          "process.emitWarning('another feature is experimental', 'ExperimentalWarning');",
          "process.emitWarning('something else', 'DeprecationWarning');",
        ].join('\n'),
        { RC_ARCHIVER_SQLITE: 'node' },
      );
      assert.equal(stdout.trim(), 'node:sqlite');
      assert.doesNotMatch(stderr, /SQLite is an experimental feature/);
      assert.match(stderr, /ExperimentalWarning: another feature is experimental/);
      assert.match(stderr, /DeprecationWarning: something else/);
    },
  );
});
