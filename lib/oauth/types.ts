/**
 * The OAuth pieces every connected storage provider (Dropbox, Box, Google Drive) supplies, so that
 * one set of admin routes (nodes/shared/oauth.ts) can run the editor's Connect flow for all.
 */

/** Tokens as the pack keeps them; `expiresAt` is milliseconds since the epoch. */
export interface OAuthTokens {
  accessToken: string;
  refreshToken?: string;
  expiresAt?: number;
}

/** What the account's owner typed into the config dialog, sent with the Connect request. */
export interface OAuthClient {
  clientId: string;
  /** Absent for PKCE apps (Dropbox): no secret is stored. */
  clientSecret?: string;
  /** Base URL override for tests or a proxy; empty means the provider's real hosts. */
  endpoint?: string;
}

export interface OAuthProvider {
  /** 'dropbox' | 'box' | 'gdrive': the path segment of the admin routes. */
  id: string;
  /** Shown in messages: "Dropbox", "Box", "Google Drive". */
  label: string;
  /** Sends a PKCE challenge and the verifier instead of a client secret. */
  pkce: boolean;
  /** The page the user's browser is sent to, with every parameter the provider needs. */
  authorizeUrl(args: {
    client: OAuthClient;
    redirectUri: string;
    state: string;
    codeChallenge?: string;
  }): string;
  /** Trades the code from the callback for tokens. */
  exchangeCode(args: {
    client: OAuthClient;
    code: string;
    redirectUri: string;
    codeVerifier?: string;
    signal?: AbortSignal;
  }): Promise<OAuthTokens>;
  /** Name (and e-mail where there is one) of the connected account, for the dialog. */
  accountName(args: { client: OAuthClient; tokens: OAuthTokens; signal?: AbortSignal }): Promise<string>;
}

/**
 * Handed to a storage adapter that uses OAuth: the tokens it starts from, and where to report new
 * ones. A provider that rotates refresh tokens (Box) invalidates the old one on every refresh, so
 * `save` must be called before the new access token is used; the config node persists them so a
 * restart never starts from a spent refresh token.
 */
export interface TokenKeeper {
  client: OAuthClient;
  current(): OAuthTokens | undefined;
  save(tokens: OAuthTokens): void;
}
