/**
 * The ArchiveItem contract: one message carries one archivable thing. Plain JSON so it can be
 * stored in the ledger, retried after a restart and logged. Content bytes are never carried:
 * the sink streams them from RingCentral when it needs them.
 */
export type ItemKind =
  'CallRecording' | 'CallLog' | 'Voicemail' | 'Fax' | 'SMS' | 'MMS' | 'TeamMessagingExport';

export type ItemContent = { uri: string } | { json: unknown };

export interface ArchiveItem {
  /** Stable and unique, e.g. "CallRecording:123456"; the ledger's key. */
  key: string;
  kind: ItemKind;
  accountId: string;
  extensionId?: string;
  extensionNumber?: string;
  ownerName?: string;
  from?: string;
  to?: string[];
  direction?: 'Inbound' | 'Outbound';
  /** ISO 8601, UTC. */
  createdAt: string;
  /** Suggested base name without directories; the extension may be corrected from Content-Type. */
  fileName: string;
  contentType: string;
  size?: number;
  content: ItemContent;
  /** The RingCentral record the item came from, for the sidecar and the log. */
  record: unknown;
  /** Id of the rc-config node whose client can fetch the content. */
  rc: string;
}

/**
 * Lost: RingCentral no longer has the content (404, deleted by its retention or by a user), so no
 * retry can archive it; kept apart from Failed so that the log says so and nothing is silently dropped.
 */
export type ItemStatus = 'Pending' | 'Archived' | 'Failed' | 'Lost';

/** What a sink proves it stored. */
export interface Receipt {
  /** Provider name, e.g. "sftp", "folder". */
  provider: string;
  /** Where the file is, relative to the sink's root. */
  path: string;
  bytes: number;
  sha256: string;
  /** The provider's own hash where it computes one (e.g. Dropbox content hash). */
  providerHash?: string;
  sidecarPath?: string;
  /** True when an identical file was already there and nothing was written. */
  alreadyPresent?: boolean;
  archivedAt: string;
}

export function isArchiveItem(value: unknown): value is ArchiveItem {
  if (!value || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.key === 'string' &&
    typeof v.kind === 'string' &&
    typeof v.createdAt === 'string' &&
    typeof v.rc === 'string' &&
    typeof v.content === 'object' &&
    v.content !== null
  );
}

/**
 * The RingCentral API group an item's content download counts in: recordings and exports are
 * Heavy, message attachments Medium; undefined when the item needs no download.
 */
export function contentGroupFor(item: ArchiveItem): 'Heavy' | 'Medium' | undefined {
  if (!('uri' in item.content)) return undefined;
  return downloadGroupOf(item.kind);
}

/** The group a download of this kind's content counts in (for kinds that are downloaded at all). */
export function downloadGroupOf(kind: ItemKind): 'Heavy' | 'Medium' {
  switch (kind) {
    case 'Voicemail':
    case 'Fax':
    case 'MMS':
    case 'SMS':
      return 'Medium';
    default:
      return 'Heavy';
  }
}
