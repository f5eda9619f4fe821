import { createHash } from 'node:crypto';
import type { TokenStore } from '../oauth/token-store';
import type { BudgetState } from './budget';
import type { ApiGroup } from './types';

/**
 * What a RingCentral login keeps across a restart: its tokens, so that a restart does not spend a
 * JWT login (Auth allows 5 a minute, and RingCentral evicts the oldest of a user's 5 sessions), and
 * what each API group has spent in its window, so that a crash loop does not send blind requests
 * into a window the previous process used up.
 */
export interface RcSession {
  /** Which login these belong to (see `loginIdOf`): another server, app or JWT starts afresh. */
  login: string;
  /**
   * The server and the app (client id) of that login, so that after a change of JWT the session
   * of the old one can still be revoked with the same app.
   */
  server?: string;
  clientId?: string;
  /** The SDK's token data (access and refresh token, their expiry times, scope, owner). */
  tokens?: Record<string, unknown>;
  budgets?: Partial<Record<ApiGroup, BudgetState>>;
  savedAt?: string;
}

/** Where one login's session is kept. `save` is called often (each request); it must be synchronous. */
export interface RcSessionStore {
  load(): RcSession | undefined;
  save(session: RcSession): void;
}

/**
 * Identifies a login without keeping its secrets: a hash of the server, the client id and the JWT.
 * Tokens of one login must never be used by another (a changed JWT may be another user).
 */
export function loginIdOf(settings: { server: string; clientId: string; jwt: string }): string {
  return createHash('sha256')
    .update(`rc-archiver login\0${settings.server}\0${settings.clientId}\0${settings.jwt}`)
    .digest('hex')
    .slice(0, 32);
}

/**
 * One login's session as an entry of the pack's token file (rc-archiver/tokens.json), which keeps
 * the storage providers' refreshed OAuth tokens too and is encrypted with Node-RED's credential
 * secret.
 */
export function sessionStoreIn(store: TokenStore, key: string): RcSessionStore {
  return {
    load() {
      const kept = store.get<RcSession>(key);
      return kept && typeof kept === 'object' && typeof kept.login === 'string' ? kept : undefined;
    },
    save(session) {
      store.set<RcSession>(key, session);
    },
  };
}
