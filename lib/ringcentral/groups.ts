import { OPERATION_PREFIXES, OPERATION_TABLE } from './groups.generated';
import type { ApiGroup } from './types';

/** A rate-limit group as RingCentral's operation table names it ("NoThrottling": not counted). */
export type ThrottlingGroup = ApiGroup | 'NoThrottling';

const METHODS: Record<string, string> = {
  G: 'GET',
  P: 'POST',
  U: 'PUT',
  A: 'PATCH',
  D: 'DELETE',
  H: 'HEAD',
  O: 'OPTIONS',
};
const GROUPS: Record<string, ThrottlingGroup> = {
  L: 'Light',
  M: 'Medium',
  H: 'Heavy',
  A: 'Auth',
  N: 'NoThrottling',
};

interface TrieNode {
  literal: Map<string, TrieNode>;
  param?: TrieNode;
  methods?: Map<string, ThrottlingGroup>;
}

const newNode = (): TrieNode => ({ literal: new Map() });

let trie: TrieNode | undefined;

function build(): TrieNode {
  const rootNode = newNode();
  for (const line of OPERATION_TABLE.split('\n')) {
    if (!line.trim()) continue;
    const space = line.lastIndexOf(' ');
    let path = line.slice(0, space);
    const codes = line.slice(space + 1);
    for (const [short, long] of OPERATION_PREFIXES) {
      if (path === short || path.startsWith(short + '/')) {
        path = long + path.slice(short.length);
        break;
      }
    }
    let node = rootNode;
    for (const segment of path.split('/').filter(Boolean)) {
      if (segment === '*') {
        node = node.param ??= newNode();
      } else {
        let next = node.literal.get(segment);
        if (!next) node.literal.set(segment, (next = newNode()));
        node = next;
      }
    }
    node.methods ??= new Map();
    for (let i = 0; i + 1 < codes.length; i += 2) {
      node.methods.set(METHODS[codes[i]], GROUPS[codes[i + 1]]);
    }
  }
  return rootNode;
}

/** The path of an absolute URL or a path (query and fragment removed, no trailing slash). */
export function pathOf(pathOrUrl: string): string {
  let path = pathOrUrl;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) {
    try {
      path = new URL(path).pathname;
    } catch {
      return '';
    }
  }
  path = path.replace(/[?#].*$/, '');
  if (!path.startsWith('/')) path = '/' + path;
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}

function match(
  node: TrieNode,
  segments: string[],
  index: number,
  method: string,
): ThrottlingGroup | undefined {
  if (index === segments.length) return node.methods?.get(method);
  const segment = segments[index];
  const literal = node.literal.get(segment);
  if (literal) {
    const found = match(literal, segments, index + 1, method);
    if (found) return found;
  }
  return node.param ? match(node.param, segments, index + 1, method) : undefined;
}

/**
 * The rate-limit group of an operation as RingCentral's operation table lists it, or undefined
 * when the operation is not in the table. `pathOrUrl` may be a path ("/restapi/v1.0/account/~")
 * or an absolute URI as the API hands it out (media host, ":443", query string).
 */
export function lookupGroup(method: string, pathOrUrl: string): ThrottlingGroup | undefined {
  trie ??= build();
  const segments = pathOf(pathOrUrl)
    .split('/')
    .filter(Boolean)
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
  return match(trie, segments, 0, method.toUpperCase());
}

/**
 * The API group whose budget a request counts in. Operations that RingCentral does not throttle
 * count as Light; operations missing from the table count as Heavy, the strictest group, so that
 * an unknown request can never tip a smaller group over its limit.
 */
export function groupFor(method: string, pathOrUrl: string): ApiGroup {
  const group = lookupGroup(method, pathOrUrl);
  if (group === 'NoThrottling') return 'Light';
  return group ?? 'Heavy';
}
