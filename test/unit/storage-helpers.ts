import { Readable } from 'node:stream';
import type { OAuthClient, OAuthTokens, TokenKeeper } from '../../lib/oauth/types';
import type { SftpOptions } from '../../lib/storage/sftp';
import type { SshdServer } from '../support/sshd';

/** A body delivered in odd-sized pieces, as a download would arrive. */
export function pieces(data: Buffer, size = 70_001): Readable {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return Readable.from(out.length ? out : [Buffer.alloc(0)]);
}

/**
 * A TokenKeeper held in memory that records every set it is given; by default it starts from an
 * expired access token, so the first request refreshes.
 */
export function memoryKeeper(
  client: OAuthClient,
  tokens: OAuthTokens | undefined,
  onSave: (tokens: OAuthTokens) => void = () => undefined,
): TokenKeeper & { saved: OAuthTokens[] } {
  let current = tokens;
  const saved: OAuthTokens[] = [];
  return {
    client,
    current: () => current,
    save: (t) => {
      saved.push(t);
      onSave(t);
      current = t;
    },
    saved,
  };
}

/** The tokens a keeper starts from when only a refresh token is good. */
export function expiredTokens(refreshToken: string): OAuthTokens {
  return { accessToken: 'expired', refreshToken, expiresAt: 0 };
}

/** SFTP settings for the sshd a test started: its host key pinned, its own user and key. */
export function sftpOptionsOf(sshd: SshdServer, over: Partial<SftpOptions> = {}): SftpOptions {
  return {
    host: sshd.host,
    port: sshd.port,
    username: sshd.username,
    privateKey: sshd.privateKey,
    hostFingerprint: sshd.hostFingerprint,
    root: sshd.root,
    connectTimeoutMs: 10_000,
    ...over,
  };
}
