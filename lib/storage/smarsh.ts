import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ConnectionOptions } from 'node:tls';
import nodemailer from 'nodemailer';
import type { ArchiveItem } from '../items';
import { CheckSteps, type CheckReport } from './check';
import { hashingStream, hashReadable } from './hash';
import { safeRelativePath } from './paths';
import { ProviderError, withRetry, type RetryOptions } from './retry';
import type { PutOptions, PutResult, StorageAdapter } from './types';

export interface SmarshOptions {
  /** SMTP server Smarsh gave for journaling. */
  host: string;
  /** Default 465 with `secure`, else 587. */
  port?: number;
  /** Implicit TLS from the first byte (usually port 465). */
  secure?: boolean;
  /** Insist on STARTTLS before authenticating (usually port 587): never send in clear text. */
  requireTLS?: boolean;
  user?: string;
  password?: string;
  /** Envelope and header sender: the address Smarsh expects journaled mail from. */
  from: string;
  /** The customer's Smarsh journaling address. */
  to: string;
  /** Largest content sent, in bytes (default 25 MB): larger items are refused, never truncated. */
  maxBytes?: number;
  /** TLS settings, e.g. `ca` or `rejectUnauthorized` for a private test server. */
  tls?: ConnectionOptions;
  /** Connect, greeting and socket timeouts (default 30 s). */
  timeoutMs?: number;
  /** Folder for the spooled copy of each item (default the OS temp folder). */
  tempDir?: string;
  retry?: Pick<RetryOptions, 'attempts' | 'baseDelayMs' | 'maxDelayMs' | 'onRetry'>;
}

const MB = 1024 * 1024;
export const SMARSH_DEFAULT_MAX_BYTES = 25 * MB;
const MESSAGE_ID_DOMAIN = 'rcarchiver.invalid';

/**
 * Makes a value from RingCentral (or a template) safe for one header line: CR, LF and every other
 * control character become a space, so a hostile caller name cannot start a header of its own.
 * U+2028/2029 are line breaks to some mail readers, so they go too. Length is capped: a header is
 * for finding the message, the full record is in the attachment.
 */
export function headerSafe(value: unknown, max = 300): string {
  const text = value === undefined || value === null ? '' : String(value);
  const cleaned = text
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ')
    .replace(/ {2,}/g, ' ')
    .trim();
  return cleaned.length > max ? cleaned.slice(0, max - 1) + '…' : cleaned;
}

/** Message-ID from the item key alone, so a resend of the same item carries the same id. */
export function messageIdFor(key: string): string {
  return `<${createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 40)}@${MESSAGE_ID_DOMAIN}>`;
}

function formatMb(bytes: number): string {
  const mb = bytes / MB;
  return (Math.round(mb * 100) / 100).toString();
}

function parseDate(iso: string | undefined): Date | undefined {
  if (!iso) return undefined;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** The queue id from a final reply like "250 2.0.0 OK id=1abc…" or "250 Ok: queued as ABC123". */
export function queueIdOf(response: string | undefined): string | undefined {
  if (!response) return undefined;
  const m =
    /\bid[=:]\s*([^\s;,]+)/i.exec(response) ??
    /queued as\s+([^\s;,]+)/i.exec(response) ??
    /\b(?:ok|queued)\s*[:=]?\s*<?([A-Za-z0-9._@-]{6,})>?\s*$/i.exec(response);
  return m ? m[1] : undefined;
}

interface SmtpFailure {
  code?: string;
  /** The socket's own code (a TLS verification code, say) where nodemailer set its own in `code`. */
  originalCode?: string;
  /** The SMTP command that failed. */
  command?: string;
  responseCode?: number;
  response?: string;
  message?: string;
  name?: string;
}

/**
 * Smarsh journaling over SMTP: each archived item becomes one RFC 5322 message to the journal
 * address, with the item's facts as X-RingCentral-* headers and in the text body and the file
 * itself attached. SMTP is write-only: there is nothing to list, stat or deduplicate against.
 */
export class SmarshStorage implements StorageAdapter {
  readonly provider = 'smarsh';
  readonly writeOnly = true;
  readonly maxBytes: number;
  private readonly opts: SmarshOptions;
  private readonly port: number;
  private transporter: ReturnType<typeof nodemailer.createTransport> | undefined;

  constructor(options: SmarshOptions) {
    if (!options || !options.host) throw new Error('Smarsh: no SMTP host configured');
    if (!options.from) throw new Error('Smarsh: no sender (from) address configured');
    if (!options.to) throw new Error('Smarsh: no journal (to) address configured');
    if (options.secure && options.requireTLS) {
      throw new Error('Smarsh: choose implicit TLS (secure) or STARTTLS (requireTLS), not both');
    }
    this.opts = { ...options };
    this.port = options.port ?? (options.secure ? 465 : 587);
    if (!Number.isInteger(this.port) || this.port < 1 || this.port > 65535) {
      throw new Error(`Smarsh: invalid port ${String(options.port)}`);
    }
    this.maxBytes = options.maxBytes ?? SMARSH_DEFAULT_MAX_BYTES;
    if (!(this.maxBytes > 0)) throw new Error(`Smarsh: invalid size limit ${String(options.maxBytes)}`);
  }

  private get where(): string {
    return `Smarsh SMTP ${this.opts.host}:${this.port}`;
  }

  private transport(): ReturnType<typeof nodemailer.createTransport> {
    // Not pooled: one connection per message, so a dropped connection never poisons the next put.
    this.transporter ??= nodemailer.createTransport({
      host: this.opts.host,
      port: this.port,
      secure: this.opts.secure ?? false,
      requireTLS: this.opts.requireTLS ?? false,
      ...(this.opts.user ? { auth: { user: this.opts.user, pass: this.opts.password ?? '' } } : {}),
      ...(this.opts.tls ? { tls: this.opts.tls } : {}),
      connectionTimeout: this.opts.timeoutMs ?? 30_000,
      greetingTimeout: this.opts.timeoutMs ?? 30_000,
      socketTimeout: (this.opts.timeoutMs ?? 30_000) * 2,
    });
    return this.transporter;
  }

  // -- public API ------------------------------------------------------------------------------

  async put(relPath: string, body: Readable, options: PutOptions = {}): Promise<PutResult> {
    const { signal, expectedBytes, item } = options;
    let rel = relPath;
    let spool: string | undefined;
    try {
      rel = safeRelativePath(relPath);
      signal?.throwIfAborted();

      if (options.role === 'sidecar') {
        // The sidecar's facts are already in the e-mail's headers and body: a second message
        // would only clutter the journal. Consume the stream so the caller's pipeline ends.
        const { sha256, bytes } = await hashReadable(body, signal);
        return { path: rel, bytes, sha256, alreadyPresent: false };
      }

      const key = item?.key ?? rel;
      if (expectedBytes !== undefined && expectedBytes > this.maxBytes) {
        throw this.tooLarge(key, expectedBytes);
      }

      // Spool to a private temp file while hashing: the size and SHA-256 must be known before the
      // headers go out, memory stays flat, and a retry can read the file again.
      spool = await mkdtemp(join(this.opts.tempDir ?? tmpdir(), 'rcarchiver-smarsh-'));
      const file = join(spool, 'content');
      const hasher = hashingStream(expectedBytes);
      await pipeline(body, hasher, createWriteStream(file, { mode: 0o600 }), signal ? { signal } : {});
      if (hasher.bytes > this.maxBytes) throw this.tooLarge(key, hasher.bytes);

      const fileName = headerSafe(posix.basename(rel), 200) || 'content';
      const contentType = headerSafe(options.contentType || item?.contentType || 'application/octet-stream');
      const mail = this.compose(rel, fileName, contentType, item, hasher.sha256, hasher.bytes);

      const info = await withRetry(
        () =>
          // Attached by path: nodemailer streams the file into the message, and reads it again on a retry.
          this.transport().sendMail({
            ...mail,
            attachments: [{ filename: fileName, contentType, path: file }],
            ...(signal ? { signal } : {}),
          }),
        {
          attempts: 5,
          baseDelayMs: 2000,
          maxDelayMs: 120_000,
          ...this.opts.retry,
          signal,
          classify: (err) => this.classify(err),
        },
      );
      // SMTP cannot say whether the journal already holds this item, so this is always false.
      // Exactly-once comes from the ledger: put runs only for an item not yet Archived, and a
      // resend after a crash carries the same Message-ID so the journal can recognise it.
      const queueId = queueIdOf(info.response);
      return {
        path: rel,
        bytes: hasher.bytes,
        sha256: hasher.sha256,
        ...(queueId || info.response ? { providerHash: queueId ?? headerSafe(info.response) } : {}),
        alreadyPresent: false,
      };
    } catch (err) {
      if (!body.destroyed) body.destroy();
      throw this.describe(err, `cannot send ${rel}`);
    } finally {
      if (spool) await rm(spool, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /** SMTP has no way to look a message up again. */
  async stat(relPath: string): Promise<{ bytes: number } | undefined> {
    safeRelativePath(relPath);
    return undefined;
  }

  /** Connects, upgrades to TLS as configured and logs in; sends nothing. */
  async check(): Promise<CheckReport> {
    const steps = new CheckSteps(this.provider);
    const tls = this.opts.secure || this.opts.requireTLS;
    try {
      await this.transport().verify();
      steps.passed('connect');
      if (tls) steps.passed('tls');
      else steps.skipped('tls', 'plainSmtp');
      if (this.opts.user) steps.passed('login');
      else steps.skipped('login', 'noLogin');
      // A journal cannot be read back or emptied: a test message would stay archived forever.
      steps.skipped('write', 'writeOnly');
      return steps.report();
    } catch (err) {
      const classified = this.classify(err);
      const described = this.describe(classified, 'check failed');
      const code = (classified as ProviderError).code;
      if (code === 'tls' || code === 'ETLS' || code === 'EREQUIRETLS') {
        steps.passed('connect');
        throw steps.fail(described, 'tls');
      }
      if ((classified as ProviderError).auth || code === 'ENOAUTH') {
        steps.passed('connect');
        if (tls) steps.passed('tls');
        throw steps.fail(described, 'login');
      }
      throw steps.fail(described, 'connect');
    }
  }

  async close(): Promise<void> {
    this.transporter?.close();
    this.transporter = undefined;
  }

  // -- the message -----------------------------------------------------------------------------

  private compose(
    rel: string,
    fileName: string,
    contentType: string,
    item: ArchiveItem | undefined,
    sha256: string,
    bytes: number,
  ) {
    const key = headerSafe(item?.key ?? rel);
    const kind = headerSafe(item?.kind ?? 'File', 60);
    const from = headerSafe(item?.from ?? '');
    const to = headerSafe((item?.to ?? []).join(', '));
    const created = parseDate(item?.createdAt);
    const createdText = created ? created.toISOString() : headerSafe(item?.createdAt ?? '');
    const extension = headerSafe(
      [item?.extensionNumber, item?.ownerName].filter((v) => v !== undefined && v !== '').join(' '),
    );
    const record = (item?.record ?? {}) as { id?: unknown };
    const id = headerSafe(
      record.id ?? (item?.key?.includes(':') ? item.key.slice(item.key.indexOf(':') + 1) : ''),
    );

    const facts: Array<[string, string]> = [
      ['Kind', kind],
      ['Key', key],
      ['Id', id],
      ['From', from],
      ['To', to],
      ['Direction', headerSafe(item?.direction ?? '')],
      ['Created', createdText],
      ['Extension', extension],
      ['Sha256', sha256],
    ];
    const headers: Record<string, string> = {};
    for (const [name, value] of facts) if (value) headers[`X-RingCentral-${name}`] = value;

    const subject = headerSafe(
      `RingCentral ${kind} ${from || 'unknown'} → ${to || 'unknown'} ${createdText}`.replace(/ {2,}/g, ' '),
      400,
    );
    const text =
      [
        'RingCentral item archived by the RingCentral Archiver.',
        '',
        ...facts.filter(([, v]) => v).map(([name, value]) => `${name}: ${value}`),
        `Account: ${headerSafe(item?.accountId ?? '')}`,
        `Bytes: ${bytes}`,
        `Content-Type: ${contentType}`,
        `Archive path: ${headerSafe(rel, 1000)}`,
        `Attachment: ${fileName}`,
      ].join('\r\n') + '\r\n';

    return {
      from: this.opts.from,
      to: this.opts.to,
      // The envelope is explicit so nothing from the item can add a recipient.
      envelope: { from: this.opts.from, to: [this.opts.to] },
      subject,
      messageId: messageIdFor(item?.key ?? rel),
      ...(created ? { date: created } : {}),
      headers,
      text,
    };
  }

  private tooLarge(key: string, bytes: number): ProviderError {
    return new ProviderError(
      `${headerSafe(key)} is ${formatMb(bytes)} MB, above the ${formatMb(this.maxBytes)} MB limit set for Smarsh; it is not sent (never truncated)`,
      { code: 'too_large', retryable: false },
    );
  }

  // -- errors ----------------------------------------------------------------------------------

  /** SMTP replies to ProviderErrors: 4xx and lost connections are worth another try, 5xx are not. */
  private classify(thrown: unknown): unknown {
    if (thrown instanceof ProviderError) return thrown;
    const err = thrown as SmtpFailure;
    if (err?.name === 'AbortError' || err?.code === 'EABORT') return thrown;
    const reply = this.redact(headerSafe(err?.response ?? err?.message ?? String(thrown), 500));
    const status = typeof err?.responseCode === 'number' ? err.responseCode : undefined;
    // TLS failures come before the reply codes: a relay answering STARTTLS with 500 has not
    // refused a message, and a certificate that is not trusted stays so however often we ask.
    if (/CERT|SELF_SIGNED|UNABLE_TO_(GET_ISSUER|VERIFY)|ALTNAME/.test(err?.originalCode ?? '')) {
      return new ProviderError(
        `the server's TLS certificate is not trusted (${reply}): if the relay uses a private CA, add its CA certificate to the journal config; no login or message was sent`,
        { code: 'tls', retryable: false, target: true, cause: thrown },
      );
    }
    if (err?.code === 'ETLS' && err.command === 'STARTTLS') {
      return new ProviderError(
        `the server did not start TLS (STARTTLS: ${reply}), which the journal config requires; no login or message was sent`,
        { status, code: 'tls', retryable: false, target: true, cause: thrown },
      );
    }
    if (
      status === 535 ||
      status === 534 ||
      (err?.code === 'EAUTH' && (status === undefined || status >= 500))
    ) {
      return new ProviderError(
        `Smarsh refused the credentials (${reply}): check the SMTP user and password in its config node`,
        { status, code: err.code ?? 'EAUTH', retryable: false, auth: true, cause: thrown },
      );
    }
    if (status !== undefined && status >= 400 && status < 500) {
      return new ProviderError(`the server answered ${reply}`, {
        status,
        code: err.code,
        retryable: true,
        cause: thrown,
      });
    }
    if (status !== undefined && status >= 500) {
      return new ProviderError(`the server refused the message: ${reply}`, {
        status,
        code: err.code,
        retryable: false,
        cause: thrown,
      });
    }
    if (['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS'].includes(err?.code ?? '')) {
      return new ProviderError(`connection failed: ${reply}`, {
        code: err.code,
        retryable: true,
        // Still failing after the retries: the relay is down for every item.
        target: true,
        cause: thrown,
      });
    }
    if (['ETLS', 'EREQUIRETLS', 'ENOAUTH', 'ECONFIG'].includes(err?.code ?? '')) {
      return new ProviderError(reply, { code: err.code, retryable: false, cause: thrown });
    }
    return thrown;
  }

  private describe(err: unknown, what: string): Error {
    if (err instanceof Error && (err.name === 'AbortError' || (err as SmtpFailure).code === 'EABORT'))
      return err;
    if (err instanceof ProviderError) {
      if (err.code === 'too_large' || err.auth) return err;
      return new ProviderError(this.redact(`${this.where}: ${what}: ${err.message}`), {
        status: err.status,
        code: err.code,
        retryable: err.retryable,
        auth: err.auth,
        cause: err,
      });
    }
    const message = err instanceof Error ? err.message : String(err);
    return new Error(this.redact(`${this.where}: ${what}: ${message}`), { cause: err });
  }

  /** Defence in depth: the password (plain or as AUTH PLAIN/LOGIN base64) never appears in a text. */
  private redact(text: string): string {
    let out = text;
    const pass = this.opts.password;
    if (typeof pass === 'string' && pass.length >= 4) {
      const user = this.opts.user ?? '';
      for (const secret of [
        pass,
        Buffer.from(pass).toString('base64'),
        Buffer.from(`\0${user}\0${pass}`).toString('base64'),
      ]) {
        out = out.split(secret).join('***');
      }
    }
    return out;
  }
}
