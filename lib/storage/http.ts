import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { KeeperTokens, type TokenAnswer } from '../oauth/refresh';
import type { OAuthClient, OAuthTokens, TokenKeeper } from '../oauth/types';
import { ProviderError, isTransientNetworkError, parseRetryAfter, withRetry } from './retry';

/**
 * What the HTTPS providers (Dropbox, Box, Google Drive) share: reading answers and their headers,
 * the host allow-list behind an endpoint override, and the OAuth token endpoint. Each adapter file
 * keeps only its provider's paths, fields and error codes.
 */

// ---------------------------------------------------------------------------------------------
// Answers

/** A header from fetch's Headers or from a plain object (node:http, an SDK), its name in any case. */
export function headerOf(headers: unknown, name: string): string | undefined {
  if (!headers || typeof headers !== 'object') return undefined;
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, unknown>;
  const wanted = name.toLowerCase();
  const key = Object.keys(record).find((k) => k.toLowerCase() === wanted);
  const value = key === undefined ? undefined : record[key];
  return value === undefined || value === null ? undefined : String(value);
}

/** The answer's Retry-After in milliseconds, when it has a readable one. */
export function retryAfterOf(headers: unknown): number | undefined {
  return parseRetryAfter(headerOf(headers, 'retry-after'));
}

/** An answer's text as JSON; what `notJson` makes of the text when it is not (default: nothing). */
export function parseJson(text: string, notJson: (text: string) => unknown = () => undefined): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return notJson(text);
  }
}

export function isAbort(err: unknown): boolean {
  return (err as Error | undefined)?.name === 'AbortError';
}

/**
 * A connection that failed or broke, as a ProviderError: retryable when transient, with the
 * socket's reason only (never the request, which carries the Authorization header). Aborts and
 * everything else are left as they are.
 */
export function networkFailure(label: string, err: unknown): unknown {
  if (err instanceof ProviderError || isAbort(err)) return err;
  const e = err as { message?: string; cause?: { message?: string } } | undefined;
  if (isTransientNetworkError(err)) {
    return new ProviderError(`${label}: ${e?.cause?.message ?? e?.message ?? String(err)}`, {
      retryable: true,
    });
  }
  if (err instanceof TypeError && e?.message === 'fetch failed') {
    return new ProviderError(`${label}: ${e.cause?.message ?? e.message}`, { retryable: false });
  }
  return err;
}

export interface RawResponse {
  status: number;
  /** Header names in lower case, repeated values joined with ", ". */
  headers: Record<string, string>;
  /** The JSON body, or undefined when there is none or it is not JSON. */
  body: unknown;
}

/**
 * One request through node:http(s) with its body sent from the buffers given (none copied: a
 * part-sized copy per request would outlive it in V8's old space), answered with JSON. A failure
 * to connect or a broken connection becomes a ProviderError (retryable when transient); an abort
 * stays the AbortError.
 */
export function sendBuffers(
  label: string,
  url: string,
  method: string,
  body: Buffer | Buffer[],
  headers: Record<string, string>,
  agent: http.Agent | undefined,
  signal: AbortSignal | undefined,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const request = target.protocol === 'https:' ? https.request : http.request;
    const fail = (err: Error) => {
      if (isAbort(err)) return reject(err);
      reject(new ProviderError(`${label}: ${err.message}`, { retryable: isTransientNetworkError(err) }));
    };
    const pieces = Array.isArray(body) ? body : [body];
    const length = pieces.reduce((n, b) => n + b.length, 0);
    const req = request(
      target,
      { method, headers: { ...headers, 'content-length': String(length) }, agent, signal },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', fail);
        res.on('end', () => {
          const flat: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers))
            if (v !== undefined) flat[k] = Array.isArray(v) ? v.join(', ') : v;
          const parsed = parseJson(Buffer.concat(chunks).toString('utf8'));
          resolve({ status: res.statusCode ?? 0, headers: flat, body: parsed });
        });
      },
    );
    req.on('error', fail);
    for (const piece of pieces) req.write(piece);
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------
// Hosts

/** An endpoint override as a base URL without a trailing slash; '' means the provider's real hosts. */
export function endpointBase(endpoint: string | undefined): string {
  return (endpoint ?? '').trim().replace(/\/+$/, '');
}

/**
 * Maps a URL on one of the provider's hosts to the same path under `base`. Any other host is
 * refused: the request would carry the bearer token to a host the user did not name.
 */
export function rewriteToBase(label: string, hosts: readonly string[], base: string, url: string): string {
  for (const host of hosts) if (url.startsWith(host + '/')) return base + url.slice(host.length);
  throw new ProviderError(`${label}: refused a request to an unexpected host`, { retryable: false });
}

/** Refuses a URL (an upload session's Location, say) outside the origin the token belongs to. */
export function assertSameOrigin(label: string, url: URL, allowed: string): void {
  if (url.origin !== new URL(allowed).origin) {
    throw new ProviderError(`${label}: refused an upload URL on another host (${url.origin})`, {
      retryable: false,
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Credentials

/** Where requests get their bearer token; `stale` is one the provider just refused. */
export interface BearerTokens {
  get(signal?: AbortSignal, stale?: string): Promise<string>;
}

/**
 * Runs `request` with a bearer token. A 401 (`unauthorized` gives its reason, undefined for any
 * other failure) gets one more try with a new token; a second is refused credentials.
 */
export async function withBearer<T>(
  tokens: BearerTokens,
  signal: AbortSignal | undefined,
  request: (token: string) => Promise<T>,
  unauthorized: (err: unknown) => string | undefined,
  refused: (reason: string) => Error,
): Promise<T> {
  let stale: string | undefined;
  for (;;) {
    const token = await tokens.get(signal, stale);
    try {
      return await request(token);
    } catch (err) {
      const reason = unauthorized(err);
      if (reason === undefined) throw err;
      if (stale !== undefined) throw refused(`401 ${reason} after a token refresh`);
      stale = token;
    }
  }
}

/** The error for credentials the provider refused; `fix` says what the user should do. */
export function credentialsRefused(
  label: string,
  reason: string,
  fix = 'reconnect the account in its config node',
  status?: number,
): ProviderError {
  return new ProviderError(`${label} refused the credentials (${reason}): ${fix}`, {
    auth: true,
    retryable: false,
    code: 'auth',
    status,
  });
}

/** What a token endpoint's error answer carries (RFC 6749 §5.2). */
export interface TokenErrorBody {
  error?: unknown;
  error_description?: string;
}

export interface TokenEndpointOptions {
  label: string;
  /** The provider's "refused the credentials" error for a reason such as `invalid_grant`. */
  refused: (reason: string) => ProviderError;
  /** The provider's error for any other failed answer; by default the status and `error`. */
  failure?: (status: number, body: TokenErrorBody, headers: Headers) => ProviderError;
  /** Maps what fetch threw (a refused connection, say); by default it is left as it is. */
  network?: (err: unknown) => unknown;
  /** Handed to the retries of refresh and grant requests. */
  classify?: (err: unknown) => unknown;
}

/**
 * A provider's OAuth token endpoint: a form POST answered with JSON. 400 and 401 mean the grant
 * or the client was refused (invalid_grant: a revoked or spent refresh token; invalid_client: a
 * wrong id or secret), which reconnecting fixes; other failures may be retried.
 */
export class TokenEndpoint {
  constructor(
    readonly url: string,
    private readonly options: TokenEndpointOptions,
  ) {}

  /** One POST; the answer has an access token, or this throws. */
  async post(form: Record<string, string>, signal?: AbortSignal): Promise<TokenAnswer> {
    const res = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams(form).toString(),
      signal,
    }).catch((err: unknown) => {
      throw this.options.network ? this.options.network(err) : err;
    });
    const parsed = parseJson(await res.text());
    const body = (parsed && typeof parsed === 'object' ? parsed : {}) as TokenAnswer & TokenErrorBody;
    const { label } = this.options;
    if (!res.ok) {
      const err = this.options.failure
        ? this.options.failure(res.status, body, res.headers)
        : new ProviderError(
            `${label}: token endpoint answered ${res.status}${typeof body.error === 'string' ? ` ${body.error}` : ''}`,
            {
              status: res.status,
              code: typeof body.error === 'string' ? body.error : undefined,
              retryAfterMs: retryAfterOf(res.headers),
            },
          );
      if (res.status === 400 || res.status === 401)
        throw this.options.refused(err.code ?? `HTTP ${res.status}`);
      throw err;
    }
    if (!body.access_token) throw new ProviderError(`${label}: the token endpoint sent no access token`);
    return body;
  }

  /**
   * A POST tried up to three times (a 5xx or a dropped connection), for refreshes and grants; a
   * form given as a function is made anew for each try (a JWT assertion is single use).
   */
  grant(
    form: Record<string, string> | (() => Record<string, string>),
    signal?: AbortSignal,
  ): Promise<TokenAnswer> {
    return withRetry(() => this.post(typeof form === 'function' ? form() : form, signal), {
      attempts: 3,
      baseDelayMs: 500,
      signal,
      classify: this.options.classify,
    });
  }

  /**
   * Tokens from the keeper, refreshed by our own POST (with the client's own fields), so that every
   * new set is saved before it is used.
   */
  keeperTokens(keeper: TokenKeeper, clientFields: Record<string, string>): KeeperTokens {
    return new KeeperTokens(
      keeper,
      (refreshToken, signal) =>
        this.grant({ grant_type: 'refresh_token', refresh_token: refreshToken, ...clientFields }, signal),
      this.options.refused,
    );
  }

  /** The editor's Connect: the code from the callback traded for tokens. */
  async exchangeCode(form: Record<string, string>, signal?: AbortSignal): Promise<OAuthTokens> {
    const body = await this.post({ grant_type: 'authorization_code', ...form }, signal).catch(
      (err: unknown) => {
        if (!(err instanceof ProviderError && err.auth)) throw err;
        const reason = /\(([^)]*)\)/.exec(err.message)?.[1] ?? '';
        throw new ProviderError(`${this.options.label} refused the sign-in (${reason})`, {
          auth: true,
          retryable: false,
          code: 'auth',
        });
      },
    );
    return tokensFrom(body);
  }
}

function tokensFrom(body: TokenAnswer): OAuthTokens {
  return {
    accessToken: body.access_token!,
    refreshToken: body.refresh_token,
    expiresAt: body.expires_in ? Date.now() + body.expires_in * 1000 : undefined,
  };
}

/** The provider's authorize page with the parameters every provider takes, then its own. */
export function authorizeUrl(
  page: string,
  args: { client: OAuthClient; redirectUri: string; state: string; codeChallenge?: string },
  extra: Record<string, string> = {},
): string {
  const url = new URL(page);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', args.client.clientId);
  url.searchParams.set('redirect_uri', args.redirectUri);
  url.searchParams.set('state', args.state);
  for (const [name, value] of Object.entries(extra)) url.searchParams.set(name, value);
  if (args.codeChallenge) {
    url.searchParams.set('code_challenge', args.codeChallenge);
    url.searchParams.set('code_challenge_method', 'S256');
  }
  return url.href;
}

/** A token this close to its expiry is asked for again, so a long upload does not meet a 401. */
const GRANT_EARLY_MS = 60_000;

/**
 * A token from a grant that needs no user (client credentials, a JWT assertion): kept until
 * shortly before it expires, then asked for again; concurrent callers share one request. These
 * grants bring no refresh token.
 */
export class GrantTokens {
  private token: { value: string; expiresAt: number } | undefined;
  private asking: Promise<string> | undefined;

  constructor(
    private readonly endpoint: TokenEndpoint,
    /** The grant's form fields, made anew for each request (a JWT assertion is single use). */
    private readonly form: () => Record<string, string>,
  ) {}

  /** A usable access token; `stale` is one the provider just refused, so a new one is needed. */
  async get(signal?: AbortSignal, stale?: string): Promise<string> {
    const t = this.token;
    if (t && t.value !== stale && t.expiresAt - GRANT_EARLY_MS > Date.now()) return t.value;
    return this.refresh(signal);
  }

  refresh(signal?: AbortSignal): Promise<string> {
    this.asking ??= this.endpoint
      .grant(this.form, signal)
      .then((body) => {
        this.token = {
          value: body.access_token!,
          expiresAt: Date.now() + (body.expires_in ?? 3600) * 1000,
        };
        return body.access_token!;
      })
      .finally(() => (this.asking = undefined));
    return this.asking;
  }
}

/** A JWT signed with RS256 (the assertion of Box's and Google's JWT grants). */
export function signedJwt(header: object, claims: object, key: KeyObject | string): string {
  const part = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${part({ alg: 'RS256', typ: 'JWT', ...header })}.${part(claims)}`;
  const privateKey = typeof key === 'string' ? createPrivateKey(key) : key;
  return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}
