import type { OAuthTokens, TokenKeeper } from './types';

/** What a token endpoint answers (RFC 6749 §5.1): the fields the pack reads. */
export interface TokenAnswer {
  access_token?: string;
  refresh_token?: string;
  expires_in?: number;
}

/** A token this close to its expiry is refreshed first, so a long upload does not meet a 401. */
const EARLY_MS = 60_000;

/**
 * Access tokens from a TokenKeeper, refreshed through the provider's token endpoint by the
 * adapter's own request. Every new set is saved before it is used: a provider that rotates
 * refresh tokens (Box) has already spent the old one. Concurrent callers share one refresh.
 */
export class KeeperTokens {
  private refreshing: Promise<string> | undefined;

  constructor(
    private readonly keeper: TokenKeeper,
    /** POSTs grant_type=refresh_token with the provider's client fields; retries are its own. */
    private readonly requestRefresh: (refreshToken: string, signal?: AbortSignal) => Promise<TokenAnswer>,
    /** The provider's "refused the credentials" error. */
    private readonly refused: (reason: string) => Error,
  ) {}

  /** A usable access token; `stale` is one the provider just refused, so a new one is needed. */
  async get(signal?: AbortSignal, stale?: string): Promise<string> {
    const cur = this.keeper.current();
    if (!cur?.accessToken && !cur?.refreshToken)
      throw this.refused('no tokens: the account was never connected');
    const fresh =
      cur.accessToken &&
      cur.accessToken !== stale &&
      (cur.expiresAt === undefined || cur.expiresAt - EARLY_MS > Date.now());
    if (fresh) return cur.accessToken;
    return this.refresh(signal);
  }

  /** Refreshes now (or joins the refresh under way). */
  refresh(signal?: AbortSignal): Promise<string> {
    this.refreshing ??= this.doRefresh(signal).finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async doRefresh(signal: AbortSignal | undefined): Promise<string> {
    const cur = this.keeper.current();
    if (!cur?.refreshToken) throw this.refused('the access token expired and there is no refresh token');
    const answer = await this.requestRefresh(cur.refreshToken, signal);
    if (!answer.access_token) throw this.refused('the token endpoint sent no access token');
    const next: OAuthTokens = {
      accessToken: answer.access_token,
      // Dropbox and Google keep the refresh token and send none; Box sends a new one every time.
      refreshToken: answer.refresh_token ?? cur.refreshToken,
      expiresAt: answer.expires_in ? Date.now() + answer.expires_in * 1000 : undefined,
    };
    this.keeper.save(next);
    return next.accessToken;
  }
}
