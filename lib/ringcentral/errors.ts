import type { ApiGroup } from './types';

export interface RcApiErrorDetails {
  /** HTTP status; 0 when no answer arrived (network error, timeout). */
  status?: number;
  /** RingCentral's errorCode (e.g. "CMN-102") or the OAuth error (e.g. "invalid_grant"). */
  errorCode?: string;
  method?: string;
  /** Path of the request, without query string or host. */
  path?: string;
  group?: ApiGroup;
  retryAfterSec?: number;
}

/**
 * An error from talking to RingCentral. Carries status, errorCode and a readable message, and
 * never a token, the JWT, the client secret, the request or the response.
 */
export class RcApiError extends Error {
  override name = 'RcApiError';
  readonly status: number;
  readonly errorCode?: string;
  readonly method?: string;
  readonly path?: string;
  readonly group?: ApiGroup;
  readonly retryAfterSec?: number;

  constructor(message: string, details: RcApiErrorDetails = {}) {
    super(redactSecrets(message));
    this.status = details.status ?? 0;
    if (details.errorCode) this.errorCode = redactSecrets(details.errorCode);
    if (details.method) this.method = details.method;
    if (details.path) this.path = details.path;
    if (details.group) this.group = details.group;
    if (details.retryAfterSec !== undefined) this.retryAfterSec = details.retryAfterSec;
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      message: this.message,
      status: this.status,
      errorCode: this.errorCode,
      method: this.method,
      path: this.path,
    };
  }
}

/** Removes anything that looks like a bearer token or a JWT from a text meant for logs or errors. */
export function redactSecrets(text: string, secrets: Array<string | undefined> = []): string {
  let out = text
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 [redacted]')
    .replace(/\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, '[redacted]')
    .replace(/((?:access|refresh)_token|assertion|client_secret|jwt)=([^&\s]+)/gi, '$1=[redacted]');
  for (const secret of secrets) {
    if (secret && secret.length >= 6) out = out.split(secret).join('[redacted]');
  }
  return out;
}
