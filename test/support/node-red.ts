import { dirname, join } from 'node:path';

export const root = join(__dirname, '..', '..');

/**
 * The Node-RED the tests run against: Node-RED 5 on Node 22 and later, Node-RED 4.1 on Node 20,
 * unless RC_NODE_RED names a package (node-red or node-red-5).
 */
export function nodeRedPackage(): string {
  if (process.env.RC_NODE_RED) return process.env.RC_NODE_RED;
  return Number(process.versions.node.split('.')[0]) >= 22 ? 'node-red-5' : 'node-red';
}

export function nodeRedDir(): string {
  return dirname(require.resolve(`${nodeRedPackage()}/package.json`));
}

export function nodeRedVersion(): string {
  return (require(`${nodeRedPackage()}/package.json`) as { version: string }).version;
}

/** The built node module of a type, as Node-RED loads it from the package. */
export function builtNode(type: string): unknown {
  return require(join(root, 'dist', 'nodes', type, `${type}.js`));
}

/**
 * A module of the built core as the loaded nodes require it (one instance per process), e.g.
 * `builtLib<typeof Bus>('bus')`: the same event bus, entrances and ledger connections as theirs.
 */
export function builtLib<T>(path: string): T {
  return require(join(root, 'dist', 'lib', path)) as T;
}
