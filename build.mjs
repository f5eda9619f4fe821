// Builds the pack: lib/ and nodes/shared/ once, as one CommonJS file per source file in dist/lib
// and dist/shared (the core); one bundle per node holding only its own runtime, which requires the
// core (dependencies stay external); and one .html per node with its edit dialog, registerType call
// and help, plus locales and icons beside each bundle. `tsc --noEmit` runs first and fails the build.
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, 'dist');
const args = new Set(process.argv.slice(2));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

function typecheck() {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '--noEmit', '-p', root], { stdio: 'inherit' });
  if (result.status !== 0) {
    console.error('build: tsc --noEmit failed');
    process.exit(1);
  }
}

const external = [
  ...Object.keys(pkg.dependencies ?? {}),
  ...Object.keys(pkg.peerDependencies ?? {}),
  'node-red',
];

function nodeTypes() {
  return readdirSync(join(root, 'nodes'), { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(root, 'nodes', d.name, 'runtime.ts')))
    .map((d) => d.name)
    .sort();
}

/**
 * The core: source folders built file by file, so that Node's module cache loads each once per
 * process however many node bundles require it. Their state (the ledger's connections, the event
 * bus, the route registries) is then the process's, and their error classes are the same classes
 * everywhere. Editor-only files stay out: they run in the browser.
 */
const coreFolders = [
  { src: join(root, 'lib'), out: join(dist, 'lib') },
  { src: join(root, 'nodes', 'shared'), out: join(dist, 'shared') },
];

function isCoreSource(file) {
  return file.endsWith('.ts') && !file.endsWith('.d.ts') && !file.endsWith('-editor.ts');
}

/** Where the core file built from `file` goes, or undefined when `file` is not in the core. */
function coreOutput(file) {
  if (!isCoreSource(file)) return undefined;
  for (const { src, out } of coreFolders) {
    const rel = relative(src, file);
    if (!rel.startsWith('..') && !rel.startsWith(sep)) return join(out, rel.replace(/\.ts$/, '.js'));
  }
  return undefined;
}

function coreSources() {
  return coreFolders.flatMap(({ src }) =>
    existsSync(src)
      ? readdirSync(src, { recursive: true })
          .map((f) => join(src, String(f)))
          .filter((f) => isCoreSource(f) && statSync(f).isFile())
          .sort()
      : [],
  );
}

/** The TypeScript file a relative import names, as TypeScript resolves it. */
function resolveTs(resolveDir, path) {
  const base = join(resolveDir, path.replace(/\.js$/, ''));
  for (const file of [`${base}.ts`, join(base, 'index.ts')]) {
    if (existsSync(file) && statSync(file).isFile()) return file;
  }
  return undefined;
}

/**
 * Leaves every import of a core file (other than the one being built) to a `require` of its
 * built file, relative to `outfile`, instead of bundling a copy of it.
 */
function requireCore(outfile, self) {
  return {
    name: 'require-core',
    setup(build) {
      build.onResolve({ filter: /^\.\.?\// }, (args) => {
        const file = resolveTs(args.resolveDir, args.path);
        const built = file && file !== self ? coreOutput(file) : undefined;
        if (!built) return undefined;
        let path = relative(dirname(outfile), built).split(sep).join('/');
        if (!path.startsWith('.')) path = `./${path}`;
        return { path, external: true };
      });
    },
  };
}

function buildJs(entry, outfile, extra = {}) {
  return esbuild.build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external,
    logLevel: 'warning',
    // Module comments in the output name sources relative to the project, wherever the build runs.
    absWorkingDir: root,
    plugins: [requireCore(outfile, entry)],
    ...extra,
  });
}

function bundleRuntime(entry, outfile) {
  // Node-RED calls the module's export with RED.
  return buildJs(entry, outfile, {
    footer: { js: 'module.exports = module.exports.default || module.exports;' },
  });
}

async function buildCore() {
  const files = coreSources();
  await Promise.all(files.map((file) => buildJs(file, coreOutput(file))));
  return files.length;
}

async function bundleEditor(entry) {
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    platform: 'browser',
    format: 'iife',
    target: 'es2018',
    logLevel: 'warning',
  });
  return result.outputFiles[0].text;
}

/** `<!-- include shared/name.html -->` in a node's HTML pulls in a fragment shared by several nodes. */
function withIncludes(html, type) {
  return html.replace(/<!-- include ([\w./-]+) -->/g, (_m, file) =>
    readFileSync(join(root, 'nodes', file), 'utf8')
      .trim()
      .replaceAll('__TYPE__', type),
  );
}

function checkRegistration(type, editorJs) {
  // The Flow Library reads the registration statically: the object must be inline, with these
  // properties written as literals.
  const start = editorJs.indexOf(`RED.nodes.registerType("${type}", {`);
  if (start < 0)
    throw new Error(`${type}: editor.ts must call RED.nodes.registerType('${type}', {…}) inline`);
  const head = editorJs.slice(start, start + 4000);
  const isConfig = /\bcategory: "config"/.test(head);
  for (const prop of isConfig ? ['category'] : ['category', 'color', 'icon', 'inputs', 'outputs']) {
    const literal = new RegExp(`\\b${prop}: (?:"[^"]*"|\\d+)`);
    if (!literal.test(head)) throw new Error(`${type}: '${prop}' must be a literal in registerType`);
  }
}

async function buildNode(type) {
  const srcDir = join(root, 'nodes', type);
  const outDir = join(dist, 'nodes', type);
  mkdirSync(outDir, { recursive: true });

  await bundleRuntime(join(srcDir, 'runtime.ts'), join(outDir, `${type}.js`));
  const editorJs = await bundleEditor(join(srcDir, 'editor.ts'));
  checkRegistration(type, editorJs);

  const template = withIncludes(readFileSync(join(srcDir, 'editor.html'), 'utf8'), type).trim();
  const html = [
    `<script type="text/javascript">\n${editorJs}</script>`,
    `<script type="text/html" data-template-name="${type}">\n${template}\n</script>`,
    '',
  ].join('\n\n');
  writeFileSync(join(outDir, `${type}.html`), html);

  const locales = join(srcDir, 'locales');
  if (!existsSync(join(locales, 'en-US', `${type}.json`)))
    throw new Error(`${type}: locales/en-US/${type}.json missing`);
  if (!existsSync(join(locales, 'en-US', `${type}.html`)))
    throw new Error(`${type}: locales/en-US/${type}.html (help) missing`);
  cpSync(locales, join(outDir, 'locales'), { recursive: true });
  const help = join(outDir, 'locales', 'en-US', `${type}.html`);
  writeFileSync(help, withIncludes(readFileSync(help, 'utf8'), type));
  cpSync(join(root, 'icons'), join(outDir, 'icons'), { recursive: true });
}

async function buildPlugins() {
  const pluginsDir = join(root, 'plugins');
  if (!existsSync(pluginsDir)) return [];
  const names = readdirSync(pluginsDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(pluginsDir, d.name, 'runtime.ts')))
    .map((d) => d.name);
  for (const name of names) {
    const srcDir = join(pluginsDir, name);
    const outDir = join(dist, 'plugins', name);
    mkdirSync(outDir, { recursive: true });
    await bundleRuntime(join(srcDir, 'runtime.ts'), join(outDir, `${name}.js`));
    const editorJs = await bundleEditor(join(srcDir, 'editor.ts'));
    const extra = existsSync(join(srcDir, 'editor.html'))
      ? readFileSync(join(srcDir, 'editor.html'), 'utf8')
      : '';
    writeFileSync(
      join(outDir, `${name}.html`),
      `<script type="text/javascript">\n${editorJs}</script>\n${extra}`,
    );
    if (existsSync(join(srcDir, 'locales')))
      cpSync(join(srcDir, 'locales'), join(outDir, 'locales'), { recursive: true });
  }
  return names;
}

function checkManifest(types, plugins) {
  const declared = pkg['node-red']?.nodes ?? {};
  const expected = Object.fromEntries(types.map((t) => [t, `dist/nodes/${t}/${t}.js`]));
  for (const [t, file] of Object.entries(expected)) {
    if (declared[t] !== file) throw new Error(`package.json node-red.nodes must list "${t}": "${file}"`);
  }
  for (const t of Object.keys(declared)) {
    if (!expected[t])
      throw new Error(`package.json node-red.nodes lists "${t}" but nodes/${t} does not exist`);
  }
  const declaredPlugins = pkg['node-red']?.plugins ?? {};
  for (const p of plugins) {
    if (declaredPlugins[p] !== `dist/plugins/${p}/${p}.js`) {
      throw new Error(`package.json node-red.plugins must list "${p}": "dist/plugins/${p}/${p}.js"`);
    }
  }
}

if (!args.has('--no-typecheck')) typecheck();
rmSync(dist, { recursive: true, force: true });
const coreFiles = await buildCore();
const types = nodeTypes();
for (const type of types) await buildNode(type);
const plugins = await buildPlugins();
checkManifest(types, plugins);
console.log(
  `build: ${coreFiles} core files, ${types.length} nodes${plugins.length ? `, ${plugins.length} plugins` : ''} in dist/`,
);
