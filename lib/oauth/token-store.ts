import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { OAuthTokens } from './types';

/**
 * Refreshed OAuth tokens, kept across restarts. Node-RED writes credentials to disk only on a
 * deploy, but a provider that rotates refresh tokens (Box) spends the old one at every refresh:
 * without this file a restart would start from a spent token and the account would need
 * reconnecting. Entries are encrypted with Node-RED's own credential secret when it has one (the
 * same protection flows_cred.json gets) and the file is readable by its owner only.
 *
 * An entry belongs to one connection: a config node that is connected again (new tokens in its
 * credentials) has a new connection id, and the older entry is ignored.
 */
export interface StoredTokens {
  connection: string;
  tokens: OAuthTokens;
  savedAt: string;
}

type FileShape = Record<string, { iv?: string; tag?: string; data: string }>;

export class TokenStore {
  private readonly key: Buffer | undefined;

  constructor(
    readonly file: string,
    secret?: string,
  ) {
    this.key = secret ? createHash('sha256').update(`rc-archiver tokens\0${secret}`).digest() : undefined;
  }

  /** The entry of one config node: a storage account's tokens, or an rc-config's session. */
  get<T = StoredTokens>(nodeId: string): T | undefined {
    const entry = this.read()[nodeId];
    if (!entry) return undefined;
    try {
      return JSON.parse(this.open(entry)) as T;
    } catch {
      // Written under another secret, or damaged: the node's credentials are used instead.
      return undefined;
    }
  }

  set<T = StoredTokens>(nodeId: string, value: T): void {
    const all = this.read();
    all[nodeId] = this.seal(JSON.stringify(value));
    this.write(all);
  }

  delete(nodeId: string): void {
    const all = this.read();
    if (!(nodeId in all)) return;
    delete all[nodeId];
    this.write(all);
  }

  private read(): FileShape {
    try {
      const parsed = JSON.parse(readFileSync(this.file, 'utf8')) as unknown;
      return parsed && typeof parsed === 'object' ? (parsed as FileShape) : {};
    } catch {
      return {};
    }
  }

  private write(all: FileShape): void {
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(all, null, 1), { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.file);
  }

  private seal(text: string): { iv?: string; tag?: string; data: string } {
    if (!this.key) return { data: Buffer.from(text).toString('base64') };
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const data = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
    return {
      iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      data: data.toString('base64'),
    };
  }

  private open(entry: { iv?: string; tag?: string; data: string }): string {
    if (!entry.iv || !entry.tag) {
      if (this.key) throw new Error('entry is not encrypted but a secret is set');
      return Buffer.from(entry.data, 'base64').toString('utf8');
    }
    if (!this.key) throw new Error('entry is encrypted but no secret is set');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(entry.iv, 'base64'));
    decipher.setAuthTag(Buffer.from(entry.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(entry.data, 'base64')), decipher.final()]).toString(
      'utf8',
    );
  }
}

/** Identifies the connection a set of credentials came from, without keeping the token itself. */
export function connectionIdOf(refreshToken: string | undefined): string {
  return createHash('sha256')
    .update(`rc-archiver connection\0${refreshToken ?? ''}`)
    .digest('hex')
    .slice(0, 24);
}
