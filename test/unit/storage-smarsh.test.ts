import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { ArchiveItem } from '../../lib/items';
import { ProviderError } from '../../lib/storage/retry';
import { messageIdFor, SmarshStorage, type SmarshOptions } from '../../lib/storage/smarsh';
import { parseMail, startSmtp, type FakeSmtp } from '../fakes/smtp';
import { haveOpenssl, makeTestCertificates, type TestCertificates } from '../fakes/tls';
import { pieces as piecesOf } from './storage-helpers';

const simpleParser = parseMail;

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
const MiB = 1024 * 1024;

/** Pieces of 64 * 1024 bytes here. */
function pieces(data: Buffer, size = 64 * 1024): Readable {
  return piecesOf(data, size);
}

function recordingItem(over: Partial<ArchiveItem> = {}): ArchiveItem {
  return {
    key: 'CallRecording:900100',
    kind: 'CallRecording',
    accountId: '111',
    extensionId: '222',
    extensionNumber: '101',
    ownerName: 'Ann Agent',
    from: '+15551230001',
    to: ['+15551230002'],
    direction: 'Inbound',
    createdAt: '2026-03-04T05:06:07.000Z',
    fileName: 'recording.mp3',
    contentType: 'audio/mpeg',
    content: { uri: 'https://media.example/recording/900100/content' },
    record: { id: '900100', sessionId: 's-1' },
    rc: 'rc1',
    ...over,
  };
}

describe('SmarshStorage through nodemailer against an smtp-server journal', () => {
  let smtp: FakeSmtp;
  let spoolDir: string;
  const opened: SmarshStorage[] = [];

  before(async () => {
    smtp = await startSmtp({ user: 'journal@example.com', pass: 's3cret-pass', sizeLimit: 3 * MiB });
  });
  after(async () => {
    await Promise.all(opened.map((s) => s.close()));
    await smtp?.close();
  });
  beforeEach(() => {
    smtp.messages.length = 0;
    smtp.envelopes.length = 0;
    smtp.failNext(0, 250, '');
    smtp.delayConnections(0);
    spoolDir = mkdtempSync(path.join(tmpdir(), 'smarsh-test-'));
  });
  afterEach(() => rmSync(spoolDir, { recursive: true, force: true }));

  function storage(over: Partial<SmarshOptions> = {}): SmarshStorage {
    const s = new SmarshStorage({
      host: '127.0.0.1',
      port: smtp.port,
      secure: false,
      user: smtp.requireAuth.user,
      password: smtp.requireAuth.pass,
      from: 'archiver@customer.example',
      to: 'journal-123@smarsh.example',
      maxBytes: 2 * MiB,
      tempDir: spoolDir,
      timeoutMs: 3000,
      retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 50 },
      ...over,
    });
    opened.push(s);
    return s;
  }

  /** The spool folder is empty again: no temporary copy outlives a put. */
  function assertSpoolEmpty() {
    assert.deepEqual(readdirSync(spoolDir), []);
  }

  it('sends a ~1 MB recording as one e-mail whose attachment has the same bytes and whose headers carry the item', async () => {
    const data = randomBytes(MiB + 12345);
    const item = recordingItem();
    const rel = '2026/03/04/20260304-050607 Inbound +15551230001.mp3';
    const result = await storage().put(rel, pieces(data), {
      contentType: 'audio/mpeg',
      expectedBytes: data.length,
      item,
    });

    assert.equal(smtp.messages.length, 1);
    assert.deepEqual(smtp.envelopes[0], {
      from: 'archiver@customer.example',
      to: ['journal-123@smarsh.example'],
    });
    assert.deepEqual(result, {
      path: rel,
      bytes: data.length,
      sha256: sha256(data),
      providerHash: smtp.lastQueueId,
      alreadyPresent: false,
    });

    const mail = await simpleParser(smtp.messages[0]);
    assert.equal(mail.attachments.length, 1);
    const [att] = mail.attachments;
    assert.equal(att.filename, '20260304-050607 Inbound +15551230001.mp3');
    assert.equal(att.contentType, 'audio/mpeg');
    assert.equal(sha256(att.content), sha256(data));

    const h = (name: string) => String(mail.headers.get(name));
    assert.equal(h('x-ringcentral-kind'), 'CallRecording');
    assert.equal(h('x-ringcentral-key'), 'CallRecording:900100');
    assert.equal(h('x-ringcentral-id'), '900100');
    assert.equal(h('x-ringcentral-from'), '+15551230001');
    assert.equal(h('x-ringcentral-to'), '+15551230002');
    assert.equal(h('x-ringcentral-direction'), 'Inbound');
    assert.equal(h('x-ringcentral-created'), '2026-03-04T05:06:07.000Z');
    assert.equal(h('x-ringcentral-extension'), '101 Ann Agent');
    assert.equal(h('x-ringcentral-sha256'), sha256(data));
    assert.equal(
      mail.subject,
      'RingCentral CallRecording +15551230001 → +15551230002 2026-03-04T05:06:07.000Z',
    );
    assert.equal(mail.messageId, messageIdFor(item.key));
    assert.equal(mail.date?.toISOString(), '2026-03-04T05:06:07.000Z');
    assert.match(mail.text ?? '', new RegExp(`Archive path: ${rel.replace(/[.+]/g, '\\$&')}`));
    assert.match(mail.text ?? '', /Key: CallRecording:900100/);
    assertSpoolEmpty();
  });

  it('resending the same item gives the same Message-ID (the journal can recognise it)', async () => {
    const s = storage();
    const item = recordingItem({ key: 'Voicemail:77', kind: 'Voicemail' });
    await s.put('a/vm.mp3', pieces(Buffer.from('one')), { item });
    await s.put('a/vm.mp3', pieces(Buffer.from('one')), { item });
    const ids = await Promise.all(smtp.messages.map(async (m) => (await simpleParser(m)).messageId));
    assert.equal(ids.length, 2);
    assert.equal(ids[0], ids[1]);
    assert.notEqual(ids[0], messageIdFor('Voicemail:78'));
  });

  it('sends a JSON item (call-log record) attached as application/json with the facts in the body', async () => {
    const json = { id: 'CL-5', sessionId: 's-9', from: { phoneNumber: '+15550000001' }, result: 'Accepted' };
    const data = Buffer.from(JSON.stringify(json, null, 2) + '\n', 'utf8');
    const item = recordingItem({
      key: 'CallLog:CL-5',
      kind: 'CallLog',
      content: { json },
      contentType: 'application/json',
      fileName: 'call.json',
      record: json,
      from: '+15550000001',
      to: ['+15550000002', '+15550000003'],
      direction: 'Outbound',
    });
    const result = await storage().put('logs/2026/call CL-5.json', Readable.from([data]), {
      contentType: 'application/json',
      expectedBytes: data.length,
      item,
    });
    assert.equal(result.sha256, sha256(data));
    assert.equal(smtp.messages.length, 1);
    const mail = await simpleParser(smtp.messages[0]);
    assert.equal(mail.attachments.length, 1);
    assert.equal(mail.attachments[0].contentType, 'application/json');
    assert.equal(mail.attachments[0].filename, 'call CL-5.json');
    assert.deepEqual(JSON.parse(mail.attachments[0].content.toString('utf8')), json);
    assert.equal(String(mail.headers.get('x-ringcentral-id')), 'CL-5');
    assert.equal(String(mail.headers.get('x-ringcentral-to')), '+15550000002, +15550000003');
    assert.match(mail.text ?? '', /Kind: CallLog/);
    assert.match(mail.text ?? '', /Direction: Outbound/);
    assert.match(mail.text ?? '', /Archive path: logs\/2026\/call CL-5\.json/);
    assertSpoolEmpty();
  });

  it('a hostile value with CR/LF cannot add a header or a recipient', async () => {
    const item = recordingItem({
      key: 'SMS:1',
      kind: 'SMS',
      from: 'Mallory\r\nBcc: victim@evil.example\r\nX-Injected: yes',
      ownerName: 'Eve\nX-Also-Injected: 1',
      to: ['+1555\r\n\r\nbody-injection'],
    });
    await storage().put('sms/evil\r\nX-File-Injected: 1.json', Readable.from([Buffer.from('{}')]), {
      contentType: 'application/json\r\nX-Type-Injected: 1',
      item,
    });
    assert.equal(smtp.messages.length, 1);
    assert.deepEqual(smtp.envelopes[0].to, ['journal-123@smarsh.example']);
    const raw = smtp.messages[0].toString('latin1');
    assert.doesNotMatch(raw, /^(bcc|x-injected|x-also-injected|x-file-injected|x-type-injected):/im);
    const mail = await simpleParser(smtp.messages[0]);
    for (const name of ['bcc', 'x-injected', 'x-also-injected', 'x-file-injected', 'x-type-injected']) {
      assert.equal(mail.headers.has(name), false, name);
    }
    // The value is still there, on one line.
    assert.equal(
      String(mail.headers.get('x-ringcentral-from')),
      'Mallory Bcc: victim@evil.example X-Injected: yes',
    );
    assert.equal(mail.attachments[0].filename, 'evil X-File-Injected: 1.json');
  });

  it('refuses an item above the limit before reading it when its size is known: no connection, no mail', async () => {
    const connectionsBefore = smtp.connections;
    let read = false;
    const body = new Readable({
      read() {
        read = true;
        this.push(null);
      },
    });
    await assert.rejects(
      storage({ maxBytes: 1 * MiB }).put('big.mp3', body, {
        expectedBytes: 3 * MiB,
        item: recordingItem({ key: 'CallRecording:BIG' }),
      }),
      (err: unknown) => {
        assert.ok(err instanceof ProviderError);
        assert.equal(
          err.message,
          'CallRecording:BIG is 3 MB, above the 1 MB limit set for Smarsh; it is not sent (never truncated)',
        );
        assert.equal(err.retryable, false);
        return true;
      },
    );
    assert.equal(read, false);
    assert.equal(smtp.connections, connectionsBefore);
    assert.equal(smtp.messages.length, 0);
    assertSpoolEmpty();
  });

  it('refuses an item of unknown size once spooled past the limit: no connection, no mail, no temp file', async () => {
    const connectionsBefore = smtp.connections;
    const data = randomBytes(MiB + MiB / 2);
    await assert.rejects(
      storage({ maxBytes: 1 * MiB }).put('big.mp3', pieces(data), {
        item: recordingItem({ key: 'CallRecording:BIG2' }),
      }),
      {
        name: 'ProviderError',
        message:
          'CallRecording:BIG2 is 1.5 MB, above the 1 MB limit set for Smarsh; it is not sent (never truncated)',
      },
    );
    assert.equal(smtp.connections, connectionsBefore);
    assert.equal(smtp.messages.length, 0);
    assertSpoolEmpty();
  });

  it('a 451 reply is retried: one mail arrives', async () => {
    smtp.failNext(1, 451, '4.3.0 Temporary local problem, try again');
    const retries: number[] = [];
    const data = randomBytes(5000);
    const result = await storage({
      retry: { attempts: 3, baseDelayMs: 10, onRetry: (e) => retries.push(e.status!) },
    }).put('fax/f.pdf', pieces(data), {
      contentType: 'application/pdf',
      item: recordingItem({ key: 'Fax:3', kind: 'Fax' }),
    });
    assert.deepEqual(retries, [451]);
    assert.equal(smtp.messages.length, 1);
    assert.equal(result.sha256, sha256(data));
    const mail = await simpleParser(smtp.messages[0]);
    assert.equal(sha256(mail.attachments[0].content), sha256(data));
    assertSpoolEmpty();
  });

  it('a 550 reply fails at once with the server reply, not retried', async () => {
    smtp.failNext(1, 550, '5.1.1 Journal mailbox unavailable');
    const retries: number[] = [];
    await assert.rejects(
      storage({ retry: { attempts: 3, baseDelayMs: 10, onRetry: (e) => retries.push(e.status!) } }).put(
        'x.mp3',
        pieces(Buffer.from('abc')),
        { item: recordingItem() },
      ),
      (err: unknown) => {
        assert.ok(err instanceof ProviderError);
        assert.equal(err.status, 550);
        assert.equal(err.retryable, false);
        assert.match(err.message, /5\.1\.1 Journal mailbox unavailable/);
        return true;
      },
    );
    assert.deepEqual(retries, []);
    assert.equal(smtp.messages.length, 0);
    assertSpoolEmpty();
  });

  it("a message over the server's SIZE gets 552 and fails with the server's reply", async () => {
    // The adapter's own limit is above the server's here, so the server has to refuse it.
    const data = randomBytes(2.5 * MiB);
    await assert.rejects(
      storage({ maxBytes: 10 * MiB }).put('y.mp3', pieces(data), { item: recordingItem() }),
      (err: unknown) => {
        assert.ok(err instanceof ProviderError);
        assert.equal(err.status, 552);
        assert.equal(err.retryable, false);
        assert.match(err.message, /552/);
        return true;
      },
    );
    assert.equal(smtp.messages.length, 0);
  });

  it('a wrong password gives an auth error without the password; check() says the same', async () => {
    const wrong = 'not-the-password-XYZ';
    const failuresBefore = smtp.authFailures;
    const s = storage({ password: wrong });
    for (const attempt of [
      () => s.put('z.mp3', pieces(Buffer.from('abc')), { item: recordingItem() }),
      () => s.check(),
    ]) {
      await assert.rejects(attempt(), (err: unknown) => {
        assert.ok(err instanceof ProviderError);
        assert.equal(err.auth, true);
        assert.equal(err.retryable, false);
        assert.match(err.message, /^Smarsh refused the credentials \(.*535.*\)/);
        assert.doesNotMatch(err.message, new RegExp(wrong));
        assert.doesNotMatch(err.message, new RegExp(Buffer.from(wrong).toString('base64')));
        return true;
      });
    }
    assert.equal(smtp.authFailures - failuresBefore, 2);
    assert.equal(smtp.messages.length, 0);
    await storage().check();
  });

  it('a refused connection is retried, then fails with a clear error', async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const retries: string[] = [];
    await assert.rejects(
      storage({
        port,
        retry: { attempts: 2, baseDelayMs: 5, onRetry: (e) => retries.push(String(e.code)) },
      }).put('n.mp3', pieces(Buffer.from('abc')), { item: recordingItem() }),
      (err: unknown) => {
        assert.ok(err instanceof ProviderError);
        assert.equal(err.retryable, true);
        assert.match(err.message, new RegExp(`Smarsh SMTP 127\\.0\\.0\\.1:${port}: cannot send n\\.mp3`));
        return true;
      },
    );
    assert.equal(retries.length, 1);
    await assert.rejects(storage({ port }).check(), /Smarsh SMTP 127\.0\.0\.1:\d+: check failed/);
  });

  it('a sidecar put sends nothing and reports what it consumed', async () => {
    const connectionsBefore = smtp.connections;
    const data = Buffer.from(JSON.stringify({ sidecar: true }) + '\n');
    const result = await storage().put('a/b.mp3.json', Readable.from([data]), {
      role: 'sidecar',
      contentType: 'application/json',
      item: recordingItem(),
    });
    assert.deepEqual(result, {
      path: 'a/b.mp3.json',
      bytes: data.length,
      sha256: sha256(data),
      alreadyPresent: false,
    });
    assert.equal(smtp.connections, connectionsBefore);
    assert.equal(smtp.messages.length, 0);
  });

  it('abort while the body is still arriving stops the put: no mail, no temp file', async () => {
    const ac = new AbortController();
    const body = new Readable({ read() {} });
    body.push(randomBytes(1000));
    const p = storage().put('slow.mp3', body, { signal: ac.signal, item: recordingItem() });
    setTimeout(() => ac.abort(), 30);
    await assert.rejects(p, { name: 'AbortError' });
    assert.equal(smtp.messages.length, 0);
    assertSpoolEmpty();
  });

  it('abort while talking to the server stops the send at once: no mail, no temp file', async () => {
    smtp.delayConnections(1500);
    const ac = new AbortController();
    const connectionsBefore = smtp.connections;
    const started = Date.now();
    const p = storage().put('held.mp3', pieces(randomBytes(2000)), {
      signal: ac.signal,
      item: recordingItem(),
    });
    // Abort once the connection is open and waiting for the greeting.
    while (smtp.connections === connectionsBefore) await new Promise((r) => setTimeout(r, 5));
    ac.abort();
    await assert.rejects(p, (err: unknown) => {
      assert.ok(!(err instanceof ProviderError), String(err));
      assert.match(String((err as Error).name) + String((err as { code?: string }).code), /Abort|EABORT/);
      return true;
    });
    assert.ok(Date.now() - started < 1000, 'the put waited for the server instead of stopping');
    assert.equal(smtp.messages.length, 0);
    assertSpoolEmpty();
  });

  it('refuses unsafe paths and incomplete options', async () => {
    await assert.rejects(storage().put('../x.mp3', pieces(Buffer.from('a'))), /escapes the storage root/);
    assert.throws(() => new SmarshStorage({ host: 'h', from: 'a@b', to: '' }), /journal \(to\) address/);
    assert.throws(
      () => new SmarshStorage({ host: 'h', from: 'a@b', to: 'c@d', secure: true, requireTLS: true }),
      /not both/,
    );
  });
});

describe(
  'SmarshStorage over TLS (a private CA made for the test)',
  { skip: !haveOpenssl() && 'needs the openssl CLI' },
  () => {
    const user = 'journal@example.com';
    const pass = 'tls-s3cret-pass';
    let certs: TestCertificates;
    /** Offers STARTTLS and takes AUTH only after it. */
    let starttls: FakeSmtp;
    /** TLS from the first byte, as on port 465. */
    let implicit: FakeSmtp;
    /** Offers no STARTTLS at all (a relay with TLS switched off, or a downgrade in the path). */
    let plain: FakeSmtp;
    let spoolDir: string;
    const opened: SmarshStorage[] = [];

    before(async () => {
      certs = makeTestCertificates();
      [starttls, implicit, plain] = await Promise.all([
        startSmtp({ user, pass, tls: certs }),
        startSmtp({ user, pass, tls: certs, secure: true }),
        startSmtp({ user, pass }),
      ]);
      spoolDir = mkdtempSync(path.join(tmpdir(), 'smarsh-tls-test-'));
    });
    after(async () => {
      await Promise.all(opened.map((s) => s.close()));
      await Promise.all([starttls, implicit, plain].map((s) => s?.close()));
      rmSync(spoolDir, { recursive: true, force: true });
    });
    beforeEach(() => {
      for (const s of [starttls, implicit, plain]) {
        s.messages.length = 0;
        s.commands.length = 0;
      }
    });

    function storage(server: FakeSmtp, over: Partial<SmarshOptions>): SmarshStorage {
      const s = new SmarshStorage({
        host: '127.0.0.1',
        port: server.port,
        user,
        password: pass,
        from: 'archiver@customer.example',
        to: 'journal-123@smarsh.example',
        tempDir: spoolDir,
        timeoutMs: 3000,
        retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 50 },
        ...over,
      });
      opened.push(s);
      return s;
    }

    /** What the server saw, in order, and whether it was encrypted then. */
    const seen = (server: FakeSmtp) =>
      server.commands.map((c) => `${c.command}${c.secure ? ' (TLS)' : ' (clear)'}`);

    async function assertDelivered(server: FakeSmtp, data: Buffer) {
      assert.equal(server.messages.length, 1);
      const mail = await simpleParser(server.messages[0]);
      assert.equal(sha256(mail.attachments[0].content), sha256(data));
      // The password and the recording only ever crossed under TLS.
      assert.deepEqual(seen(server), ['AUTH (TLS)', 'MAIL FROM (TLS)', 'DATA (TLS)']);
    }

    it('STARTTLS required, the CA trusted: delivered, and the server saw TLS before AUTH', async () => {
      const data = randomBytes(20_000);
      await storage(starttls, { requireTLS: true, tls: { ca: certs.ca } }).put('tls/a.mp3', pieces(data), {
        item: recordingItem(),
      });
      await assertDelivered(starttls, data);
    });

    it('implicit TLS (secure), the CA trusted: delivered', async () => {
      const data = randomBytes(20_000);
      await storage(implicit, { secure: true, tls: { ca: certs.ca } }).put('tls/b.mp3', pieces(data), {
        item: recordingItem(),
      });
      await assertDelivered(implicit, data);
    });

    it('STARTTLS required but not offered: the item fails clearly, and no login or mail went in clear text', async () => {
      const retries: unknown[] = [];
      const s = storage(plain, {
        requireTLS: true,
        tls: { ca: certs.ca },
        retry: { attempts: 3, baseDelayMs: 10, onRetry: (e) => retries.push(e) },
      });
      for (const attempt of [
        () => s.put('tls/c.mp3', pieces(Buffer.from('secret')), { item: recordingItem() }),
        () => s.check(),
      ]) {
        await assert.rejects(attempt(), (err: unknown) => {
          assert.ok(err instanceof ProviderError);
          assert.equal(err.retryable, false);
          assert.match(
            err.message,
            /the server did not start TLS \(STARTTLS: 5\d\d .*\), which the journal config requires; no login or message was sent/,
          );
          return true;
        });
      }
      assert.deepEqual(retries, []);
      assert.deepEqual(seen(plain), []);
      assert.equal(plain.messages.length, 0);
    });

    it('a certificate from a CA not given: a clear certificate error, not retried, and nothing sent', async () => {
      for (const [server, over] of [
        [starttls, { requireTLS: true }],
        [implicit, { secure: true }],
      ] as const) {
        const retries: unknown[] = [];
        const s = storage(server, {
          ...over,
          retry: { attempts: 3, baseDelayMs: 10, onRetry: (e) => retries.push(e) },
        });
        await assert.rejects(
          s.put('tls/d.mp3', pieces(Buffer.from('secret')), { item: recordingItem() }),
          (err: unknown) => {
            assert.ok(err instanceof ProviderError);
            assert.equal(err.retryable, false);
            assert.match(
              err.message,
              /the server's TLS certificate is not trusted \(.*certificate.*\): if the relay uses a private CA, add its CA certificate to the journal config; no login or message was sent/,
            );
            return true;
          },
        );
        assert.deepEqual(retries, []);
        assert.deepEqual(seen(server), []);
        assert.equal(server.messages.length, 0);
      }
    });
  },
);
