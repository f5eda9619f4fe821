import { createHash, createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small Box API on 127.0.0.1, standing in for Box's three hosts: the token endpoint
 * (client_credentials, refresh_token with rotating refresh tokens, authorization_code, and the
 * JWT app grant, urn:ietf:params:oauth:grant-type:jwt-bearer, with signed assertions), the authorize page, folders, simple uploads checked against `content-md5` (SHA-1 hex), file versions,
 * upload sessions with per-part and whole-file `Digest: sha=<base64 SHA-1>`, and /users/me.
 * Uploads are served under /api/2.0 as on upload.box.com/api; everything else under /2.0.
 * Errors use Box's client error shape: { type: 'error', status, code, message, context_info }.
 */

export interface FakeBoxRequest {
  method: string;
  path: string;
  /** Bytes in the request body. */
  bytes: number;
}

export interface FakeBoxFile {
  /** Path from the account root, e.g. 'Archive/2024/a.mp3'. */
  path: string;
  id: string;
  data: Buffer;
  /** How many versions the file has (1 for a file never replaced). */
  versions: number;
}

/** A JWT assertion the token endpoint accepted, decoded. */
export interface FakeBoxJwtGrant {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
}

export interface FakeBox {
  url: string;
  clientId: string;
  clientSecret: string;
  /** The app's enterprise: the JWT `sub` with box_sub_type=enterprise. */
  enterpriseId: string;
  /** A user of the enterprise: the JWT `sub` with box_sub_type=user. */
  userId: string;
  /** The part size the fake gives every upload session. */
  partSize: number;
  requests: FakeBoxRequest[];
  /** The next n API requests answer `status` (with Retry-After when given). */
  failNext(n: number, status: number, retryAfterSeconds?: number): void;
  /** The next stored upload (simple upload, version or session part) gets one byte flipped. */
  corruptNextUpload(): void;
  /** The next n commits answer 202 with Retry-After: 0 (parts still processing). */
  deferNextCommits(n: number): void;
  /** Every access and refresh token stops working. */
  revokeTokens(): void;
  /** Access tokens stop working (as when they expire); refresh tokens still do, once each. */
  expireAccessTokens(): void;
  /** A valid refresh token, as if the user had connected the app. */
  issueRefreshToken(): string;
  /** True while the refresh token still works (Box's are single use). */
  refreshTokenValid(token: string): boolean;
  /** Files as stored, with the count of their versions. */
  files(): FakeBoxFile[];
  /** Upload sessions neither committed nor aborted. */
  openSessions(): number;
  /** Adds a public key to the app, as in the Developer Console; returns its id (the JWT `kid`). */
  addPublicKey(publicKey: KeyObject | string): string;
  /** Removes one of the app's public keys. */
  removePublicKey(id: string): void;
  /** The enterprise admin authorizes the app (true, the default) or takes that back (false). */
  authorizeApp(authorized: boolean): void;
  /** JWT assertions the token endpoint accepted, in order. */
  jwtGrants: FakeBoxJwtGrant[];
  close(): Promise<void>;
}

interface Folder {
  type: 'folder';
  id: string;
  name: string;
  parent?: string;
}
interface File {
  type: 'file';
  id: string;
  name: string;
  parent: string;
  versions: Buffer[];
}
interface Session {
  id: string;
  folderId: string;
  fileName: string;
  fileId?: string;
  size: number;
  parts: Map<number, { partId: string; data: Buffer; sha1: string }>;
}

const sha1hex = (b: Buffer) => createHash('sha1').update(b).digest('hex');

const JWT_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** Box wants this audience whatever host the request goes to. */
const JWT_AUDIENCE = 'https://api.box.com/oauth2/token';
/** The algorithms Box accepts for an assertion. */
const JWT_DIGESTS: Record<string, string> = { RS256: 'sha256', RS384: 'sha384', RS512: 'sha512' };

export async function startFakeBox(options: { partSize?: number } = {}): Promise<FakeBox> {
  const clientId = 'box-client-' + randomBytes(4).toString('hex');
  const clientSecret = randomBytes(12).toString('hex');
  const partSize = options.partSize ?? 1024 * 1024;
  const requests: FakeBoxRequest[] = [];
  const accessTokens = new Set<string>();
  const refreshTokens = new Set<string>();
  const codes = new Set<string>();
  const items = new Map<string, Folder | File>([['0', { type: 'folder', id: '0', name: 'All Files' }]]);
  const sessions = new Map<string, Session>();
  let nextId = 1000;
  let failures: { n: number; status: number; retryAfter?: number } = { n: 0, status: 500 };
  let corrupt = false;
  let deferCommits = 0;
  let url = '';
  const enterpriseId = String(100_000 + (randomBytes(2).readUInt16BE() % 900_000));
  const userId = '11446498';
  const publicKeys = new Map<string, KeyObject>();
  const usedJtis = new Set<string>();
  const jwtGrants: FakeBoxJwtGrant[] = [];
  let appAuthorized = true;

  const newId = () => String(nextId++);
  const token = (prefix: string) => prefix + randomBytes(12).toString('hex');

  function send(
    res: ServerResponse,
    status: number,
    body?: unknown,
    headers: Record<string, string> = {},
  ): void {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, { ...(text ? { 'content-type': 'application/json' } : {}), ...headers });
    res.end(text);
  }

  function boxError(
    res: ServerResponse,
    status: number,
    code: string,
    message: string,
    context?: unknown,
  ): void {
    send(res, status, {
      type: 'error',
      status,
      code,
      message,
      ...(context ? { context_info: context } : {}),
      request_id: randomBytes(6).toString('hex'),
    });
  }

  function children(folderId: string): Array<Folder | File> {
    return [...items.values()].filter((i) => i.parent === folderId);
  }

  /** Box compares names without regard to case. */
  function childNamed(folderId: string, name: string): Folder | File | undefined {
    return children(folderId).find((i) => i.name.toLowerCase() === name.toLowerCase());
  }

  function fileJson(f: File) {
    const data = f.versions[f.versions.length - 1];
    return {
      type: 'file',
      id: f.id,
      etag: String(f.versions.length - 1),
      sequence_id: String(f.versions.length - 1),
      name: f.name,
      size: data.length,
      sha1: sha1hex(data),
      file_version: { type: 'file_version', id: `${f.id}v${f.versions.length}`, sha1: sha1hex(data) },
      parent: { type: 'folder', id: f.parent },
    };
  }

  function folderJson(f: Folder) {
    return { type: 'folder', id: f.id, etag: '0', sequence_id: '0', name: f.name };
  }

  function conflict(res: ServerResponse, existing: Folder | File, asList: boolean): void {
    const mini = existing.type === 'file' ? fileJson(existing) : folderJson(existing);
    // Folder creation lists the conflicts; uploads name the one conflicting item.
    boxError(res, 409, 'item_name_in_use', 'Item with the same name already exists', {
      conflicts: asList ? [mini] : mini,
    });
  }

  function maybeCorrupt(data: Buffer): Buffer {
    if (!corrupt || data.length === 0) return data;
    corrupt = false;
    const copy = Buffer.from(data);
    copy[copy.length >> 1] ^= 0xff;
    return copy;
  }

  function pathOf(item: Folder | File): string {
    const names: string[] = [];
    let cur: Folder | File | undefined = item;
    while (cur && cur.id !== '0') {
      names.unshift(cur.name);
      cur = cur.parent ? items.get(cur.parent) : undefined;
    }
    return names.join('/');
  }

  function parseMultipart(
    req: IncomingMessage,
    body: Buffer,
  ): { attributes?: Record<string, unknown>; file?: Buffer } {
    const m = /boundary=("?)([^";]+)\1/.exec(req.headers['content-type'] ?? '');
    if (!m) return {};
    const delim = Buffer.from('--' + m[2]);
    const out: { attributes?: Record<string, unknown>; file?: Buffer } = {};
    let pos = body.indexOf(delim);
    while (pos !== -1) {
      const start = pos + delim.length;
      if (body.subarray(start, start + 2).toString() === '--') break;
      const next = body.indexOf(delim, start);
      if (next === -1) break;
      const part = body.subarray(start + 2, next - 2); // after CRLF, before CRLF
      const split = part.indexOf('\r\n\r\n');
      const head = part.subarray(0, split).toString();
      const content = part.subarray(split + 4);
      const name = /name="([^"]+)"/.exec(head)?.[1];
      if (name === 'attributes') out.attributes = JSON.parse(content.toString()) as Record<string, unknown>;
      else if (name === 'file') out.file = content;
      pos = next;
    }
    return out;
  }

  function shaFromDigest(header: string | string[] | undefined): string | undefined {
    const v = Array.isArray(header) ? header[0] : header;
    const m = /^sha=(.+)$/i.exec(v?.trim() ?? '');
    return m ? Buffer.from(m[1], 'base64').toString('hex') : undefined;
  }

  function sessionJson(s: Session) {
    const base = `${url}/api/2.0/files/upload_sessions/${s.id}`;
    return {
      type: 'upload_session',
      id: s.id,
      session_expires_at: new Date(Date.now() + 86_400_000).toISOString(),
      part_size: partSize,
      total_parts: Math.max(1, Math.ceil(s.size / partSize)),
      num_parts_processed: s.parts.size,
      session_endpoints: {
        upload_part: base,
        commit: `${base}/commit`,
        abort: base,
        list_parts: `${base}/parts`,
        status: base,
        log_event: `${base}/log`,
      },
    };
  }

  function handleToken(res: ServerResponse, form: URLSearchParams): void {
    const grant = form.get('grant_type');
    if (form.get('client_id') !== clientId || form.get('client_secret') !== clientSecret) {
      return send(res, 400, {
        error: 'invalid_client',
        error_description: 'The client credentials are invalid',
      });
    }
    const issue = (withRefresh: boolean) => {
      const access = token('at-');
      accessTokens.add(access);
      const body: Record<string, unknown> = {
        access_token: access,
        expires_in: 3600,
        token_type: 'bearer',
        restricted_to: [],
      };
      if (withRefresh) {
        const refresh = token('rt-');
        refreshTokens.add(refresh);
        body.refresh_token = refresh;
      }
      send(res, 200, body);
    };
    if (grant === 'client_credentials') return issue(false);
    if (grant === JWT_GRANT) {
      const refused = jwtRefusal(form.get('assertion') ?? '');
      if (refused) return send(res, 400, refused);
      // A JWT app gets no refresh token: it signs a new assertion instead.
      return issue(false);
    }
    if (grant === 'refresh_token') {
      const rt = form.get('refresh_token') ?? '';
      // Rotating: a refresh token works once.
      if (!refreshTokens.delete(rt)) {
        return send(res, 400, { error: 'invalid_grant', error_description: 'Invalid refresh token' });
      }
      return issue(true);
    }
    if (grant === 'authorization_code') {
      if (!codes.delete(form.get('code') ?? '')) {
        return send(res, 400, {
          error: 'invalid_grant',
          error_description: 'Auth code doesn\u2019t exist or is invalid for the client',
        });
      }
      return issue(true);
    }
    send(res, 400, { error: 'unsupported_grant_type', error_description: 'Grant type is unsupported' });
  }

  /**
   * Checks a JWT app assertion as Box does; undefined when it is good (then its jti is spent).
   * `kid` may be left out while the app has one public key, and must name one once it has two.
   */
  function jwtRefusal(assertion: string): { error: string; error_description: string } | undefined {
    const invalid = (description: string) => ({ error: 'invalid_grant', error_description: description });
    const parts = assertion.split('.');
    if (parts.length !== 3) return invalid('Invalid JWT assertion');
    let header: Record<string, unknown>;
    let claims: Record<string, unknown>;
    try {
      header = JSON.parse(Buffer.from(parts[0], 'base64url').toString()) as Record<string, unknown>;
      claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString()) as Record<string, unknown>;
    } catch {
      return invalid('Invalid JWT assertion');
    }
    const digest = JWT_DIGESTS[String(header.alg)];
    if (!digest) return invalid("Please check the 'alg' header. Only RS256, RS384 and RS512 are supported.");
    let key: KeyObject | undefined;
    if (typeof header.kid === 'string') key = publicKeys.get(header.kid);
    else if (publicKeys.size === 1) key = [...publicKeys.values()][0];
    if (!key) return invalid("Please check the 'kid' header. The 'kid' specified is invalid.");
    const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
    if (!verify(digest, signed, key, Buffer.from(parts[2], 'base64url'))) {
      return invalid(
        "Signature verification error. The public key identified by 'kid' must correspond to the private key used for signing.",
      );
    }
    if (claims.iss !== clientId) return invalid("Please check the 'iss' claim.");
    if (claims.aud !== JWT_AUDIENCE) return invalid("Please check the 'aud' claim.");
    const subject =
      claims.box_sub_type === 'enterprise'
        ? enterpriseId
        : claims.box_sub_type === 'user'
          ? userId
          : undefined;
    if (subject === undefined) return invalid("Please check the 'box_sub_type' claim.");
    if (claims.sub !== subject)
      return invalid("Please check the 'sub' claim. The 'sub' specified is invalid.");
    const now = Date.now() / 1000;
    if (typeof claims.exp !== 'number' || claims.exp <= now) {
      return invalid("Current date/time MUST be before the expiration date/time listed in the 'exp' claim");
    }
    if (claims.exp > now + 60) {
      return invalid("Please check the 'exp' claim. It must be at most 60 seconds in the future.");
    }
    const jti = claims.jti;
    if (typeof jti !== 'string' || jti.length < 16 || jti.length > 128 || usedJtis.has(jti)) {
      return invalid("Please check the 'jti' claim. A unique 'jti' value is required.");
    }
    if (!appAuthorized) {
      return {
        error: 'unauthorized_client',
        error_description: 'This app is not authorized by the enterprise admin',
      };
    }
    usedJtis.add(jti);
    jwtGrants.push({ header, claims });
    return undefined;
  }

  async function handleApi(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    query: URLSearchParams,
    body: Buffer,
  ) {
    const auth = req.headers.authorization ?? '';
    if (!auth.startsWith('Bearer ') || !accessTokens.has(auth.slice(7))) {
      // Box answers an unknown or expired token with an empty 401.
      return send(res, 401, undefined, {
        'www-authenticate': 'Bearer realm="Service", error="invalid_token"',
      });
    }
    if (failures.n > 0) {
      failures.n--;
      const headers: Record<string, string> =
        failures.retryAfter !== undefined ? { 'retry-after': String(failures.retryAfter) } : {};
      res.writeHead(failures.status, { 'content-type': 'application/json', ...headers });
      const code = failures.status === 429 ? 'rate_limit_exceeded' : 'internal_server_error';
      return res.end(JSON.stringify({ type: 'error', status: failures.status, code, message: code }));
    }
    const method = req.method ?? 'GET';
    const json = () => (body.length ? (JSON.parse(body.toString()) as Record<string, unknown>) : {});
    let m: RegExpExecArray | null;

    if (method === 'GET' && path === '/2.0/users/me') {
      return send(res, 200, { type: 'user', id: '11446498', name: 'Aaron Levie', login: 'ceo@example.com' });
    }
    if (method === 'POST' && path === '/2.0/folders') {
      const b = json() as { name?: string; parent?: { id?: string } };
      const parent = items.get(b.parent?.id ?? '');
      if (!parent || parent.type !== 'folder') return boxError(res, 404, 'not_found', 'Not Found');
      if (!b.name) return boxError(res, 400, 'bad_request', 'name is required');
      const existing = childNamed(parent.id, b.name);
      if (existing) return conflict(res, existing, true);
      const folder: Folder = { type: 'folder', id: newId(), name: b.name, parent: parent.id };
      items.set(folder.id, folder);
      return send(res, 201, folderJson(folder));
    }
    if ((m = /^\/2\.0\/folders\/([^/]+)(\/items)?$/.exec(path)) && method === 'GET') {
      const folder = items.get(m[1]);
      if (!folder || folder.type !== 'folder') return boxError(res, 404, 'not_found', 'Not Found');
      if (!m[2]) return send(res, 200, folderJson(folder));
      const all = children(folder.id);
      const offset = Number(query.get('offset') ?? 0);
      const limit = Math.min(Number(query.get('limit') ?? 100), 1000);
      return send(res, 200, {
        total_count: all.length,
        offset,
        limit,
        entries: all
          .slice(offset, offset + limit)
          .map((i) => (i.type === 'file' ? fileJson(i) : folderJson(i))),
      });
    }
    if (
      method === 'POST' &&
      (path === '/api/2.0/files/content' || (m = /^\/api\/2\.0\/files\/([^/]+)\/content$/.exec(path)))
    ) {
      const parts = parseMultipart(req, body);
      if (!parts.attributes || !parts.file)
        return boxError(res, 400, 'bad_request', 'attributes and file are required');
      const md5 = req.headers['content-md5'];
      if (typeof md5 === 'string' && md5.toLowerCase() !== sha1hex(parts.file)) {
        return boxError(res, 400, 'bad_digest', 'The specified content-md5 did not match what we received');
      }
      const stored = maybeCorrupt(parts.file);
      if (path === '/api/2.0/files/content') {
        const parentId = (parts.attributes.parent as { id?: string } | undefined)?.id ?? '';
        const name = String(parts.attributes.name ?? '');
        const parent = items.get(parentId);
        if (!parent || parent.type !== 'folder') return boxError(res, 404, 'not_found', 'Not Found');
        const existing = childNamed(parentId, name);
        if (existing) return conflict(res, existing, false);
        const file: File = { type: 'file', id: newId(), name, parent: parentId, versions: [stored] };
        items.set(file.id, file);
        return send(res, 201, { total_count: 1, entries: [fileJson(file)] });
      }
      const file = items.get(m![1]);
      if (!file || file.type !== 'file') return boxError(res, 404, 'not_found', 'Not Found');
      file.versions.push(stored);
      return send(res, 200, { total_count: 1, entries: [fileJson(file)] });
    }
    if ((m = /^\/2\.0\/files\/([^/]+)$/.exec(path))) {
      const file = items.get(m[1]);
      if (!file || file.type !== 'file') return boxError(res, 404, 'not_found', 'Not Found');
      if (method === 'GET') return send(res, 200, fileJson(file));
      if (method === 'DELETE') {
        items.delete(file.id);
        return send(res, 204);
      }
    }
    if (
      method === 'POST' &&
      (path === '/api/2.0/files/upload_sessions' ||
        (m = /^\/api\/2\.0\/files\/([^/]+)\/upload_sessions$/.exec(path)))
    ) {
      const b = json() as { folder_id?: string; file_size?: number; file_name?: string };
      if (typeof b.file_size !== 'number' || b.file_size < 0)
        return boxError(res, 400, 'bad_request', 'file_size is required');
      // Box wants 20 MB or more here; the fake takes any size so tests stay small.
      let session: Session;
      if (path === '/api/2.0/files/upload_sessions') {
        const parent = items.get(b.folder_id ?? '');
        if (!parent || parent.type !== 'folder') return boxError(res, 404, 'not_found', 'Not Found');
        const existing = childNamed(parent.id, b.file_name ?? '');
        if (existing) return conflict(res, existing, false);
        session = {
          id: randomBytes(16).toString('hex').toUpperCase(),
          folderId: parent.id,
          fileName: b.file_name ?? '',
          size: b.file_size,
          parts: new Map(),
        };
      } else {
        const file = items.get(m![1]);
        if (!file || file.type !== 'file') return boxError(res, 404, 'not_found', 'Not Found');
        session = {
          id: randomBytes(16).toString('hex').toUpperCase(),
          folderId: file.parent,
          fileName: file.name,
          fileId: file.id,
          size: b.file_size,
          parts: new Map(),
        };
      }
      sessions.set(session.id, session);
      return send(res, 201, sessionJson(session));
    }
    if ((m = /^\/api\/2\.0\/files\/upload_sessions\/([^/]+)(\/commit)?$/.exec(path))) {
      const s = sessions.get(m[1]);
      if (!s) return boxError(res, 404, 'not_found', 'Not Found');
      if (method === 'DELETE' && !m[2]) {
        sessions.delete(s.id);
        return send(res, 204);
      }
      if (method === 'GET' && !m[2]) return send(res, 200, sessionJson(s));
      if (method === 'PUT' && !m[2]) {
        const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(req.headers['content-range'] ?? ''));
        if (!range)
          return boxError(res, 416, 'range_not_satisfiable', 'Content-Range is missing or malformed');
        const [from, to, total] = [Number(range[1]), Number(range[2]), Number(range[3])];
        const isLast = to === s.size - 1;
        if (
          total !== s.size ||
          from % partSize !== 0 ||
          to - from + 1 !== body.length ||
          (!isLast && body.length !== partSize) ||
          to >= s.size
        ) {
          return boxError(res, 416, 'range_not_satisfiable', 'The part does not fit the session');
        }
        const digest = shaFromDigest(req.headers.digest);
        if (!digest) return boxError(res, 400, 'bad_request', 'Digest header is required');
        if (digest !== sha1hex(body)) {
          return boxError(res, 412, 'sha1_mismatch', 'The digest does not match the part content');
        }
        const part = {
          partId: randomBytes(4).toString('hex').toUpperCase(),
          data: maybeCorrupt(body),
          sha1: digest,
        };
        s.parts.set(from, part);
        return send(res, 200, {
          part: { part_id: part.partId, offset: from, size: body.length, sha1: digest },
        });
      }
      if (method === 'POST' && m[2]) {
        if (deferCommits > 0) {
          deferCommits--;
          return send(res, 202, undefined, { 'retry-after': '0' });
        }
        const digest = shaFromDigest(req.headers.digest);
        if (!digest) return boxError(res, 400, 'bad_request', 'Digest header is required');
        const listed = ((json().parts as Array<{ part_id?: string; offset?: number }>) ?? []).map((p) => ({
          id: p.part_id,
          offset: p.offset,
        }));
        const stored = [...s.parts.entries()].sort((a, b) => a[0] - b[0]);
        if (
          listed.length !== stored.length ||
          listed.some((p, i) => p.id !== stored[i][1].partId || p.offset !== stored[i][0])
        ) {
          return boxError(res, 400, 'bad_request', 'The parts list does not match the uploaded parts');
        }
        const data = Buffer.concat(stored.map(([, p]) => p.data));
        if (data.length !== s.size) return boxError(res, 416, 'range_not_satisfiable', 'Parts are missing');
        if (sha1hex(data) !== digest) {
          return boxError(res, 412, 'sha1_mismatch', 'The digest does not match the committed content');
        }
        let file: File;
        if (s.fileId) {
          const existing = items.get(s.fileId);
          if (!existing || existing.type !== 'file') return boxError(res, 404, 'not_found', 'Not Found');
          file = existing;
          file.versions.push(data);
        } else {
          const existing = childNamed(s.folderId, s.fileName);
          if (existing) return conflict(res, existing, false);
          file = { type: 'file', id: newId(), name: s.fileName, parent: s.folderId, versions: [data] };
          items.set(file.id, file);
        }
        sessions.delete(s.id);
        return send(res, 201, { total_count: 1, entries: [fileJson(file)] });
      }
    }
    boxError(res, 404, 'not_found', `no route for ${method} ${path}`);
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const u = new URL(req.url ?? '/', 'http://127.0.0.1');
      requests.push({ method: req.method ?? 'GET', path: u.pathname, bytes: body.length });
      void (async () => {
        try {
          if (u.pathname === '/api/oauth2/authorize' && req.method === 'GET') {
            const redirect = u.searchParams.get('redirect_uri');
            if (u.searchParams.get('client_id') !== clientId || !redirect)
              return boxError(res, 400, 'bad_request', 'invalid client_id or redirect_uri');
            const code = token('code-');
            codes.add(code);
            const back = new URL(redirect);
            back.searchParams.set('code', code);
            back.searchParams.set('state', u.searchParams.get('state') ?? '');
            res.writeHead(302, { location: back.href });
            return res.end();
          }
          if (u.pathname === '/oauth2/token' && req.method === 'POST') {
            return handleToken(res, new URLSearchParams(body.toString()));
          }
          // API calls come under /2.0, the upload host's under /api/2.0, as on the real hosts.
          const path = u.pathname;
          await handleApi(req, res, path, u.searchParams, body);
        } catch (err) {
          boxError(res, 500, 'internal_server_error', String((err as Error).message));
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    clientId,
    clientSecret,
    enterpriseId,
    userId,
    partSize,
    requests,
    failNext(n, status, retryAfterSeconds) {
      failures = { n, status, retryAfter: retryAfterSeconds };
    },
    corruptNextUpload() {
      corrupt = true;
    },
    deferNextCommits(n) {
      deferCommits = n;
    },
    revokeTokens() {
      accessTokens.clear();
      refreshTokens.clear();
    },
    expireAccessTokens() {
      accessTokens.clear();
    },
    issueRefreshToken() {
      const rt = token('rt-');
      refreshTokens.add(rt);
      return rt;
    },
    refreshTokenValid(t) {
      return refreshTokens.has(t);
    },
    files() {
      return [...items.values()]
        .filter((i): i is File => i.type === 'file')
        .map((f) => ({
          path: pathOf(f),
          id: f.id,
          data: f.versions[f.versions.length - 1],
          versions: f.versions.length,
        }));
    },
    openSessions() {
      return sessions.size;
    },
    addPublicKey(publicKey) {
      const id = randomBytes(4).toString('hex');
      publicKeys.set(id, typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey);
      return id;
    },
    removePublicKey(id) {
      publicKeys.delete(id);
    },
    authorizeApp(authorized) {
      appAuthorized = authorized;
    },
    jwtGrants,
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
