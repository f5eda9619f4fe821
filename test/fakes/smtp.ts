import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

/**
 * A journaling SMTP server for the Smarsh adapter's tests, on 127.0.0.1 (port 0), built on
 * smtp-server: it demands AUTH (PLAIN/LOGIN), keeps every accepted message raw, answers like a
 * real MTA ("250 OK id=…", 552 over SIZE, 535 for a wrong password), and can refuse the next
 * messages with a chosen reply.
 *
 * Without `tls` it speaks plain text with AUTH allowed unencrypted and does not offer STARTTLS
 * (smtp-server's bundled certificate has expired). With `tls` (a certificate made for the test,
 * see ./tls.ts) it offers STARTTLS and, like a real relay, refuses AUTH before it; with `secure`
 * as well it speaks TLS from the first byte. Every AUTH, MAIL FROM and DATA is logged with
 * whether the connection was encrypted at that point.
 */
export interface FakeSmtpOptions {
  user?: string;
  pass?: string;
  /** Advertised SIZE; larger messages get 552 (default none). */
  sizeLimit?: number;
  /** The server's certificate and key (PEM): STARTTLS is offered, AUTH only after it. */
  tls?: { cert: string; key: string };
  /** TLS from the first byte, as on port 465 (needs `tls`). */
  secure?: boolean;
}

export interface FakeSmtpCommand {
  command: 'AUTH' | 'MAIL FROM' | 'DATA';
  /** The connection was under TLS when the command came. */
  secure: boolean;
}

export interface FakeSmtp {
  port: number;
  /** Raw messages accepted, in order. */
  messages: Buffer[];
  /** Envelope of each accepted message. */
  envelopes: Array<{ from: string; to: string[] }>;
  /** AUTH, MAIL FROM and DATA as they came, accepted or not. */
  commands: FakeSmtpCommand[];
  /** TCP connections accepted so far (a refused-before-sending item must open none). */
  readonly connections: number;
  /** AUTH attempts refused so far. */
  readonly authFailures: number;
  /** The last final reply text the server gave for an accepted message. */
  readonly lastQueueId: string | undefined;
  requireAuth: { user: string; pass: string };
  sizeLimit: number | undefined;
  /** Answer the greeting of every new connection only after this long (0 = at once). */
  delayConnections(ms: number): void;
  /** The next n messages are refused at the end of DATA with this reply (e.g. 451, 552, 550). */
  failNext(n: number, code: number, text: string): void;
  close(): Promise<void>;
}

export async function startSmtp(options: FakeSmtpOptions = {}): Promise<FakeSmtp> {
  const requireAuth = { user: options.user ?? 'journal-user', pass: options.pass ?? 'journal-pass' };
  const messages: Buffer[] = [];
  const envelopes: Array<{ from: string; to: string[] }> = [];
  const commands: FakeSmtpCommand[] = [];
  let connections = 0;
  let authFailures = 0;
  let lastQueueId: string | undefined;
  let connectDelayMs = 0;
  let failures: { left: number; code: number; text: string } | undefined;

  if (options.secure && !options.tls) throw new Error('a secure fake SMTP server needs tls');
  const server = new SMTPServer({
    secure: options.secure ?? false,
    ...(options.tls ? { key: options.tls.key, cert: options.tls.cert } : { disabledCommands: ['STARTTLS'] }),
    // Let every AUTH reach onAuth, so one sent in clear text is logged (and refused there).
    allowInsecureAuth: true,
    authOptional: false,
    authMethods: ['PLAIN', 'LOGIN'],
    ...(options.sizeLimit ? { size: options.sizeLimit } : {}),
    logger: false,
    onConnect(_session, callback) {
      connections++;
      if (connectDelayMs > 0) setTimeout(() => callback(), connectDelayMs);
      else callback();
    },
    onAuth(auth, session, callback) {
      commands.push({ command: 'AUTH', secure: session.secure });
      if (options.tls && !session.secure) {
        callback(
          Object.assign(new Error('5.7.0 Must issue a STARTTLS command first'), { responseCode: 538 }),
        );
        return;
      }
      if (auth.username === requireAuth.user && auth.password === requireAuth.pass) {
        callback(null, { user: auth.username });
        return;
      }
      authFailures++;
      const err = Object.assign(new Error('5.7.8 Authentication credentials invalid'), { responseCode: 535 });
      callback(err);
    },
    onMailFrom(_address, session, callback) {
      commands.push({ command: 'MAIL FROM', secure: session.secure });
      callback();
    },
    onData(stream, session, callback) {
      commands.push({ command: 'DATA', secure: session.secure });
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const tooBig = (stream as unknown as { sizeExceeded?: boolean }).sizeExceeded;
        if (tooBig) {
          callback(
            Object.assign(new Error('5.3.4 Message size exceeds fixed maximum message size'), {
              responseCode: 552,
            }),
          );
          return;
        }
        if (failures && failures.left > 0) {
          failures.left--;
          callback(Object.assign(new Error(failures.text), { responseCode: failures.code }));
          return;
        }
        messages.push(Buffer.concat(chunks));
        envelopes.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
        });
        lastQueueId = randomBytes(8).toString('hex');
        callback(null, `2.0.0 OK id=${lastQueueId}`);
      });
    },
  });
  server.on('error', () => undefined); // a client hanging up mid-session is not a test failure

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;

  return {
    port,
    messages,
    envelopes,
    commands,
    get connections() {
      return connections;
    },
    get authFailures() {
      return authFailures;
    },
    get lastQueueId() {
      return lastQueueId;
    },
    requireAuth,
    sizeLimit: options.sizeLimit,
    delayConnections(ms) {
      connectDelayMs = ms;
    },
    failNext(n, code, text) {
      failures = { left: n, code, text };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A received message as mailparser reads it (mailparser ships no type declarations). */
export interface ParsedMail {
  headers: Map<string, unknown>;
  headerLines: Array<{ key: string; line: string }>;
  subject?: string;
  messageId?: string;
  date?: Date;
  text?: string;
  attachments: Array<{ filename?: string; contentType: string; content: Buffer }>;
}

export function parseMail(raw: Buffer): Promise<ParsedMail> {
  const { simpleParser } = require('mailparser') as { simpleParser: (src: Buffer) => Promise<ParsedMail> };
  return simpleParser(raw);
}
