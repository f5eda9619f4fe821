import { randomBytes } from 'node:crypto';

/**
 * Path checks shared by the adapters. Templates are sanitised before they reach storage; this is
 * defence in depth so that no adapter ever writes outside its root.
 */

export class UnsafePathError extends Error {
  constructor(relPath: string, reason: string) {
    super(`refused path ${JSON.stringify(relPath)}: ${reason}`);
    this.name = 'UnsafePathError';
  }
}

/**
 * Returns the path as clean forward-slash segments relative to a root, or throws when it is
 * absolute, empty, contains NUL, or has a `..` segment. Backslashes count as separators.
 */
export function safeRelativePath(relPath: string): string {
  if (typeof relPath !== 'string' || relPath.length === 0)
    throw new UnsafePathError(String(relPath), 'empty');
  if (relPath.includes('\0')) throw new UnsafePathError(relPath, 'contains a NUL character');
  if (/^[\\/]/.test(relPath) || /^[A-Za-z]:/.test(relPath)) {
    throw new UnsafePathError(relPath, 'absolute paths are not allowed');
  }
  const segments = relPath.split(/[\\/]+/).filter((s) => s !== '' && s !== '.');
  if (segments.some((s) => s === '..')) throw new UnsafePathError(relPath, 'escapes the storage root');
  if (segments.length === 0) throw new UnsafePathError(relPath, 'names no file');
  return segments.join('/');
}

/** A random suffix for temporary names. */
export function randomSuffix(): string {
  return randomBytes(6).toString('hex');
}
