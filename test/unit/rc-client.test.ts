import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import {
  configFromEnv,
  RcApiError,
  RcClient,
  resolveServer,
  type RcClientOptions,
} from '../../lib/ringcentral';
import { ContentBody, ResumingContent, type ContentPart } from '../../lib/ringcentral/content';
import { startSimulator, type Simulator, type SimulatorOptions } from '../sim/index';

type Sim = Simulator;
const sims: Sim[] = [];
const clients: RcClient[] = [];
after(async () => {
  for (const c of clients) await c.dispose();
  for (const s of sims) await s.close();
});

async function sim(options: SimulatorOptions = {}): Promise<Sim> {
  const s = await startSimulator({ seed: 7, days: 3, callsPerDay: 20, ...options });
  sims.push(s);
  return s;
}

function client(s: Sim, options: Partial<RcClientOptions> = {}): RcClient {
  const c = new RcClient({
    ...s.credentials,
    server: s.platformUrl,
    cachePrefix: `test-${clients.length}-`,
    retryBaseMs: 20,
    ...options,
  });
  clients.push(c);
  return c;
}

async function sha256Of(stream: Readable): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const longAgo = () => new Date(Date.now() - 30 * 86_400_000).toISOString();

describe('settings', () => {
  it('resolves servers and fills settings from the environment', () => {
    assert.equal(resolveServer('production'), 'https://platform.ringcentral.com');
    assert.equal(resolveServer('sandbox'), 'https://platform.devtest.ringcentral.com');
    assert.equal(resolveServer('http://127.0.0.1:8080/'), 'http://127.0.0.1:8080');
    assert.throws(() => resolveServer('ftp://example.com'), /http\(s\)/);
    assert.throws(() => resolveServer('not a url'), /not valid/);
    const env = { RC_CLIENT_ID: 'id', RC_CLIENT_SECRET: 'secret', RC_JWT: 'jwt', RC_SERVER: 'sandbox' };
    assert.deepEqual(configFromEnv({ clientId: '', jwt: 'own' }, env), {
      server: 'https://platform.devtest.ringcentral.com',
      clientId: 'id',
      clientSecret: 'secret',
      jwt: 'own',
    });
    assert.throws(
      () => configFromEnv({ clientId: 'x' }, {}),
      /missing: client secret \(RC_CLIENT_SECRET\), JWT \(RC_JWT\)/,
    );
  });
});

describe('content URIs', () => {
  it('never sends the access token to a host that is not RingCentral', async () => {
    const c = new RcClient({ server: 'production', clientId: 'id', clientSecret: 'secret', jwt: 'jwt' });
    clients.push(c);
    await assert.rejects(c.openContent('https://evil.example.com/restapi/v1.0/x'), /not a RingCentral host/);
    await assert.rejects(c.openContent('http://media.ringcentral.com/x'), /only sent over https/);
    await assert.rejects(c.openContent('file:///etc/passwd'), /only http\(s\)/);
    await assert.rejects(
      c.request('GET', 'https://ringcentral.com.evil.example/x'),
      /not a RingCentral host/,
    );
    assert.equal(c.stats.requests, 0);
    assert.equal(c.budget('Heavy').snapshot().usedInWindow, 0, 'nothing was sent');
  });
});

describe('ResumingContent', () => {
  const file = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
  /** A body of file[start, start + sent) that announces `length` bytes and then errors as a reset. */
  function part(
    start: number,
    sent: number,
    extra: Partial<ContentPart> & { length?: number } = {},
  ): ContentPart {
    const length = extra.length ?? file.length - start;
    const bytes = file.subarray(start, start + sent);
    let pushed = false;
    const source = new Readable({
      read() {
        if (pushed) return;
        pushed = true;
        this.push(bytes);
        if (sent >= length) this.push(null);
        else setImmediate(() => this.destroy(new Error('read ECONNRESET')));
      },
    });
    const body = new ContentBody(source, {
      expected: length,
      idleTimeoutMs: 5000,
      what: 'GET /x',
      offset: start,
      total: file.length,
      onClose: () => undefined,
    });
    return { body, status: 206, start, total: file.length, ...extra };
  }
  const read = async (stream: Readable) => {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  };

  it('joins the parts into the whole file, also when a server answers 200 with the whole file again', async () => {
    const asked: number[] = [];
    const whole = new ResumingContent({
      what: 'GET /x',
      first: part(0, 300, { status: 200 }),
      maxResumes: 3,
      canResume: () => true,
      reopen: async (offset) => {
        asked.push(offset);
        // the second try ignores Range: 200 with the file from byte 0
        return asked.length === 1 ? part(offset, 200) : part(0, 1000, { status: 200 });
      },
    });
    assert.deepEqual(await read(whole), file);
    assert.deepEqual(asked, [300, 500]);
    assert.equal(whole.resumeCount, 2);
  });

  it('never splices another file in: a different size, entity tag or start fails the download', async () => {
    for (const [next, reason] of [
      [part(300, 700, { total: 2000 }), /the file is now 2000 bytes instead of 1000/],
      [part(300, 700, { etag: '"b"' }), /the file changed \(entity tag "b" instead of "a"\)/],
      [part(200, 800), /the server answered a range from byte 200 instead of 300/],
    ] as const) {
      const stream = new ResumingContent({
        what: 'GET /x',
        first: part(0, 300, { status: 200, etag: '"a"' }),
        maxResumes: 3,
        canResume: () => true,
        reopen: async () => next,
      });
      await assert.rejects(read(stream), (err: RcApiError) => {
        assert.match(
          err.message,
          /^RingCentral download GET \/x ended after 300 of 1000 bytes.*cannot resume: /,
        );
        assert.match(err.message, reason);
        assert.equal(err.errorCode, 'ContentChanged');
        return true;
      });
      assert.equal(next.body.destroyed, true, 'the other answer is closed');
    }
  });

  it('does not resume once the caller has stopped', async () => {
    let asked = 0;
    const stream = new ResumingContent({
      what: 'GET /x',
      first: part(0, 300, { status: 200 }),
      maxResumes: 3,
      canResume: () => false,
      reopen: async (offset) => (asked++, part(offset, 700)),
    });
    await assert.rejects(read(stream), /ended after 300 of 1000 bytes/);
    assert.equal(asked, 0);
  });
});

describe('RcClient against the simulator', () => {
  it('logs in lazily and pages through the call log, every record once', async () => {
    const s = await sim();
    const c = client(s);
    assert.equal(s.stats.logins, 0, 'no login before the first request');
    const ids: string[] = [];
    let pages = 0;
    for await (const records of c.listCallLog({ scope: 'account', dateFrom: longAgo(), perPage: 7 })) {
      pages++;
      ids.push(...records.map((r) => r.id));
    }
    const expected = s.allCalls().map((call) => call.id);
    assert.ok(pages > 3, `several pages (${pages})`);
    assert.equal(new Set(ids).size, ids.length, 'no record twice');
    assert.deepEqual([...ids].sort(), [...expected].sort());
    assert.equal(s.stats.logins, 1);
    assert.equal(s.stats.rateLimited, 0);
    const calls = s.requestLog.filter((r) => r.operationId === 'readCompanyCallLog');
    assert.ok(
      calls.every((r) => /dateFrom=/.test(r.path)),
      'dateFrom is always sent',
    );
  });

  it('refreshes a short-lived token ahead of expiry without exhausting Auth', async () => {
    const s = await sim({ accessTokenTtlSec: 3 });
    const c = client(s);
    const start = Date.now();
    while (Date.now() - start < 5_500) {
      // concurrent requests share one refresh: a refresh token is single-use
      await Promise.all([1, 2, 3].map(() => c.request('GET', '/restapi/v1.0/account/~')));
      await delay(400);
    }
    const stats = s.stats;
    assert.equal(stats.logins, 1);
    assert.ok(stats.refreshes >= 1 && stats.refreshes <= 3, `refreshes: ${stats.refreshes}`);
    assert.equal(stats.refreshFailures, 0);
    assert.equal(stats.unauthorized, 0, 'never sent an expired token');
    assert.equal(stats.rateLimited, 0);
    assert.equal(c.budget('Auth').snapshot().penalties, 0);
  });

  it('logs in again with the JWT when tokens are revoked or a refresh is refused', async () => {
    const s = await sim({ accessTokenTtlSec: 2, rateWindowSec: 2 }); // 5 Auth requests: pace them quickly
    const c = client(s);
    await c.request('GET', '/restapi/v1.0/account/~');
    s.revokeAllTokens();
    // the access token is still fresh locally: the API answers 401, one login, one retry
    await c.request('GET', '/restapi/v1.0/account/~');
    assert.equal(s.stats.logins, 2);
    s.expireAccessTokens();
    await c.request('GET', '/restapi/v1.0/account/~');
    assert.equal(s.stats.logins, 3);
    s.revokeAllTokens();
    await delay(1700); // close to expiry: the client refreshes, is refused, logs in
    await c.request('GET', '/restapi/v1.0/account/~');
    const stats = s.stats;
    assert.equal(stats.refreshFailures, 1);
    assert.equal(stats.logins, 4);
    assert.equal(stats.rateLimited, 0);
  });

  it('retries 5xx answers and reports invalid JSON clearly', async () => {
    const s = await sim();
    const c = client(s);
    s.fault({ kind: 'status', status: 503, match: '/extension/~', times: 2, retryAfterSec: 0.05 });
    const ext = await c.request<{ id: number }>('GET', '/restapi/v1.0/account/~/extension/~');
    assert.ok(ext.id);
    s.fault({ kind: 'status', status: 500, match: '/extension/~', times: 5 });
    await assert.rejects(c.request('GET', '/restapi/v1.0/account/~/extension/~'), (err: RcApiError) => {
      assert.ok(err instanceof RcApiError);
      assert.equal(err.status, 500);
      return true;
    });
    s.clearFaults();
    // more malformed answers than the client's tries: the error says what came back
    s.fault({ kind: 'malformed', match: '/call-log', times: 4 });
    await assert.rejects(
      c.request('GET', '/restapi/v1.0/account/~/call-log', { query: { dateFrom: longAgo() } }),
      (err: RcApiError) => {
        assert.ok(err instanceof RcApiError);
        assert.match(
          err.message,
          /RingCentral answered GET \/restapi\/v1\.0\/account\/~\/call-log with invalid JSON \(malformed or cut short, \d+ bytes\)/,
        );
        assert.equal(err.errorCode, 'InvalidJson');
        return true;
      },
    );
  });

  it('retries a listing answered with malformed or truncated JSON, like a 5xx', async () => {
    const s = await sim();
    const warnings: string[] = [];
    const c = client(s, { log: (level, message) => level === 'warn' && warnings.push(message) });
    const all = async () => {
      const ids: string[] = [];
      for await (const page of c.listMessages({ dateFrom: longAgo(), perPage: 1 })) {
        ids.push(...page.map((m) => String(m.id)));
      }
      return ids;
    };
    const expected = await all();
    assert.ok(expected.length >= 3, `several pages of messages (${expected.length})`);
    const page2 = () =>
      s.requestLog.filter((r) => r.operationId === 'listMessages' && /page=2/.test(r.path)).length;
    // the second page twice complete but malformed JSON (200, right Content-Length)
    s.resetStats();
    s.fault({ kind: 'malformed', match: /message-store\?.*page=2/, times: 2 });
    assert.deepEqual(await all(), expected, 'every message once, none held back');
    assert.equal(page2(), 3, 'two malformed answers, then the good one');
    // the second page cut off after 40 bytes, by a clean close and by a reset
    s.resetStats();
    s.fault({ kind: 'close-early', host: 'platform', match: /message-store\?.*page=2/, afterBytes: 40 });
    s.fault({ kind: 'reset', host: 'platform', match: /message-store\?.*page=2/, afterBytes: 40 });
    assert.deepEqual(await all(), expected);
    assert.equal(page2(), 3, 'two cut answers, then the good one');
    assert.ok(
      warnings.some((w) => /RingCentral answer GET \S+ ended after 40 of \d+ bytes.*trying again/.test(w)),
      warnings.join('\n'),
    );
    assert.ok(!warnings.some((w) => /did not answer/.test(w)), 'a cut is noticed, not waited out');
    assert.ok(
      warnings.some((w) => /invalid JSON \(malformed or cut short, \d+ bytes\); trying again/.test(w)),
    );
  });

  it('gives up on a silent server after requestTimeoutMs and tries again', async () => {
    const s = await sim();
    const c = client(s, { requestTimeoutMs: 300 });
    await c.request('GET', '/restapi/v1.0/account/~');
    s.fault({ kind: 'slow', delayMs: 1500, match: '/extension/~', times: 1 });
    const t = Date.now();
    const ext = await c.request<{ id: number }>('GET', '/restapi/v1.0/account/~/extension/~');
    assert.ok(ext.id);
    assert.ok(Date.now() - t < 1200, 'did not wait for the slow answer');
    s.fault({ kind: 'slow', delayMs: 1500, match: '/extension/~', times: 4 });
    await assert.rejects(c.request('GET', '/restapi/v1.0/account/~/extension/~'), (err: RcApiError) => {
      assert.equal(err.errorCode, 'Timeout');
      assert.match(
        err.message,
        /did not answer GET \/restapi\/v1\.0\/account\/~\/extension\/~ within 0\.3 s/,
      );
      return true;
    });
  });

  it('reports API errors with status and errorCode, never secrets', async () => {
    const s = await sim();
    const c = client(s);
    const err = (await c
      .request('GET', '/restapi/v1.0/account/~/recording/nope')
      .catch((e: unknown) => e)) as RcApiError;
    assert.ok(err instanceof RcApiError);
    assert.equal(err.status, 404);
    assert.equal(err.errorCode, 'CMN-102');
    const bad = client(s, { jwt: s.credentials.jwt + 'x' });
    const loginErr = (await bad
      .request('GET', '/restapi/v1.0/account/~')
      .catch((e: unknown) => e)) as RcApiError;
    assert.ok(loginErr instanceof RcApiError);
    assert.equal(loginErr.status, 400);
    assert.equal(loginErr.errorCode, 'invalid_grant');
    const text = JSON.stringify({ ...loginErr, message: loginErr.message, stack: loginErr.stack });
    for (const secret of [s.credentials.jwt, s.credentials.clientSecret]) assert.ok(!text.includes(secret));
    assert.ok(!('request' in loginErr) && !('response' in loginErr));
  });

  it('streams content whose SHA-256 matches, and a Heavy burst causes no 429', async () => {
    const s = await sim({ rateWindowSec: 1, rateLimits: { Heavy: 10 }, days: 6 });
    const c = client(s);
    const recordings = s.allRecordings().slice(0, 40);
    assert.equal(recordings.length, 40);
    const start = Date.now();
    const results = await Promise.all(
      recordings.map(async (rec) => {
        const content = await c.openContent(rec.contentUri);
        return { rec, content, digest: await sha256Of(content.body) };
      }),
    );
    for (const { rec, content, digest } of results) {
      const expected = s.expectedContent(rec.id);
      assert.equal(digest.sha256, expected.sha256);
      assert.equal(digest.bytes, expected.bytes);
      assert.equal(content.contentLength, expected.bytes);
      assert.equal(content.contentType, expected.contentType);
    }
    assert.equal(s.stats.rateLimited, 0, 'pacing kept every request within the limit');
    assert.ok(Date.now() - start >= 3_000, 'the burst was spread over the windows');
    const snap = c.budget('Heavy').snapshot();
    assert.equal(snap.limit, 10);
    assert.equal(snap.windowSec, 1, 'the window came from the headers');
  });

  it('fetches a content URI with an explicit port as given', async () => {
    const s = await sim();
    const c = client(s);
    const rec = s.allRecordings()[0];
    const url = new URL(rec.contentUri);
    const explicit = `${url.protocol}//${url.hostname}:${url.port}${url.pathname}`;
    const content = await c.openContent(explicit);
    assert.equal((await sha256Of(content.body)).sha256, s.expectedContent(rec.id).sha256);
  });

  it('fails a download cut short, reset or stalled when resuming is off', async () => {
    const s = await sim();
    const c = client(s, { idleTimeoutMs: 400, maxResumes: 0 });
    const [a, b, d] = s.allRecordings().filter((r) => r.bytes > 10_000);
    s.fault({ kind: 'close-early', host: 'media', match: a.id, afterBytes: 5000 });
    const cut = await c.openContent(a.contentUri);
    await assert.rejects(sha256Of(cut.body), new RegExp(`ended after 5000 of ${a.bytes} bytes`));

    s.fault({ kind: 'reset', host: 'media', match: b.id, afterBytes: 3000 });
    const reset = await c.openContent(b.contentUri);
    await assert.rejects(sha256Of(reset.body), (err: Error) => {
      assert.match(err.message, /ended after|ECONNRESET|aborted/);
      return true;
    });

    s.fault({ kind: 'stall', host: 'media', match: d.id, afterBytes: 2000 });
    const stalled = await c.openContent(d.contentUri);
    const t = Date.now();
    await assert.rejects(sha256Of(stalled.body), /stalled: no data for 0\.4 s after 2000 of/);
    assert.ok(Date.now() - t < 3000);
  });

  it('resumes a download cut short, reset or stalled with Range from the byte it reached', async () => {
    const s = await sim();
    const warnings: string[] = [];
    const c = client(s, {
      idleTimeoutMs: 400,
      log: (level, message) => level === 'warn' && warnings.push(message),
    });
    const [a, b, d] = s.allRecordings().filter((r) => r.bytes > 10_000);
    s.fault({ kind: 'close-early', host: 'media', match: a.id, afterBytes: 5000 });
    s.fault({ kind: 'reset', host: 'media', match: b.id, afterBytes: 3000 });
    s.fault({ kind: 'stall', host: 'media', match: d.id, afterBytes: 2000 });
    for (const rec of [a, b, d]) {
      const content = await c.openContent(rec.contentUri);
      assert.equal(content.contentLength, rec.bytes, 'the whole file is announced');
      const digest = await sha256Of(content.body);
      assert.equal(digest.sha256, s.expectedContent(rec.id).sha256, `${rec.id}: the whole file, right`);
      assert.equal(digest.bytes, rec.bytes);
    }
    const media = (id: string) =>
      s.requestLog
        .filter((r) => r.host === 'media' && r.path.includes(id))
        .map((r) => [r.status, r.range ?? null]);
    assert.deepEqual(media(a.id), [
      [200, null],
      [206, 'bytes=5000-'],
    ]);
    assert.deepEqual(media(d.id), [
      [200, null],
      [206, 'bytes=2000-'],
    ]);
    // A reset may lose what was still in the socket's buffers: the rest is asked for from the
    // last byte that arrived.
    const reset = media(b.id);
    assert.equal(reset.length, 2);
    const from = Number(/^bytes=(\d+)-$/.exec(String(reset[1][1]))?.[1] ?? 0);
    assert.ok(from <= 3000, `resumed from byte ${from}`);
    const sizes = a.bytes + b.bytes + d.bytes;
    assert.equal(
      s.stats.contentBytesServed,
      sizes + (3000 - from),
      'only bytes lost in the reset were sent twice',
    );
    assert.ok(
      warnings.some((w) => /ended after 5000 of \d+ bytes.*asking for the rest from byte 5000/.test(w)),
    );
  });

  it('a server that ignores Range sends the file again: the part already delivered is skipped', async () => {
    const s = await sim({ mediaRanges: false });
    const c = client(s);
    const rec = s.allRecordings().find((r) => r.bytes > 10_000)!;
    s.fault({ kind: 'close-early', host: 'media', match: rec.id, afterBytes: 6000 });
    const content = await c.openContent(rec.contentUri);
    const digest = await sha256Of(content.body);
    assert.equal(digest.sha256, s.expectedContent(rec.id).sha256);
    assert.equal(digest.bytes, rec.bytes);
    const media = s.requestLog.filter((r) => r.host === 'media');
    assert.deepEqual(
      media.map((r) => [r.status, r.range ?? null]),
      [
        [200, null],
        [200, 'bytes=6000-'],
      ],
    );
    assert.equal(s.stats.downloads.ranged, 0);
  });

  it('gives up after maxResumes cuts, with the byte reached in the error', async () => {
    const s = await sim();
    const c = client(s, { maxResumes: 2 });
    const rec = s.allRecordings().find((r) => r.bytes > 30_000)!;
    s.fault({ kind: 'close-early', host: 'media', match: rec.id, afterBytes: 4000, times: Infinity });
    const content = await c.openContent(rec.contentUri);
    await assert.rejects(sha256Of(content.body), (err: RcApiError) => {
      assert.equal(err.errorCode, 'IncompleteContent');
      assert.match(
        err.message,
        new RegExp(`ended after 12000 of ${rec.bytes} bytes.*\\(after 2 resumed requests\\)`),
      );
      return true;
    });
    const media = s.requestLog.filter((r) => r.host === 'media');
    assert.deepEqual(
      media.map((r) => r.range ?? null),
      [null, 'bytes=4000-', 'bytes=8000-'],
    );
  });

  it('each resumed request counts in the budget of the download group (Medium for an attachment)', async () => {
    const s = await sim({ rateWindowSec: 60, rateLimits: { Medium: 40 } });
    const c = client(s);
    const message = s.allMessages().find((m) => m.attachments.some((x) => x.size > 5000))!;
    const attachment = message.attachments.find((x) => x.size > 5000)!;
    const match = `/content/${attachment.id}`;
    s.fault({ kind: 'close-early', host: 'media', match, afterBytes: 1000 });
    s.fault({ kind: 'close-early', host: 'media', match, afterBytes: 1000 });
    const before = c.budget('Medium').snapshot().usedInWindow;
    const content = await c.openContent(attachment.uri, { group: 'Medium' });
    const digest = await sha256Of(content.body);
    assert.equal(digest.sha256, s.expectedAttachment(message.id, attachment.id).sha256);
    const media = s.requestLog.filter((r) => r.host === 'media');
    assert.deepEqual(
      media.map((r) => [r.group, r.range ?? null]),
      [
        ['Medium', null],
        ['Medium', 'bytes=1000-'],
        ['Medium', 'bytes=2000-'],
      ],
    );
    assert.equal(c.budget('Medium').snapshot().usedInWindow - before, 3, 'three requests spent of Medium');
    assert.equal(c.budget('Heavy').snapshot().usedInWindow, 0, 'none of Heavy');
  });

  it('a download given a permit spends it instead of another; its resume acquires its own', async () => {
    const s = await sim({ rateWindowSec: 60, rateLimits: { Medium: 40 } });
    const c = client(s);
    const message = s.allMessages().find((m) => m.attachments.some((x) => x.size > 5000))!;
    const attachment = message.attachments.find((x) => x.size > 5000)!;
    // Log in first, so that only the download's requests count below.
    await c.request('GET', '/restapi/v1.0/account/~/extension/~');
    const budget = c.budget('Medium');
    const before = budget.snapshot().usedInWindow;
    const permit = await budget.acquire();
    assert.equal(budget.snapshot().usedInWindow - before, 1, 'the permit holds a slot');
    s.fault({ kind: 'close-early', host: 'media', match: `/content/${attachment.id}`, afterBytes: 1000 });
    const content = await c.openContent(attachment.uri, { group: 'Medium', permit });
    const digest = await sha256Of(content.body);
    assert.equal(digest.sha256, s.expectedAttachment(message.id, attachment.id).sha256);
    assert.equal(
      s.requestLog.filter((r) => r.host === 'media').length,
      2,
      'the first request and one resume',
    );
    assert.equal(
      budget.snapshot().usedInWindow - before,
      2,
      'the given permit paid for the first, the resume took one',
    );

    // A permit given to a download that never goes out (already aborted) is given back.
    const unused = await budget.acquire();
    const aborted = new AbortController();
    aborted.abort();
    await assert.rejects(
      c.openContent(attachment.uri, { group: 'Medium', permit: unused, signal: aborted.signal }),
    );
    assert.equal(budget.snapshot().usedInWindow - before, 2, 'its slot is free again');
  });

  it('aborts the download when its body is destroyed', async () => {
    const s = await sim({ days: 1, callsPerDay: 6, recordingBytes: { min: 4_000_000, max: 5_000_000 } });
    const c = client(s);
    const rec = s.allRecordings()[0];
    const opened = await c.openContent(rec.contentUri);
    await new Promise((resolve) => opened.body.once('data', resolve));
    opened.body.destroy();
    for (let i = 0; i < 100 && s.stats.downloads.failed === 0; i++) await delay(20);
    assert.equal(s.stats.downloads.failed, 1, 'the server saw the download aborted');
    assert.equal(s.stats.downloads.completed, 0);
  });

  it('after a 429 pauses the group for Retry-After and sends nothing during the penalty', async () => {
    const s = await sim({ rateWindowSec: 2, rateLimits: { Heavy: 10 } });
    const other = client(s); // another node-red, same login, its own budget
    // Without the first-answer gate this client bursts into the window the other one used up.
    const c = client(s, { budget: { firstAnswerGate: false } });
    const recs = s.allRecordings().slice(0, 18);
    await Promise.all(
      recs.slice(0, 9).map(async (r) => sha256Of((await other.openContent(r.contentUri)).body)),
    );
    s.resetStats();
    const digests = await Promise.all(
      recs.slice(9).map(async (r) => (await sha256Of((await c.openContent(r.contentUri)).body)).sha256),
    );
    assert.deepEqual(
      digests,
      recs.slice(9).map((r) => s.expectedContent(r.id).sha256),
    );
    const heavy = s.requestLog.filter((r) => r.group === 'Heavy');
    const limited = heavy.filter((r) => r.status === 429);
    assert.ok(limited.length >= 1, 'the other process had used the window up');
    const lastLimited = Math.max(...limited.map((r) => r.at));
    const firstLimited = Math.min(...limited.map((r) => r.at));
    assert.ok(lastLimited - firstLimited < 500, 'only requests already on their way met the penalty');
    const after429 = heavy.filter((r) => r.at > lastLimited);
    assert.ok(after429.length >= 8);
    assert.ok(after429.every((r) => r.status === 200));
    const firstAfter = Math.min(...after429.map((r) => r.at));
    assert.ok(firstAfter - lastLimited >= 1900, `waited ${firstAfter - lastLimited} ms for the penalty`);
    assert.ok(c.budget('Heavy').snapshot().penalties >= 1);
  });

  it('a client started while another process has used the window up provokes no 429', async () => {
    const s = await sim({ rateWindowSec: 2, rateLimits: { Heavy: 10 } });
    const killed = client(s); // the process before a crash and restart
    const restarted = client(s);
    const recs = s.allRecordings().slice(0, 18);
    await Promise.all(
      recs.slice(0, 9).map(async (r) => sha256Of((await killed.openContent(r.contentUri)).body)),
    );
    const digests = await Promise.all(
      recs
        .slice(9)
        .map(async (r) => (await sha256Of((await restarted.openContent(r.contentUri)).body)).sha256),
    );
    assert.deepEqual(
      digests,
      recs.slice(9).map((r) => s.expectedContent(r.id).sha256),
    );
    assert.equal(s.stats.rateLimited, 0, 'the first answer told the new client what the server had counted');
  });

  it('keeps tokens apart between clients, even with the same cachePrefix', async () => {
    const s = await sim();
    const a = client(s, { cachePrefix: 'same-' });
    const b = client(s, { cachePrefix: 'same-' });
    const c = client(s, { cachePrefix: 'other-' });
    await a.request('GET', '/restapi/v1.0/account/~');
    await b.request('GET', '/restapi/v1.0/account/~');
    await c.request('GET', '/restapi/v1.0/account/~');
    assert.equal(s.stats.logins, 3, 'each client logged in itself');
    await a.request('GET', '/restapi/v1.0/account/~');
    assert.equal(s.stats.logins, 3);
  });

  it('tests the connection and lists missing permissions', async () => {
    const s = await sim();
    const info = await client(s).testConnection();
    assert.equal(info.accountId, s.accountId);
    assert.equal(info.extensionId, s.adminExtension.id);
    assert.equal(info.extensionNumber, s.adminExtension.extensionNumber);
    assert.equal(info.isAdmin, true);
    assert.deepEqual(info.missingPermissions, []);
    s.removePermission('ReadCallRecording');
    const lacking = await client(s).testConnection();
    assert.deepEqual(lacking.missingPermissions, ['ReadCallRecording']);
  });

  it('dispose() rejects waiting requests', async () => {
    const s = await sim();
    const c = client(s);
    await c.request('GET', '/restapi/v1.0/account/~');
    c.budget('Light').penalize(30);
    const waiting = c.request('GET', '/restapi/v1.0/account/~');
    await delay(20);
    await c.dispose();
    await assert.rejects(waiting, /closed/);
    await assert.rejects(c.request('GET', '/restapi/v1.0/account/~'), /closed/);
  });
});
