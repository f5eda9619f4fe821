// What build.mjs makes of lib/ and nodes/shared/: one core file per source file (dist/lib,
// dist/shared), which every node bundle and the sidebar plugin require instead of carrying a copy,
// so Node loads each once per process. Reads the dist/ that the test run built.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { root } from '../support/node-red';

const dist = join(root, 'dist');

function filesUnder(dir: string, suffix: string): string[] {
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith(suffix))
    .map((f) => join(dir, f))
    .sort();
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  'node-red': { nodes: Record<string, string>; plugins: Record<string, string> };
};
/** What Node-RED loads: every node's and plugin's file as package.json lists it. */
const entries = [...Object.values(pkg['node-red'].nodes), ...Object.values(pkg['node-red'].plugins)].map(
  (file) => join(root, file),
);
const distJs = filesUnder(dist, '.js');
const coreSources = [
  ...filesUnder(join(root, 'lib'), '.ts').map((f) => ({
    src: f,
    out: join(dist, 'lib', relative(join(root, 'lib'), f)),
  })),
  ...filesUnder(join(root, 'nodes', 'shared'), '.ts')
    .filter((f) => !f.endsWith('-editor.ts'))
    .map((f) => ({ src: f, out: join(dist, 'shared', relative(join(root, 'nodes', 'shared'), f)) })),
].map(({ src, out }) => ({ src: relative(root, src), out: out.replace(/\.ts$/, '.js') }));

/** The relative paths a built file requires. */
function requiresOf(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(/require\("(\.{1,2}\/[^"]+)"\)/g)].map((m) => m[1]);
}

describe('the built pack: one core, thin node bundles', () => {
  it('builds every file of lib/ and nodes/shared/ once, into its own core file', () => {
    assert.ok(coreSources.length > 40, `${coreSources.length} core sources`);
    for (const { src, out } of coreSources) {
      assert.ok(existsSync(out), `${out} built from ${src}`);
      // esbuild marks each module it puts in a file with its source path.
      const holders = distJs.filter((f) => readFileSync(f, 'utf8').includes(`\n// ${src}\n`));
      assert.deepEqual(
        holders.map((f) => relative(root, f)),
        [relative(root, out)],
        `${src} is in exactly one built file`,
      );
    }
  });

  it('has one copy of a distinctive function of lib/ in all of dist/', () => {
    const holders = distJs.filter((f) => readFileSync(f, 'utf8').includes('function redactSecrets('));
    assert.deepEqual(
      holders.map((f) => relative(root, f)),
      ['dist/lib/ringcentral/errors.js'],
    );
  });

  it('makes each node bundle and the plugin only its own code, requiring the core', () => {
    assert.ok(entries.length > 20, `${entries.length} node and plugin files`);
    for (const file of entries) {
      const text = readFileSync(file, 'utf8');
      const sources = [...text.matchAll(/^\/\/ (\S+\.(?:ts|json))$/gm)].map((m) => m[1]);
      // dist/nodes/<type>/<type>.js is built from nodes/<type>/, a plugin's from plugins/<name>/.
      const ownFolder = relative(dist, dirname(file));
      const own = (src: string) => src.startsWith(`${ownFolder}/`);
      assert.ok(sources.length > 0, `${file} names its sources`);
      assert.deepEqual(
        sources.filter((s) => !own(s)),
        [],
        `${relative(root, file)} bundles only files of its own folder`,
      );
      const required = requiresOf(file).map((r) => relative(root, resolve(dirname(file), r)));
      assert.ok(
        required.some((r) => r.startsWith('dist/lib/') || r.startsWith('dist/shared/')),
        `${relative(root, file)} requires the core: ${required.join(', ')}`,
      );
      // A bundle with lib/ inside was 40–90 KB; its own runtime is a few KB.
      assert.ok(text.length < 32_000, `${relative(root, file)} is ${text.length} bytes`);
    }
  });

  it('resolves every require between built files to a file that exists', () => {
    for (const file of distJs) {
      for (const r of requiresOf(file)) {
        const target = resolve(dirname(file), r);
        assert.ok(
          existsSync(target) || existsSync(`${target}.js`) || existsSync(join(target, 'index.js')),
          `${relative(root, file)} requires ${r}`,
        );
      }
    }
  });
});
