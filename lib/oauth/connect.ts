import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { OAuthClient, OAuthProvider, OAuthTokens } from './types';

/**
 * The editor's Connect flow, without Node-RED: `start` remembers who asked (config node, client,
 * PKCE verifier) under a random `state`; `finish` accepts a callback only with a `state` it issued,
 * once, within ten minutes, which is what stops a forged callback (cross-site request forgery)
 * from connecting someone else's account; `result` tells the editor how it went.
 */

export const CALLBACK_PATH = 'rc-archiver/oauth/callback';
const STATE_TTL_MS = 10 * 60_000;

export interface Connection {
  provider: string;
  nodeId: string;
  account: string;
  tokens: OAuthTokens;
  client: OAuthClient;
}

interface Pending {
  provider: OAuthProvider;
  nodeId: string;
  client: OAuthClient;
  redirectUri: string;
  verifier?: string;
  expiresAt: number;
  outcome?: { ok: true; account: string } | { ok: false; error: string };
}

export class ConnectError extends Error {
  override name = 'ConnectError';
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

function base64url(buf: Buffer): string {
  return buf.toString('base64url');
}

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = base64url(randomBytes(48));
  const challenge = base64url(createHash('sha256').update(verifier).digest());
  return { verifier, challenge };
}

/** A redirect URI the pack accepts: http(s), ending in the callback route, no fragment. */
export function validRedirectUri(uri: unknown): uri is string {
  if (typeof uri !== 'string') return false;
  try {
    const u = new URL(uri);
    return (
      (u.protocol === 'http:' || u.protocol === 'https:') &&
      !u.hash &&
      u.pathname.endsWith('/' + CALLBACK_PATH)
    );
  } catch {
    return false;
  }
}

export class ConnectFlows {
  private readonly pending = new Map<string, Pending>();
  /** Used states, kept until they expire so the editor can still read the outcome. */
  private readonly finished = new Map<string, Pending>();

  constructor(
    /** Called with the new connection before the callback answers: the caller stores the tokens. */
    private readonly onConnected: (connection: Connection) => void | Promise<void>,
    private readonly now: () => number = Date.now,
  ) {}

  start(args: { provider: OAuthProvider; nodeId: string; client: OAuthClient; redirectUri: string }): {
    authorizeUrl: string;
    state: string;
  } {
    const { provider, nodeId, client, redirectUri } = args;
    if (!/^[\w.-]{1,64}$/.test(nodeId)) throw new ConnectError('the config node id is missing or malformed');
    if (!client.clientId?.trim()) throw new ConnectError(`enter the ${provider.label} app's client id first`);
    if (!validRedirectUri(redirectUri))
      throw new ConnectError("the redirect URI must be the pack's callback route");
    this.sweep();
    const state = base64url(randomBytes(32));
    const pkce = provider.pkce ? pkcePair() : undefined;
    this.pending.set(state, {
      provider,
      nodeId,
      client,
      redirectUri,
      verifier: pkce?.verifier,
      expiresAt: this.now() + STATE_TTL_MS,
    });
    const authorizeUrl = provider.authorizeUrl({
      client,
      redirectUri,
      state,
      codeChallenge: pkce?.challenge,
    });
    return { authorizeUrl, state };
  }

  /**
   * The provider's redirect back. Only a known, unexpired, unused state is accepted; the code is
   * traded for tokens and the account's name looked up.
   */
  async finish(query: {
    state?: string;
    code?: string;
    error?: string;
    error_description?: string;
  }): Promise<Connection> {
    const entry = this.take(query.state);
    if (!entry)
      throw new ConnectError("unknown or expired state: start Connect again from the node's dialog", 403);
    try {
      if (query.error)
        throw new ConnectError(`${entry.provider.label} said: ${query.error_description || query.error}`);
      if (!query.code) throw new ConnectError(`${entry.provider.label} sent no authorization code`);
      const tokens = await entry.provider.exchangeCode({
        client: entry.client,
        code: query.code,
        redirectUri: entry.redirectUri,
        codeVerifier: entry.verifier,
      });
      const account = await entry.provider.accountName({ client: entry.client, tokens });
      const connection: Connection = {
        provider: entry.provider.id,
        nodeId: entry.nodeId,
        account,
        tokens,
        client: entry.client,
      };
      await this.onConnected(connection);
      entry.outcome = { ok: true, account };
      return connection;
    } catch (err) {
      entry.outcome = { ok: false, error: err instanceof Error ? err.message : String(err) };
      throw err;
    }
  }

  /** How the flow started under `state` went, for the editor that polls; undefined when unknown. */
  result(
    state: string,
  ):
    | { status: 'pending' }
    | { status: 'done'; account: string }
    | { status: 'error'; error: string }
    | undefined {
    this.sweep();
    const entry = this.finished.get(state) ?? this.pending.get(state);
    if (!entry) return undefined;
    if (!entry.outcome) return { status: 'pending' };
    return entry.outcome.ok
      ? { status: 'done', account: entry.outcome.account }
      : { status: 'error', error: entry.outcome.error };
  }

  private take(state: string | undefined): Pending | undefined {
    if (typeof state !== 'string' || !state) return undefined;
    this.sweep();
    // Compare in constant time: the state is the only secret the callback has.
    const given = Buffer.from(state);
    for (const [known, entry] of this.pending) {
      const k = Buffer.from(known);
      if (k.length === given.length && timingSafeEqual(k, given)) {
        this.pending.delete(known);
        this.finished.set(known, entry);
        return entry;
      }
    }
    return undefined;
  }

  private sweep(): void {
    const now = this.now();
    for (const map of [this.pending, this.finished]) {
      for (const [state, entry] of map) if (entry.expiresAt < now) map.delete(state);
    }
  }
}
