import type { RED } from './red';

export type Translate = (key: string, substitutions?: Record<string, unknown>) => string;

/**
 * RED._ with the node's own en-US catalog as a fallback: Node-RED resolves keys from the
 * locales folder, but where no catalog is registered (a test harness, an old runtime) the user
 * still reads words, not keys.
 */
export function translator(RED: RED, catalog: Record<string, unknown>): Translate {
  return (key, substitutions) => {
    const resolved = RED._(key, substitutions);
    if (resolved && resolved !== key) return resolved;
    let entry: unknown = catalog;
    for (const part of key.split('.')) entry = (entry as Record<string, unknown> | undefined)?.[part];
    if (typeof entry !== 'string') return key;
    return entry.replace(/__(\w+)__/g, (_match, name: string) => String(substitutions?.[name] ?? ''));
  };
}
