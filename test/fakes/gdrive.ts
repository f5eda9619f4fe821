import { createHash, generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small Google Drive v3 on 127.0.0.1: the OAuth endpoints (authorize, token with the
 * authorization_code, refresh_token and service-account JWT bearer grants), about.get, files
 * create/list/get/update/delete with appProperties and the `q` clauses the adapter uses, and
 * resumable uploads answering 308 with a Range header, as Google documents them. Files are kept in
 * memory. Like Drive, it allows several files of the same name in one folder.
 */

export interface FakeDriveFile {
  id: string;
  name: string;
  mimeType: string;
  parents: string[];
  driveId?: string;
  appProperties: Record<string, string>;
  data: Buffer;
  /** 1 when created, +1 for every content update. */
  versions: number;
  trashed: boolean;
}

export interface FakeRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  bodySize: number;
  contentRange?: string;
}

export interface FakeDrive {
  url: string;
  clientId: string;
  clientSecret: string;
  requests: FakeRequest[];
  /** The next n API calls answer `status` (429, 5xx, or 403 with a rate-limit reason). */
  failNext(n: number, status: number, retryAfterSeconds?: number, reason?: string): void;
  /** The next upload PUT keeps only `keepBytes` of its body, then answers `status` (default 503). */
  failNextChunk(keepBytes: number, status?: number): void;
  /** Flips a byte of the next file an upload completes, so the stored checksum differs. */
  corruptNextUpload(): void;
  /** Every access and refresh token stops working (invalid_grant / 401). */
  revokeTokens(): void;
  /** Access tokens stop working, refresh tokens still do. */
  expireAccessTokens(): void;
  /** A new service account: its JSON key (with the private key) for the adapter. */
  serviceAccount(): { key: string; email: string };
  /** A shared drive whose members (service account e-mails) may use it. */
  addSharedDrive(name: string, members?: string[]): string;
  /** A refresh token for the OAuth client, as if the user had connected. */
  issueRefreshToken(): string;
  /** Every file (not folders), with its path from the top of its drive. */
  files(): Array<FakeDriveFile & { path: string }>;
  folders(): string[];
  /** Tokens handed out by grant type. */
  grants: Record<string, number>;
  close(): Promise<void>;
}

const FOLDER = 'application/vnd.google-apps.folder';
const MY_DRIVE = 'myDriveRoot';
const QUANTUM = 256 * 1024;
const AUD = 'https://oauth2.googleapis.com/token';

interface Caller {
  kind: 'user' | 'sa';
  email: string;
}

interface Session {
  id: string;
  fileId?: string;
  meta: Record<string, unknown>;
  caller: Caller;
  total?: number;
  parts: Buffer[];
  received: number;
  fields?: string;
  done?: FakeDriveFile;
}

function googleError(status: number, reason: string, message: string, extra: Record<string, string> = {}) {
  const statusText: Record<number, string> = {
    400: 'INVALID_ARGUMENT',
    401: 'UNAUTHENTICATED',
    403: 'PERMISSION_DENIED',
    404: 'NOT_FOUND',
    429: 'RESOURCE_EXHAUSTED',
    500: 'INTERNAL',
    503: 'UNAVAILABLE',
  };
  const domain = reason.toLowerCase().includes('ratelimit') ? 'usageLimits' : 'global';
  return {
    error: {
      code: status,
      message,
      errors: [{ message, domain, reason, ...extra }],
      ...(statusText[status] ? { status: statusText[status] } : {}),
    },
  };
}

/** Drive's partial responses: `a,b(c,d)`; arrays of objects are filtered element by element. */
function pick(value: unknown, fields: string | undefined): unknown {
  if (!fields || fields === '*') return value;
  if (Array.isArray(value)) return value.map((v) => pick(v, fields));
  if (!value || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  let depth = 0;
  let start = 0;
  const parts: string[] = [];
  for (let i = 0; i <= fields.length; i++) {
    const c = fields[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if ((c === ',' || c === undefined) && depth === 0) {
      parts.push(fields.slice(start, i).trim());
      start = i + 1;
    }
  }
  for (const part of parts) {
    const m = /^([A-Za-z0-9_]+)(?:\((.*)\))?$/.exec(part);
    if (!m) continue;
    const v = (value as Record<string, unknown>)[m[1]];
    if (v !== undefined) out[m[1]] = pick(v, m[2]);
  }
  return out;
}

type Clause = (f: FakeDriveFile) => boolean;

/** The `q` clauses the adapter sends, joined by `and`; anything else is refused like Drive does. */
function parseQuery(q: string): Clause[] | undefined {
  const lit = String.raw`'((?:[^'\\]|\\.)*)'`;
  const unq = (s: string) => s.replace(/\\(.)/g, '$1');
  const clauses: Clause[] = [];
  let rest = q.trim();
  const patterns: Array<[RegExp, (m: RegExpExecArray) => Clause]> = [
    [
      new RegExp(`^${lit}\\s+in\\s+parents`),
      (m) => {
        // 'root' is Drive's alias for the caller's My Drive.
        const id = unq(m[1]) === 'root' ? MY_DRIVE : unq(m[1]);
        return (f) => f.parents.includes(id);
      },
    ],
    [new RegExp(`^name\\s*=\\s*${lit}`), (m) => (f) => f.name === unq(m[1])],
    [new RegExp(`^mimeType\\s*=\\s*${lit}`), (m) => (f) => f.mimeType === unq(m[1])],
    [/^trashed\s*=\s*(true|false)/, (m) => (f) => f.trashed === (m[1] === 'true')],
    [
      new RegExp(`^appProperties\\s+has\\s+\\{\\s*key\\s*=\\s*${lit}\\s+and\\s+value\\s*=\\s*${lit}\\s*\\}`),
      (m) => (f) => f.appProperties[unq(m[1])] === unq(m[2]),
    ],
  ];
  while (rest) {
    let matched = false;
    for (const [re, make] of patterns) {
      const m = re.exec(rest);
      if (m) {
        clauses.push(make(m));
        rest = rest.slice(m[0].length).trim();
        matched = true;
        break;
      }
    }
    if (!matched) return undefined;
    if (rest.startsWith('and ')) rest = rest.slice(4).trim();
    else if (rest) return undefined;
  }
  return clauses;
}

export async function startFakeDrive(): Promise<FakeDrive> {
  const clientId = `${randomBytes(6).toString('hex')}.apps.googleusercontent.com`;
  const clientSecret = `GOCSPX-${randomBytes(12).toString('hex')}`;
  const requests: FakeRequest[] = [];
  const items = new Map<string, FakeDriveFile>();
  const drives = new Map<string, { name: string; members: Set<string> }>();
  const accounts = new Map<string, { publicKey: string }>();
  const codes = new Map<string, { redirectUri: string; challenge?: string }>();
  const refreshTokens = new Set<string>();
  const accessTokens = new Map<string, Caller & { expiresAt: number }>();
  const sessions = new Map<string, Session>();
  const grants: Record<string, number> = {};
  let failures: { n: number; status: number; retryAfter?: number; reason?: string } = { n: 0, status: 0 };
  let chunkFailure: { keep: number; status: number } | undefined;
  let corrupt = false;
  let seq = 0;
  const newId = (prefix = '1') => `${prefix}${(++seq).toString(36)}${randomBytes(8).toString('base64url')}`;
  let url = '';

  const send = (
    res: http.ServerResponse,
    status: number,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, {
      ...(body === undefined ? {} : { 'content-type': 'application/json; charset=UTF-8' }),
      'content-length': String(Buffer.byteLength(text)),
      ...headers,
    });
    res.end(text);
  };

  const resource = (f: FakeDriveFile) => ({
    kind: 'drive#file',
    id: f.id,
    name: f.name,
    mimeType: f.mimeType,
    parents: f.parents,
    ...(f.driveId ? { driveId: f.driveId } : {}),
    trashed: f.trashed,
    appProperties: f.appProperties,
    capabilities: { canAddChildren: f.mimeType === FOLDER, canEdit: true, canDelete: true },
    ...(f.mimeType === FOLDER
      ? {}
      : {
          size: String(f.data.length),
          md5Checksum: createHash('md5').update(f.data).digest('hex'),
          sha1Checksum: createHash('sha1').update(f.data).digest('hex'),
          sha256Checksum: createHash('sha256').update(f.data).digest('hex'),
        }),
  });
  const DEFAULT_FIELDS = 'kind,id,name,mimeType';

  /** A folder-like item: My Drive's root, a shared drive's root, or a folder; undefined if not visible. */
  const lookup = (id: string, caller: Caller, allDrives: boolean): FakeDriveFile | undefined => {
    if (id === 'root') id = MY_DRIVE;
    if (id === MY_DRIVE) {
      // A service account has a My Drive too, but no storage quota to put anything in it.
      return {
        id,
        name: 'My Drive',
        mimeType: FOLDER,
        parents: [],
        appProperties: {},
        data: Buffer.alloc(0),
        versions: 1,
        trashed: false,
      };
    }
    const drive = drives.get(id);
    if (drive) {
      if (!allDrives || (caller.kind === 'sa' && !drive.members.has(caller.email))) return undefined;
      return {
        id,
        name: drive.name,
        mimeType: FOLDER,
        parents: [],
        driveId: id,
        appProperties: {},
        data: Buffer.alloc(0),
        versions: 1,
        trashed: false,
      };
    }
    const f = items.get(id);
    if (!f) return undefined;
    if (f.driveId) {
      const d = drives.get(f.driveId)!;
      if (!allDrives || (caller.kind === 'sa' && !d.members.has(caller.email))) return undefined;
    } else if (caller.kind !== 'user') return undefined;
    return f;
  };

  const pathOf = (f: FakeDriveFile): string => {
    const names = [f.name];
    let parent = f.parents[0];
    while (parent && items.has(parent)) {
      const p = items.get(parent)!;
      names.unshift(p.name);
      parent = p.parents[0];
    }
    return names.join('/');
  };

  /** Checks a new file's parent; answers the error itself and returns undefined when refused. */
  const placeFor = (
    res: http.ServerResponse,
    meta: Record<string, unknown>,
    caller: Caller,
    allDrives: boolean,
  ): { parent: string; driveId?: string } | undefined => {
    const parents = (meta.parents as string[] | undefined) ?? ['root'];
    const parentId = parents[0] === 'root' ? MY_DRIVE : parents[0];
    const parent = lookup(parentId, caller, allDrives);
    if (!parent || parent.mimeType !== FOLDER) {
      send(
        res,
        404,
        googleError(404, 'notFound', `File not found: ${parentId}.`, {
          location: 'fileId',
          locationType: 'parameter',
        }),
      );
      return undefined;
    }
    if (!parent.driveId && caller.kind === 'sa') {
      send(
        res,
        403,
        googleError(
          403,
          'storageQuotaExceeded',
          'Service Accounts do not have storage quota. Leverage shared drives.',
        ),
      );
      return undefined;
    }
    return { parent: parent.id, driveId: parent.driveId };
  };

  const finish = (s: Session): FakeDriveFile => {
    let data = Buffer.concat(s.parts, s.received);
    s.parts = [];
    if (corrupt && data.length > 0) {
      corrupt = false;
      data = Buffer.from(data);
      data[data.length >> 1] ^= 0x01;
    }
    let f: FakeDriveFile;
    if (s.fileId) {
      f = items.get(s.fileId)!;
      f.data = data;
      f.versions++;
      Object.assign(f.appProperties, (s.meta.appProperties as Record<string, string>) ?? {});
    } else {
      f = {
        id: newId(),
        name: String(s.meta.name ?? 'Untitled'),
        mimeType: String(s.meta.mimeType ?? 'application/octet-stream'),
        parents: [String(s.meta.parent)],
        driveId: s.meta.driveId as string | undefined,
        appProperties: { ...((s.meta.appProperties as Record<string, string>) ?? {}) },
        data,
        versions: 1,
        trashed: false,
      };
      items.set(f.id, f);
    }
    s.done = f;
    return f;
  };

  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      try {
        handle(req, res, Buffer.concat(parts));
      } catch (err) {
        send(res, 500, googleError(500, 'backendError', String((err as Error).message)));
      }
    });
  });

  const handle = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => {
    const u = new URL(req.url ?? '/', url);
    const query = Object.fromEntries(u.searchParams);
    const method = req.method ?? 'GET';
    requests.push({
      method,
      path: u.pathname,
      query,
      bodySize: body.length,
      contentRange: req.headers['content-range'] as string | undefined,
    });
    const form = () => Object.fromEntries(new URLSearchParams(body.toString('utf8')));
    const json = (): Record<string, unknown> =>
      body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};

    // -- OAuth ---------------------------------------------------------------------------------
    if (method === 'GET' && u.pathname === '/o/oauth2/v2/auth') {
      const redirect = query.redirect_uri;
      if (query.client_id !== clientId || !redirect || query.response_type !== 'code') {
        return send(res, 400, { error: 'invalid_request', error_description: 'bad authorize request' });
      }
      const code = `4/${randomBytes(12).toString('base64url')}`;
      codes.set(code, { redirectUri: redirect, challenge: query.code_challenge });
      const back = new URL(redirect);
      back.searchParams.set('code', code);
      back.searchParams.set('state', query.state ?? '');
      back.searchParams.set('scope', query.scope ?? '');
      res.writeHead(302, { location: back.href });
      return res.end();
    }
    if (method === 'POST' && u.pathname === '/token') {
      const f = form();
      const grant = f.grant_type;
      const issue = (caller: Caller, refresh?: string) => {
        const token = `ya29.${randomBytes(16).toString('base64url')}`;
        accessTokens.set(token, { ...caller, expiresAt: Date.now() + 3599_000 });
        grants[grant] = (grants[grant] ?? 0) + 1;
        send(res, 200, {
          access_token: token,
          expires_in: 3599,
          token_type: 'Bearer',
          scope: 'https://www.googleapis.com/auth/drive.file',
          ...(refresh ? { refresh_token: refresh } : {}),
        });
      };
      const badGrant = (d = 'Token has been expired or revoked.') =>
        send(res, 400, { error: 'invalid_grant', error_description: d });
      if (grant === 'authorization_code' || grant === 'refresh_token') {
        if (f.client_id !== clientId || f.client_secret !== clientSecret) {
          return send(res, 401, { error: 'invalid_client', error_description: 'Unauthorized' });
        }
        if (grant === 'authorization_code') {
          const c = codes.get(f.code);
          codes.delete(f.code);
          if (!c || c.redirectUri !== f.redirect_uri) return badGrant('Bad Request');
          if (c.challenge) {
            const want = createHash('sha256')
              .update(f.code_verifier ?? '')
              .digest('base64url');
            if (want !== c.challenge) return badGrant('Invalid code verifier.');
          }
          const refresh = `1//${randomBytes(16).toString('base64url')}`;
          refreshTokens.add(refresh);
          return issue({ kind: 'user', email: 'archivist@example.com' }, refresh);
        }
        if (!refreshTokens.has(f.refresh_token)) return badGrant();
        return issue({ kind: 'user', email: 'archivist@example.com' });
      }
      if (grant === 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
        const [h, c, sig] = String(f.assertion ?? '').split('.');
        try {
          const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as { alg?: string };
          const claims = JSON.parse(Buffer.from(c, 'base64url').toString()) as Record<string, unknown>;
          const account = accounts.get(String(claims.iss));
          const now = Date.now() / 1000;
          if (
            header.alg !== 'RS256' ||
            !account ||
            claims.aud !== AUD ||
            typeof claims.scope !== 'string' ||
            Number(claims.exp) < now ||
            Number(claims.iat) > now + 300 ||
            !verify('RSA-SHA256', Buffer.from(`${h}.${c}`), account.publicKey, Buffer.from(sig, 'base64url'))
          ) {
            return badGrant('Invalid JWT Signature.');
          }
          return issue({ kind: 'sa', email: String(claims.iss) });
        } catch {
          return badGrant('Invalid JWT.');
        }
      }
      return send(res, 400, { error: 'unsupported_grant_type', error_description: 'Invalid grant_type' });
    }

    // -- API: auth, injected failures ----------------------------------------------------------
    const bearer = /^Bearer (.+)$/i.exec(String(req.headers.authorization ?? ''))?.[1];
    const caller = bearer ? accessTokens.get(bearer) : undefined;
    if (!caller || caller.expiresAt < Date.now()) {
      return send(
        res,
        401,
        googleError(401, 'authError', 'Request had invalid authentication credentials.', {
          location: 'Authorization',
          locationType: 'header',
        }),
        { 'www-authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"' },
      );
    }
    if (failures.n > 0) {
      failures.n--;
      const { status, retryAfter } = failures;
      const reason =
        failures.reason ??
        (status === 429 ? 'rateLimitExceeded' : status >= 500 ? 'backendError' : 'forbidden');
      const message =
        reason === 'userRateLimitExceeded'
          ? 'User Rate Limit Exceeded'
          : reason === 'rateLimitExceeded'
            ? 'Rate Limit Exceeded'
            : 'Backend Error';
      return send(
        res,
        status,
        googleError(status, reason, message),
        retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : {},
      );
    }
    const allDrives = query.supportsAllDrives === 'true';

    // -- about ---------------------------------------------------------------------------------
    if (method === 'GET' && u.pathname === '/drive/v3/about') {
      const user =
        caller.kind === 'user'
          ? { kind: 'drive#user', displayName: 'Ada Archivist', emailAddress: caller.email }
          : { kind: 'drive#user', displayName: caller.email, emailAddress: caller.email };
      return send(res, 200, pick({ kind: 'drive#about', user }, query.fields));
    }

    // -- resumable uploads ---------------------------------------------------------------------
    const uploadMatch = /^\/upload\/drive\/v3\/files(?:\/([^/]+))?$/.exec(u.pathname);
    if (uploadMatch && query.upload_id === undefined) {
      if (query.uploadType !== 'resumable') {
        return send(res, 400, googleError(400, 'invalid', 'the fake only takes resumable uploads'));
      }
      const meta = json();
      const total = req.headers['x-upload-content-length'];
      const s: Session = {
        id: randomBytes(12).toString('base64url'),
        meta,
        caller,
        total: total === undefined ? undefined : Number(total),
        parts: [],
        received: 0,
        fields: query.fields,
      };
      if (method === 'POST' && !uploadMatch[1]) {
        const place = placeFor(res, meta, caller, allDrives);
        if (!place) return;
        meta.parent = place.parent;
        meta.driveId = place.driveId;
        if (!meta.mimeType && req.headers['x-upload-content-type'])
          meta.mimeType = req.headers['x-upload-content-type'];
      } else if (method === 'PATCH' && uploadMatch[1]) {
        const f = lookup(uploadMatch[1], caller, allDrives);
        if (!f || !items.has(f.id)) {
          return send(res, 404, googleError(404, 'notFound', `File not found: ${uploadMatch[1]}.`));
        }
        s.fileId = f.id;
      } else return send(res, 405, googleError(405, 'methodNotAllowed', 'Method not allowed'));
      sessions.set(s.id, s);
      const loc = new URL(u.pathname, url);
      loc.searchParams.set('uploadType', 'resumable');
      loc.searchParams.set('upload_id', s.id);
      if (query.fields) loc.searchParams.set('fields', query.fields);
      loc.searchParams.set('supportsAllDrives', 'true');
      return send(res, 200, undefined, { location: loc.href, 'x-guploader-uploadid': s.id });
    }
    if (uploadMatch && method === 'PUT') {
      const s = sessions.get(query.upload_id);
      if (!s) return send(res, 404, googleError(404, 'notFound', 'Upload session not found or expired.'));
      const range = String(req.headers['content-range'] ?? '');
      const m = /^bytes (?:(\d+)-(\d+)|\*)\/(\d+|\*)$/.exec(range);
      if (!m) return send(res, 400, googleError(400, 'badContent', `Invalid Content-Range: ${range}`));
      const total = m[3] === '*' ? undefined : Number(m[3]);
      if (total !== undefined) s.total = total;
      const answer = () => {
        if (s.done) return send(res, 200, pick(resource(s.done), s.fields ?? DEFAULT_FIELDS));
        return send(res, 308, undefined, s.received > 0 ? { range: `bytes=0-${s.received - 1}` } : {});
      };
      if (m[1] === undefined) {
        if (body.length) return send(res, 400, googleError(400, 'badContent', 'body with a status query'));
        if (!s.done && s.total !== undefined && s.received === s.total) finish(s);
        return answer();
      }
      if (s.done) return answer();
      const start = Number(m[1]);
      const end = Number(m[2]);
      if (start !== s.received) {
        return send(
          res,
          400,
          googleError(
            400,
            'badContent',
            `Invalid request. According to the Content-Range header, the upload offset is ${start} byte(s), which does not match the uploaded size of ${s.received} byte(s).`,
          ),
        );
      }
      if (end - start + 1 !== body.length)
        return send(res, 400, googleError(400, 'badContent', 'Content-Range does not match the body'));
      const final = s.total !== undefined && end + 1 === s.total;
      if (!final && (end + 1) % QUANTUM !== 0) {
        return send(
          res,
          400,
          googleError(400, 'badContent', 'chunks other than the last must end on a multiple of 256 KiB'),
        );
      }
      if (s.total !== undefined && end + 1 > s.total)
        return send(res, 400, googleError(400, 'badContent', 'more bytes than the total'));
      if (chunkFailure) {
        const keep = Math.min(chunkFailure.keep, body.length);
        const status = chunkFailure.status;
        chunkFailure = undefined;
        s.parts.push(body.subarray(0, keep));
        s.received += keep;
        return send(res, status, googleError(status, 'backendError', 'Backend Error'));
      }
      s.parts.push(body);
      s.received += body.length;
      if (final) finish(s);
      return answer();
    }

    // -- files ---------------------------------------------------------------------------------
    if (u.pathname === '/drive/v3/files' && method === 'GET') {
      const clauses = parseQuery(query.q ?? '');
      if (!clauses) {
        return send(
          res,
          400,
          googleError(400, 'invalid', 'Invalid Value', { location: 'q', locationType: 'parameter' }),
        );
      }
      const corpora = query.corpora ?? 'user';
      if (
        corpora === 'drive' &&
        (!query.driveId || query.includeItemsFromAllDrives !== 'true' || !allDrives)
      ) {
        return send(
          res,
          403,
          googleError(
            403,
            'teamDriveIdRequired',
            'corpora=drive needs driveId, includeItemsFromAllDrives and supportsAllDrives',
          ),
        );
      }
      const withDrives = allDrives && query.includeItemsFromAllDrives === 'true';
      const found = [...items.values()].filter((f) => {
        if (!lookup(f.id, caller, withDrives)) return false;
        if (corpora === 'drive' ? f.driveId !== query.driveId : f.driveId && caller.kind === 'sa')
          return false;
        return clauses.every((c) => c(f));
      });
      const size = Math.min(1000, Number(query.pageSize ?? 100));
      const from = Number(query.pageToken ?? 0);
      const page = found.slice(from, from + size);
      const next = from + size < found.length ? String(from + size) : undefined;
      return send(
        res,
        200,
        pick(
          { kind: 'drive#fileList', incompleteSearch: false, nextPageToken: next, files: page.map(resource) },
          query.fields ?? 'kind,incompleteSearch,nextPageToken,files(kind,id,name,mimeType)',
        ),
      );
    }
    if (u.pathname === '/drive/v3/files' && method === 'POST') {
      const meta = json();
      const place = placeFor(res, meta, caller, allDrives);
      if (!place) return;
      const f: FakeDriveFile = {
        id: newId(),
        name: String(meta.name ?? 'Untitled'),
        mimeType: String(meta.mimeType ?? 'application/octet-stream'),
        parents: [place.parent],
        driveId: place.driveId,
        appProperties: { ...((meta.appProperties as Record<string, string>) ?? {}) },
        data: Buffer.alloc(0),
        versions: 1,
        trashed: false,
      };
      items.set(f.id, f);
      return send(res, 200, pick(resource(f), query.fields ?? DEFAULT_FIELDS));
    }
    const fileMatch = /^\/drive\/v3\/files\/([^/]+)$/.exec(u.pathname);
    if (fileMatch) {
      const f = lookup(decodeURIComponent(fileMatch[1]), caller, allDrives);
      if (!f) {
        return send(
          res,
          404,
          googleError(404, 'notFound', `File not found: ${fileMatch[1]}.`, {
            location: 'fileId',
            locationType: 'parameter',
          }),
        );
      }
      if (method === 'GET') return send(res, 200, pick(resource(f), query.fields ?? DEFAULT_FIELDS));
      if (method === 'DELETE' && items.has(f.id)) {
        for (const [id, other] of items) if (other.parents.includes(f.id)) items.delete(id);
        items.delete(f.id);
        return send(res, 204);
      }
      if (method === 'PATCH' && items.has(f.id)) {
        const meta = json();
        if (typeof meta.name === 'string') f.name = meta.name;
        if (typeof meta.trashed === 'boolean') f.trashed = meta.trashed;
        for (const [k, v] of Object.entries((meta.appProperties as Record<string, string | null>) ?? {})) {
          if (v === null) delete f.appProperties[k];
          else f.appProperties[k] = v;
        }
        return send(res, 200, pick(resource(f), query.fields ?? DEFAULT_FIELDS));
      }
    }
    return send(res, 404, googleError(404, 'notFound', `Not Found: ${method} ${u.pathname}`));
  };

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    clientId,
    clientSecret,
    requests,
    grants,
    failNext(n, status, retryAfterSeconds, reason) {
      failures = { n, status, retryAfter: retryAfterSeconds, reason };
    },
    failNextChunk(keepBytes, status = 503) {
      chunkFailure = { keep: keepBytes, status };
    },
    corruptNextUpload() {
      corrupt = true;
    },
    revokeTokens() {
      refreshTokens.clear();
      accessTokens.clear();
    },
    expireAccessTokens() {
      accessTokens.clear();
    },
    serviceAccount() {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const email = `archiver-${randomBytes(3).toString('hex')}@project.iam.gserviceaccount.com`;
      accounts.set(email, { publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString() });
      const key = {
        type: 'service_account',
        project_id: 'project',
        private_key_id: randomBytes(20).toString('hex'),
        private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        client_email: email,
        client_id: String(Date.now()),
        auth_uri: 'https://accounts.google.com/o/oauth2/auth',
        token_uri: AUD,
      };
      return { key: JSON.stringify(key), email };
    },
    addSharedDrive(name, members = []) {
      const id = `0A${randomBytes(8).toString('hex')}Uk9PVA`;
      drives.set(id, { name, members: new Set(members) });
      return id;
    },
    issueRefreshToken() {
      const refresh = `1//${randomBytes(16).toString('base64url')}`;
      refreshTokens.add(refresh);
      return refresh;
    },
    files() {
      return [...items.values()].filter((f) => f.mimeType !== FOLDER).map((f) => ({ ...f, path: pathOf(f) }));
    },
    folders() {
      return [...items.values()]
        .filter((f) => f.mimeType === FOLDER)
        .map(pathOf)
        .sort();
    },
    close() {
      return new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
