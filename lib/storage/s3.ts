import { createHash, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
  type HeadObjectCommandOutput,
  type PutObjectCommandInput,
  type S3ClientConfig,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { CheckSteps, type CheckReport } from './check';
import { ChunkReader } from './chunks';
import { credentialsRefused, isAbort } from './http';
import { safeRelativePath } from './paths';
import {
  conflictError,
  describeFailure,
  GuardedStorage,
  hashWhole,
  probeFile,
  receipt,
  storedDifferentBytes,
} from './put';
import {
  ProviderError,
  asRetryable,
  isTransientNetworkError,
  parseRetryAfter,
  retryDelay,
  type RetryOptions,
} from './retry';
import type { PutOptions, PutResult, StorageAdapter, CheckOptions } from './types';

/**
 * Amazon S3 and S3-compatible stores (MinIO, Wasabi, Backblaze B2, s3rver). A body goes in one
 * PutObject when it fits in a part, else in a multipart upload with at most `queueSize` parts in
 * flight. Content is written with `If-None-Match: *`, so an object is never
 * replaced; our SHA-256 travels in the object's metadata so a later put can tell an identical
 * object from a different one with a HEAD.
 */

const LABEL = 'S3';
const MiB = 1024 * 1024;
const MIN_PART = 5 * MiB;
const DEFAULT_PART = 5 * MiB;
const DEFAULT_QUEUE = 1;
/** S3's limit of parts in one multipart upload. */
const MAX_PARTS = 10_000;
/** Metadata names (sent as x-amz-meta-sha256 / x-amz-meta-part-size). */
const META_SHA256 = 'sha256';
const META_PART_SIZE = 'part-size';
const AUTH_CODES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'InvalidClientTokenId',
]);

export interface S3StorageOptions {
  bucket: string;
  /** Key prefix everything goes under (a "folder"); none by default. */
  prefix?: string;
  /** Default 'us-east-1'. */
  region?: string;
  /** S3-compatible endpoint (MinIO, Wasabi, Backblaze, a local fake); empty means AWS. */
  endpoint?: string;
  /** Path-style URLs (https://host/bucket/key), which most S3-compatible stores want. */
  forcePathStyle?: boolean;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** e.g. STANDARD_IA, GLACIER_IR; the bucket's default when absent. */
  storageClass?: string;
  /** Retention for every object written (the bucket must have Object Lock enabled). */
  objectLock?: { mode: 'GOVERNANCE' | 'COMPLIANCE'; days: number };
  /** Puts a legal hold on every object written. */
  legalHold?: boolean;
  /** Bytes per part (default 5 MiB, the smallest S3 allows, to keep memory low); files up to this size go in one PutObject. */
  partSize?: number;
  /** Parts in flight at once (default 1: a 1 GiB upload stays under 200 MB, see BENCHMARKS.md); memory is about partSize × (queueSize + 1). */
  queueSize?: number;
  retry?: Pick<RetryOptions, 'attempts' | 'baseDelayMs' | 'maxDelayMs' | 'onRetry'>;
}

// ---------------------------------------------------------------------------------------------
// Errors

interface SdkError {
  name?: string;
  Code?: string;
  message?: string;
  $fault?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number; headers?: Record<string, string | undefined> };
}

function statusOf(err: unknown): number | undefined {
  const e = err as SdkError;
  return e?.$metadata?.httpStatusCode ?? e?.$response?.statusCode;
}

function authError(reason: string): ProviderError {
  const fix = "check the access key, secret and permissions in the bucket's config node";
  return credentialsRefused(LABEL, reason, fix, 403);
}

/**
 * Maps what the SDK threw to a ProviderError (status, S3's error code, Retry-After). The SDK error
 * is kept as the cause except for refused credentials, whose error carries the access key id and
 * the string that was signed. Aborts and plain network errors are left as they are.
 */
function classify(err: unknown): unknown {
  if (err instanceof ProviderError || isAbort(err)) return err;
  const e = err as SdkError;
  const status = statusOf(err);
  if (status === undefined) return err;
  const code = e.Code ?? e.name ?? `HTTP ${status}`;
  if (AUTH_CODES.has(code)) return authError(code);
  // A HEAD answer has no body, so S3's reason is unknown: wrong keys, or no permission.
  if (status === 403 && (code === 'Forbidden' || code === 'Unknown' || code === 'HTTP 403')) {
    return authError('403 Forbidden, no reason given');
  }
  const retryAfterMs = parseRetryAfter(e.$response?.headers?.['retry-after']);
  // The SDK names an error without a body (HEAD) after the status, e.g. "NotFound", "Unknown".
  const text = e.message && e.message !== code && e.message !== 'UnknownError' ? `: ${e.message}` : '';
  return new ProviderError(`${status} ${code}${text}`, {
    status,
    code,
    retryAfterMs,
    retryable: code === 'SlowDown' || code === 'RequestTimeout' || undefined,
    target: TARGET_CODES.has(code) || undefined,
    cause: err,
  });
}

/** S3 answers that no write to the bucket can succeed until someone fixes the bucket or the config. */
const TARGET_CODES = new Set(['NoSuchBucket', 'PermanentRedirect', 'AccountProblem', 'AllAccessDisabled']);

function codeOf(err: unknown): string | undefined {
  return err instanceof ProviderError ? err.code : undefined;
}

// ---------------------------------------------------------------------------------------------
// Retries: the SDK's own retry loop (it resends the part it holds), with our policy

interface Token {
  getRetryCount(): number;
  getRetryDelay(): number;
}

function retryStrategy(options: S3StorageOptions['retry'] = {}): S3ClientConfig['retryStrategy'] {
  const attempts = Math.max(1, options.attempts ?? 5);
  const base = options.baseDelayMs ?? 1000;
  const max = options.maxDelayMs ?? 120_000;
  const token = (count: number, delay: number): Token => ({
    getRetryCount: () => count,
    getRetryDelay: () => delay,
  });
  const strategy = {
    mode: 'standard',
    acquireInitialRetryToken: async () => token(0, 0),
    refreshRetryTokenForRetry: async (previous: Token, info: { error: unknown; errorType?: string }) => {
      const count = previous.getRetryCount() + 1;
      const err = classify(info.error);
      const retryable =
        err instanceof ProviderError
          ? err.retryable
          : isTransientNetworkError(info.error) || info.errorType === 'TRANSIENT';
      // Throwing ends the loop; the SDK then throws the request's own error.
      if (!retryable || count >= attempts) throw info.error;
      const delay = retryDelay(err, count, base, max);
      options.onRetry?.(asRetryable(err), delay, count);
      return token(count, delay);
    },
    recordSuccess: () => undefined,
  };
  return strategy as unknown as S3ClientConfig['retryStrategy'];
}

// ---------------------------------------------------------------------------------------------
// Hashes: what S3 may report back (ETag = MD5, or MD5 of part MD5s "-N"; ChecksumSHA256 whole or
// composite "-N") can be recomputed from per-part digests, so nothing is read back

interface Digests {
  bytes: number;
  sha256: string;
  md5: string;
  partSize: number;
  partMd5: Buffer[];
  partSha256: Buffer[];
}

class PartDigests {
  private readonly md5 = createHash('md5');
  private partMd5: Hash = createHash('md5');
  private partSha: Hash = createHash('sha256');
  private inPart = 0;
  private readonly md5s: Buffer[] = [];
  private readonly shas: Buffer[] = [];

  constructor(readonly partSize: number) {}

  update(buf: Buffer): void {
    this.md5.update(buf);
    let at = 0;
    while (at < buf.length) {
      const take = Math.min(this.partSize - this.inPart, buf.length - at);
      const piece = buf.subarray(at, at + take);
      this.partMd5.update(piece);
      this.partSha.update(piece);
      this.inPart += take;
      at += take;
      if (this.inPart === this.partSize) this.closePart();
    }
  }

  /** Hashes one whole part (the upload hands parts over exactly) and returns its SHA-256. */
  addPart(buf: Buffer): Buffer {
    if (this.inPart !== 0) throw new Error('a part is still being hashed');
    this.update(buf);
    if (this.inPart > 0) this.closePart(); // the last, shorter part
    return this.shas[this.shas.length - 1];
  }

  private closePart(): void {
    this.md5s.push(this.partMd5.digest());
    this.shas.push(this.partSha.digest());
    this.partMd5 = createHash('md5');
    this.partSha = createHash('sha256');
    this.inPart = 0;
  }

  finish(bytes: number, sha256: string): Digests {
    if (this.inPart > 0 || this.md5s.length === 0) this.closePart();
    return {
      bytes,
      sha256,
      md5: this.md5.digest('hex'),
      partSize: this.partSize,
      partMd5: this.md5s,
      partSha256: this.shas,
    };
  }
}

/** Hashes a whole body without sending it (to compare with an object already there). */
async function digestBody(body: Readable, partSize: number, options: PutOptions): Promise<Digests> {
  const parts = new PartDigests(partSize);
  const whole = await hashWhole(body, options, (chunk) => parts.update(chunk));
  return parts.finish(whole.bytes, whole.sha256);
}

const hexToBase64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');

/** "<md5 of the part MD5s>-N", S3's ETag of a multipart object. */
function multipartEtag(d: Digests): string {
  return `${createHash('md5').update(Buffer.concat(d.partMd5)).digest('hex')}-${d.partMd5.length}`;
}

/** "<base64 SHA-256 of the part SHA-256s>-N", S3's composite checksum of a multipart object. */
function compositeSha256(d: Digests): string {
  return `${createHash('sha256').update(Buffer.concat(d.partSha256)).digest('base64')}-${d.partSha256.length}`;
}

type Verdict = 'same' | 'different' | 'unknown';

/** The part size an existing multipart object was written with, when we wrote it. */
function storedPartSize(head: HeadObjectCommandOutput): number | undefined {
  const n = Number(head.Metadata?.[META_PART_SIZE]);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/**
 * Whether an object's HEAD describes the bytes of `d`. Our SHA-256 in the metadata decides when
 * present; else S3's SHA-256 checksum; else the ETag when it is an MD5 (it is not under SSE-KMS or
 * SSE-C). 'unknown' when a composite value was built with another part size than `d`'s.
 */
function compare(head: HeadObjectCommandOutput, d: Digests): Verdict {
  if (head.ContentLength !== d.bytes) return 'different';
  const meta = head.Metadata?.[META_SHA256];
  if (meta) return meta.toLowerCase() === d.sha256 ? 'same' : 'different';
  const partsMatch = (storedPartSize(head) ?? d.partSize) === d.partSize;
  const checksum = head.ChecksumSHA256;
  if (checksum) {
    if (!checksum.includes('-')) return checksum === hexToBase64(d.sha256) ? 'same' : 'different';
    if (!partsMatch) return 'unknown';
    return checksum === compositeSha256(d) ? 'same' : 'different';
  }
  const etag = head.ETag?.replace(/"/g, '');
  const encrypted = head.ServerSideEncryption === 'aws:kms' || !!head.SSECustomerAlgorithm;
  if (etag && !encrypted && /^[0-9a-f]{32}(-\d+)?$/i.test(etag)) {
    if (!etag.includes('-')) return etag.toLowerCase() === d.md5 ? 'same' : 'different';
    if (!partsMatch) return 'unknown';
    return etag.toLowerCase() === multipartEtag(d) ? 'same' : 'different';
  }
  return 'unknown';
}

// ---------------------------------------------------------------------------------------------
// The adapter

export class S3Storage extends GuardedStorage implements StorageAdapter {
  readonly provider = 's3';
  readonly bucket: string;
  readonly prefix: string;
  readonly partSize: number;
  readonly queueSize: number;
  private readonly client: S3Client;
  private readonly objectLock: S3StorageOptions['objectLock'];
  private readonly legalHold: boolean;
  private readonly storageClass: StorageClass | undefined;

  constructor(options: S3StorageOptions) {
    super();
    if (!options?.bucket?.trim()) throw new Error(`${LABEL}: no bucket configured`);
    if (!options.accessKeyId || !options.secretAccessKey) {
      throw new Error(`${LABEL}: no access key id or secret access key configured`);
    }
    this.bucket = options.bucket.trim();
    // S3 keys may hold any UTF-8, so nothing is replaced; safeRelativePath already turned
    // backslashes into '/' and dropped empty, '.' and '..' segments (which S3 would keep literally).
    this.prefix = options.prefix?.trim() ? safeRelativePath(options.prefix.trim()) + '/' : '';
    this.partSize = options.partSize ?? DEFAULT_PART;
    if (!Number.isSafeInteger(this.partSize) || this.partSize < MIN_PART) {
      throw new Error(`${LABEL}: part size must be at least 5 MiB, got ${options.partSize}`);
    }
    this.queueSize = options.queueSize ?? DEFAULT_QUEUE;
    if (!Number.isSafeInteger(this.queueSize) || this.queueSize < 1) {
      throw new Error(`${LABEL}: queue size must be at least 1, got ${options.queueSize}`);
    }
    if (options.objectLock) {
      const { mode, days } = options.objectLock;
      if (mode !== 'GOVERNANCE' && mode !== 'COMPLIANCE') {
        throw new Error(`${LABEL}: Object Lock mode must be GOVERNANCE or COMPLIANCE`);
      }
      if (!Number.isInteger(days) || days <= 0) {
        throw new Error(`${LABEL}: Object Lock retention must be a whole number of days, got ${days}`);
      }
    }
    this.objectLock = options.objectLock;
    this.legalHold = !!options.legalHold;
    this.storageClass = (options.storageClass?.trim() || undefined) as StorageClass | undefined;
    const attempts = Math.max(1, options.retry?.attempts ?? 5);
    this.client = new S3Client({
      region: options.region?.trim() || 'us-east-1',
      endpoint: options.endpoint?.trim() || undefined,
      forcePathStyle: !!options.forcePathStyle,
      credentials: {
        accessKeyId: options.accessKeyId,
        secretAccessKey: options.secretAccessKey,
        sessionToken: options.sessionToken || undefined,
      },
      maxAttempts: attempts,
      retryStrategy: retryStrategy({ ...options.retry, attempts }),
    });
  }

  // -- public API ------------------------------------------------------------------------------

  /** HeadBucket, then a tiny object written and deleted under the prefix. */
  async check(options: CheckOptions = {}): Promise<CheckReport> {
    const steps = new CheckSteps(this.provider);
    try {
      try {
        await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
        steps.passed('connect', 'login', 'folder');
      } catch (err) {
        const e = classify(err);
        if (e instanceof ProviderError && e.status === 404) {
          steps.passed('connect', 'login');
          throw new ProviderError(`the bucket ${this.bucket} does not exist`, {
            status: 404,
            code: 'NoSuchBucket',
          });
        }
        if (e instanceof ProviderError && e.auth) {
          steps.passed('connect');
          throw new ProviderError(
            `${LABEL} refused access to the bucket ${this.bucket} (wrong access key or secret, or the ` +
              'bucket policy / IAM permissions do not allow s3:ListBucket): check them in the config node',
            { status: 403, code: 'auth', auth: true, retryable: false },
          );
        }
        if (e instanceof ProviderError && e.status === 301) {
          steps.passed('connect', 'login');
          throw new ProviderError(`the bucket ${this.bucket} is in another region than the one configured`, {
            status: 301,
            code: 'PermanentRedirect',
          });
        }
        throw e;
      }
      if (!options.leaveNoTrace) {
        // No Object Lock headers: the probe must be deletable. (A bucket with default retention
        // keeps a locked version of it behind the delete marker; it is a few bytes.)
        const key = this.prefix + probeFile().name;
        await steps.run('write', () =>
          this.client.send(
            new PutObjectCommand({
              Bucket: this.bucket,
              Key: key,
              Body: 'probe',
              ChecksumAlgorithm: 'SHA256',
            }),
          ),
        );
        await steps.run('remove', () =>
          this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })),
        );
      } else steps.skipped('write', 'leaveNoTrace');
      return steps.report();
    } catch (err) {
      const described = this.describe(err, 'check failed');
      // HeadBucket's failures: a 404 or another region is the bucket, refused access the
      // credentials, anything else reaching the host.
      const passed = steps.report().steps.map((st) => st.id);
      if (passed.includes('folder')) throw steps.fail(described);
      if (passed.includes('login')) throw steps.fail(described, 'folder');
      throw steps.fail(described, passed.includes('connect') ? 'login' : 'connect');
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.client.destroy();
  }

  // -- storing ---------------------------------------------------------------------------------

  private keyFor(rel: string): string {
    return this.prefix + rel;
  }

  /** Objects can be neither replaced nor removed for good under Object Lock or a legal hold. */
  private get immutable(): boolean {
    return !!this.objectLock || this.legalHold;
  }

  protected async look(rel: string): Promise<{ bytes: number } | undefined> {
    const head = await this.head(this.keyFor(rel), undefined);
    return head ? { bytes: head.ContentLength ?? 0 } : undefined;
  }

  protected async store(rel: string, body: Readable, options: PutOptions): Promise<PutResult> {
    const key = this.keyFor(rel);
    const { signal } = options;
    const sidecar = options.role === 'sidecar';

    // A sidecar describes its file and is rewritten when the record changes. Under Object Lock or
    // a legal hold nothing can be replaced (a new version would sit beside the locked one and the
    // old could not be removed), so there a sidecar is written once, like content, and one already
    // there is kept: the file it describes cannot have changed either.
    if (sidecar && !this.immutable) {
      const sent = await this.upload(key, body, options, false);
      return this.verify(rel, key, sent, signal);
    }

    const existing = await this.head(key, signal);
    if (existing) {
      const ours = await digestBody(body, storedPartSize(existing) ?? this.partSize, options);
      return this.settle(rel, existing, ours, sidecar);
    }
    let sent: Digests;
    try {
      sent = await this.upload(key, body, options, true);
    } catch (err) {
      // 412: someone wrote the key since the HEAD above (a parallel put of the same item).
      if (codeOf(classify(err)) !== 'PreconditionFailed') throw err;
      const now = await this.head(key, signal);
      if (!now) throw classify(err);
      const ours = (err as { digests?: Digests }).digests;
      if (!ours) throw classify(err);
      return this.settle(rel, now, ours, sidecar);
    }
    return this.verify(rel, key, sent, signal);
  }

  /** An object is already at the key: identical (or a kept sidecar) → alreadyPresent, else conflict. */
  private settle(rel: string, head: HeadObjectCommandOutput, ours: Digests, sidecar: boolean): PutResult {
    const verdict = compare(head, ours);
    if (verdict === 'same' || sidecar) {
      const storedSha = head.Metadata?.[META_SHA256];
      const kept =
        verdict === 'same' ? ours : { bytes: head.ContentLength ?? 0, sha256: storedSha ?? ours.sha256 };
      return receipt(rel, kept, head.ChecksumSHA256 ?? head.ETag?.replace(/"/g, ''), true);
    }
    if (verdict === 'unknown') {
      // Written elsewhere (or with another part size) and nothing comparable in its HEAD.
      throw new ProviderError(
        `an object is already at ${rel} and its content cannot be compared without reading it back; ` +
          'it was left as it is',
        { code: 'conflict', retryable: false },
      );
    }
    throw conflictError(rel);
  }

  /**
   * Sends the body: one PutObject with its SHA-256 in the metadata when it fits in a part, else a
   * multipart upload whose parts each carry an x-amz-checksum-sha256 S3 verifies. Parts are read
   * (ChunkReader.readInto, which also hashes) into a few buffers used over and over: `queueSize`
   * in flight and one being filled meanwhile. Fresh part-sized buffers would outlive their request
   * and pile up in V8's old space until a full collection.
   * Our SHA-256 of each part goes with it, so the SDK does not hash it again. A failed multipart
   * upload is aborted, so no parts are left behind. Errors carry the digests (`digests`) once the
   * body was read to its end.
   */
  private async upload(key: string, body: Readable, options: PutOptions, guarded: boolean): Promise<Digests> {
    const { signal, expectedBytes } = options;
    const reader = new ChunkReader(body, this.partSize, expectedBytes);
    const parts = new PartDigests(this.partSize);
    const send = { abortSignal: signal };
    let digests: Digests | undefined;
    let uploadId: string | undefined;
    const inFlight: Array<Promise<void>> = [];
    const onAbort = () => reader.destroy(signal?.reason instanceof Error ? signal.reason : abortError());
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const params = {
        Bucket: this.bucket,
        Key: key,
        ContentType: options.contentType || 'application/octet-stream',
        ChecksumAlgorithm: 'SHA256' as const,
        StorageClass: this.storageClass,
        ...this.lockParams(),
      };
      const guard = guarded ? { IfNoneMatch: '*' } : {};
      // A body of unknown size (a sidecar) is taken as it comes rather than into a part-sized
      // buffer; one of known size gets a buffer of at most that (at least 1 byte for readInto).
      // What next() hands out may be the source's own memory, so it is never filled again.
      let buffer: Buffer | undefined =
        expectedBytes === undefined
          ? undefined
          : Buffer.allocUnsafe(Math.max(1, Math.min(this.partSize, expectedBytes)));
      let part = (buffer ? await reader.readInto(buffer) : await reader.next())!;
      if (await reader.isLast()) {
        parts.update(part);
        digests = parts.finish(reader.bytes, reader.sha256);
        await this.client.send(
          new PutObjectCommand({
            ...params,
            ...guard,
            Body: part,
            ChecksumSHA256: hexToBase64(digests.sha256),
            Metadata: { [META_SHA256]: digests.sha256 },
          }),
          send,
        );
        signal?.throwIfAborted();
        return digests;
      }

      // The SHA-256 of the whole is unknown when the upload starts; the part size lets a later
      // put recompute the composite checksum / ETag S3 reports for it.
      const created = await this.client.send(
        new CreateMultipartUploadCommand({
          ...params,
          Metadata: { [META_PART_SIZE]: String(this.partSize) },
        }),
        send,
      );
      uploadId = created.UploadId;
      if (!uploadId) throw new ProviderError(`${LABEL}: CreateMultipartUpload answered without an upload id`);
      const sent: CompletedPart[] = [];
      const free: Buffer[] = [];
      const failures: unknown[] = [];
      for (let partNumber = 1; ; partNumber++) {
        if (partNumber > MAX_PARTS) {
          const message = `${LABEL}: more than ${MAX_PARTS} parts of ${this.partSize} bytes`;
          throw new ProviderError(message, { retryable: false });
        }
        const number = partNumber;
        const holder = buffer;
        const checksum = parts.addPart(part).toString('base64');
        const command = new UploadPartCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          PartNumber: number,
          Body: part,
          ChecksumSHA256: checksum,
        });
        inFlight.push(
          this.client
            .send(command, send)
            .then((res) => {
              if (!res.ETag) throw new ProviderError(`${LABEL}: part ${number} was answered without an ETag`);
              sent.push({
                PartNumber: number,
                ETag: res.ETag,
                ChecksumSHA256: res.ChecksumSHA256 ?? checksum,
              });
              if (holder) free.push(holder);
            })
            .catch((err: unknown) => {
              failures.push(err);
            }),
        );
        // The next part is read while this one is sent, into a buffer no request holds.
        buffer = free.pop() ?? Buffer.allocUnsafe(this.partSize);
        const next = await reader.readInto(buffer);
        if (inFlight.length >= this.queueSize) await inFlight.shift();
        if (failures.length) throw failures[0];
        if (!next?.length) break;
        part = next;
      }
      await Promise.all(inFlight.splice(0));
      if (failures.length) throw failures[0];
      digests = parts.finish(reader.bytes, reader.sha256);
      sent.sort((a, b) => a.PartNumber! - b.PartNumber!);
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: sent },
          ...guard,
        }),
        send,
      );
      uploadId = undefined;
      signal?.throwIfAborted();
      return digests;
    } catch (err) {
      reader.destroy();
      await Promise.all(inFlight);
      if (uploadId) {
        // Without the signal: an aborted put must not leave its parts behind either.
        await this.client
          .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }))
          .catch(() => undefined);
      }
      if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : abortError();
      const mapped = classify(err);
      if (digests && mapped instanceof Error) Object.assign(mapped, { digests });
      throw mapped;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private lockParams(): Partial<PutObjectCommandInput> {
    const out: Partial<PutObjectCommandInput> = {};
    if (this.objectLock) {
      out.ObjectLockMode = this.objectLock.mode;
      out.ObjectLockRetainUntilDate = new Date(Date.now() + this.objectLock.days * 86_400_000);
    }
    if (this.legalHold) out.ObjectLockLegalHoldStatus = 'ON';
    return out;
  }

  /** HEAD after the upload: size and checksum (or ETag) must describe what was sent. */
  private async verify(
    rel: string,
    key: string,
    sent: Digests,
    signal: AbortSignal | undefined,
  ): Promise<PutResult> {
    const head = await this.head(key, signal);
    const verdict: Verdict = head ? compareStored(head, sent) : 'different';
    if (verdict === 'different') {
      // Nothing may look archived. With versioning (always on under Object Lock) this leaves a
      // delete marker over the bad version, which a locked version cannot avoid.
      await this.client
        .send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }))
        .catch(() => undefined);
      throw storedDifferentBytes(
        LABEL,
        `sent ${sent.bytes} bytes, SHA-256 ${sent.sha256}; ` +
          `stored ${head?.ContentLength ?? 'nothing'}${head ? ' bytes' : ''}, ETag ${head?.ETag ?? '?'}, ` +
          `SHA-256 checksum ${head?.ChecksumSHA256 ?? '?'}); the object was removed`,
      );
    }
    return receipt(rel, sent, head?.ChecksumSHA256 ?? head?.ETag?.replace(/"/g, ''), false);
  }

  private async head(
    key: string,
    signal: AbortSignal | undefined,
  ): Promise<HeadObjectCommandOutput | undefined> {
    try {
      return await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: key, ChecksumMode: 'ENABLED' }),
        { abortSignal: signal },
      );
    } catch (err) {
      const e = classify(err);
      if (e instanceof ProviderError && e.status === 404) return undefined;
      throw e;
    }
  }

  protected describe(err: unknown, what: string): Error {
    return describeFailure(LABEL, classify(err), what);
  }
}

/**
 * Our own object just written: every value S3 reports must match. The ETag is compared as well as
 * the checksum, because some S3-compatible stores keep no checksum. Nothing comparable at all (an
 * S3-compatible store without checksums, encrypting with KMS) leaves only the size.
 */
function compareStored(head: HeadObjectCommandOutput, sent: Digests): Verdict {
  if (head.ContentLength !== sent.bytes) return 'different';
  const meta = head.Metadata?.[META_SHA256];
  if (meta && meta.toLowerCase() !== sent.sha256) return 'different';
  const withoutMeta = { ...head, Metadata: undefined };
  const byChecksum = head.ChecksumSHA256 ? compare({ ...withoutMeta, ETag: undefined }, sent) : 'unknown';
  const byEtag = compare({ ...withoutMeta, ChecksumSHA256: undefined }, sent);
  return byChecksum === 'different' || byEtag === 'different' ? 'different' : 'same';
}

function abortError(): Error {
  return Object.assign(new Error('The operation was aborted'), { name: 'AbortError' });
}
