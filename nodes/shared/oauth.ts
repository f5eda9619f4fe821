import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { CALLBACK_PATH, ConnectError, ConnectFlows, type Connection } from '../../lib/oauth/connect';
import { connectionIdOf, TokenStore } from '../../lib/oauth/token-store';
import type { OAuthClient, OAuthProvider, OAuthTokens, TokenKeeper } from '../../lib/oauth/types';
import type { ExpressResponse, Node, RED } from './red';
import { errorMessage } from './util';

/** Credentials an OAuth account config node keeps (all `password` type: never sent to the editor). */
export interface OAuthCredentials {
  clientSecret?: string;
  accessToken?: string;
  refreshToken?: string;
  /** Milliseconds since the epoch, as a string (credentials are strings). */
  expiresAt?: string;
  /** Which Connect these tokens came from; see lib/oauth/token-store.ts. */
  connection?: string;
  [key: string]: string | undefined;
}

export { oauthCredentialFields } from './oauth-fields';

interface Shared {
  flows: ConnectFlows;
  store: TokenStore;
  providers: Set<string>;
}
/**
 * One Connect state per admin app, whichever node type registers first: each node type gets its
 * own RED object, but they share the admin app, and a callback must find the state that another
 * type's route issued.
 */
const registry = new WeakMap<object, Shared>();

/** Node-RED's credential secret, so refreshed tokens are as protected as flows_cred.json. */
function credentialSecret(RED: RED): string | undefined {
  const get = (RED.settings as { get?: (key: string) => unknown }).get;
  if (typeof get !== 'function') return undefined;
  for (const key of ['credentialSecret', '_credentialSecret']) {
    try {
      const value = get.call(RED.settings, key);
      if (typeof value === 'string' && value) return value;
      if (value === false) return undefined;
    } catch {
      // not available in this runtime
    }
  }
  return undefined;
}

export function tokenStorePath(RED: RED): string {
  return (
    process.env.RC_ARCHIVER_TOKENS ||
    join(RED.settings.userDir || process.cwd(), 'rc-archiver', 'tokens.json')
  );
}

/**
 * The file of tokens kept across restarts, encrypted with Node-RED's credential secret. Every
 * operation reads and writes the file at once, so several stores of one file stay consistent.
 */
export function openTokenStore(RED: RED): TokenStore {
  return new TokenStore(tokenStorePath(RED), credentialSecret(RED));
}

function shared(RED: RED): Shared {
  let s = registry.get(RED.httpAdmin);
  if (s) return s;
  const store = openTokenStore(RED);
  const flows = new ConnectFlows((c) => storeConnection(RED, store, c));
  s = { flows, store, providers: new Set() };
  registry.set(RED.httpAdmin, s);
  registerCallback(RED, s);
  return s;
}

function storeConnection(RED: RED, store: TokenStore, c: Connection): void {
  const connection = randomBytes(12).toString('hex');
  const previous = RED.nodes.getCredentials(c.nodeId) ?? {};
  const creds: OAuthCredentials = { ...previous, ...credentialsFor(c.tokens), connection };
  if (c.client.clientSecret) creds.clientSecret = c.client.clientSecret;
  // In memory now, written to flows_cred.json by the next deploy (the dialog's account name
  // changed, so the node is deployed); the token store keeps them meanwhile.
  RED.nodes.addCredentials(c.nodeId, creds);
  store.set(c.nodeId, { connection, tokens: c.tokens, savedAt: new Date().toISOString() });
}

function credentialsFor(tokens: OAuthTokens): OAuthCredentials {
  return {
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    expiresAt: tokens.expiresAt ? String(tokens.expiresAt) : undefined,
  };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(res: ExpressResponse, status: number, title: string, text: string): void {
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader(
    'Content-Security-Policy',
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
  );
  res
    .status(status)
    .send(
      `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>` +
        `<body style="font-family:sans-serif;margin:2em"><h3>${escapeHtml(title)}</h3><p>${escapeHtml(text)}</p>` +
        (status === 200 ? '<script>setTimeout(function(){window.close()},1500)</script>' : '') +
        '</body></html>',
    );
}

/**
 * The provider sends the browser back here. The request carries no editor login (it is a
 * redirect), so the one-time `state` issued to a logged-in editor user is what authorises it.
 */
function registerCallback(RED: RED, s: Shared): void {
  RED.httpAdmin.get(`/${CALLBACK_PATH}`, (req, res) => {
    s.flows.finish(req.query).then(
      (c) => page(res, 200, 'Connected', `Connected as ${c.account}. You can close this window.`),
      (err: unknown) =>
        page(res, err instanceof ConnectError ? err.status : 502, 'Not connected', errorMessage(err)),
    );
  });
}

/**
 * Registers the Connect routes of one provider (once per runtime): `start` and `status` need the
 * config node type's write permission, like editing the node itself.
 */
export function registerConnect(RED: RED, provider: OAuthProvider, configType: string): void {
  const s = shared(RED);
  if (s.providers.has(provider.id)) return;
  s.providers.add(provider.id);
  const write = RED.auth.needsPermission(`${configType}.write`);

  RED.httpAdmin.post(`/rc-archiver/oauth/${provider.id}/start`, write, (req, res) => {
    try {
      const body = req.body ?? {};
      const id = String(body.id ?? '');
      const stored = (RED.nodes.getCredentials(id) ?? {}) as OAuthCredentials;
      const typedSecret = typeof body.clientSecret === 'string' ? body.clientSecret : '';
      // The dialog shows a saved secret as __PWRD__; the real one is in the runtime.
      const clientSecret = typedSecret && typedSecret !== '__PWRD__' ? typedSecret : stored.clientSecret;
      const client: OAuthClient = {
        clientId: String(body.clientId ?? '').trim(),
        clientSecret: clientSecret || undefined,
        endpoint:
          typeof body.endpoint === 'string' && body.endpoint.trim() ? body.endpoint.trim() : undefined,
      };
      res.json(s.flows.start({ provider, nodeId: id, client, redirectUri: String(body.redirectUri ?? '') }));
    } catch (err) {
      res.status(err instanceof ConnectError ? err.status : 500).json({ error: errorMessage(err) });
    }
  });

  RED.httpAdmin.get(`/rc-archiver/oauth/${provider.id}/status/:state`, write, (req, res) => {
    const result = s.flows.result(req.params.state);
    if (!result) res.status(404).json({ error: 'unknown or expired state' });
    else res.json(result);
  });
}

/**
 * The tokens of a deployed account node: the newest of its credentials and the token store, and
 * a `save` that keeps refreshed ones in both (the store survives a restart without a deploy).
 */
export function tokenKeeper(
  RED: RED,
  node: Pick<Node<OAuthCredentials>, 'id' | 'credentials'>,
  client: OAuthClient,
): TokenKeeper {
  const { store } = shared(RED);
  const creds = node.credentials ?? {};
  const connection = creds.connection || connectionIdOf(creds.refreshToken);
  let latest: OAuthTokens | undefined;
  const stored = store.get(node.id);
  if (stored && stored.connection === connection) latest = stored.tokens;
  else if (creds.accessToken || creds.refreshToken) {
    latest = {
      accessToken: creds.accessToken ?? '',
      refreshToken: creds.refreshToken,
      expiresAt: creds.expiresAt ? Number(creds.expiresAt) : undefined,
    };
  }
  return {
    client,
    current: () => latest,
    save(tokens) {
      latest = tokens;
      store.set(node.id, { connection, tokens, savedAt: new Date().toISOString() });
      RED.nodes.addCredentials(node.id, {
        ...(RED.nodes.getCredentials(node.id) ?? {}),
        ...credentialsFor(tokens),
        connection,
      });
    },
  };
}

/** Forgets a removed node's refreshed tokens. */
export function forgetTokens(RED: RED, nodeId: string): void {
  shared(RED).store.delete(nodeId);
}
