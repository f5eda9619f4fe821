import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * S3 for tests: s3rver (files in a temporary directory) behind a small HTTP proxy on 127.0.0.1.
 * The proxy adds what s3rver lacks or what tests need to provoke:
 * - conditional writes: `If-None-Match: *` on PutObject and CompleteMultipartUpload answers 412
 *   PreconditionFailed when the key exists (s3rver predates conditional writes);
 * - AbortMultipartUpload (s3rver answers 405 to it): the upload's parts are removed;
 * - a log of every request (method, path, query, headers of interest, body size);
 * - `failNext` (503 SlowDown + Retry-After), `corruptNextUpload` (flips a byte on the way, which
 *   s3rver stores as it is: it checks no x-amz-checksum-*), `refuseCredentials` (403
 *   InvalidAccessKeyId).
 * s3rver implements no Object Lock (nor legal hold, nor checksums): tests check the headers S3
 * acts on (x-amz-object-lock-*) in the request log.
 * s3rver knows one key pair, S3RVER / S3RVER, and refuses other access key ids
 * (InvalidAccessKeyId) but does not verify SigV4 signatures, so a wrong secret goes unnoticed: use
 * `refuseCredentials('SignatureDoesNotMatch')` for that. The proxy passes every header on as it is.
 */

export interface S3Request {
  method: string;
  /** URL path, decoded: /bucket/key */
  path: string;
  query: Record<string, string>;
  /** Only the headers tests look at: x-amz-object-lock-*, x-amz-meta-*, if-none-match, checksums. */
  headers: Record<string, string>;
  bodySize: number;
  /** Status the client got. */
  status?: number;
}

export interface FakeS3 {
  /** The proxy, for the adapter's `endpoint` (path style). */
  url: string;
  /** s3rver itself, bypassing the proxy's log and faults. */
  directUrl: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  requests: S3Request[];
  /** The next n requests answer `status` (default 503 SlowDown) with Retry-After when given. */
  failNext(n: number, status?: number, retryAfterSeconds?: number, code?: string): void;
  /** Flips one byte of the next PutObject / UploadPart body before s3rver stores it. */
  corruptNextUpload(): void;
  /** Until called with undefined, every request answers 403 with this S3 error code. */
  refuseCredentials(code?: string): void;
  /** Multipart uploads started and neither completed nor aborted. */
  pendingUploads(): Promise<number>;
  close(): Promise<void>;
}

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  store: { existsObject(bucket: string, key: string): Promise<boolean> };
}
type S3rverCtor = new (options: Record<string, unknown>) => S3rverInstance;

const INTERESTING =
  /^(x-amz-object-lock-|x-amz-meta-|if-none-match$|x-amz-checksum-|x-amz-sdk-checksum|x-amz-storage-class$|content-length$|content-type$)/;

function xmlError(code: string, message: string, extra = ''): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>${message}</Message>${extra}` +
    `<RequestId>${randomBytes(8).toString('hex').toUpperCase()}</RequestId><HostId>fake</HostId></Error>`
  );
}

export async function startS3(options: { bucket?: string } = {}): Promise<FakeS3> {
  const bucket = options.bucket ?? 'archive';
  const directory = await mkdtemp(join(tmpdir(), 'rc-s3-'));
  // s3rver is plain JavaScript without type declarations.
  const S3rver = require('s3rver') as S3rverCtor;
  const s3rver = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    vhostBuckets: false,
    configureBuckets: [{ name: bucket }],
  });
  const direct = await s3rver.run();
  const requests: S3Request[] = [];
  let failures: { n: number; status: number; retryAfter?: number; code: string } = {
    n: 0,
    status: 503,
    code: 'SlowDown',
  };
  let corrupt = false;
  let refuse: string | undefined;
  const uploadsDir = join(directory, bucket, '._S3rver_uploads');
  /** Requests s3rver is still handling, by upload id: an abort waits for them (s3rver would crash). */
  const busy = new Map<string, number>();

  const answer = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    entry: S3Request,
    status: number,
    body: string,
    headers: Record<string, string> = {},
  ) => {
    req.resume();
    req.on('end', () => {
      entry.status = status;
      const text = req.method === 'HEAD' ? '' : body;
      res.writeHead(status, {
        'content-type': 'application/xml',
        'content-length': String(Buffer.byteLength(text)),
        'x-amz-request-id': 'fake',
        ...headers,
      });
      res.end(text);
    });
    req.on('data', (c: Buffer) => (entry.bodySize += c.length));
  };

  const proxy = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const entry: S3Request = {
        method: req.method ?? 'GET',
        path: decodeURIComponent(url.pathname),
        query: Object.fromEntries(url.searchParams),
        headers: Object.fromEntries(
          Object.entries(req.headers)
            .filter(([k]) => INTERESTING.test(k))
            .map(([k, v]) => [k, String(v)]),
        ),
        bodySize: 0,
      };
      requests.push(entry);
      const [, bkt, ...rest] = entry.path.split('/');
      const key = rest.join('/');

      if (refuse) {
        return answer(
          req,
          res,
          entry,
          403,
          xmlError(refuse, 'The AWS Access Key Id you provided does not exist in our records.'),
        );
      }
      if (failures.n > 0) {
        failures.n--;
        const headers: Record<string, string> =
          failures.retryAfter !== undefined ? { 'retry-after': String(failures.retryAfter) } : {};
        return answer(
          req,
          res,
          entry,
          failures.status,
          xmlError(failures.code, 'Please reduce your request rate.'),
          headers,
        );
      }
      const isPutObject =
        req.method === 'PUT' && !('uploadId' in entry.query) && !req.headers['x-amz-copy-source'];
      const isComplete = req.method === 'POST' && 'uploadId' in entry.query;
      if ((isPutObject || isComplete) && req.headers['if-none-match'] === '*' && key) {
        if (await s3rver.store.existsObject(bkt, key)) {
          return answer(
            req,
            res,
            entry,
            412,
            xmlError(
              'PreconditionFailed',
              'At least one of the pre-conditions you specified did not hold',
              '<Condition>If-None-Match</Condition>',
            ),
          );
        }
      }
      if (req.method === 'DELETE' && entry.query.uploadId && key) {
        // AbortMultipartUpload, which s3rver lacks: drop the parts once no part is being written.
        const until = Date.now() + 2000;
        while ((busy.get(entry.query.uploadId) ?? 0) > 0 && Date.now() < until) {
          await new Promise((r) => setTimeout(r, 5));
        }
        await rm(join(uploadsDir, entry.query.uploadId.replace(/[^0-9a-f]/gi, '')), {
          recursive: true,
          force: true,
        });
        return answer(req, res, entry, 204, '');
      }

      const flip = corrupt && req.method === 'PUT' && !isComplete && key !== '';
      if (flip) corrupt = false;
      let flipped = false;
      const uploadId = entry.query.uploadId;
      if (uploadId) busy.set(uploadId, (busy.get(uploadId) ?? 0) + 1);
      let released = false;
      const release = () => {
        if (uploadId && !released) {
          released = true;
          busy.set(uploadId, (busy.get(uploadId) ?? 1) - 1);
        }
      };
      const upstream = http.request(
        {
          host: '127.0.0.1',
          port: direct.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
          // No keep-alive towards s3rver, so that closing it does not wait for idle sockets.
          agent: false,
        },
        (up) => {
          entry.status = up.statusCode;
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
          up.on('end', release);
          up.on('close', release);
        },
      );
      upstream.on('error', () => {
        release();
        res.destroy();
      });
      req.on('data', (chunk: Buffer) => {
        entry.bodySize += chunk.length;
        if (flip && !flipped && chunk.length > 0) {
          chunk = Buffer.from(chunk);
          chunk[0] ^= 0xff;
          flipped = true;
        }
        if (!upstream.write(chunk)) {
          req.pause();
          upstream.once('drain', () => req.resume());
        }
      });
      req.on('end', () => upstream.end());
      req.on('error', () => upstream.destroy());
      req.on('aborted', () => upstream.destroy());
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const port = (proxy.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    directUrl: `http://127.0.0.1:${direct.port}`,
    bucket,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    requests,
    failNext(n, status = 503, retryAfterSeconds, code = status === 503 ? 'SlowDown' : 'InternalError') {
      failures = { n, status, retryAfter: retryAfterSeconds, code };
    },
    corruptNextUpload() {
      corrupt = true;
    },
    refuseCredentials(code) {
      refuse = code;
    },
    async pendingUploads() {
      return (await readdir(uploadsDir).catch(() => [])).length;
    },
    async close() {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      await s3rver.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
