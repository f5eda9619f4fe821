// What installing the pack costs a user on disk: `npm pack`, then the tarball installed alone into
// an empty directory with production dependencies only (as the palette manager installs), its
// node_modules measured in MB (as `du` counts) and in packages (npm's own count, from the
// install's lockfile). Node-RED alone, and Node-RED with the pack in one user directory, are
// installed the same way for comparison: what the pack adds beside Node-RED is their difference.
//
//   npm run bench:footprint                (writes its section of BENCHMARKS.md)
//   BENCH_REPEATS=1 npm run bench:footprint   (one round; prints, leaves BENCHMARKS.md alone)
import { execFileSync, type StdioOptions } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { machineLine, writeSection } from './report';

const root = join(__dirname, '..');
const REPEATS = Number(process.env.BENCH_REPEATS) || 3;
const TARGET_MB = 90;
/**
 * Runs the npm that runs `npm run bench:footprint` (the user's), not one a dev dependency put on
 * the script's PATH, with this Node: a run under another Node installs what that Node gets.
 */
function npm(args: string[], options: { cwd?: string; stdio?: StdioOptions } = {}): string {
  const cli = process.env.npm_execpath;
  const [cmd, argv] =
    cli && /npm-cli\.js$/.test(cli)
      ? [process.execPath, [cli, ...args]]
      : [process.platform === 'win32' ? 'npm.cmd' : 'npm', args];
  return execFileSync(cmd, argv, { ...options, encoding: 'utf8' }) ?? '';
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  devDependencies: Record<string, string>;
};
/** The Node-RED the tests run against, so the comparison is with a real user directory's. */
const nodeRedSpec = `node-red@${pkg.devDependencies['node-red']}`;

interface Measure {
  mb: number;
  packages: number;
  /** MB of each top-level package (scoped ones by scope) in node_modules. */
  largest: Array<[string, number]>;
}

/** Size on disk as `du` counts it (allocated blocks, hard links once), in MB. */
function duMb(path: string): number {
  const out = execFileSync('du', ['-sk', path], { encoding: 'utf8' });
  return Number(out.split('\t')[0]) / 1024;
}

function install(specs: string[]): Measure {
  const dir = mkdtempSync(join(os.tmpdir(), 'rc-footprint-'));
  try {
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'footprint', private: true }));
    npm(['install', '--omit=dev', '--no-audit', '--no-fund', '--loglevel=error', ...specs], {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const modules = join(dir, 'node_modules');
    const lock = JSON.parse(readFileSync(join(modules, '.package-lock.json'), 'utf8')) as {
      packages: Record<string, unknown>;
    };
    const largest = readdirSync(modules)
      .filter((name) => !name.startsWith('.'))
      .map((name): [string, number] => [name, duMb(join(modules, name))])
      .sort((a, b) => b[1] - a[1])
      .slice(0, 8);
    return { mb: duMb(modules), packages: Object.keys(lock.packages).length, largest };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function pack(into: string): string {
  // prepack builds dist/ first, so the tarball is what would be published.
  const out = npm(['pack', '--silent', '--pack-destination', into], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return join(into, out.trim().split('\n').pop()!);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const round = (x: number) => Math.round(x * 10) / 10;

function main(): void {
  const work = mkdtempSync(join(os.tmpdir(), 'rc-footprint-pack-'));
  try {
    const tarball = pack(work);
    const tarballMb = duMb(tarball);
    const rows: Record<'pack' | 'nodeRed' | 'both', Measure[]> = { pack: [], nodeRed: [], both: [] };
    for (let i = 1; i <= REPEATS; i++) {
      rows.pack.push(install([tarball]));
      rows.nodeRed.push(install([nodeRedSpec]));
      rows.both.push(install([nodeRedSpec, tarball]));
      const last = (k: keyof typeof rows) => rows[k][rows[k].length - 1];
      console.log(
        `round ${i}/${REPEATS}: pack alone ${round(last('pack').mb)} MB, ${last('pack').packages} packages; ` +
          `Node-RED alone ${round(last('nodeRed').mb)} MB; both ${round(last('both').mb)} MB`,
      );
    }
    const summary = (k: keyof typeof rows) => {
      const ms = rows[k];
      const mbs = ms.map((m) => m.mb);
      return {
        mb: round(median(mbs)),
        min: round(Math.min(...mbs)),
        max: round(Math.max(...mbs)),
        packages: median(ms.map((m) => m.packages)),
      };
    };
    const p = summary('pack');
    const r = summary('nodeRed');
    const b = summary('both');
    const added = round(b.mb - r.mb);
    const addedPackages = b.packages - r.packages;
    const largest = rows.pack[0].largest.map(([name, mb]) => `${name} ${round(mb)}`).join(', ');
    const line = (what: string, s: ReturnType<typeof summary>) =>
      `| ${what} | ${s.mb} | ${s.min}–${s.max} | ${s.packages} |`;
    const body = [
      `${machineLine()}, npm ${npm(['--version']).trim()}, with \`npm run bench:footprint\` (bench/footprint.ts).`,
      '',
      `\`npm pack\` (${round(tarballMb)} MB tarball), then \`npm install --omit=dev <tarball>\` into an empty directory, ` +
        `${REPEATS} times; node_modules measured with \`du\` and npm's package count. ${nodeRedSpec} alone and ` +
        `together with the tarball are installed the same way. Target: the pack alone at most ${TARGET_MB} MB.`,
      '',
      '| install | MB (median) | MB (min–max) | packages |',
      '|---|---|---|---|',
      line('the pack alone', p),
      line('Node-RED alone', r),
      line('Node-RED and the pack', b),
      '',
      `The pack alone: ${p.mb} MB (${p.mb <= TARGET_MB ? 'within' : 'over'} ${TARGET_MB} MB). Beside Node-RED it adds ` +
        `${added} MB and ${addedPackages} packages. Largest in node_modules (MB): ${largest}.`,
    ].join('\n');
    console.log(`\n${body}\n`);
    if (!process.env.BENCH_REPEATS || REPEATS >= 3)
      writeSection(`Install footprint, Node ${process.versions.node.split('.')[0]}`, body);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main();
