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
        this.fail(`RingCentral download ${this.options.what} sent more than the ${expected} bytes announced`);
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

  private endedMessage(): string {
    const { expected, what } = this.options;
    return expected !== undefined
      ? `RingCentral download ${what} ended after ${this.received} of ${expected} bytes`
      : `RingCentral download ${what} ended after ${this.received} bytes`;
  }

  private fail(message: string): void {
    this.clearIdle();
    this.destroy(new RcApiError(message, { errorCode: 'IncompleteContent' }));
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
        const { expected, what } = this.options;
        const of = expected !== undefined ? ` of ${expected}` : '';
        this.fail(
          `RingCentral download ${what} stalled: no data for ${Math.round(this.options.idleTimeoutMs / 100) / 10} s ` +
            `after ${this.received}${of} bytes`,
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
