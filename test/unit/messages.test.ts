import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { ArchiveItem } from '../../lib/items';
import { Ledger } from '../../lib/ledger/index';
import { RcClient } from '../../lib/ringcentral/client';
import { listAccountExtensions, mailboxExtensions } from '../../lib/sources/extensions';
import {
  messageChoicesOf,
  messageCursorName,
  messageItems,
  messageTypesFor,
  runMessages,
  type MessageLister,
  type MessageRecordLike,
} from '../../lib/sources/messages';
import { startSimulator } from '../sim/index';

const BASE = 'https://platform.example.ringcentral.com/restapi/v1.0/account/37439510/extension/62264425';
const MEDIA = 'https://media.example.ringcentral.com/restapi/v1.0/account/37439510/extension/62264425';
const owner = { id: '62264425', name: 'Alice Smith', extensionNumber: '101' };

function voicemail(): MessageRecordLike {
  return {
    id: 1724099032020,
    uri: `${BASE}/message-store/1724099032020`,
    type: 'VoiceMail',
    creationTime: '2026-11-20T10:15:30.000Z',
    direction: 'Inbound',
    from: { phoneNumber: '+16505550100', name: 'Caller' },
    to: [{ extensionNumber: '101', name: 'Alice Smith' }],
    vmTranscriptionStatus: 'Completed',
    attachments: [
      {
        id: 11,
        uri: `${MEDIA}/message-store/1724099032020/content/11`,
        type: 'AudioRecording',
        contentType: 'audio/mpeg',
        size: 5000,
        vmDuration: 12,
      },
      {
        id: 12,
        uri: `${MEDIA}/message-store/1724099032020/content/12`,
        type: 'AudioTranscription',
        contentType: 'text/plain',
      },
    ],
  };
}

function fax(): MessageRecordLike {
  return {
    id: 2001,
    uri: `${BASE}/message-store/2001`,
    type: 'Fax',
    creationTime: '2026-11-20T11:00:00Z',
    direction: 'Outbound',
    from: { phoneNumber: '+16505550101' },
    to: [{ phoneNumber: '+16505550102' }, { phoneNumber: '+16505550103' }],
    attachments: [
      {
        id: 21,
        uri: `${MEDIA}/message-store/2001/content/21`,
        type: 'RenderedDocument',
        contentType: 'application/pdf',
        fileName: 'fax.pdf',
      },
      {
        id: 22,
        uri: `${MEDIA}/message-store/2001/content/22`,
        type: 'SourceDocument',
        contentType: 'application/msword',
        fileName: 'letter.doc',
      },
    ],
  };
}

/** An SMS as RingCentral sends it, parsed the way the client parses answers (JSON.parse). */
const SMS_JSON = `{
  "id": 3001,
  "uri": "${BASE}/message-store/3001",
  "type": "SMS",
  "creationTime": "2026-11-20T12:00:00.000Z",
  "direction": "Outbound",
  "conversationId": 9223372036854775001,
  "conversation": { "id": "9223372036854775001", "uri": "https://platform.example/conversation/9223372036854775001" },
  "from": { "phoneNumber": "+16505550101" },
  "to": [{ "phoneNumber": "+16505550104" }],
  "subject": "hello",
  "attachments": [
    { "id": 31, "uri": "${MEDIA}/message-store/3001/content/31", "type": "Text", "contentType": "text/plain" }
  ]
}`;

function mms(): MessageRecordLike {
  return {
    id: 4001,
    uri: `${BASE}/message-store/4001`,
    type: 'SMS',
    creationTime: '2026-11-20T13:00:00Z',
    direction: 'Inbound',
    conversation: { id: '9223372036854775002' },
    from: { phoneNumber: '+16505550105' },
    to: [{ phoneNumber: '+16505550101' }],
    attachments: [
      { id: 41, uri: `${MEDIA}/message-store/4001/content/41`, type: 'Text', contentType: 'text/plain' },
      {
        id: 42,
        uri: `${MEDIA}/message-store/4001/content/42`,
        type: 'MmsAttachment',
        contentType: 'image/jpeg',
        fileName: 'photo.jpg',
        size: 1234,
      },
      {
        id: 43,
        uri: `${MEDIA}/message-store/4001/content/43`,
        type: 'MmsAttachment',
        contentType: 'image/png',
      },
    ],
  };
}

describe('message → items', () => {
  it('voicemail: the audio and the transcription, keyed by message and attachment', () => {
    const items = messageItems(voicemail(), { rc: 'rc1', owner });
    assert.deepEqual(
      items.map((i) => i.key),
      ['Voicemail:1724099032020:11', 'Voicemail:1724099032020:12'],
    );
    const [audio, text] = items;
    assert.equal(audio.kind, 'Voicemail');
    assert.equal(audio.accountId, '37439510');
    assert.equal(audio.extensionId, '62264425');
    assert.equal(audio.ownerName, 'Alice Smith');
    assert.equal(audio.extensionNumber, '101');
    assert.equal(audio.from, '+16505550100');
    assert.deepEqual(audio.to, ['101']);
    assert.equal(audio.direction, 'Inbound');
    assert.equal(audio.createdAt, '2026-11-20T10:15:30.000Z');
    assert.equal(audio.contentType, 'audio/mpeg');
    assert.equal(audio.fileName, '11.mp3');
    assert.equal(audio.size, 5000);
    assert.equal(audio.rc, 'rc1');
    assert.deepEqual(audio.content, { uri: `${MEDIA}/message-store/1724099032020/content/11` });
    assert.equal((audio.record as { id: string }).id, '1724099032020');
    assert.equal((audio.record as { attachment: { id: string } }).attachment.id, '11');
    assert.equal(text.contentType, 'text/plain');
    assert.equal(text.fileName, '12.txt');
    assert.equal(text.size, undefined);
  });

  it('fax: the rendered PDF and the source document, with their file names', () => {
    const items = messageItems(fax(), { rc: 'rc1', owner });
    assert.deepEqual(
      items.map((i) => [i.key, i.kind, i.fileName, i.contentType]),
      [
        ['Fax:2001:21', 'Fax', 'fax.pdf', 'application/pdf'],
        ['Fax:2001:22', 'Fax', 'letter.doc', 'application/msword'],
      ],
    );
    assert.deepEqual(items[0].to, ['+16505550102', '+16505550103']);
    assert.equal(items[0].direction, 'Outbound');
  });

  it('SMS: one JSON item with the conversation id as the exact string, never the lossy number', () => {
    const parsed = JSON.parse(SMS_JSON) as MessageRecordLike;
    // The proof that the number cannot be trusted: JSON.parse has rounded it.
    assert.notEqual(String(parsed.conversationId), '9223372036854775001');
    const items = messageItems(parsed, { rc: 'rc1', owner });
    assert.equal(items.length, 1);
    const [sms] = items;
    assert.equal(sms.key, 'SMS:3001');
    assert.equal(sms.kind, 'SMS');
    assert.equal(sms.contentType, 'application/json');
    assert.equal(sms.fileName, '3001.json');
    const json = (sms.content as { json: Record<string, unknown> }).json;
    assert.equal(json.conversationId, '9223372036854775001');
    assert.equal(json.id, '3001');
    assert.equal((sms.record as Record<string, unknown>).conversationId, '9223372036854775001');
    // Survives the ledger's JSON round trip exactly.
    const back = JSON.parse(JSON.stringify(sms)) as ArchiveItem;
    assert.equal((back.record as Record<string, unknown>).conversationId, '9223372036854775001');
  });

  it('a conversationId number without conversation.id is dropped when unsafe, kept when safe', () => {
    const unsafe = messageItems(
      { ...(JSON.parse(SMS_JSON) as MessageRecordLike), conversation: undefined },
      {
        rc: 'rc1',
      },
    );
    assert.equal('conversationId' in (unsafe[0].record as object), false);
    const safe = messageItems(
      { ...(JSON.parse(SMS_JSON) as MessageRecordLike), conversation: undefined, conversationId: 42 },
      { rc: 'rc1' },
    );
    assert.equal((safe[0].record as Record<string, unknown>).conversationId, '42');
  });

  it('MMS: each attachment, the text included', () => {
    const items = messageItems(mms(), { rc: 'rc1', owner });
    assert.deepEqual(
      items.map((i) => [i.key, i.kind, i.fileName, i.contentType, i.size]),
      [
        ['MMS:4001:41', 'MMS', '41.txt', 'text/plain', undefined],
        ['MMS:4001:42', 'MMS', 'photo.jpg', 'image/jpeg', 1234],
        ['MMS:4001:43', 'MMS', '43.png', 'image/png', undefined],
      ],
    );
    assert.equal((items[1].record as Record<string, unknown>).conversationId, '9223372036854775002');
  });

  it('ids come from the URIs when the numbers have lost digits', () => {
    const raw = JSON.parse(
      `{"id": 9007199254740993123, "uri": "${BASE}/message-store/9007199254740993123", "type": "VoiceMail",
        "creationTime": "2026-11-20T10:00:00Z", "attachments": [{"id": 9007199254740993777,
        "uri": "${MEDIA}/message-store/9007199254740993123/content/9007199254740993777", "contentType": "audio/x-wav"}]}`,
    ) as MessageRecordLike;
    const [item] = messageItems(raw, { rc: 'rc1' });
    assert.equal(item.key, 'Voicemail:9007199254740993123:9007199254740993777');
    assert.equal(item.fileName, '9007199254740993777.wav');
  });

  it('the choices leave kinds out; SMS and MMS are told apart', () => {
    const all = [voicemail(), fax(), JSON.parse(SMS_JSON) as MessageRecordLike, mms()];
    const kinds = (choices: Parameters<typeof messageItems>[1]['choices']) =>
      [...new Set(all.flatMap((m) => messageItems(m, { rc: 'r', choices }).map((i) => i.kind)))].sort();
    assert.deepEqual(kinds(undefined), ['Fax', 'MMS', 'SMS', 'Voicemail']);
    assert.deepEqual(kinds(['mms']), ['MMS']);
    assert.deepEqual(kinds(['sms']), ['SMS']);
    assert.deepEqual(kinds(['voicemail', 'fax']), ['Fax', 'Voicemail']);
    assert.deepEqual(messageTypesFor(['mms']), ['SMS']);
    assert.deepEqual(messageTypesFor(['voicemail', 'fax', 'sms', 'mms']), ['VoiceMail', 'Fax', 'SMS']);
    assert.deepEqual(messageChoicesOf({}), ['voicemail', 'fax', 'sms', 'mms']);
    assert.deepEqual(messageChoicesOf({ voicemail: false, fax: 'false', sms: true }), ['sms', 'mms']);
    // Purged messages have no content; Pager messages are not archived.
    assert.deepEqual(messageItems({ ...voicemail(), availability: 'Purged' }, { rc: 'r' }), []);
    assert.equal(messageItems({ ...voicemail(), availability: 'Deleted' }, { rc: 'r' }).length, 2);
    assert.deepEqual(messageItems({ ...mms(), type: 'Pager' }, { rc: 'r' }), []);
  });
});

describe('extensions', () => {
  it('pages through navigation.nextPage.uri and keeps every status and mailbox type', async () => {
    const calls: Array<{ path: string; query?: Record<string, unknown> }> = [];
    const pages: Record<string, unknown> = {
      '/restapi/v1.0/account/~/extension': {
        records: [
          {
            id: 1,
            uri: 'https://p/restapi/v1.0/account/9/extension/1',
            type: 'User',
            status: 'Enabled',
            extensionNumber: '101',
            name: 'A',
          },
          {
            id: 2,
            type: 'User',
            status: 'Disabled',
            extensionNumber: '102',
            contact: { firstName: 'B', lastName: 'C' },
          },
        ],
        navigation: { nextPage: { uri: 'https://p/restapi/v1.0/account/~/extension?page=2&perPage=1000' } },
      },
      'https://p/restapi/v1.0/account/~/extension?page=2&perPage=1000': {
        records: [
          { id: 3, type: 'Voicemail', status: 'Enabled', extensionNumber: '103' },
          { id: 4, type: 'IvrMenu', status: 'Enabled', extensionNumber: '104' },
          { id: 5, type: 'FaxUser', status: 'NotActivated', extensionNumber: '105' },
        ],
        navigation: {},
      },
    };
    const client = {
      async request<T>(_m: string, p: string, o?: { query?: Record<string, unknown> }): Promise<T> {
        calls.push({ path: p, query: o?.query });
        return pages[p] as T;
      },
    };
    const all = await listAccountExtensions(client);
    assert.deepEqual(
      all.map((e) => e.id),
      ['1', '2', '3', '4', '5'],
    );
    assert.equal(all[1].name, 'B C');
    assert.deepEqual(calls[0].query, { perPage: 1000 });
    assert.equal(calls[1].query, undefined);
    assert.deepEqual(
      mailboxExtensions(all).map((e) => e.id),
      ['1', '2', '3', '5'],
    );
  });
});

describe('runMessages', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rc-messages-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  function lister(byExtension: Record<string, MessageRecordLike[][]>) {
    const calls: Array<{
      extensionId: string;
      dateFrom: string;
      dateTo?: string;
      messageType?: string[];
      availability?: string[];
    }> = [];
    const client: MessageLister = {
      async *listMessages(o) {
        calls.push({
          extensionId: o.extensionId,
          dateFrom: o.dateFrom,
          dateTo: o.dateTo,
          messageType: o.messageType,
          availability: o.availability,
        });
        for (const page of byExtension[o.extensionId] ?? []) yield page;
      },
    };
    return { client, calls };
  }

  it('records items Pending before each mailbox cursor moves, dedupes the overlap, keeps cursors per mailbox', async () => {
    const ledger = Ledger.open(path.join(dir, 'a.sqlite'));
    try {
      const { client, calls } = lister({
        '1': [[voicemail()], [fax()]],
        '2': [[JSON.parse(SMS_JSON) as MessageRecordLike, mms()]],
      });
      const sent: ArchiveItem[] = [];
      const cursorsWhenSent: Array<string | undefined> = [];
      const now = new Date('2026-11-21T00:00:00Z');
      const result = await runMessages({
        client,
        ledger,
        source: 'src',
        rc: 'rc1',
        mailboxes: [
          { id: '1', name: 'A', extensionNumber: '101' },
          { id: '2', name: 'B', extensionNumber: '102' },
        ],
        initialDays: 30,
        lookBackMinutes: 10,
        now,
        onItems: (items) => {
          for (const item of items) assert.equal(ledger.get(item.key)?.status, 'Pending');
          cursorsWhenSent.push(ledger.getCursor(messageCursorName('src', '1')));
          sent.push(...items);
        },
      });
      assert.equal(result.newItems, 2 + 2 + 1 + 3);
      assert.equal(sent.length, result.newItems);
      assert.equal(cursorsWhenSent[0], undefined, 'the cursor waits for the whole listing of the mailbox');
      assert.equal(ledger.getCursor('messages:src:1'), now.toISOString());
      assert.equal(ledger.getCursor('messages:src:2'), now.toISOString());
      assert.equal(calls[0].dateFrom, '2026-10-22T00:00:00.000Z');
      assert.deepEqual(calls[0].messageType, ['VoiceMail', 'Fax', 'SMS']);
      assert.deepEqual(calls[0].availability, ['Alive', 'Deleted']);
      assert.equal(sent.find((i) => i.key === 'SMS:3001')?.ownerName, 'B');

      // Again, later: the look-back re-reads the same messages; nothing is new.
      const later = new Date('2026-11-21T01:00:00Z');
      const again = await runMessages({
        client,
        ledger,
        source: 'src',
        rc: 'rc1',
        mailboxes: [{ id: '1' }, { id: '2' }],
        initialDays: 30,
        lookBackMinutes: 10,
        now: later,
        onItems: () => assert.fail('nothing is new'),
      });
      assert.equal(again.newItems, 0);
      assert.equal(calls[2].dateFrom, '2026-11-20T23:50:00.000Z');
      assert.equal(ledger.pending('src').length, 8);
    } finally {
      ledger.close();
    }
  });

  it('a failing mailbox keeps its cursor; a skipped one does not end the run; a backfill moves no cursor', async () => {
    const ledger = Ledger.open(path.join(dir, 'b.sqlite'));
    try {
      const failing: MessageLister = {
        async *listMessages(o) {
          if (o.extensionId === 'bad') throw Object.assign(new Error('404 no mailbox'), { status: 404 });
          yield [voicemail()];
        },
      };
      const base = {
        client: failing,
        ledger,
        source: 's',
        rc: 'rc1',
        initialDays: 1,
        lookBackMinutes: 5,
        onItems: () => undefined,
      };
      await assert.rejects(
        runMessages({ ...base, mailboxes: [{ id: 'bad' }, { id: 'good' }] }),
        /no mailbox/,
      );
      assert.equal(ledger.getCursor('messages:s:bad'), undefined);
      const result = await runMessages({
        ...base,
        mailboxes: [{ id: 'bad' }, { id: 'good' }],
        skipMailbox: (err) => (err as { status?: number }).status === 404,
      });
      assert.deepEqual(
        result.skipped.map((s) => s.id),
        ['bad'],
      );
      assert.equal(ledger.getCursor('messages:s:bad'), undefined);
      assert.ok(ledger.getCursor('messages:s:good'));

      const { client, calls } = lister({ x: [[fax()]] });
      const backfill = await runMessages({
        ...base,
        client,
        mailboxes: [{ id: 'x' }],
        range: { dateFrom: '2026-11-01T00:00:00Z', dateTo: '2026-11-02T00:00:00Z' },
      });
      assert.equal(backfill.cursorsMoved, 0);
      assert.equal(ledger.getCursor('messages:s:x'), undefined);
      assert.equal(calls[0].dateFrom, '2026-11-01T00:00:00.000Z');
      assert.equal(calls[0].dateTo, '2026-11-02T00:00:00.000Z');
      await assert.rejects(
        runMessages({ ...base, client, mailboxes: [{ id: 'x' }], range: { dateFrom: 'nonsense' } }),
        /invalid date range/,
      );
    } finally {
      ledger.close();
    }
  });

  it('against the simulator: malformed answers are retried, a mailbox whose listing keeps failing is skipped and the others go on', async () => {
    const sim = await startSimulator({
      seed: 5,
      days: 3,
      callsPerDay: 4,
      messagesPerDay: 40,
      rateLimits: { Light: 1000, Medium: 1000 },
    });
    const client = new RcClient({ ...sim.credentials, server: sim.platformUrl, retryBaseMs: 5 });
    try {
      const mailboxes = mailboxExtensions(await listAccountExtensions(client));
      const now = new Date();
      const run = (ledger: Ledger, sent: ArchiveItem[]) =>
        runMessages({
          client,
          ledger,
          source: 'src',
          rc: 'rc1',
          mailboxes,
          initialDays: 5,
          lookBackMinutes: 5,
          now,
          onItems: (items) => sent.push(...items),
        });
      // what a run without faults finds, per mailbox
      const clean: ArchiveItem[] = [];
      const reference = Ledger.openMemory();
      await run(reference, clean);
      reference.close();
      const byMailbox = new Map<string, string[]>();
      for (const item of clean)
        byMailbox.set(item.extensionId!, [...(byMailbox.get(item.extensionId!) ?? []), item.key]);
      const [flaky, broken] = [...byMailbox.keys()];
      assert.ok(flaky && broken && byMailbox.size > 2, 'several mailboxes with messages');

      // one mailbox answers two malformed listings; another answers 500 to every try
      sim.fault({ kind: 'malformed', match: `/extension/${flaky}/message-store`, times: 2 });
      sim.fault({
        kind: 'status',
        status: 500,
        match: `/extension/${broken}/message-store`,
        times: Infinity,
      });
      const ledger = Ledger.openMemory();
      try {
        const sent: ArchiveItem[] = [];
        const result = await run(ledger, sent);
        const expected = clean.filter((i) => i.extensionId !== broken).map((i) => i.key);
        assert.deepEqual(sent.map((i) => i.key).sort(), [...expected].sort(), 'every other item, this run');
        assert.ok(byMailbox.get(flaky)!.every((key) => ledger.get(key)?.status === 'Pending'));
        assert.deepEqual(
          result.skipped.map((x) => [x.id, x.transient]),
          [[broken, true]],
        );
        assert.match(result.skipped[0].reason, /answered GET \S+message-store with 500/);
        assert.equal(ledger.getCursor(messageCursorName('src', broken)), undefined, 'read again next run');
        assert.equal(ledger.getCursor(messageCursorName('src', flaky)), now.toISOString());
        assert.equal(result.cursorsMoved, mailboxes.length - 1);

        // every mailbox failing is RingCentral failing: the run fails
        sim.fault({ kind: 'status', status: 500, match: '/message-store', times: Infinity });
        await assert.rejects(run(ledger, []), /with 500/);
      } finally {
        ledger.close();
      }
    } finally {
      await client.dispose();
      await sim.close();
    }
  });
});
