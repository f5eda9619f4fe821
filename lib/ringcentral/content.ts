import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { RcApiError } from './errors';

/** After the connection has closed, how long buffered bytes may take to arrive. */
const CLOSED_GRACE_MS = 1_000;

export interface ContentBodyOptions {
  /** From Content-Length; the stream errors when the count at the end differs. */
  expected?: number;
  /** The stream errors when no byte arrives for this long while the reader waits. */
  idleTimeoutMs: number;
  /** For messages: "GET /restapi/v1.0/account/1/recording/2/content". */
  what: string;
  /** How messages name the body: "RingCentral download" by default. */
  label?: string;
  /** Where this body starts in the file (a resumed download) and the file's size, for messages. */
  offset?: number;
  total?: number;
  /** Called once when the stream ends, errors or is destroyed: aborts the request, frees sockets. */
  onClose: () => void;
}

/**
 * The body of a content download as a Node Readable. node-fetch v2 leaves its body hanging
 * forever when the server closes the connection early without an error, so this stream checks
 * the byte count against Content-Length, errors after a period without data (only while the reader
 * is waiting: backpressure is not idleness), and errors soon after the connection is seen to close
 * while bytes are still missing. Destroying it aborts the request.
 */
export class ContentBody extends Readable {
  private received = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private sourcePaused = false;
  private finished = false;
  private connectionClosed = false;
  private released = false;

  constructor(
    private readonly source: Readable,
    private readonly options: ContentBodyOptions,
  ) {
    super();
    source.on('data', (chunk: Buffer) => {
      if (this.finished || this.destroyed) return;
      this.received += chunk.length;
      const { expected } = this.options;
      if (expected !== undefined && this.received > expected) {
        this.fail(
          `${this.label} ${this.options.what} sent more than the ${expected} bytes announced`,
          'ContentOverrun',
        );
        return;
      }
      this.armIdle();
      if (!this.push(chunk)) {
        this.sourcePaused = true;
        source.pause();
        this.clearIdle();
      }
    });
    source.once('end', () => {
      if (this.finished || this.destroyed) return;
      const { expected } = this.options;
      if (expected !== undefined && this.received !== expected) {
        this.fail(this.endedMessage());
        return;
      }
      this.finished = true;
      this.clearIdle();
      this.push(null);
      this.release();
    });
    source.once('error', (err: Error) => {
      if (this.finished || this.destroyed) return;
      const reason = err?.message ? `: ${err.message}` : '';
      this.fail(`${this.endedMessage()}${reason}`);
    });
    this.armIdle();
  }

  /** Bytes received so far. */
  get bytesReceived(): number {
    return this.received;
  }

  /** The connection the body came on has closed: bytes still missing will not come. */
  connectionClose(): void {
    if (this.finished || this.destroyed) return;
    this.connectionClosed = true;
    if (!this.sourcePaused) this.armIdle();
  }

  override _read(): void {
    if (this.sourcePaused) {
      this.sourcePaused = false;
      this.source.resume();
    }
    if (!this.finished) this.armIdle();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.clearIdle();
    this.release();
    this.source.destroy();
    callback(error);
  }

  /** Bytes of the file reached, and of how many: a resumed body counts from the file's start. */
  private progress(): { reached: number; of?: number } {
    const { expected, offset = 0, total } = this.options;
    return {
      reached: offset + this.received,
      of: total ?? (expected !== undefined ? offset + expected : undefined),
    };
  }

  private endedMessage(): string {
    const { what } = this.options;
    const { reached, of } = this.progress();
    return of !== undefined
      ? `${this.label} ${what} ended after ${reached} of ${of} bytes`
      : `${this.label} ${what} ended after ${reached} bytes`;
  }

  private get label(): string {
    return this.options.label ?? 'RingCentral download';
  }

  private fail(message: string, errorCode = 'IncompleteContent'): void {
    this.clearIdle();
    this.destroy(new RcApiError(message, { errorCode }));
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.options.onClose();
  }

  private armIdle(): void {
    this.clearIdle();
    if (this.finished || this.destroyed) return;
    const ms = this.connectionClosed
      ? Math.min(CLOSED_GRACE_MS, this.options.idleTimeoutMs)
      : this.options.idleTimeoutMs;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.finished || this.destroyed) return;
      if (this.connectionClosed) {
        this.fail(`${this.endedMessage()} (the connection closed)`);
      } else {
        const { what } = this.options;
        const { reached, of } = this.progress();
        this.fail(
          `${this.label} ${what} stalled: no data for ${Math.round(this.options.idleTimeoutMs / 100) / 10} s ` +
            `after ${reached}${of !== undefined ? ` of ${of}` : ''} bytes`,
        );
      }
    }, ms);
    this.idleTimer.unref();
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}

/**
 * Agents of one download (no keep-alive), which report when the download's connection closes,
 * so that a body cut off by a clean close is noticed at once rather than after the idle timeout.
 */
export class DownloadAgents {
  private http: http.Agent | undefined;
  private https: https.Agent | undefined;
  private onClose: (() => void) | undefined;
  private sockets = new Set<Socket>();
  private created = 0;

  /** For node-fetch's `agent` option. */
  readonly agent = (url: URL): http.Agent => {
    if (url.protocol === 'http:') return (this.http ??= this.capture(new http.Agent({ keepAlive: false })));
    return (this.https ??= this.capture(new https.Agent({ keepAlive: false })));
  };

  /** Called when a connection of this download closes (set once the body exists). */
  watchClose(onClose: () => void): void {
    this.onClose = onClose;
    if (this.created > 0 && this.sockets.size === 0) onClose();
  }

  destroy(): void {
    this.onClose = undefined;
    this.http?.destroy();
    this.https?.destroy();
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  private capture<A extends http.Agent>(agent: A): A {
    const create = agent.createConnection.bind(agent) as (...args: unknown[]) => unknown;
    (agent as { createConnection: unknown }).createConnection = (...args: unknown[]) => {
      const socket = create(...args) as Socket | undefined;
      if (socket && typeof socket.once === 'function') {
        this.created++;
        this.sockets.add(socket);
        socket.once('close', () => {
          this.sockets.delete(socket);
          this.onClose?.();
        });
      }
      return socket;
    };
    return agent;
  }
}

/** One answer of a download: the whole file (200) or the rest of it from `start` (206). */
export interface ContentPart {
  body: ContentBody;
  status: number;
  /** Offset in the file of the body's first byte: 0 for a 200. */
  start: number;
  /** The file's size, from Content-Range (206) or Content-Length (200), when the server said. */
  total?: number;
  /** The entity tag, when the server sent one: a different one means a different file. */
  etag?: string;
}

export interface ResumingContentOptions {
  /** For messages: "GET /restapi/v1.0/account/1/recording/2/content". */
  what: string;
  first: ContentPart;
  /** Requests after a cut (each from the byte reached) before the download fails. */
  maxResumes: number;
  /** Requests the file from `offset` on (`Range: bytes=<offset>-`); `resume` counts from 1. */
  reopen(offset: number, resume: number): Promise<ContentPart>;
  /** False once the caller has aborted or the client has closed: a cut is then final. */
  canResume(): boolean;
  log?(message: string): void;
}

/**
 * A download that heals: when its body is cut short (reset, clean close before Content-Length,
 * stall) it asks for the rest with `Range` from the byte it reached and goes on in the same
 * stream, so the reader (a storage upload) never sees the cut. A server that ignores Range and
 * sends the whole file again (200) has the part already delivered skipped; an answer that does not
 * continue the same file (another size or entity tag, a range starting elsewhere) fails the
 * download rather than splice two files together.
 */
export class ResumingContent extends Readable {
  private part: ContentBody;
  private position = 0;
  private skip = 0;
  private resumes = 0;
  private partPaused = false;
  private readonly total: number | undefined;
  private readonly etag: string | undefined;

  constructor(private readonly options: ResumingContentOptions) {
    super();
    this.total = options.first.total;
    this.etag = options.first.etag;
    this.part = options.first.body;
    this.attach(this.part);
  }

  /** Bytes of the file delivered so far. */
  get bytesReceived(): number {
    return this.position;
  }

  /** Times the download was resumed after a cut. */
  get resumeCount(): number {
    return this.resumes;
  }

  override _read(): void {
    if (this.partPaused) {
      this.partPaused = false;
      this.part.resume();
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.part.destroy();
    callback(error);
  }

  private attach(part: ContentBody): void {
    part.on('data', (chunk: Buffer) => {
      if (this.destroyed || part !== this.part) return;
      let data = chunk;
      if (this.skip > 0) {
        const dropped = Math.min(this.skip, data.length);
        this.skip -= dropped;
        data = data.subarray(dropped);
        if (!data.length) return;
      }
      this.position += data.length;
      if (!this.push(data)) {
        this.partPaused = true;
        part.pause();
      }
    });
    part.once('end', () => {
      if (this.destroyed || part !== this.part) return;
      if (this.skip > 0 || (this.total !== undefined && this.position !== this.total)) {
        this.destroy(this.error(`${this.ended()} (the resumed answer ended early)`));
        return;
      }
      this.push(null);
    });
    part.once('error', (err: Error) => {
      if (this.destroyed || part !== this.part) return;
      void this.healOrFail(err);
    });
  }

  private async healOrFail(err: Error): Promise<void> {
    const code = (err as { errorCode?: unknown }).errorCode;
    if (code === 'IncompleteContent' && this.total !== undefined && this.position === this.total) {
      // Every announced byte arrived; only the end of the answer was lost.
      this.push(null);
      return;
    }
    if (
      code !== 'IncompleteContent' ||
      this.resumes >= this.options.maxResumes ||
      !this.options.canResume()
    ) {
      this.destroy(
        this.resumes ? this.error(`${err.message} (after ${this.resumes} resumed requests)`) : err,
      );
      return;
    }
    this.resumes++;
    const offset = this.position;
    this.options.log?.(
      `${err.message}; asking for the rest from byte ${offset} (resume ${this.resumes} of ${this.options.maxResumes})`,
    );
    let next: ContentPart;
    try {
      next = await this.options.reopen(offset, this.resumes);
    } catch (reopenErr) {
      if (this.destroyed) return;
      const reason = reopenErr instanceof Error ? reopenErr.message : String(reopenErr);
      const wrapped = this.error(`${err.message}; resuming from byte ${offset} failed: ${reason}`);
      this.destroy(wrapped);
      return;
    }
    if (this.destroyed) {
      next.body.destroy();
      return;
    }
    const mismatch = this.mismatch(next, offset);
    if (mismatch) {
      next.body.destroy();
      this.destroy(this.error(`${err.message}; cannot resume: ${mismatch}`, 'ContentChanged'));
      return;
    }
    // 200: the server ignored Range and sends the file from its start; drop what was delivered.
    this.skip = offset - next.start;
    this.part = next.body;
    this.attach(next.body);
    // The reader was not asking for more when the cut came: the new answer waits for it too.
    if (this.partPaused) next.body.pause();
  }

  private mismatch(next: ContentPart, offset: number): string | undefined {
    if (this.etag && next.etag && this.etag !== next.etag)
      return `the file changed (entity tag ${next.etag} instead of ${this.etag})`;
    if (this.total !== undefined && next.total !== undefined && next.total !== this.total)
      return `the file is now ${next.total} bytes instead of ${this.total}`;
    if (next.status === 206 && next.start !== offset)
      return `the server answered a range from byte ${next.start} instead of ${offset}`;
    if (next.status !== 206 && next.start !== 0) return `unexpected answer ${next.status}`;
    return undefined;
  }

  private ended(): string {
    return this.total !== undefined
      ? `RingCentral download ${this.options.what} ended after ${this.position} of ${this.total} bytes`
      : `RingCentral download ${this.options.what} ended after ${this.position} bytes`;
  }

  private error(message: string, errorCode = 'IncompleteContent'): RcApiError {
    return new RcApiError(message, { errorCode });
  }
}
