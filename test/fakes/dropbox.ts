import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small Dropbox API v2 on 127.0.0.1, answering what Dropbox documents for the calls the adapter
 * and the SDK make: OAuth (authorize redirect, token endpoint with the PKCE authorization_code and
 * refresh_token grants), users/get_current_account, files/upload, upload_session start /
 * append_v2 / finish, get_metadata, create_folder_v2 and delete_v2. Endpoint errors are 409 with
 * `error_summary` and a tagged `error`, auth errors 401, rate limits 429 with Retry-After and
 * `retry_after`. Every request's `content_hash` is checked, paths are case-insensitive, and an
 * upload of identical content in `add` mode writes nothing and is no conflict, as on Dropbox.
 * All host names map here, so the api/content split is not checked.
 */

export interface FakeDropboxFile {
  path: string;
  data: Buffer;
  /** 1 when created, +1 for every overwrite with different content. */
  versions: number;
  rev: string;
  id: string;
}

export interface FakeRequest {
  method: string;
  path: string;
  bodySize: number;
  /** The Dropbox-API-Arg header, or the JSON body of an RPC call. */
  arg?: Record<string, unknown>;
}

export interface FakeDropbox {
  url: string;
  appKey: string;
  requests: FakeRequest[];
  /** The next n API calls (under /2/) answer `status`: 429 (with Retry-After) or 5xx. */
  failNext(n: number, status: number, retryAfterSeconds?: number, reason?: string): void;
  /** The next append_v2 stores its chunk, then answers 503 as if the answer had been lost. */
  loseNextAppendAnswer(): void;
  /**
   * 'transit' (default): a byte of the next request body carrying file data flips before the
   * content_hash check, so Dropbox refuses it. 'stored': the next committed file gets a flipped
   * byte after the checks, so only its content_hash gives it away.
   */
  corruptNextUpload(mode?: 'transit' | 'stored'): void;
  /** Every access and refresh token stops working (401 invalid_access_token, invalid_grant). */
  revokeTokens(): void;
  /** Access tokens expire (401 expired_access_token); refresh tokens still work. */
  expireAccessTokens(): void;
  /** A refresh token for the app, as if the user had connected. */
  issueRefreshToken(): string;
  /** Stored files by display path, with how many versions each has had. */
  files(): FakeDropboxFile[];
  folders(): string[];
  /** Writes a file directly (as another client would). */
  seed(path: string, data: Buffer): void;
  /** Tokens handed out by grant type. */
  grants: Record<string, number>;
  close(): Promise<void>;
}

const BLOCK = 4 * 1024 * 1024;

/** Dropbox content hash, computed here independently of the adapter's streaming version. */
function contentHash(data: Buffer): string {
  const blocks: Buffer[] = [];
  for (let i = 0; i < data.length; i += BLOCK) {
    blocks.push(
      createHash('sha256')
        .update(data.subarray(i, i + BLOCK))
        .digest(),
    );
  }
  return createHash('sha256').update(Buffer.concat(blocks)).digest('hex');
}

interface Session {
  parts: Buffer[];
  received: number;
  closed: boolean;
}

interface Stored extends FakeDropboxFile {
  serverModified: string;
}

type Json = Record<string, unknown>;

export async function startFakeDropbox(): Promise<FakeDropbox> {
  const appKey = randomBytes(6).toString('hex');
  const requests: FakeRequest[] = [];
  const stored = new Map<string, Stored>();
  const folders = new Map<string, string>(); // lower -> display
  const sessions = new Map<string, Session>();
  const codes = new Map<string, { redirectUri: string; challenge: string; method: string }>();
  const refreshTokens = new Set<string>();
  const accessTokens = new Map<string, { expired: boolean }>();
  const grants: Record<string, number> = {};
  let failures = { n: 0, status: 0, retryAfter: undefined as number | undefined, reason: '' };
  let loseAppend = false;
  let corrupt: 'transit' | 'stored' | undefined;
  let seq = 0;
  const newRev = () => (++seq).toString(16).padStart(9, '0') + randomBytes(4).toString('hex');

  const send = (res: http.ServerResponse, status: number, body: unknown, headers: Json = {}) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, {
      'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
      ...(headers as Record<string, string>),
    });
    res.end(text);
  };
  /** An endpoint-specific error, as Dropbox sends it: 409, error_summary and the tagged union. */
  const endpointError = (res: http.ServerResponse, summary: string, error: Json) =>
    send(res, 409, { error_summary: `${summary}/..`, error });

  const issueAccess = () => {
    const token = 'sl.' + randomBytes(24).toString('base64url');
    accessTokens.set(token, { expired: false });
    return token;
  };

  const lower = (p: string) => p.toLowerCase();
  const parentOf = (p: string) => p.slice(0, p.lastIndexOf('/'));

  const fileMeta = (f: Stored) => ({
    '.tag': 'file',
    name: f.path.slice(f.path.lastIndexOf('/') + 1),
    id: f.id,
    client_modified: f.serverModified,
    server_modified: f.serverModified,
    rev: f.rev,
    size: f.data.length,
    path_lower: lower(f.path),
    path_display: f.path,
    is_downloadable: true,
    content_hash: contentHash(f.data),
  });
  const folderMeta = (display: string) => ({
    '.tag': 'folder',
    name: display.slice(display.lastIndexOf('/') + 1),
    id: 'id:' + createHash('sha1').update(lower(display)).digest('base64url').slice(0, 16),
    path_lower: lower(display),
    path_display: display,
  });

  const makeFolders = (path: string) => {
    const segs = path.split('/').filter(Boolean);
    for (let i = 1; i <= segs.length; i++) {
      const p = '/' + segs.slice(0, i).join('/');
      if (!folders.has(lower(p))) folders.set(lower(p), p);
    }
  };

  const validPath = (p: unknown): p is string =>
    typeof p === 'string' && p.startsWith('/') && !p.endsWith('/') && !/\/\.{0,2}(\/|$)/.test(p);

  /** Commits data at a path per the CommitInfo; answers the metadata or a WriteError. */
  const commit = (
    res: http.ServerResponse,
    arg: Json,
    data: Buffer,
    errorWrap: (writeError: Json) => { summary: string; error: Json },
  ) => {
    const path = arg.path;
    if (!validPath(path)) {
      const w = errorWrap({ '.tag': 'malformed_path' });
      return endpointError(res, w.summary + '/malformed_path', w.error);
    }
    const mode = ((arg.mode as Json | string | undefined) ?? 'add') as Json | string;
    const modeTag = typeof mode === 'string' ? mode : String(mode['.tag']);
    if (folders.has(lower(path))) {
      const w = errorWrap({ '.tag': 'conflict', conflict: { '.tag': 'folder' } });
      return endpointError(res, w.summary + '/conflict/folder', w.error);
    }
    const segs = path.split('/');
    for (let i = 2; i < segs.length; i++) {
      if (stored.has(lower(segs.slice(0, i).join('/')))) {
        const w = errorWrap({ '.tag': 'conflict', conflict: { '.tag': 'file_ancestor' } });
        return endpointError(res, w.summary + '/conflict/file_ancestor', w.error);
      }
    }
    const existing = stored.get(lower(path));
    let kept = data;
    if (corrupt === 'stored') {
      corrupt = undefined;
      kept = Buffer.from(data);
      if (kept.length) kept[kept.length >> 1] ^= 0xff;
      else kept = Buffer.from([0]);
    }
    if (existing && existing.data.equals(kept)) return send(res, 200, fileMeta(existing)); // no-op
    if (existing && modeTag !== 'overwrite') {
      // add (autorename is never asked for here) and update with another rev: a conflict.
      const w = errorWrap({ '.tag': 'conflict', conflict: { '.tag': 'file' } });
      return endpointError(res, w.summary + '/conflict/file', w.error);
    }
    makeFolders(parentOf(path));
    const file: Stored = existing
      ? { ...existing, data: kept, versions: existing.versions + 1, rev: newRev() }
      : {
          path: (folders.get(lower(parentOf(path))) ?? '') + '/' + segs[segs.length - 1],
          data: kept,
          versions: 1,
          rev: newRev(),
          id: 'id:' + randomBytes(8).toString('base64url'),
          serverModified: '',
        };
    file.serverModified = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    stored.set(lower(path), file);
    send(res, 200, fileMeta(file));
  };

  /** Flips a byte of a request body when asked to (transit damage), before any check. */
  const maybeDamage = (body: Buffer): Buffer => {
    if (corrupt !== 'transit' || body.length === 0) return body;
    corrupt = undefined;
    const copy = Buffer.from(body);
    copy[copy.length >> 1] ^= 0xff;
    return copy;
  };

  const hashOk = (res: http.ServerResponse, arg: Json, body: Buffer): boolean => {
    if (arg.content_hash === undefined || arg.content_hash === contentHash(body)) return true;
    endpointError(res, 'content_hash_mismatch', { '.tag': 'content_hash_mismatch' });
    return false;
  };

  const route = async (req: http.IncomingMessage, res: http.ServerResponse, url: URL, body: Buffer) => {
    const path = url.pathname;

    // -- OAuth ---------------------------------------------------------------------------------
    if (req.method === 'GET' && path === '/oauth2/authorize') {
      const q = url.searchParams;
      const redirect = q.get('redirect_uri');
      if (q.get('client_id') !== appKey || !redirect)
        return send(res, 400, 'Invalid client_id or redirect_uri');
      if (q.get('response_type') !== 'code') return send(res, 400, 'unsupported response_type');
      const challenge = q.get('code_challenge') ?? '';
      const method = q.get('code_challenge_method') ?? 'plain';
      if (challenge && !/^[A-Za-z0-9._~-]{43,128}$/.test(challenge))
        return send(res, 400, 'Invalid code_challenge');
      const code = randomBytes(16).toString('base64url');
      codes.set(code, { redirectUri: redirect, challenge, method });
      const back = new URL(redirect);
      back.searchParams.set('code', code);
      if (q.get('state')) back.searchParams.set('state', q.get('state')!);
      res.writeHead(302, { location: back.href });
      return res.end();
    }
    if (req.method === 'POST' && path === '/oauth2/token') {
      const form = new URLSearchParams(body.toString());
      const grant = form.get('grant_type') ?? '';
      const bad = (error: string, description: string) =>
        send(res, 400, { error, error_description: description });
      if (form.get('client_id') !== appKey) return bad('invalid_client', 'Invalid client_id');
      if (grant === 'authorization_code') {
        const code = codes.get(form.get('code') ?? '');
        if (!code) return bad('invalid_grant', "code doesn't exist or has expired");
        codes.delete(form.get('code')!);
        if (code.redirectUri !== form.get('redirect_uri'))
          return bad('invalid_grant', 'redirect_uri mismatch');
        if (code.challenge) {
          const verifier = form.get('code_verifier') ?? '';
          const derived =
            code.method === 'S256' ? createHash('sha256').update(verifier).digest('base64url') : verifier;
          if (derived !== code.challenge) return bad('invalid_grant', 'invalid code verifier');
        }
        const refresh = randomBytes(24).toString('base64url');
        refreshTokens.add(refresh);
        grants[grant] = (grants[grant] ?? 0) + 1;
        return send(res, 200, {
          access_token: issueAccess(),
          token_type: 'bearer',
          expires_in: 14400,
          refresh_token: refresh,
          scope: 'files.content.write files.content.read files.metadata.read account_info.read',
          uid: '12345',
          account_id: 'dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc',
        });
      }
      if (grant === 'refresh_token') {
        if (!refreshTokens.has(form.get('refresh_token') ?? ''))
          return bad('invalid_grant', 'refresh token is invalid or revoked');
        grants[grant] = (grants[grant] ?? 0) + 1;
        // Dropbox does not rotate refresh tokens: none comes back.
        return send(res, 200, { access_token: issueAccess(), token_type: 'bearer', expires_in: 14400 });
      }
      return bad('unsupported_grant_type', `grant_type ${grant}`);
    }

    if (!path.startsWith('/2/') || req.method !== 'POST') return send(res, 404, 'Not found');
    const fn = path.slice(3);

    // -- auth, then the rate limits and outages the tests ask for -------------------------------
    const authz = req.headers.authorization ?? '';
    if (!authz.startsWith('Bearer ')) {
      return send(
        res,
        400,
        `Error in call to API function "${fn}": Must provide HTTP header "Authorization" or URL parameter "authorization".`,
      );
    }
    const token = accessTokens.get(authz.slice(7));
    if (!token)
      return send(res, 401, {
        error_summary: 'invalid_access_token/..',
        error: { '.tag': 'invalid_access_token' },
      });
    if (token.expired)
      return send(res, 401, {
        error_summary: 'expired_access_token/..',
        error: { '.tag': 'expired_access_token' },
      });
    if (failures.n > 0) {
      failures.n--;
      const { status, retryAfter, reason } = failures;
      if (status === 429) {
        const tag = reason || 'too_many_requests';
        return send(
          res,
          429,
          { error_summary: `${tag}/..`, error: { reason: { '.tag': tag }, retry_after: retryAfter ?? 1 } },
          retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : {},
        );
      }
      return send(res, status, status === 503 ? 'Service Unavailable' : 'Internal Server Error');
    }

    // -- arguments: header for content calls, JSON body for RPC ---------------------------------
    const isContent = fn === 'files/upload' || fn.startsWith('files/upload_session/');
    let arg: Json = {};
    try {
      if (isContent) {
        if (!/^application\/octet-stream/.test(req.headers['content-type'] ?? '')) {
          return send(res, 400, `Error in call to API function "${fn}": Bad HTTP "Content-Type" header.`);
        }
        arg = JSON.parse(String(req.headers['dropbox-api-arg'] ?? '{}')) as Json;
      } else if (body.length) {
        arg = JSON.parse(body.toString()) as Json;
      }
    } catch {
      return send(res, 400, `Error in call to API function "${fn}": could not decode input as JSON`);
    }
    requests[requests.length - 1].arg = arg;

    switch (fn) {
      case 'users/get_current_account':
        return send(res, 200, {
          account_id: 'dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc',
          name: {
            given_name: 'Ada',
            surname: 'Archivist',
            familiar_name: 'Ada',
            display_name: 'Ada Archivist',
            abbreviated_name: 'AA',
          },
          email: 'archivist@example.com',
          email_verified: true,
          disabled: false,
          account_type: { '.tag': 'basic' },
        });

      case 'files/get_metadata': {
        const p = String(arg.path ?? '');
        if (!validPath(p))
          return endpointError(res, 'path/malformed_path', {
            '.tag': 'path',
            path: { '.tag': 'malformed_path' },
          });
        const f = stored.get(lower(p));
        if (f) return send(res, 200, fileMeta(f));
        const d = folders.get(lower(p));
        if (d) return send(res, 200, folderMeta(d));
        return endpointError(res, 'path/not_found', { '.tag': 'path', path: { '.tag': 'not_found' } });
      }

      case 'files/create_folder_v2': {
        const p = String(arg.path ?? '');
        if (!validPath(p))
          return endpointError(res, 'path/malformed_path', {
            '.tag': 'path',
            path: { '.tag': 'malformed_path' },
          });
        if (stored.has(lower(p)) || folders.has(lower(p))) {
          const kind = stored.has(lower(p)) ? 'file' : 'folder';
          return endpointError(res, `path/conflict/${kind}`, {
            '.tag': 'path',
            path: { '.tag': 'conflict', conflict: { '.tag': kind } },
          });
        }
        makeFolders(p);
        return send(res, 200, { metadata: folderMeta(folders.get(lower(p))!) });
      }

      case 'files/delete_v2': {
        const p = String(arg.path ?? '');
        const entry = p.startsWith('id:')
          ? [...stored.entries()].find(([, f]) => f.id === p)
          : ([lower(p), stored.get(lower(p))] as const);
        const f = entry?.[1];
        if (!entry || !f)
          return endpointError(res, 'path_lookup/not_found', {
            '.tag': 'path_lookup',
            path_lookup: { '.tag': 'not_found' },
          });
        if (arg.parent_rev !== undefined && arg.parent_rev !== f.rev) {
          return endpointError(res, 'path_write/conflict/file', {
            '.tag': 'path_write',
            path_write: { '.tag': 'conflict', conflict: { '.tag': 'file' } },
          });
        }
        const meta = fileMeta(f);
        stored.delete(entry[0]);
        return send(res, 200, { metadata: meta });
      }

      case 'files/upload': {
        const data = maybeDamage(body);
        if (!hashOk(res, arg, data)) return;
        return commit(res, arg, data, (w) => ({
          summary: 'path',
          error: {
            '.tag': 'path',
            reason: w,
            upload_session_id: 'pid_upload_session:' + randomBytes(6).toString('hex'),
          },
        }));
      }

      case 'files/upload_session/start': {
        const data = maybeDamage(body);
        if (!hashOk(res, arg, data)) return;
        const id = 'pid_upload_session:' + randomBytes(12).toString('base64url');
        sessions.set(id, { parts: [data], received: data.length, closed: arg.close === true });
        return send(res, 200, { session_id: id });
      }

      case 'files/upload_session/append_v2': {
        const cursor = (arg.cursor ?? {}) as { session_id?: string; offset?: number };
        const session = sessions.get(String(cursor.session_id));
        if (!session) return endpointError(res, 'not_found', { '.tag': 'not_found' });
        if (session.closed) return endpointError(res, 'closed', { '.tag': 'closed' });
        if (cursor.offset !== session.received) {
          return endpointError(res, 'incorrect_offset', {
            '.tag': 'incorrect_offset',
            correct_offset: session.received,
          });
        }
        const data = maybeDamage(body);
        if (!hashOk(res, arg, data)) return;
        session.parts.push(data);
        session.received += data.length;
        if (arg.close === true) session.closed = true;
        if (loseAppend) {
          loseAppend = false;
          return send(res, 503, 'Service Unavailable');
        }
        return send(res, 200, null);
      }

      case 'files/upload_session/finish': {
        const cursor = (arg.cursor ?? {}) as { session_id?: string; offset?: number };
        const session = sessions.get(String(cursor.session_id));
        if (!session) {
          return endpointError(res, 'lookup_failed/not_found', {
            '.tag': 'lookup_failed',
            lookup_failed: { '.tag': 'not_found' },
          });
        }
        if (cursor.offset !== session.received) {
          return endpointError(res, 'lookup_failed/incorrect_offset', {
            '.tag': 'lookup_failed',
            lookup_failed: { '.tag': 'incorrect_offset', correct_offset: session.received },
          });
        }
        const data = maybeDamage(body);
        if (!hashOk(res, arg, data)) return;
        const whole = Buffer.concat([...session.parts, data]);
        // A finished session is gone, whatever the commit's outcome; a failed commit leaves no file.
        sessions.delete(String(cursor.session_id));
        return commit(res, (arg.commit ?? {}) as Json, whole, (w) => ({
          summary: 'path',
          error: { '.tag': 'path', path: w },
        }));
      }

      default:
        return send(res, 400, `Unknown API function: "${fn}"`);
    }
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      requests.push({ method: req.method ?? '', path: url.pathname, bodySize: body.length });
      route(req, res, url, body).catch((err: unknown) => {
        if (!res.headersSent) send(res, 500, String((err as Error)?.message ?? err));
        else res.destroy();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    appKey,
    requests,
    grants,
    failNext(n, status, retryAfterSeconds, reason) {
      failures = { n, status, retryAfter: retryAfterSeconds, reason: reason ?? '' };
    },
    loseNextAppendAnswer() {
      loseAppend = true;
    },
    corruptNextUpload(mode = 'transit') {
      corrupt = mode;
    },
    revokeTokens() {
      refreshTokens.clear();
      accessTokens.clear();
    },
    expireAccessTokens() {
      for (const t of accessTokens.values()) t.expired = true;
    },
    issueRefreshToken() {
      const t = randomBytes(24).toString('base64url');
      refreshTokens.add(t);
      return t;
    },
    files() {
      return [...stored.values()].map(({ path, data, versions, rev, id }) => ({
        path,
        data,
        versions,
        rev,
        id,
      }));
    },
    folders() {
      return [...folders.values()].sort();
    },
    seed(path, data) {
      makeFolders(parentOf(path));
      stored.set(lower(path), {
        path,
        data,
        versions: 1,
        rev: newRev(),
        id: 'id:' + randomBytes(8).toString('base64url'),
        serverModified: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      });
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
