import type { Readable } from 'node:stream';

export type ApiGroup = 'Light' | 'Medium' | 'Heavy' | 'Auth';

export interface ContentResponse {
  body: Readable;
  contentType?: string;
  /** From Content-Length; the body stream errors if fewer or more bytes arrive. */
  contentLength?: number;
}

/** What a sink needs from RingCentral: a content stream for a media URI. */
export interface ContentFetcher {
  openContent(uri: string, options?: { signal?: AbortSignal; group?: ApiGroup }): Promise<ContentResponse>;
}
