// Tests of the simulator's extension types, message store (voicemail, fax, SMS, MMS, pager), lost
// content, and team-messaging compliance exports.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OpenApiValidator } from './openapi';
import { startSimulator, type Simulator } from './index';

const RELAXED = { Light: 10_000, Medium: 10_000, Heavy: 10_000, Auth: 10_000 };
const FIXED_NOW = '2026-03-02T12:00:00.000Z';
const DAY = 86400_000;

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function login(sim: Simulator, jwt = sim.credentials.jwt): Promise<string> {
  const { clientId, clientSecret } = sim.credentials;
  const res = await fetch(`${sim.platformUrl}/restapi/oauth/token`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      Authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
    },
    body: new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion: jwt,
    }).toString(),
  });
  assert.equal(res.status, 200);
  return ((await res.json()) as Json).access_token as string;
}

async function call(
  sim: Simulator,
  path: string,
  token?: string,
  init: { method?: string; body?: unknown } = {},
): Promise<Response> {
  const url = path.startsWith('http') ? path : `${sim.platformUrl}${path}`;
  const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
  if (init.body !== undefined) headers['Content-Type'] = 'application/json';
  return fetch(url, {
    method: init.method ?? 'GET',
    headers,
    body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
  });
}

async function getJson(sim: Simulator, path: string, token: string): Promise<Json> {
  const res = await call(sim, path, token);
  assert.equal(res.status, 200, `${path}: ${await res.clone().text()}`);
  return (await res.json()) as Json;
}

async function bytesOf(res: Response): Promise<Buffer> {
  return Buffer.from(await res.arrayBuffer());
}

function sha(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** Reads a zip's central directory; returns each entry with its stored data. */
function readZip(zip: Buffer): Array<{ name: string; crc: number; data: Buffer }> {
  let eocd = -1;
  for (let i = zip.length - 22; i >= 0; i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  assert.ok(eocd >= 0, 'end of central directory');
  const count = zip.readUInt16LE(eocd + 10);
  const cdSize = zip.readUInt32LE(eocd + 12);
  let p = zip.readUInt32LE(eocd + 16);
  assert.equal(p + cdSize, eocd);
  const out: Array<{ name: string; crc: number; data: Buffer }> = [];
  for (let i = 0; i < count; i++) {
    assert.equal(zip.readUInt32LE(p), 0x02014b50);
    assert.equal(zip.readUInt16LE(p + 10), 0, 'stored');
    const crc = zip.readUInt32LE(p + 16);
    const size = zip.readUInt32LE(p + 20);
    const nameLen = zip.readUInt16LE(p + 28);
    const extraLen = zip.readUInt16LE(p + 30);
    const commentLen = zip.readUInt16LE(p + 32);
    const local = zip.readUInt32LE(p + 42);
    const name = zip.subarray(p + 46, p + 46 + nameLen).toString('utf8');
    assert.equal(zip.readUInt32LE(local), 0x04034b50);
    const dataStart = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    out.push({ name, crc, data: zip.subarray(dataStart, dataStart + size) });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

describe('simulator: extensions and message store', () => {
  let sim: Simulator;
  let token: string;
  const v = new OpenApiValidator();
  const check = (operationId: string, status: number, body: unknown): void => {
    const r = v.validateResponse(operationId, status, body);
    assert.ok(r.valid, `${operationId} ${status} does not match the spec:\n${r.text}`);
  };

  before(async () => {
    sim = await startSimulator({ seed: 7, now: FIXED_NOW, days: 40, rateLimits: RELAXED });
    token = await login(sim);
  });
  after(() => sim.close());

  it('lists several mailbox types and statuses; calls are as without them', async () => {
    const all = await getJson(sim, '/restapi/v1.0/account/~/extension?perPage=1000', token);
    check('listExtensions', 200, all);
    const types = new Set(all.records.map((r: Json) => r.type));
    for (const t of ['User', 'Department', 'DigitalUser', 'VirtualUser', 'Voicemail', 'SharedLinesGroup'])
      assert.ok(types.has(t), t);
    const depts = await getJson(sim, '/restapi/v1.0/account/~/extension?type=Department', token);
    assert.ok(depts.records.length >= 1 && depts.records.every((r: Json) => r.type === 'Department'));
    const disabled = await getJson(sim, '/restapi/v1.0/account/~/extension?status=Disabled', token);
    assert.equal(disabled.records.length, 1);
    assert.equal(disabled.records[0].type, 'User');
    const disabledId = String(disabled.records[0].id);
    assert.ok(sim.allMessages({ extensionId: disabledId }).length > 0, 'a disabled user keeps messages');
    const enabledUsers = await getJson(
      sim,
      '/restapi/v1.0/account/~/extension?type=User&status=Enabled',
      token,
    );
    assert.equal(enabledUsers.records.length, sim.extensions.length);

    const twin = await startSimulator({ seed: 7, now: FIXED_NOW, days: 40 });
    try {
      const strip = (list: ReturnType<Simulator['allMessages']>): unknown =>
        list.map((m) => [m.id, m.type, m.creationTime, m.conversationId, m.attachments.map((x) => x.size)]);
      assert.deepEqual(strip(twin.allMessages()), strip(sim.allMessages()), 'messages are deterministic');
      const m = sim.allMessages().find((x) => x.attachments.length > 0)!;
      assert.deepEqual(
        twin.expectedAttachment(m.id, m.attachments[0].id),
        sim.expectedAttachment(m.id, m.attachments[0].id),
      );
    } finally {
      await twin.close();
    }
    const plain = await startSimulator({ seed: 7, now: FIXED_NOW, days: 40, otherExtensions: false });
    try {
      assert.deepEqual(
        plain.allCalls({ includeHidden: true }).map((c) => [c.id, c.startTime, c.extensionId]),
        sim.allCalls({ includeHidden: true }).map((c) => [c.id, c.startTime, c.extensionId]),
      );
    } finally {
      await plain.close();
    }
  });

  it('message-store list follows the spec, pages, filters and honours the retention', async () => {
    const ext = sim.adminExtension;
    const base = `/restapi/v1.0/account/~/extension/${ext.id}/message-store`;
    const dateFrom = new Date(Date.parse(FIXED_NOW) - 41 * DAY).toISOString();
    const seen: string[] = [];
    let next: string | undefined = `${base}?dateFrom=${dateFrom}&perPage=25`;
    let pages = 0;
    while (next) {
      const page = await getJson(sim, next, token);
      check('listMessages', 200, page);
      assert.ok(page.navigation.firstPage.uri.startsWith('http://'));
      for (const r of page.records) seen.push(String(r.id));
      next = page.navigation.nextPage?.uri;
      pages++;
    }
    assert.ok(pages > 1, 'several pages');
    const expected = sim.allMessages({ extensionId: ext.id, availability: ['Alive'] });
    assert.deepEqual(
      seen,
      expected.map((m) => m.id),
    );
    const oldest = Date.parse(FIXED_NOW) - 30 * DAY;
    const all = sim.allMessages({ extensionId: ext.id, includeExpired: true, availability: ['Alive'] });
    const expired = all.filter(
      (m) => (m.type === 'Fax' || m.type === 'VoiceMail') && Date.parse(m.creationTime) < oldest,
    );
    assert.ok(expired.length > 0, 'some fax/voicemail are past the retention');
    for (const m of expired) assert.ok(!seen.includes(m.id));
    assert.ok(
      expected.some((m) => m.type === 'SMS' && Date.parse(m.creationTime) < oldest),
      'older SMS stay',
    );

    // default window: 24 h before dateTo
    const recent = await getJson(sim, `${base}?perPage=1000`, token);
    for (const r of recent.records)
      assert.ok(Date.parse(r.creationTime) >= Date.parse(FIXED_NOW) - DAY - 60_000);

    // repeatable messageType, availability
    const vmFax = await getJson(
      sim,
      `${base}?dateFrom=${dateFrom}&perPage=1000&messageType=VoiceMail&messageType=Fax`,
      token,
    );
    assert.ok(vmFax.records.length > 0);
    assert.ok(vmFax.records.every((r: Json) => r.type === 'VoiceMail' || r.type === 'Fax'));
    const everyone = sim.allMessages({ availability: ['Deleted'] });
    assert.ok(everyone.length > 0, 'some messages are Deleted');
    const owner = everyone[0].extensionId;
    const deleted = await getJson(
      sim,
      `/restapi/v1.0/account/~/extension/${owner}/message-store?dateFrom=${dateFrom}&perPage=1000&availability=Deleted`,
      token,
    );
    check('listMessages', 200, deleted);
    assert.deepEqual(
      deleted.records.map((r: Json) => String(r.id)),
      sim.allMessages({ extensionId: owner, availability: ['Deleted'] }).map((m) => m.id),
    );
    assert.equal((await call(sim, `${base}?messageType=Bogus`, token)).status, 400);
  });

  it('readMessage follows the spec; conversationId is an exact raw number', async () => {
    const sms = sim.allMessages({ availability: ['Alive'] }).find((m) => m.conversationId);
    assert.ok(sms?.conversationId);
    assert.ok(BigInt(sms.conversationId) > BigInt(Number.MAX_SAFE_INTEGER));
    const res = await call(sim, sms.uri, token);
    assert.equal(res.status, 200);
    const text = await res.text();
    const raw = /"conversationId":(\d+)[,}]/.exec(text);
    assert.equal(raw?.[1], sms.conversationId);
    const body = JSON.parse(text) as Json;
    check('readMessage', 200, body);
    assert.equal(body.conversation.id, sms.conversationId);
    assert.equal(body.subject, sms.subject);
    assert.equal(String(body.id), sms.id);
    const vm = sim.allMessages().find((m) => m.type === 'VoiceMail');
    assert.ok(vm);
    check('readMessage', 200, await getJson(sim, vm.uri, token));
    assert.equal((await call(sim, `/restapi/v1.0/account/~/extension/~/message-store/1`, token)).status, 404);
  });

  it('attachments download with the expected bytes, types and magic numbers', async () => {
    const messages = sim.allMessages({ availability: ['Alive'] });
    const wanted = new Map<string, { messageId: string; att: Json }>();
    for (const m of messages) {
      for (const a of m.attachments) {
        const key = `${a.type}:${a.contentType}`;
        if (!wanted.has(key)) wanted.set(key, { messageId: m.id, att: a });
      }
    }
    for (const key of [
      'AudioRecording:audio/mpeg',
      'AudioRecording:audio/wav',
      'AudioTranscription:text/plain',
      'RenderedDocument:application/pdf',
      'Text:text/plain',
      'MmsAttachment:image/jpeg',
      'MmsAttachment:image/png',
    ])
      assert.ok(wanted.has(key), key);
    assert.ok([...wanted.keys()].some((k) => k.startsWith('SourceDocument:')));
    for (const [key, { messageId, att }] of wanted) {
      assert.ok(att.uri.startsWith(sim.mediaUrl), 'media host');
      const res = await call(sim, att.uri, token);
      assert.equal(res.status, 200, key);
      assert.equal(res.headers.get('x-rate-limit-group'), 'Medium');
      const buf = await bytesOf(res);
      const expected = sim.expectedAttachment(messageId, att.id);
      assert.equal(res.headers.get('content-type'), expected.contentType);
      assert.equal(Number(res.headers.get('content-length')), expected.bytes);
      assert.equal(buf.length, att.size);
      assert.equal(sha(buf), expected.sha256, key);
      if (att.contentType === 'application/pdf') {
        assert.equal(buf.subarray(0, 8).toString('latin1'), '%PDF-1.4');
        assert.ok(buf.toString('latin1').trimEnd().endsWith('%%EOF'));
      }
      if (att.contentType === 'image/jpeg') assert.deepEqual([...buf.subarray(0, 3)], [0xff, 0xd8, 0xff]);
      if (att.contentType === 'image/png')
        assert.deepEqual([...buf.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      if (att.contentType === 'audio/mpeg') assert.equal(buf.subarray(0, 3).toString('latin1'), 'ID3');
      if (att.contentType === 'audio/wav') assert.equal(buf.subarray(0, 4).toString('latin1'), 'RIFF');
    }
    const sms = messages.find((m) => m.type === 'SMS' && m.subject);
    const text = sms?.attachments.find((a) => a.type === 'Text');
    assert.ok(sms && text);
    assert.equal((await bytesOf(await call(sim, text.uri, token))).toString('utf8'), sms.subject);
  });

  it('deleteContent makes an attachment and a recording answer 404 CMN-102', async () => {
    const m = sim.allMessages({ availability: ['Alive'] }).find((x) => x.attachments.length > 0);
    assert.ok(m);
    const att = m.attachments[0];
    assert.equal((await call(sim, att.uri, token)).status, 200);
    sim.deleteContent(att.uri);
    const gone = await call(sim, att.uri, token);
    assert.equal(gone.status, 404);
    const body = (await gone.json()) as Json;
    assert.equal(body.errorCode, 'CMN-102');
    assert.ok(v.validateNamedResponse('NotFound', body).valid);
    assert.equal((await call(sim, m.uri, token)).status, 200, 'the message itself stays');

    const rec = sim.allRecordings()[0];
    assert.equal((await call(sim, rec.contentUri, token)).status, 200);
    sim.deleteContent(rec.id);
    assert.equal((await call(sim, rec.contentUri, token)).status, 404);
  });

  it('attachment downloads are Medium: exceeding the limit answers 429', async () => {
    sim.setRateLimits({ limits: { Medium: 3 }, windowSec: 60 });
    try {
      const atts = sim
        .addMessages(4, { extensionId: sim.adminExtension.id, type: 'SMS' })
        .map((m) => m.attachments[0]);
      for (let i = 0; i < 3; i++) {
        const ok = await call(sim, atts[i].uri, token);
        assert.equal(ok.status, 200);
        await ok.arrayBuffer();
      }
      const limited = await call(sim, atts[3].uri, token);
      assert.equal(limited.status, 429);
      assert.equal(limited.headers.get('x-rate-limit-group'), 'Medium');
      assert.ok(Number(limited.headers.get('retry-after')) > 0);
      // listings are Light and unaffected
      const list = await call(sim, '/restapi/v1.0/account/~/extension/~/message-store', token);
      assert.equal(list.status, 200);
      assert.equal(list.headers.get('x-rate-limit-group'), 'Light');
    } finally {
      sim.setRateLimits({ limits: RELAXED });
    }
  });

  it('addMessages and the control routes add and list messages', async () => {
    const added = sim.addMessages(1, { extensionId: sim.extensions[1].id, type: 'MMS' });
    assert.equal(added[0].type, 'SMS');
    assert.ok(added[0].mms && added[0].attachments.some((a) => a.type === 'MmsAttachment'));
    const res = await fetch(`${sim.platformUrl}/__sim/messages`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ count: 2, type: 'Fax', extensionId: sim.adminExtension.id }),
    });
    assert.equal(res.status, 200);
    const { messages } = (await res.json()) as { messages: Json[] };
    assert.equal(messages.length, 2);
    const listed = (await (await fetch(`${sim.platformUrl}/__sim/messages`)).json()) as Json[];
    for (const m of [...added, ...messages]) assert.ok(listed.some((x) => x.id === m.id));
    const page = await getJson(
      sim,
      '/restapi/v1.0/account/~/extension/~/message-store?messageType=Fax',
      token,
    );
    for (const m of messages) assert.ok(page.records.some((r: Json) => String(r.id) === m.id));
    // a user sees only its own mailbox
    const user = sim.extensions[1];
    const ut = await login(sim, sim.jwtFor(user.id));
    const own = await getJson(sim, '/restapi/v1.0/account/~/extension/~/message-store', ut);
    assert.ok(own.records.some((r: Json) => String(r.id) === added[0].id));
    assert.equal(
      (await call(sim, `/restapi/v1.0/account/~/extension/${sim.adminExtension.id}/message-store`, ut))
        .status,
      403,
    );
  });
});

describe('simulator: team-messaging data export', () => {
  let sim: Simulator;
  let token: string;
  const v = new OpenApiValidator();
  const check = (operationId: string, status: number, body: unknown): void => {
    const r = v.validateResponse(operationId, status, body);
    assert.ok(r.valid, `${operationId} ${status} does not match the spec:\n${r.text}`);
  };

  before(async () => {
    sim = await startSimulator({ seed: 9, now: FIXED_NOW, days: 10, rateLimits: RELAXED });
    token = await login(sim);
  });
  after(() => sim.close());

  it('a task moves Accepted → InProgress → Completed and its dataset is a valid zip', async () => {
    const timeTo = FIXED_NOW;
    const timeFrom = new Date(Date.parse(FIXED_NOW) - 7 * DAY).toISOString();
    const created = await call(sim, '/team-messaging/v1/data-export', token, {
      method: 'POST',
      body: { timeFrom, timeTo },
    });
    assert.equal(created.status, 202);
    assert.equal(created.headers.get('x-rate-limit-group'), 'Heavy');
    const task = (await created.json()) as Json;
    check('createDataExportTaskNew', 202, task);
    assert.equal(task.status, 'Accepted');
    assert.equal(task.specific.timeFrom, timeFrom);
    assert.equal(task.creator.id, sim.adminExtension.id);

    const poll1 = await getJson(sim, `/team-messaging/v1/data-export/${task.id}`, token);
    check('readDataExportTaskNew', 200, poll1);
    assert.equal(poll1.status, 'InProgress');
    assert.equal(poll1.datasets, undefined);
    const poll2 = await getJson(sim, `/team-messaging/v1/data-export/${task.id}`, token);
    check('readDataExportTaskNew', 200, poll2);
    assert.equal(poll2.status, 'Completed');
    assert.equal(poll2.datasets.length, 1);
    const dataset = poll2.datasets[0];
    assert.ok(dataset.uri.startsWith(sim.mediaUrl));
    assert.ok(Date.parse(dataset.expiresAt) > Date.parse(poll2.lastModifiedTime));

    const list = await getJson(sim, '/team-messaging/v1/data-export', token);
    check('listDataExportTasksNew', 200, list);
    assert.ok(list.tasks.some((t: Json) => t.id === task.id));

    assert.equal((await call(sim, dataset.uri)).status, 401, 'needs the Bearer header');
    assert.equal((await call(sim, `${dataset.uri}?access_token=${token}`)).status, 401);
    const res = await call(sim, dataset.uri, token);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/zip');
    const zip = await bytesOf(res);
    assert.equal(Number(res.headers.get('content-length')), zip.length);
    assert.equal(zip.length, dataset.size);
    const expected = sim.expectedExport(task.id);
    assert.equal(sha(zip), expected.sha256);
    assert.equal(zip.length, expected.bytes);

    // RingCentral's documented layout: request_info.json and eight folders of numbered files.
    const entries = readZip(zip);
    const names = entries.map((e) => e.name);
    const parsed = (name: string) =>
      JSON.parse(entries.find((e) => e.name === name)!.data.toString('utf8')) as Json;
    assert.deepEqual(parsed('request_info.json'), { timeFrom, timeTo });
    for (const folder of ['chats', 'members', 'guests', 'posts', 'events', 'tasks', 'notes', 'files'])
      assert.ok(names.includes(`${folder}/${folder}_1.json`), folder);
    for (const e of entries) {
      assert.equal(sha(e.data), expected.entries[e.name], e.name);
      assert.match(e.name, /^(request_info|([a-z]+)\/\2_\d+)\.json$/);
      JSON.parse(e.data.toString('utf8'));
    }
    assert.deepEqual(names.sort(), Object.keys(expected.entries).sort());
    const members = parsed('members/members_1.json') as Json[];
    assert.equal(members.length, sim.extensions.length);
    assert.deepEqual(
      (parsed('chats/chats_1.json') as Json[]).map((c) => c.id),
      sim.team.chats.map((c) => c.id),
    );
    // One posts file (the default holds 10,000), every post of the time frame in it.
    assert.deepEqual(
      names.filter((n) => n.startsWith('posts/')),
      ['posts/posts_1.json'],
    );
    const posts = parsed('posts/posts_1.json') as Json[];
    assert.deepEqual(
      posts.map((p) => p.id),
      sim.team.posts
        .filter((p) => p.creationTime >= Date.parse(timeFrom) && p.creationTime <= Date.parse(timeTo))
        .map((p) => p.id),
    );
    for (const p of posts) {
      assert.ok(p.groupId && p.creatorId && typeof p.text === 'string' && Array.isArray(p.attachments));
      const t = Date.parse(p.creationTime);
      assert.ok(t >= Date.parse(timeFrom) && t <= Date.parse(timeTo));
    }
    if (existsSync('/usr/bin/unzip')) {
      const dir = mkdtempSync(join(tmpdir(), 'sim-zip-'));
      try {
        writeFileSync(join(dir, 'x.zip'), zip);
        const out = execFileSync('/usr/bin/unzip', ['-t', join(dir, 'x.zip')]).toString();
        assert.match(out, /No errors detected/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    // the same request is the same archive (deterministic)
    assert.equal(sim.expectedExport(task.id).sha256, expected.sha256);
  });

  it('splits each folder into numbered files of at most exportFileElements elements', async () => {
    const small = await startSimulator({
      seed: 9,
      now: FIXED_NOW,
      days: 3,
      postsPerDay: 10,
      exportFileElements: 4,
      rateLimits: RELAXED,
    });
    try {
      const t = await login(small);
      const timeFrom = new Date(Date.parse(FIXED_NOW) - 3 * DAY).toISOString();
      const body = { timeFrom, timeTo: FIXED_NOW };
      const created = await call(small, '/team-messaging/v1/data-export', t, { method: 'POST', body });
      const task = (await created.json()) as Json;
      for (let i = 0; i < 2; i++) await getJson(small, `/team-messaging/v1/data-export/${task.id}`, t);
      const done = await getJson(small, `/team-messaging/v1/data-export/${task.id}`, t);
      const entries = readZip(await bytesOf(await call(small, done.datasets[0].uri, t)));
      const postFiles = entries
        .map((e) => ({ m: /^posts\/posts_(\d+)\.json$/.exec(e.name), e }))
        .filter((x) => x.m)
        .sort((a, b) => Number(a.m![1]) - Number(b.m![1]));
      const want = small.team.posts.filter((p) => p.creationTime >= Date.parse(timeFrom)).map((p) => p.id);
      assert.equal(postFiles.length, Math.ceil(want.length / 4));
      assert.deepEqual(
        postFiles.map((x) => x.m![1]),
        postFiles.map((_, i) => String(i + 1)),
        'numbered from 1 without gaps',
      );
      const lists = postFiles.map((x) => JSON.parse(x.e.data.toString('utf8')) as Json[]);
      assert.ok(lists.every((l) => l.length >= 1 && l.length <= 4));
      assert.deepEqual(
        lists.flat().map((p) => p.id),
        want,
        'every post once, in time order',
      );
      const chatsIn = lists.map((l) => new Set(l.map((p) => p.groupId)));
      assert.ok(
        [...chatsIn[0]].some((chat) => chatsIn.slice(1).some((set) => set.has(chat))),
        "a chat's posts span several files",
      );
      assert.ok(entries.some((e) => e.name === 'members/members_1.json'));
    } finally {
      await small.close();
    }
  });

  it('chatIds limit the export; bad time frames and a third active task are refused', async () => {
    const chatId = sim.team.chats[0].id;
    const res = await call(sim, '/team-messaging/v1/data-export', token, {
      method: 'POST',
      body: { chatIds: [chatId], timeFrom: '2026-02-20T00:00:00.000Z', timeTo: FIXED_NOW },
    });
    assert.equal(res.status, 202);
    const one = (await res.json()) as Json;
    assert.deepEqual(one.specific.chatIds, [chatId]);

    const tooLong = await call(sim, '/team-messaging/v1/data-export', token, {
      method: 'POST',
      body: { timeFrom: '2025-06-01T00:00:00.000Z', timeTo: FIXED_NOW },
    });
    assert.equal(tooLong.status, 400);
    assert.equal(((await tooLong.json()) as Json).errorCode, 'CMN-101');

    const two = await call(sim, '/team-messaging/v1/data-export', token, { method: 'POST', body: {} });
    assert.equal(two.status, 202);
    const three = await call(sim, '/team-messaging/v1/data-export', token, { method: 'POST', body: {} });
    assert.equal(three.status, 400, 'at most 2 tasks not yet Completed');
    // completing one frees a slot
    for (let i = 0; i < 2; i++) await getJson(sim, `/team-messaging/v1/data-export/${one.id}`, token);
    // The completed export holds that chat only.
    const done = await getJson(sim, `/team-messaging/v1/data-export/${one.id}`, token);
    const entries = readZip(await bytesOf(await call(sim, done.datasets[0].uri, token)));
    const parsed = (name: string) =>
      JSON.parse(entries.find((e) => e.name === name)!.data.toString('utf8')) as Json;
    assert.deepEqual(parsed('request_info.json').chatIds, [chatId]);
    assert.deepEqual(
      (parsed('chats/chats_1.json') as Json[]).map((c) => c.id),
      [chatId],
    );
    const posts = parsed('posts/posts_1.json') as Json[];
    assert.ok(posts.length > 0);
    assert.ok(posts.every((p) => p.groupId === chatId));
    const four = await call(sim, '/team-messaging/v1/data-export', token, { method: 'POST', body: {} });
    assert.equal(four.status, 202);
    assert.equal((await call(sim, '/team-messaging/v1/data-export/nope', token)).status, 404);
    const info = (await (await fetch(`${sim.platformUrl}/__sim/exports`)).json()) as Json[];
    assert.ok(info.some((t) => t.id === one.id && t.status === 'Completed'));
  });

  it('answers 403 FeatureNotAvailable when compliance exports are disabled', async () => {
    const off = await startSimulator({ seed: 9, days: 1, complianceExportEnabled: false });
    try {
      const t = await login(off);
      const res = await call(off, '/team-messaging/v1/data-export', t, { method: 'POST', body: {} });
      assert.equal(res.status, 403);
      assert.equal(((await res.json()) as Json).errorCode, 'FeatureNotAvailable');
    } finally {
      await off.close();
    }
  });
});
