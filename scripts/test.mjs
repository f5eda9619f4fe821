// The test command: type-check and build the pack, lint, then run every test file with Node's
// own test runner. Arguments narrow the run to files or folders (e.g. `npm test -- test/unit`).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const order = ['test/unit', 'test/sim', 'test/nodes', 'test/e2e', 'test/browser'];

function run(cmd, args, env = process.env) {
  const result = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, env });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

function collect(path) {
  const full = join(root, path);
  if (!existsSync(full)) return [];
  if (statSync(full).isFile()) return [relative(root, full)];
  return readdirSync(full, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.test.ts'))
    .sort()
    .map((f) => relative(root, join(full, f)));
}

const selected = process.argv.slice(2);
const files = (selected.length ? selected : order).flatMap(collect);

// RC_TEST_SKIP_CHECKS builds dist/ without tsc, ESLint and Prettier: for a second run on another
// Node version over the same source (CI), where those checks would only repeat the first run's.
if (process.env.RC_TEST_SKIP_CHECKS && !process.env.RC_TEST_SKIP_BUILD) {
  run(process.execPath, ['build.mjs', '--no-typecheck']);
} else if (!process.env.RC_TEST_SKIP_BUILD) {
  run(process.execPath, ['build.mjs']);
  run(process.execPath, [join(root, 'node_modules/eslint/bin/eslint.js'), '.']);
  run(process.execPath, [
    join(root, 'node_modules/prettier/bin/prettier.cjs'),
    '--check',
    '.',
    '--log-level',
    'warn',
  ]);
}

// The SFTP tests run a real OpenSSH sshd: install it when the machine has none.
if (!process.env.RC_TEST_SKIP_SSHD) run('sh', [join(root, 'scripts', 'ensure-sshd.sh')]);
// The Smarsh TLS tests make their certificates with the openssl command: install it when missing.
if (!process.env.RC_TEST_SKIP_OPENSSL)
  run('sh', [join(root, 'scripts', 'ensure-package.sh'), '/usr/bin/openssl', 'openssl']);
// The browser tests drive Debian's Chromium: install it when the machine has none.
if (!process.env.RC_TEST_SKIP_CHROMIUM) run('sh', [join(root, 'scripts', 'ensure-chromium.sh')]);

console.log(`Node ${process.version}; ${files.length} test files`);
run(process.execPath, [
  '--import',
  'tsx',
  '--test',
  '--test-reporter=spec',
  '--test-concurrency=1',
  ...files,
]);
