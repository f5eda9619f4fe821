// Tests of the RingCentral simulator: shapes against the OpenAPI description, OAuth with the real
// @ringcentral/sdk, paging, rate limits, content streaming, faults, the control routes and the CLI.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { SDK } from '@ringcentral/sdk';
import { OpenApiValidator } from './openapi';
import { startSimulator, type Simulator } from './index';

const RELAXED = { Light: 10_000, Medium: 10_000, Heavy: 10_000, Auth: 10_000 };
const JWT_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const RATE_HEADERS = [
  'x-rate-limit-group',
  'x-rate-limit-limit',
  'x-rate-limit-remaining',
  'x-rate-limit-window',
];
const FIXED_NOW = '2026-03-02T12:00:00.000Z';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface TokenInfo {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  refresh_token_expires_in: number;
  token_type: string;
  owner_id: string;
}

function basic(sim: Simulator): string {
  const { clientId, clientSecret } = sim.credentials;
  return `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`;
}

async function tokenRequest(
  sim: Simulator,
  form: Record<string, string>,
  auth = basic(sim),
): Promise<Response> {
  return fetch(`${sim.platformUrl}/restapi/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: auth },
    body: new URLSearchParams(form).toString(),
  });
}

async function login(sim: Simulator, jwt = sim.credentials.jwt): Promise<TokenInfo> {
  const res = await tokenRequest(sim, { grant_type: JWT_GRANT, assertion: jwt });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as TokenInfo;
}

async function api(sim: Simulator, path: string, token?: string): Promise<Response> {
  const url = path.startsWith('http') ? path : `${sim.platformUrl}${path}`;
  return fetch(url, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
}

async function getJson(sim: Simulator, path: string, token: string): Promise<Json> {
  const res = await api(sim, path, token);
  const text = await res.text();
  assert.equal(res.status, 200, `${path}: ${text}`);
  return JSON.parse(text) as Json;
}

type HeaderBag = { get(name: string): string | null } | http.IncomingHttpHeaders;

/** Works with fetch Headers, node-fetch Headers (the SDK's) and node:http headers. */
function assertRateHeaders(res: { headers: HeaderBag }, what: string, group?: string): void {
  const get = (name: string): string | undefined => {
    const h = res.headers;
    if (typeof h.get === 'function')
      return (h as { get(name: string): string | null }).get(name) ?? undefined;
    const v = (h as http.IncomingHttpHeaders)[name];
    return Array.isArray(v) ? v[0] : v;
  };
  for (const name of RATE_HEADERS) assert.ok(get(name), `${what}: header ${name} missing`);
  if (group) assert.equal(get('x-rate-limit-group'), group, what);
}

interface Download {
  status: number;
  headers: http.IncomingHttpHeaders;
  bytes: number;
  sha256: string;
  head: Buffer;
  error?: Error;
}

/** Streams a download into a hash (never buffers the body); resolves with what arrived and any error. */
function download(
  url: string,
  token?: string,
  onChunk?: () => void,
  idleMs = 10_000,
  extraHeaders: Record<string, string> = {},
): Promise<Download> {
  return new Promise((resolve) => {
    const hash = createHash('sha256');
    const head: Buffer[] = [];
    let headBytes = 0;
    let bytes = 0;
    let status = 0;
    let headers: http.IncomingHttpHeaders = {};
    let settled = false;
    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      resolve({ status, headers, bytes, sha256: hash.digest('hex'), head: Buffer.concat(head), error });
    };
    const req = http.get(
      url,
      { agent: false, headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...extraHeaders } },
      (res) => {
        status = res.statusCode ?? 0;
        headers = res.headers;
        res.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          bytes += chunk.length;
          if (headBytes < 64) {
            head.push(chunk.subarray(0, 64 - headBytes));
            headBytes += Math.min(64 - headBytes, chunk.length);
          }
          onChunk?.();
        });
        res.on('end', () => finish(res.complete ? undefined : new Error('incomplete body')));
        res.on('error', (err) => finish(err));
        res.on('close', () =>
          finish(res.complete ? undefined : new Error('connection closed before the end')),
        );
      },
    );
    req.setTimeout(idleMs, () => req.destroy(new Error('idle timeout')));
    req.on('error', (err) => finish(err));
  });
}

function sdkFor(sim: Simulator, prefix: string): SDK {
  return new SDK({
    server: sim.platformUrl,
    clientId: sim.credentials.clientId,
    clientSecret: sim.credentials.clientSecret,
    cachePrefix: `sim-test-${prefix}-`,
    refreshDelayMs: 1,
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------

describe('simulator: shapes follow the OpenAPI description', () => {
  let sim: Simulator;
  let validator: OpenApiValidator;
  let token: TokenInfo;
  const since = '2026-02-01T00:00:00.000Z';

  before(async () => {
    sim = await startSimulator({ seed: 11, now: FIXED_NOW, rateLimits: RELAXED });
    validator = new OpenApiValidator();
    token = await login(sim);
  });
  after(() => sim.close());

  function check(operationId: string, status: number, body: unknown): void {
    const result = validator.validateResponse(operationId, status, body);
    assert.ok(result.valid, `${operationId} ${status} does not match the spec:\n${result.text}`);
  }

  it('token, account, extensions, authz-profile and recording metadata', async () => {
    const res = await tokenRequest(sim, { grant_type: JWT_GRANT, assertion: sim.credentials.jwt });
    const body = (await res.json()) as Json;
    check('getToken', 200, body);
    assert.equal(body.token_type, 'bearer');
    assert.equal(body.owner_id, sim.adminExtension.id);
    assert.ok(body.refresh_token && body.refresh_token_expires_in > 0 && body.expires_in > 0 && body.scope);

    check('readAccountInfo', 200, await getJson(sim, '/restapi/v1.0/account/~', token.access_token));
    check(
      'readAccountInfo',
      200,
      await getJson(sim, `/restapi/v1.0/account/${sim.accountId}`, token.access_token),
    );
    const me = await getJson(sim, '/restapi/v1.0/account/~/extension/~', token.access_token);
    check('readExtension', 200, me);
    assert.equal(String(me.id), sim.adminExtension.id);
    assert.equal(me.permissions.admin.enabled, true);
    const list = await getJson(sim, '/restapi/v1.0/account/~/extension?perPage=2', token.access_token);
    check('listExtensions', 200, list);
    assert.equal(list.records.length, 2);
    assert.deepEqual(
      list.records.map((r: Json) => r.extensionNumber),
      ['101', '102'],
    );
    const other = await getJson(
      sim,
      `/restapi/v1.0/account/~/extension/${sim.extensions[2].id}`,
      token.access_token,
    );
    check('readExtension', 200, other);
    const profile = await getJson(
      sim,
      '/restapi/v1.0/account/~/extension/~/authz-profile',
      token.access_token,
    );
    check('readAuthorizationProfile', 200, profile);
    const rec = sim.allRecordings()[0];
    const meta = await getJson(sim, `/restapi/v1.0/account/~/recording/${rec.id}`, token.access_token);
    check('readCallRecording', 200, meta);
    assert.equal(meta.contentUri, rec.contentUri);
    assert.ok(meta.contentUri.startsWith(`${sim.mediaUrl}/restapi/v1.0/account/${sim.accountId}/recording/`));
    check('readAPIVersions', 200, await getJson(sim, '/restapi', token.access_token));
  });

  it('account and extension call log in Simple and Detailed view', async () => {
    for (const view of ['Simple', 'Detailed']) {
      const all = await getJson(
        sim,
        `/restapi/v1.0/account/~/call-log?view=${view}&dateFrom=${since}&perPage=1000`,
        token.access_token,
      );
      check('readCompanyCallLog', 200, all);
      assert.ok(all.records.length > 50, 'enough records');
      const user = await getJson(
        sim,
        `/restapi/v1.0/account/~/extension/~/call-log?view=${view}&dateFrom=${since}&withRecording=true`,
        token.access_token,
      );
      check('readUserCallLog', 200, user);
      for (const r of user.records) assert.equal(String(r.extension.id), sim.adminExtension.id);
      const one = await getJson(
        sim,
        `/restapi/v1.0/account/~/call-log/${all.records[0].id}?view=${view}`,
        token.access_token,
      );
      assert.equal(one.id, all.records[0].id);
      const hasLegs = all.records.some((r: Json) => Array.isArray(r.legs));
      assert.equal(hasLegs, view === 'Detailed');
    }
    const first = (
      await getJson(
        sim,
        `/restapi/v1.0/account/~/call-log?dateFrom=${since}&withRecording=true`,
        token.access_token,
      )
    ).records[0];
    assert.match(first.startTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
    assert.match(first.from.phoneNumber, /^\+\d{11}$/);
    assert.match(first.to.phoneNumber, /^\+\d{11}$/);
    assert.equal(first.type, 'Voice');
    assert.ok(first.recording.contentUri.startsWith(sim.mediaUrl));
  });

  it('error bodies: 400, 401, 403, 404, 429 and OAuth errors', async () => {
    const bad = await api(sim, '/restapi/v1.0/account/~/call-log?perPage=1001', token.access_token);
    assert.equal(bad.status, 400);
    check('readCompanyCallLog', 400, await bad.json());

    const unauth = await api(sim, '/restapi/v1.0/account/~/call-log');
    assert.equal(unauth.status, 401);
    const unauthBody = await unauth.json();
    assert.ok(validator.validateNamedResponse('Unauthorized', unauthBody).valid);

    const missing = await api(sim, '/restapi/v1.0/account/~/recording/123', token.access_token);
    assert.equal(missing.status, 404);
    check('readCallRecording', 404, await missing.json());

    const nowhere = await api(sim, '/restapi/v1.0/no/such/thing', token.access_token);
    assert.equal(nowhere.status, 404);
    assert.ok(validator.validateNamedResponse('NotFound', await nowhere.json()).valid);

    const oauth = await tokenRequest(sim, { grant_type: JWT_GRANT, assertion: 'not-a-known-jwt' });
    assert.equal(oauth.status, 400);
    const oauthBody = (await oauth.json()) as Json;
    check('getToken', 400, oauthBody);
    assert.equal(oauthBody.error, 'invalid_grant');

    const client = await tokenRequest(
      sim,
      { grant_type: JWT_GRANT, assertion: sim.credentials.jwt },
      'Basic eDp5',
    );
    assert.equal(client.status, 400);
    assert.equal(((await client.json()) as Json).error, 'invalid_client');

    const user = sim.extensions[1];
    const userToken = await login(sim, sim.jwtFor(user.id));
    const forbidden = await api(sim, '/restapi/v1.0/account/~/call-log', userToken.access_token);
    assert.equal(forbidden.status, 403);
    const forbiddenBody = (await forbidden.json()) as Json;
    check('readCompanyCallLog', 403, forbiddenBody);
    assert.equal(forbiddenBody.errorCode, 'CMN-408');

    const limited = await startSimulator({ seed: 1, days: 1, rateLimits: { Light: 1 } });
    try {
      const t = await login(limited);
      assert.equal((await api(limited, '/restapi/v1.0/account/~', t.access_token)).status, 200);
      const tooMany = await api(limited, '/restapi/v1.0/account/~', t.access_token);
      assert.equal(tooMany.status, 429);
      const body = (await tooMany.json()) as Json;
      assert.ok(validator.validateNamedResponse('TooManyRequests', body).valid);
      assert.equal(body.errorCode, 'CMN-301');
      assert.equal(body.message, 'Request rate exceeded');
    } finally {
      await limited.close();
    }
  });

  it('the validator rejects wrong shapes', async () => {
    const good = await getJson(
      sim,
      `/restapi/v1.0/account/~/call-log?view=Detailed&dateFrom=${since}`,
      token.access_token,
    );
    const mutations: Array<[string, (b: Json) => void]> = [
      ['records missing', (b) => delete b.records],
      ['paging missing', (b) => delete b.paging],
      ['startTime not a date', (b) => (b.records[0].startTime = 'yesterday')],
      ['id not a string', (b) => (b.records[0].id = 5)],
      ['unknown direction', (b) => (b.records[0].direction = 'Sideways')],
      [
        'recording without contentUri',
        (b) => delete b.records.find((r: Json) => r.recording).recording.contentUri,
      ],
      ['leg without legType', (b) => delete b.records.find((r: Json) => r.legs).legs[0].legType],
      ['extra navigation key', (b) => (b.navigation.somePage = { uri: 'http://x/' })],
      ['perPage over 1000 in paging', (b) => (b.paging.perPage = 5000)],
    ];
    for (const [what, mutate] of mutations) {
      const copy = structuredClone(good);
      mutate(copy);
      assert.equal(
        validator.validateResponse('readCompanyCallLog', 200, copy).valid,
        false,
        `${what} passed validation`,
      );
    }
    const tokenInfo = await (
      await tokenRequest(sim, { grant_type: JWT_GRANT, assertion: sim.credentials.jwt })
    ).json();
    delete (tokenInfo as Json).access_token;
    assert.equal(validator.validateResponse('getToken', 200, tokenInfo).valid, false);
  });
});

// ---------------------------------------------------------------------------------------------

describe('simulator: OAuth', () => {
  let sim: Simulator;
  before(async () => {
    sim = await startSimulator({ seed: 2, days: 2, rateLimits: RELAXED });
  });
  after(() => sim.close());

  it('the real SDK logs in with the JWT and reads the call log', async () => {
    const sdk = sdkFor(sim, 'login');
    const platform = sdk.platform();
    await platform.login({ jwt: sim.credentials.jwt });
    const res = await platform.get('/restapi/v1.0/account/~/call-log', {
      dateFrom: new Date(sim.now() - 2 * 86400_000).toISOString(),
      view: 'Simple',
      perPage: 50,
    });
    assertRateHeaders(res, 'SDK call-log', 'Heavy');
    const body = (await res.json()) as Json;
    assert.ok(body.records.length > 0);
    const me = (await (await platform.get('/restapi/v1.0/account/~/extension/~')).json()) as Json;
    assert.equal(String(me.id), sim.adminExtension.id);
    const rec = sim.allRecordings()[0];
    const content = await platform.get(rec.contentUri);
    const bytes = Buffer.from(await content.arrayBuffer());
    assert.equal(createHash('sha256').update(bytes).digest('hex'), rec.sha256);

    const wrong = sdkFor(sim, 'wrong').platform();
    await assert.rejects(wrong.login({ jwt: 'eyJ.nope.x' }), (err: Error & { response?: Response }) => {
      assert.equal(err.response?.status, 400);
      assert.match(err.message, /Invalid assertion/);
      return true;
    });
    await platform.logout();
  });

  it('refresh tokens are single-use and a refresh replaces the access token', async () => {
    const first = await login(sim);
    const refreshed = await tokenRequest(sim, {
      grant_type: 'refresh_token',
      refresh_token: first.refresh_token,
    });
    assert.equal(refreshed.status, 200);
    const second = (await refreshed.json()) as TokenInfo;
    assert.notEqual(second.access_token, first.access_token);
    assert.notEqual(second.refresh_token, first.refresh_token);

    const reuse = await tokenRequest(sim, {
      grant_type: 'refresh_token',
      refresh_token: first.refresh_token,
    });
    assert.equal(reuse.status, 400);
    const reuseBody = (await reuse.json()) as Json;
    assert.equal(reuseBody.error, 'invalid_grant');
    assert.ok(Array.isArray(reuseBody.errors) && reuseBody.errors[0].errorCode);

    assert.equal((await api(sim, '/restapi/v1.0/account/~', first.access_token)).status, 401);
    assert.equal((await api(sim, '/restapi/v1.0/account/~', second.access_token)).status, 200);

    // the SDK refreshes with its refresh token once; the old one is then refused
    const platform = sdkFor(sim, 'refresh').platform();
    await platform.login({ jwt: sim.credentials.jwt });
    const before = sim.stats.refreshes;
    const oldRefresh = (await platform.auth().data()).refresh_token as string;
    await platform.refresh();
    assert.equal(sim.stats.refreshes, before + 1);
    assert.equal(
      (await tokenRequest(sim, { grant_type: 'refresh_token', refresh_token: oldRefresh })).status,
      400,
    );
    assert.equal((await platform.get('/restapi/v1.0/account/~')).status, 200);
  });

  it('expired, revoked and missing tokens get 401 with RingCentral error bodies', async () => {
    const t = await login(sim);
    const missing = await api(sim, '/restapi/v1.0/account/~/extension/~');
    assert.equal(missing.status, 401);
    assertRateHeaders(missing, 'missing token 401');

    sim.expireAccessTokens();
    const expired = await api(sim, '/restapi/v1.0/account/~/extension/~', t.access_token);
    assert.equal(expired.status, 401);
    assertRateHeaders(expired, 'expired 401', 'Light');
    assert.equal(((await expired.json()) as Json).errorCode, 'TokenExpired');

    // the SDK answers a 401 by refreshing and retrying
    const platform = sdkFor(sim, 'expired').platform();
    await platform.login({ jwt: sim.credentials.jwt });
    sim.expireAccessTokens();
    const refreshesBefore = sim.stats.refreshes;
    assert.equal((await platform.get('/restapi/v1.0/account/~/extension/~')).status, 200);
    assert.equal(sim.stats.refreshes, refreshesBefore + 1);

    sim.revokeAllTokens();
    const revoked = await api(sim, '/restapi/v1.0/account/~', t.access_token);
    assert.equal(revoked.status, 401);
    assert.equal(((await revoked.json()) as Json).errorCode, 'TokenInvalid');
    await assert.rejects(platform.get('/restapi/v1.0/account/~'));

    const short = await startSimulator({ seed: 2, days: 1, accessTokenTtlSec: 1, refreshTokenTtlSec: 30 });
    try {
      const s = await login(short);
      assert.equal(s.expires_in, 1);
      assert.equal(s.refresh_token_expires_in, 30);
      assert.equal((await api(short, '/restapi/v1.0/account/~', s.access_token)).status, 200);
      await sleep(1100);
      const late = await api(short, '/restapi/v1.0/account/~', s.access_token);
      assert.equal(late.status, 401);
      assert.equal(((await late.json()) as Json).errorCode, 'TokenExpired');
    } finally {
      await short.close();
    }
  });

  it('logout revokes the session; too many sessions evict the oldest', async () => {
    const platform = sdkFor(sim, 'logout').platform();
    await platform.login({ jwt: sim.credentials.jwt });
    const access = (await platform.auth().data()).access_token as string;
    await platform.logout();
    assert.equal((await api(sim, '/restapi/v1.0/account/~', access)).status, 401);

    const tokens: TokenInfo[] = [];
    const live = sim.liveSessions();
    const evicted = sim.stats.sessionsEvicted;
    for (let i = 0; i < 6; i++) tokens.push(await login(sim));
    assert.equal((await api(sim, '/restapi/v1.0/account/~', tokens[0].access_token)).status, 401);
    assert.equal((await api(sim, '/restapi/v1.0/account/~', tokens[5].access_token)).status, 200);
    assert.equal(sim.liveSessions(), 5);
    assert.equal(sim.stats.sessionsEvicted - evicted, live + 6 - 5);

    // A refresh token names its session too: revoking it ends the session.
    const revoke = await fetch(`${sim.platformUrl}/restapi/oauth/revoke`, {
      method: 'POST',
      headers: { Authorization: basic(sim), 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: tokens[5].refresh_token }),
    });
    assert.equal(revoke.status, 200);
    assert.equal((await api(sim, '/restapi/v1.0/account/~', tokens[5].access_token)).status, 401);
    assert.equal(sim.liveSessions(), 4);
  });
});

// ---------------------------------------------------------------------------------------------

describe('simulator: call log', () => {
  let sim: Simulator;
  let token: string;
  before(async () => {
    sim = await startSimulator({ seed: 5, days: 3, callsPerDay: 40, now: FIXED_NOW, rateLimits: RELAXED });
    token = (await login(sim)).access_token;
  });
  after(() => sim.close());

  it('pages with perPage and navigation.nextPage until it is absent', async () => {
    const dateFrom = new Date(sim.now() - 4 * 86400_000).toISOString();
    const whole = await getJson(
      sim,
      `/restapi/v1.0/account/~/call-log?dateFrom=${dateFrom}&perPage=1000`,
      token,
    );
    const expected = whole.records.map((r: Json) => r.id);
    assert.equal(expected.length, sim.allCalls().length);
    const starts = whole.records.map((r: Json) => Date.parse(r.startTime));
    assert.deepEqual(
      starts,
      [...starts].sort((a, b) => b - a),
      'newest first',
    );

    const seen: string[] = [];
    let url: string | undefined = `/restapi/v1.0/account/~/call-log?dateFrom=${dateFrom}&perPage=7`;
    let pages = 0;
    while (url) {
      const page = await getJson(sim, url, token);
      pages++;
      assert.equal(page.paging.perPage, 7);
      assert.equal(page.paging.page, pages);
      assert.ok(page.navigation.firstPage.uri.startsWith(`${sim.platformUrl}/`));
      if (pages > 1) assert.ok(page.navigation.previousPage.uri.startsWith(sim.platformUrl));
      else assert.equal(page.navigation.previousPage, undefined);
      if (page.records.length) {
        assert.equal(page.paging.pageStart, (pages - 1) * 7);
        assert.equal(page.paging.pageEnd, (pages - 1) * 7 + page.records.length - 1);
      }
      seen.push(...page.records.map((r: Json) => r.id));
      url = page.navigation.nextPage?.uri;
      if (url) assert.ok(url.startsWith(`${sim.platformUrl}/restapi/v1.0/account/`), url);
      assert.ok(pages < 100);
    }
    assert.equal(pages, Math.ceil(expected.length / 7));
    assert.deepEqual(seen, expected);
  });

  it('perPage above 1000 is refused, "max" and 1000 are accepted', async () => {
    const over = await api(sim, '/restapi/v1.0/account/~/call-log?perPage=1001', token);
    assert.equal(over.status, 400);
    assertRateHeaders(over, '400 perPage', 'Heavy');
    const body = (await over.json()) as Json;
    assert.equal(body.errorCode, 'CMN-101');
    assert.equal(body.errors[0].parameterName, 'perPage');
    assert.equal((await api(sim, '/restapi/v1.0/account/~/call-log?perPage=0', token)).status, 400);
    assert.equal(
      (await getJson(sim, '/restapi/v1.0/account/~/call-log?perPage=max', token)).paging.perPage,
      1000,
    );
    assert.equal(
      (await getJson(sim, '/restapi/v1.0/account/~/call-log?perPage=1000', token)).paging.perPage,
      1000,
    );
    const def = await getJson(sim, '/restapi/v1.0/account/~/call-log', token);
    assert.equal(def.paging.perPage, 100);
  });

  it('dateFrom defaults to 24 hours before dateTo (which defaults to now)', async () => {
    const now = sim.now();
    const noFrom = await getJson(sim, '/restapi/v1.0/account/~/call-log?perPage=1000', token);
    const all = sim.allCalls();
    const lastDay = all.filter((c) => Date.parse(c.startTime) >= now - 86400_000 - 5000);
    assert.ok(noFrom.records.length > 0 && noFrom.records.length < all.length);
    assert.ok(
      Math.abs(noFrom.records.length - lastDay.length) <= 1,
      `${noFrom.records.length} vs ${lastDay.length}`,
    );
    for (const r of noFrom.records) assert.ok(Date.parse(r.startTime) >= now - 86400_000 - 5000);

    const dateTo = new Date(now - 36 * 3600_000).toISOString();
    const past = await getJson(sim, `/restapi/v1.0/account/~/call-log?perPage=1000&dateTo=${dateTo}`, token);
    assert.ok(past.records.length > 0);
    for (const r of past.records) {
      const t = Date.parse(r.startTime);
      assert.ok(t <= Date.parse(dateTo) && t >= Date.parse(dateTo) - 86400_000, r.startTime);
    }
    assert.equal((await api(sim, '/restapi/v1.0/account/~/call-log?dateFrom=yesterday', token)).status, 400);
  });

  it('Detailed view shows recordings that live only in legs; filters by type', async () => {
    const dateFrom = new Date(sim.now() - 4 * 86400_000).toISOString();
    const recs = sim.allRecordings();
    const legOnly = recs.find((r) => r.legOnly && !recs.some((o) => o.callId === r.callId && !o.legOnly));
    const two = recs.find((r) => r.legOnly && recs.some((o) => o.callId === r.callId && !o.legOnly));
    assert.ok(legOnly && two, 'the data set has leg-only recordings and calls with two recordings');

    const q = `/restapi/v1.0/account/~/call-log?perPage=1000&dateFrom=${dateFrom}`;
    const simple = await getJson(sim, `${q}&view=Simple`, token);
    const detailed = await getJson(sim, `${q}&view=Detailed`, token);
    const simpleRecord = simple.records.find((r: Json) => r.id === legOnly.callId);
    assert.ok(simpleRecord && !simpleRecord.recording, 'no recording on the record in Simple view');
    const detailedRecord = detailed.records.find((r: Json) => r.id === legOnly.callId);
    const legRecording = detailedRecord.legs.map((l: Json) => l.recording).find(Boolean);
    assert.equal(legRecording.id, legOnly.id);
    assert.equal(legRecording.contentUri, legOnly.contentUri);

    const twoRecord = detailed.records.find((r: Json) => r.id === two.callId);
    const ids = [twoRecord.recording?.id, ...twoRecord.legs.map((l: Json) => l.recording?.id)].filter(
      Boolean,
    );
    assert.equal(new Set(ids).size, 2);

    const idsIn = (b: Json): Set<string> =>
      new Set(
        b.records
          .flatMap((r: Json) => [r.recording?.id, ...(r.legs ?? []).map((l: Json) => l.recording?.id)])
          .filter(Boolean),
      );
    const withRecSimple = idsIn(await getJson(sim, `${q}&view=Simple&withRecording=true`, token));
    const withRecDetailed = idsIn(await getJson(sim, `${q}&view=Detailed&recordingType=All`, token));
    assert.equal(withRecDetailed.size, recs.length, 'every recording reachable in Detailed view');
    assert.equal(withRecSimple.size, recs.filter((r) => !r.legOnly).length);
    const onDemand = await getJson(sim, `${q}&view=Detailed&recordingType=OnDemand`, token);
    for (const r of onDemand.records) {
      const types = [r.recording?.type, ...r.legs.map((l: Json) => l.recording?.type)];
      assert.ok(types.includes('OnDemand'));
    }
    const fax = await getJson(sim, `${q}&type=Fax`, token);
    for (const r of fax.records) assert.equal(r.type, 'Fax');
    const inbound = await getJson(sim, `${q}&direction=Inbound`, token);
    for (const r of inbound.records) assert.equal(r.direction, 'Inbound');
    const ext = sim.extensions[3];
    const mine = await getJson(
      sim,
      `/restapi/v1.0/account/~/extension/${ext.id}/call-log?perPage=1000&dateFrom=${dateFrom}`,
      token,
    );
    assert.ok(mine.records.length > 0);
    for (const r of mine.records) assert.equal(String(r.extension.id), ext.id);
  });

  it('late records and late recordings appear when the sim clock reaches them', async () => {
    const [late] = sim.addCalls(1, { withRecording: true, visibleAfterSec: 60 });
    const [lateRec] = sim.addCalls(1, { withRecording: true, recordingAfterSec: 120, layout: 'top' });
    const list = async (): Promise<Json[]> =>
      (await getJson(sim, '/restapi/v1.0/account/~/call-log?perPage=1000', token)).records as Json[];
    let records = await list();
    assert.equal(
      records.find((r) => r.id === late.id),
      undefined,
      'late record hidden',
    );
    const early = records.find((r) => r.id === lateRec.id);
    assert.ok(early && !early.recording, 'record visible, recording not yet attached');
    assert.equal(lateRec.recordings.length, 1);
    const recId = lateRec.recordings[0].id;
    assert.ok(!sim.allRecordings().some((r) => r.id === recId));
    assert.equal((await api(sim, `/restapi/v1.0/account/~/recording/${recId}`, token)).status, 404);

    sim.advanceClock(61_000);
    records = await list();
    assert.ok(
      records.find((r) => r.id === late.id),
      'late record visible after 60 s',
    );
    assert.ok(!records.find((r) => r.id === lateRec.id)?.recording);
    sim.advanceClock(60_000);
    records = await list();
    assert.equal(records.find((r) => r.id === lateRec.id)?.recording?.id, recId);
    assert.ok(sim.allRecordings().some((r) => r.id === recId));
  });

  it('live activity keeps adding calls', async () => {
    const live = await startSimulator({
      seed: 9,
      days: 0,
      liveActivity: { intervalMs: 40, callsPerTick: 2 },
    });
    try {
      assert.equal(live.allCalls({ includeHidden: true }).length, 0);
      await sleep(250);
      assert.ok(live.allCalls({ includeHidden: true }).length >= 4);
    } finally {
      await live.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('simulator: rate limits', () => {
  it('429 with Retry-After; a request during the penalty restarts it; other groups go on', async () => {
    const sim = await startSimulator({ seed: 3, days: 1, rateWindowSec: 1, rateLimits: { Heavy: 3 } });
    try {
      const t = (await login(sim)).access_token;
      const path = '/restapi/v1.0/account/~/call-log';
      for (let i = 0; i < 3; i++) {
        const ok = await api(sim, path, t);
        assert.equal(ok.status, 200);
        assert.equal(ok.headers.get('x-rate-limit-group'), 'Heavy');
        assert.equal(ok.headers.get('x-rate-limit-limit'), '3');
        assert.equal(ok.headers.get('x-rate-limit-remaining'), String(2 - i));
        assert.equal(ok.headers.get('x-rate-limit-window'), '1');
      }
      const first429 = Date.now();
      const refused = await api(sim, path, t);
      assert.equal(refused.status, 429);
      assert.equal(refused.headers.get('retry-after'), '1');
      assertRateHeaders(refused, '429', 'Heavy');
      assert.equal(refused.headers.get('x-rate-limit-remaining'), '0');
      assert.equal(((await refused.json()) as Json).errorCode, 'CMN-301');
      assert.equal((await api(sim, '/restapi/v1.0/account/~', t)).status, 200, 'Light is not affected');

      await sleep(600);
      assert.equal((await api(sim, path, t)).status, 429, 'still in the penalty');
      await sleep(1200 - (Date.now() - first429));
      // the first penalty would have ended at 1.0 s; the request at 0.6 s restarted it until 1.6 s
      assert.equal((await api(sim, path, t)).status, 429, 'penalty restarted');
      await sleep(1150);
      assert.equal((await api(sim, path, t)).status, 200, 'after a quiet penalty');
      assert.equal(sim.stats.rateLimited, 3);

      // the SDK surfaces the 429 (handleRateLimit off)
      const platform = sdkFor(sim, 'rate').platform();
      await platform.login({ jwt: sim.credentials.jwt });
      await api(sim, path, t);
      await api(sim, path, t);
      await assert.rejects(platform.get(path), (err: Error & { response?: Response }) => {
        assert.equal(err.response?.status, 429);
        return true;
      });
    } finally {
      await sim.close();
    }
  });

  it('the token endpoint counts in Auth; media downloads count in Heavy', async () => {
    const sim = await startSimulator({ seed: 3, days: 2, rateLimits: { Auth: 2, Heavy: 2 } });
    try {
      const t = await login(sim);
      await login(sim);
      const third = await tokenRequest(sim, { grant_type: JWT_GRANT, assertion: sim.credentials.jwt });
      assert.equal(third.status, 429);
      assertRateHeaders(third, 'token 429', 'Auth');
      assert.ok(Number(third.headers.get('retry-after')) >= 1);
      const refresh = await tokenRequest(sim, {
        grant_type: 'refresh_token',
        refresh_token: t.refresh_token,
      });
      assert.equal(refresh.status, 429, 'refresh is Auth too');

      const rec = sim.allRecordings()[0];
      const d1 = await download(rec.contentUri, t.access_token);
      assert.equal(d1.status, 200);
      assertRateHeaders(d1, 'media 200', 'Heavy');
      assert.equal(d1.headers['x-rate-limit-remaining'], '1');
      assert.equal((await api(sim, '/restapi/v1.0/account/~/call-log', t.access_token)).status, 200);
      const d3 = await download(rec.contentUri, t.access_token);
      assert.equal(d3.status, 429);
      assertRateHeaders(d3, 'media 429', 'Heavy');
      assert.equal(sim.stats.byGroup.Heavy, 3);
      assert.equal(sim.stats.byGroup.Auth, 4);
    } finally {
      await sim.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('simulator: recording content', () => {
  let sim: Simulator;
  let token: string;
  before(async () => {
    sim = await startSimulator({ seed: 21, days: 2, now: FIXED_NOW, rateLimits: RELAXED, wavFraction: 0.4 });
    token = (await login(sim)).access_token;
  });
  after(() => sim.close());

  it('downloads are deterministic and match expectedContent()', async () => {
    const recs = sim.allRecordings();
    const mp3 = recs.filter((r) => r.contentType === 'audio/mpeg').slice(0, 3);
    const wav = recs.filter((r) => r.contentType === 'audio/x-wav').slice(0, 3);
    assert.ok(mp3.length === 3 && wav.length === 3);
    for (const rec of [...mp3, ...wav]) {
      const d = await download(rec.contentUri, token);
      assert.equal(d.status, 200);
      assert.equal(d.error, undefined);
      assert.equal(d.headers['content-type'], rec.contentType);
      assert.equal(Number(d.headers['content-length']), rec.bytes);
      const expected = sim.expectedContent(rec.id);
      assert.deepEqual(
        { bytes: d.bytes, sha256: d.sha256, contentType: d.headers['content-type'] },
        expected,
      );
      assert.ok(rec.bytes >= 20_000 && rec.bytes <= 200_000);
      if (rec.contentType === 'audio/mpeg') {
        assert.equal(d.head.subarray(0, 3).toString('latin1'), 'ID3');
      } else {
        assert.equal(d.head.subarray(0, 4).toString('latin1'), 'RIFF');
        assert.equal(d.head.subarray(8, 12).toString('latin1'), 'WAVE');
        assert.equal(d.head.readUInt32LE(4), rec.bytes - 8);
      }
    }
    assert.equal(sim.stats.downloads.completed, 6);

    const twin = await startSimulator({ seed: 21, days: 2, now: FIXED_NOW, wavFraction: 0.4 });
    const other = await startSimulator({ seed: 22, days: 2, now: FIXED_NOW, wavFraction: 0.4 });
    try {
      const a = sim.allRecordings().map((r) => [r.id, r.bytes, r.contentType]);
      assert.deepEqual(
        twin.allRecordings().map((r) => [r.id, r.bytes, r.contentType]),
        a,
      );
      assert.equal(twin.expectedContent(mp3[0].id).sha256, sim.expectedContent(mp3[0].id).sha256);
      assert.notDeepEqual(
        other.allRecordings().map((r) => [r.id, r.bytes]),
        a.map(([id, bytes]) => [id, bytes]),
      );
    } finally {
      await twin.close();
      await other.close();
    }
  });

  it('content needs a valid token and lives on the media host only', async () => {
    const rec = sim.allRecordings()[0];
    const noToken = await download(rec.contentUri);
    assert.equal(noToken.status, 401);
    assertRateHeaders(noToken, 'media 401', 'Heavy');
    const onPlatform = await download(rec.contentUri.replace(sim.mediaUrl, sim.platformUrl), token);
    assert.equal(onPlatform.status, 404);
    const unknown = await download(`${sim.mediaUrl}/restapi/v1.0/account/~/recording/999/content`, token);
    assert.equal(unknown.status, 404);
    assertRateHeaders(unknown, 'media 404');
    const viaQuery = await download(`${rec.contentUri}?access_token=${token}`);
    assert.equal(viaQuery.status, 200);
    assert.equal(viaQuery.sha256, rec.sha256);
  });

  it('the media host answers Range with 206 and Content-Range, a range past the end with 416', async () => {
    const rec = sim.allRecordings()[0];
    const get = (url: string, range?: string) =>
      fetch(url, { headers: { Authorization: `Bearer ${token}`, ...(range ? { Range: range } : {}) } });
    const wholeAnswer = await get(rec.contentUri);
    assert.equal(wholeAnswer.headers.get('accept-ranges'), 'bytes');
    const whole = Buffer.from(await wholeAnswer.arrayBuffer());
    assert.equal(whole.length, rec.bytes);
    const before = sim.stats.downloads.ranged;
    for (const [range, start, end] of [
      ['bytes=1000-', 1000, rec.bytes],
      ['bytes=10-19', 10, 20],
      ['bytes=-100', rec.bytes - 100, rec.bytes],
    ] as const) {
      const res = await get(rec.contentUri, range);
      assert.equal(res.status, 206, range);
      assert.equal(res.headers.get('content-range'), `bytes ${start}-${end - 1}/${rec.bytes}`);
      assert.equal(Number(res.headers.get('content-length')), end - start);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), whole.subarray(start, end), range);
    }
    assert.equal(sim.stats.downloads.ranged, before + 3);
    assert.equal(sim.requestLog.at(-1)?.range, 'bytes=-100');
    const past = await get(rec.contentUri, `bytes=${rec.bytes}-`);
    assert.equal(past.status, 416);
    assert.equal(past.headers.get('content-range'), `bytes */${rec.bytes}`);
    await past.arrayBuffer();
    // several ranges or a malformed one: the whole file, as HTTP allows
    const several = await get(rec.contentUri, 'bytes=0-1,5-6');
    assert.equal(several.status, 200);
    assert.equal(Buffer.from(await several.arrayBuffer()).length, rec.bytes);
    // attachments too, and a cut applies to the part that is sent
    const message = sim.allMessages().find((m) => m.attachments.some((a) => a.size > 3000))!;
    const attachment = message.attachments.find((a) => a.size > 3000)!;
    const all = Buffer.from(await (await get(attachment.uri)).arrayBuffer());
    assert.equal(all.length, sim.expectedAttachment(message.id, attachment.id).bytes);
    sim.fault({ kind: 'close-early', host: 'media', match: `/content/${attachment.id}`, afterBytes: 500 });
    const part = await download(attachment.uri, token, undefined, 2000, { Range: 'bytes=2000-' });
    assert.equal(part.status, 206);
    assert.equal(part.bytes, 500, 'the cut counts from the start of the range');
    const rest = await get(attachment.uri, 'bytes=2500-');
    assert.equal(rest.status, 206);
    assert.deepEqual(Buffer.from(await rest.arrayBuffer()), all.subarray(2500));
  });

  it('with mediaRanges: false the media host ignores Range and sends the whole file', async () => {
    const plain = await startSimulator({ seed: 3, days: 1, callsPerDay: 4, mediaRanges: false });
    try {
      const t = (await login(plain)).access_token;
      const rec = plain.allRecordings()[0];
      const res = await fetch(rec.contentUri, {
        headers: { Authorization: `Bearer ${t}`, Range: 'bytes=100-' },
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('accept-ranges'), null);
      assert.equal(Buffer.from(await res.arrayBuffer()).length, rec.bytes);
    } finally {
      await plain.close();
    }
  });

  it('faults: reset, close-early, status, malformed, slow', async () => {
    const [rec] = sim.allRecordings();
    const before = sim.stats.downloads;
    const reset = sim.fault({ kind: 'reset', afterBytes: 10_000, match: '/content' });
    const cut = await download(rec.contentUri, token);
    assert.equal(cut.status, 200);
    assert.ok(cut.error, 'the download fails');
    assert.ok(cut.bytes <= 10_000 && cut.bytes < rec.bytes);
    assert.equal(reset.remaining, 0);
    const whole = await download(rec.contentUri, token);
    assert.equal(whole.error, undefined);
    assert.equal(whole.sha256, rec.sha256);
    const after = sim.stats.downloads;
    assert.equal(after.started, before.started + 2);
    assert.equal(after.completed, before.completed + 1);
    assert.equal(after.failed, before.failed + 1);

    sim.fault({ kind: 'close-early', afterBytes: 5000, match: rec.id });
    const short = await download(rec.contentUri, token);
    assert.equal(short.status, 200);
    assert.equal(short.bytes, 5000);
    assert.ok(short.error, 'a clean close before Content-Length is an error for the client');

    sim.fault({ kind: 'stall', afterBytes: 3000, match: rec.id });
    const stalled = await download(rec.contentUri, token, undefined, 300);
    assert.equal(stalled.bytes, 3000);
    assert.match(String(stalled.error?.message), /idle timeout|closed/);

    sim.fault({ kind: 'status', status: 503, match: /call-log/, times: 2 });
    for (let i = 0; i < 2; i++) {
      const res = await api(sim, '/restapi/v1.0/account/~/call-log', token);
      assert.equal(res.status, 503);
      assertRateHeaders(res, '503 fault');
      assert.ok(((await res.json()) as Json).errorCode);
    }
    assert.equal((await api(sim, '/restapi/v1.0/account/~/call-log', token)).status, 200);

    sim.fault({ kind: 'malformed', match: '/extension' });
    const malformed = await api(sim, '/restapi/v1.0/account/~/extension', token);
    assert.equal(malformed.status, 200);
    await assert.rejects(malformed.json());

    sim.fault({ kind: 'slow', delayMs: 300, match: '/restapi/v1.0/account/~/extension/~' });
    const t0 = Date.now();
    assert.equal((await api(sim, '/restapi/v1.0/account/~/extension/~', token)).status, 200);
    assert.ok(Date.now() - t0 >= 290);
    sim.clearFaults();
  });

  it('a 300 MB recording streams without growing the heap', async () => {
    const big = 300 * 1024 * 1024;
    const [call] = sim.addCalls(1, {
      withRecording: true,
      layout: 'top',
      recordingBytes: big,
      format: 'mp3',
    });
    const rec = call.recordings[0];
    assert.equal(rec.bytes, big);
    const start = process.memoryUsage();
    let peakHeap = start.heapUsed;
    let peakBuffers = start.arrayBuffers;
    let chunks = 0;
    const d = await download(rec.contentUri, token, () => {
      if (++chunks % 64 !== 0) return;
      const m = process.memoryUsage();
      peakHeap = Math.max(peakHeap, m.heapUsed);
      peakBuffers = Math.max(peakBuffers, m.arrayBuffers);
    });
    assert.equal(d.error, undefined);
    assert.equal(d.bytes, big);
    const heapGrowth = (peakHeap - start.heapUsed) / 1024 / 1024;
    const bufferGrowth = (peakBuffers - start.arrayBuffers) / 1024 / 1024;
    assert.ok(heapGrowth < 48, `heap grew by ${heapGrowth.toFixed(1)} MB`);
    assert.ok(bufferGrowth < 96, `buffers grew by ${bufferGrowth.toFixed(1)} MB`);
    assert.equal(d.sha256, sim.expectedContent(rec.id).sha256);
  });
});

// ---------------------------------------------------------------------------------------------

describe('simulator: permissions, control routes and CLI', () => {
  it('authz-profile lists permissions; removing one forbids its operations', async () => {
    const sim = await startSimulator({ seed: 4, days: 1, rateLimits: RELAXED });
    try {
      const t = (await login(sim)).access_token;
      const ids = async (): Promise<string[]> =>
        (await getJson(sim, '/restapi/v1.0/account/~/extension/~/authz-profile', t)).permissions.map(
          (p: Json) => p.permission.id,
        );
      const granted = await ids();
      for (const p of ['ReadCallLog', 'ReadCallRecording', 'ReadAccounts']) assert.ok(granted.includes(p), p);
      const rec = sim.allRecordings()[0];
      assert.equal((await download(rec.contentUri, t)).status, 200);
      sim.removePermission('ReadCallRecording');
      assert.ok(!(await ids()).includes('ReadCallRecording'));
      const denied = await download(rec.contentUri, t);
      assert.equal(denied.status, 403);
      assertRateHeaders(denied, '403');
      assert.equal((await api(sim, `/restapi/v1.0/account/~/recording/${rec.id}`, t)).status, 403);
      assert.equal((await api(sim, '/restapi/v1.0/account/~/call-log', t)).status, 200);

      // a plain user sees its own call log only
      const user = sim.extensions[2];
      const ut = (await login(sim, sim.jwtFor(user.id))).access_token;
      assert.equal((await api(sim, '/restapi/v1.0/account/~/call-log', ut)).status, 403);
      assert.equal((await api(sim, '/restapi/v1.0/account/~/extension/~/call-log', ut)).status, 200);
      assert.equal(
        (await api(sim, `/restapi/v1.0/account/~/extension/${sim.extensions[0].id}/call-log`, ut)).status,
        403,
      );
      assert.ok(
        !(await getJson(sim, '/restapi/v1.0/account/~/extension/~/authz-profile', ut)).permissions.some(
          (p: Json) => p.permission.id === 'FullCompanyCallLog',
        ),
      );
    } finally {
      await sim.close();
    }
  });

  it('control routes: /__sim/fault, /__sim/stats, /__sim/recordings, /__sim/calls', async () => {
    const sim = await startSimulator({ seed: 6, days: 1, rateLimits: RELAXED });
    try {
      const control = async (method: string, path: string, body?: unknown): Promise<Json> => {
        const res = await fetch(`${sim.platformUrl}${path}`, {
          method,
          headers: { 'Content-Type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        assert.equal(res.status, 200, `${method} ${path}`);
        return (await res.json()) as Json;
      };
      const t = (await login(sim)).access_token;
      const before = (await control('GET', '/__sim/recordings')) as unknown as Json[];
      assert.equal(before.length, sim.allRecordings().length);
      const added = await control('POST', '/__sim/calls', { count: 2, withRecording: true, layout: 'top' });
      assert.equal(added.calls.length, 2);
      const afterList = (await control('GET', '/__sim/recordings?sha256=1')) as unknown as Json[];
      assert.equal(afterList.length, before.length + 2);
      const newest = afterList.find((r) => r.id === added.calls[0].recordings[0].id) as Json;
      assert.equal(newest.sha256, sim.expectedContent(newest.id).sha256);

      await control('POST', '/__sim/fault', { kind: 'status', status: 500, match: '/extension/~' });
      assert.equal((await api(sim, '/restapi/v1.0/account/~/extension/~', t)).status, 500);
      assert.equal((await api(sim, '/restapi/v1.0/account/~/extension/~', t)).status, 200);
      await control('POST', '/__sim/fault', {
        kind: 'reset',
        afterBytes: 1000,
        matchRegex: '/content$',
        times: -1,
      });
      assert.ok((await download(newest.contentUri, t)).error);
      assert.ok((await download(newest.contentUri, t)).error);
      await control('DELETE', '/__sim/fault');
      assert.equal((await download(newest.contentUri, t)).sha256, newest.sha256);

      const stats = await control('GET', '/__sim/stats');
      assert.equal(stats.logins, 1);
      assert.equal(stats.downloads.started, 3);
      assert.equal(stats.downloads.completed, 1);
      assert.equal(stats.recordingDownloads[newest.id], 1);
      assert.ok(stats.bytesServed > newest.bytes);
      assert.equal(stats.byStatus['500'], 1);
      assert.ok(stats.requests >= 6);
      await control('POST', '/__sim/stats/reset');
      assert.equal(sim.stats.requests, 0);
      await control('POST', '/__sim/tokens/revoke');
      assert.equal((await api(sim, '/restapi/v1.0/account/~', t)).status, 401);
    } finally {
      await sim.close();
    }
  });

  it('the CLI prints URLs and credentials as JSON and exits on SIGTERM', async () => {
    const cli = join(__dirname, 'cli.ts');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', cli, '--port', '0', '--seed', '5', '--rate-window', '10'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    try {
      const line = await new Promise<string>((resolve, reject) => {
        const rl = createInterface({ input: child.stdout });
        rl.once('line', resolve);
        child.once('exit', (code) => reject(new Error(`cli exited with ${code}`)));
      });
      const info = JSON.parse(line) as Json;
      for (const key of ['platformUrl', 'mediaUrl', 'accountId', 'clientId', 'clientSecret', 'jwt'])
        assert.ok(info[key], key);
      const res = await tokenRequest(
        { platformUrl: info.platformUrl, credentials: info } as unknown as Simulator,
        { grant_type: JWT_GRANT, assertion: info.jwt },
      );
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-rate-limit-window'), '10');
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
