// The pack as a user gets it: `npm pack`, installed with npm into a fresh Node-RED user
// directory, loaded by a real Node-RED with every node type registered and no load error.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { root } from '../support/node-red';
import { removeDir, startNodeRed, type NodeRedProcess } from '../support/node-red-process';

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string;
  'node-red': { nodes: Record<string, string> };
};

/**
 * A user's npm gets better-sqlite3's binary as a prebuilt download (prebuild-install); this machine
 * reaches no download host, so without one the install compiles SQLite from source for a minute.
 * prebuild-install also takes its prebuilt archive from a local folder: the tree's own binary, built
 * by npm ci from the same version for this Node, packed under the name a download would have. It is
 * used only when the install resolves that same version for this Node's ABI; else the build runs.
 */
function localSqlitePrebuild(work: string): Record<string, string> {
  const moduleDir = join(root, 'node_modules', 'better-sqlite3');
  const binary = join(moduleDir, 'build', 'Release', 'better_sqlite3.node');
  if (!existsSync(binary)) return {};
  const { version } = JSON.parse(readFileSync(join(moduleDir, 'package.json'), 'utf8')) as {
    version: string;
  };
  const folder = join(work, 'prebuilds');
  mkdirSync(folder, { recursive: true });
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  execFileSync('tar', ['-czf', join(folder, name), '-C', moduleDir, 'build/Release/better_sqlite3.node']);
  return { npm_config_better_sqlite3_local_prebuilds: folder };
}

describe('install into a fresh Node-RED user directory', { timeout: 600_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), 'rc-archiver-install-'));
  let red: NodeRedProcess | undefined;
  after(async () => {
    await red?.kill();
    removeDir(work);
  });

  it('npm install of the packed tarball builds, and Node-RED loads every node', async () => {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const packed = execFileSync(npm, ['pack', '--silent', '--ignore-scripts', '--pack-destination', work], {
      cwd: root,
      encoding: 'utf8',
    })
      .trim()
      .split('\n')
      .pop()!;
    const userDir = join(work, 'node-red');
    execFileSync('mkdir', ['-p', userDir]);
    writeFileSync(join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true }));
    // As Node-RED's palette manager does: production dependencies only.
    execFileSync(
      npm,
      ['install', '--no-audit', '--no-fund', '--omit=dev', '--loglevel=error', join(work, packed)],
      {
        cwd: userDir,
        stdio: 'inherit',
        env: { ...process.env, ...localSqlitePrebuild(work) },
      },
    );
    writeFileSync(join(userDir, 'flows.json'), '[]');
    writeFileSync(
      join(userDir, 'settings.js'),
      "module.exports = { uiHost: '127.0.0.1', flowFile: 'flows.json', credentialSecret: false, editorTheme: { tours: false } };\n",
    );
    red = await startNodeRed({ userDir });
    const res = await fetch(`${red.url}/nodes`, { headers: { Accept: 'application/json' } });
    assert.equal(res.status, 200);
    const sets = (await res.json()) as Array<{
      module: string;
      types: string[];
      enabled: boolean;
      err?: string;
    }>;
    const ours = sets.filter((s) => s.module === pkg.name);
    assert.ok(ours.length > 0, `the pack is listed:\n${red.output().slice(-2000)}`);
    for (const set of ours) assert.equal(set.err, undefined, `${set.types.join(',')} loaded without error`);
    const types = ours.flatMap((s) => s.types).sort();
    assert.deepEqual(types, Object.keys(pkg['node-red'].nodes).sort());
    // What the editor loads: every node's dialog and registration, its help and its messages.
    const html = await (await fetch(`${red.url}/nodes`, { headers: { Accept: 'text/html' } })).text();
    for (const type of Object.keys(pkg['node-red'].nodes)) {
      assert.ok(html.includes(`RED.nodes.registerType("${type}"`), `${type} registers in the editor`);
      assert.ok(html.includes(`data-help-name="${type}"`), `${type} has help`);
      const messages: Response = await fetch(`${red.url}/locales/${pkg.name}/${type}?lng=en-US`);
      assert.equal(messages.status, 200);
      const catalog = (await messages.json()) as Record<string, unknown>;
      assert.ok(catalog[type], `${type} has en-US messages`);
    }
    const example = await fetch(`${red.url}/library/examples/flows/${pkg.name}/half-hourly-archiver`);
    assert.equal(example.status, 200, 'the example is offered under Import > Examples');
    const flow = (await example.json()) as Array<{ type: string }>;
    assert.ok(
      flow.some((n) => n.type === 'rc-call-log-source'),
      'the example flow has the source',
    );
    // Every example imports into a palette that has all its node types.
    const known = new Set([...types, 'tab', 'inject', 'debug', 'catch', 'function', 'comment']);
    for (const file of readdirSync(join(root, 'examples')).filter((f) => f.endsWith('.json'))) {
      const name = file.replace(/\.json$/, '');
      const res: Response = await fetch(`${red.url}/library/examples/flows/${pkg.name}/${name}`);
      assert.equal(res.status, 200, `${name} is offered under Import > Examples`);
      for (const node of (await res.json()) as Array<{ type: string }>) {
        assert.ok(known.has(node.type), `${name}: ${node.type} is a node type this install has`);
      }
    }
  });
});
