import type { Readable } from 'node:stream';
import type { ArchiveItem } from '../items';
import type { CheckReport } from './check';

export interface PutOptions {
  contentType?: string;
  /** Expected length when known; a shorter or longer stream fails the put. */
  expectedBytes?: number;
  signal?: AbortSignal;
  /**
   * The item the bytes belong to. Providers that can tag a file (Drive's appProperties) or that
   * send metadata along (Smarsh's e-mail headers) use it; the others ignore it.
   */
  item?: ArchiveItem;
  /** 'sidecar' for the JSON written beside a file, 'content' (the default) for the file itself. */
  role?: 'content' | 'sidecar';
}

export interface CheckOptions {
  /** The sink's routine check before a run: no probe file where a removed one leaves a trace. */
  leaveNoTrace?: boolean;
}

export interface PutResult {
  /** Path relative to the adapter's root, as stored. */
  path: string;
  bytes: number;
  sha256: string;
  providerHash?: string;
  /** An identical file (same SHA-256) was already at the path: nothing was replaced. */
  alreadyPresent: boolean;
}

/**
 * One interface for every storage provider. `put` streams the body to a temporary name while
 * hashing it, then moves it into place, so a reader never sees a partial file.
 */
export interface StorageAdapter {
  readonly provider: string;
  /**
   * True for a target that cannot be read back (e-mail journaling): once the ledger holds an
   * Archived receipt for it, that receipt is the proof, and the item is not sent again.
   */
  readonly writeOnly?: boolean;
  put(relPath: string, body: Readable, options?: PutOptions): Promise<PutResult>;
  /** Size and SHA-256 of the file at relPath, or undefined when there is none. */
  stat(relPath: string): Promise<{ bytes: number } | undefined>;
  /**
   * Checks that the target is reachable, takes the credentials and can be written (a probe file
   * written and removed where the provider allows) and says which steps passed; throws a readable
   * error otherwise, with the steps attached (see check.ts). A test double may resolve without a
   * report. With `leaveNoTrace` the probe file is written only where removing it leaves nothing
   * behind (a folder, SFTP); a bucket with versions or Object Lock, a cloud drive's trash or
   * history would keep it, so there its steps are reported skipped.
   */
  check(options?: CheckOptions): Promise<CheckReport | void>;
  close(): Promise<void>;
}
