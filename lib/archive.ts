import { Readable } from 'node:stream';
import { contentGroupFor, type ArchiveItem, type Receipt } from './items';
import type { LedgerApi } from './ledger/types';
import type { ContentFetcher } from './ringcentral/types';
import { isTargetFailure, TargetError } from './storage/target';
import type { StorageAdapter } from './storage/types';
import { extensionFor, renderPath, sidecarPathFor } from './template';

export { hashingStream, HashingStream, hashReadable, ByteCountError } from './storage/hash';

export interface ArchiveDeps {
  fetcher: ContentFetcher;
  storage: StorageAdapter;
  ledger: LedgerApi;
  /** Name of the sink, written to the ledger with every outcome. */
  sinkName: string;
  /** Path template (see lib/template.ts). */
  template: string;
  /** IANA zone for the date and time in paths and the sidecar; "UTC" by default in the nodes. */
  timeZone: string;
  /** Write `<path>.json` with the item, its record and the archive facts beside the file. */
  sidecar: boolean;
  /** Aborts the download and the upload (e.g. when Node-RED stops the sink). */
  signal?: AbortSignal;
}

/** The sidecar written beside each file: the item, its RingCentral record and what was stored. */
export interface Sidecar {
  [field: string]: unknown;
  record: unknown;
  archive: {
    provider: string;
    path: string;
    bytes: number;
    sha256: string;
    providerHash?: string;
    contentType: string;
    archivedAt: string;
    timeZone: string;
  };
}

/** The reason written to the ledger for content RingCentral no longer has. */
export const LOST_REASON = 'RingCentral no longer has this content (404): deleted by retention or by a user';

/**
 * Thrown by archiveItem when the content download answered 404: the item is Lost in the ledger
 * (no retry can bring it back), not Failed. `lost` is true so that a flow can tell.
 */
export class LostContentError extends Error {
  override name = 'LostContentError';
  readonly lost = true;
  readonly key: string;

  constructor(key: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.key = key;
  }
}

/**
 * Thrown by archiveItem when the storage target itself failed (see lib/storage/target.ts): the
 * item keeps its state (Pending) and spends no retry; `reason` is the storage's own words.
 */
export class TargetDownError extends TargetError {
  override name = 'TargetDownError';
  readonly key: string;
  readonly reason: string;

  constructor(key: string, reason: string, options?: { cause?: unknown }) {
    super(`cannot archive ${key}: ${reason}`, options);
    this.key = key;
    this.reason = reason;
  }
}

/** True for an error from lib/ringcentral (or any layer) that carries HTTP status 404. */
export function isNotFound(err: unknown): boolean {
  return !!err && typeof err === 'object' && (err as { status?: unknown }).status === 404;
}

/**
 * Archives one item: streams its content from RingCentral (or serialises its JSON) into storage
 * at the templated path, hashing on the way, writes the sidecar, and records the outcome in the
 * ledger. An item the ledger already has as Archived, whose file is still there with the same
 * size (or that went to a write-only target such as an e-mail journal), is not downloaded again.
 *
 * On failure the ledger says Failed with the reason and the returned promise rejects with an
 * error naming the item. When the download answers 404 the content is gone at RingCentral: the
 * ledger says Lost and the promise rejects with a LostContentError. When the storage target itself
 * failed, the item stays Pending and the promise rejects with a TargetDownError. An abort through `deps.signal` is not a failure of the item: it keeps its
 * state (Pending) and is sent again on the next start.
 */
export async function archiveItem(item: ArchiveItem, deps: ArchiveDeps): Promise<Receipt> {
  const { fetcher, storage, sinkName, template, timeZone, sidecar, signal } = deps;
  // The steps share commits with the other transfers'; the flow is told once they are committed.
  const ledger = deps.ledger.grouped?.() ?? deps.ledger;

  const known = ledger.get(item.key);
  const previous = known?.status === 'Archived' ? known.receipt : undefined;
  if (previous && previous.provider === storage.provider) {
    if (storage.writeOnly) return { ...previous, alreadyPresent: true };
    const present = await storage.stat(previous.path).catch(() => undefined);
    if (present && present.bytes === previous.bytes) return { ...previous, alreadyPresent: true };
  }

  ledger.markAttempt(item.key, sinkName, item);
  let body: Readable | undefined;
  let downloading = false;
  // What the content stream itself failed with: RingCentral's fault, even though the storage's
  // put is what rejects (and words it as its own), and never a sign that the target is down.
  let downloadError: unknown;
  try {
    signal?.throwIfAborted();
    let contentType: string;
    let expectedBytes: number | undefined;
    let extension: string | undefined;
    if (isUriContent(item.content)) {
      downloading = true;
      const response = await fetcher.openContent(item.content.uri, {
        signal,
        group: contentGroupFor(item),
        key: item.key,
      });
      downloading = false;
      body = response.body;
      body.once('error', (err) => (downloadError ??= err));
      contentType = response.contentType?.trim() || item.contentType;
      expectedBytes = response.contentLength;
      const fromType = extensionFor(contentType);
      // An unhelpful type (octet-stream, none): let the template use the item's type or file name.
      extension = fromType === 'bin' ? undefined : fromType;
    } else if (isJsonContent(item.content)) {
      const data = Buffer.from(JSON.stringify(item.content.json ?? null, null, 2) + '\n', 'utf8');
      body = Readable.from([data]);
      contentType = 'application/json';
      expectedBytes = data.length;
      extension = 'json';
    } else {
      throw new Error('the item has no content (neither a uri nor json)');
    }

    const path = renderPath(template, item, { timeZone, extension });
    const put = await storage.put(path, body, { contentType, expectedBytes, signal, item });
    const archivedAt = new Date().toISOString();

    let sidecarPath: string | undefined;
    if (sidecar) {
      sidecarPath = sidecarPathFor(put.path);
      const doc = sidecarFor(item, {
        provider: storage.provider,
        path: put.path,
        bytes: put.bytes,
        sha256: put.sha256,
        ...(put.providerHash ? { providerHash: put.providerHash } : {}),
        contentType,
        archivedAt,
        timeZone,
      });
      const data = Buffer.from(JSON.stringify(doc, null, 2) + '\n', 'utf8');
      await storage.put(sidecarPath, Readable.from([data]), {
        contentType: 'application/json',
        expectedBytes: data.length,
        signal,
        item,
        role: 'sidecar',
      });
    }

    const receipt: Receipt = {
      provider: storage.provider,
      path: put.path,
      bytes: put.bytes,
      sha256: put.sha256,
      ...(put.providerHash ? { providerHash: put.providerHash } : {}),
      ...(sidecarPath ? { sidecarPath } : {}),
      alreadyPresent: put.alreadyPresent,
      archivedAt,
    };
    ledger.markArchived(item.key, sinkName, receipt, item);
    // The flow learns of it once it is committed.
    await ledger.settled?.();
    return receipt;
  } catch (err) {
    if (body && !body.destroyed) body.destroy();
    // A cut download is reported as RingCentral's, not as the storage that was writing it.
    const failure = downloadError ?? err;
    const reason = redact(messageOf(failure));
    if (signal?.aborted) {
      throw new Error(
        `archiving ${item.key} was stopped; it stays ${known?.status ?? 'Pending'} and is sent again`,
        {
          cause: err,
        },
      );
    }
    if (!downloading && downloadError === undefined && isTargetFailure(err)) {
      throw new TargetDownError(item.key, reason, { cause: err });
    }
    if (downloading && isNotFound(err)) {
      try {
        ledger.markLost(item.key, sinkName, LOST_REASON, item);
        await ledger.settled?.();
      } catch (ledgerErr) {
        throw new LostContentError(
          item.key,
          `cannot archive ${item.key}: ${LOST_REASON} (and the ledger could not record it: ${messageOf(ledgerErr)})`,
          { cause: err },
        );
      }
      throw new LostContentError(item.key, `cannot archive ${item.key}: ${LOST_REASON}`, { cause: err });
    }
    try {
      ledger.markFailed(item.key, sinkName, reason, item);
      await ledger.settled?.();
    } catch (ledgerErr) {
      throw new Error(
        `cannot archive ${item.key}: ${reason} (and the ledger could not record it: ${messageOf(ledgerErr)})`,
        { cause: failure },
      );
    }
    throw new Error(`cannot archive ${item.key}: ${reason}`, { cause: failure });
  }
}

function isUriContent(content: unknown): content is { uri: string } {
  return !!content && typeof (content as { uri?: unknown }).uri === 'string';
}

function isJsonContent(content: unknown): content is { json: unknown } {
  return !!content && typeof content === 'object' && 'json' in content;
}

function sidecarFor(item: ArchiveItem, archive: Sidecar['archive']): Sidecar {
  // Everything the item says about itself (nothing in it is secret), except the JSON content,
  // which is the archived file itself.
  const { content, record, ...fields } = item;
  return {
    ...fields,
    ...(isUriContent(content) ? { content: { uri: redact(content.uri) } } : {}),
    record,
    archive,
  };
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

/** Tokens never reach the ledger, logs or sidecars, even if a lower layer put one in a message. */
export function redact(text: string): string {
  return text
    .replace(
      /\b(access_token|refresh_token|token|jwt|client_secret|password|signature|sig)=([^&\s#"']+)/gi,
      '$1=***',
    )
    .replace(/\bBearer\s+[A-Za-z0-9._~+/=-]+/g, 'Bearer ***')
    .replace(/\bBasic\s+[A-Za-z0-9+/=]{8,}/g, 'Basic ***');
}
