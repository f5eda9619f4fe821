/**
 * What the sidebar's editor code and its admin routes agree on. Free of Node.js imports: the editor
 * bundle (a browser IIFE) includes this file.
 */
import type { ItemKind, ItemStatus } from '../../lib/items';

/** Every data type in the sidebar's order; the Record makes the compiler check that none is missing. */
const KIND_ORDER: Record<ItemKind, number> = {
  CallRecording: 0,
  CallLog: 1,
  Voicemail: 2,
  Fax: 3,
  SMS: 4,
  MMS: 5,
  TeamMessagingExport: 6,
};
export const ITEM_KINDS = (Object.keys(KIND_ORDER) as ItemKind[]).sort(
  (a, b) => KIND_ORDER[a] - KIND_ORDER[b],
);

const STATUS_ORDER: Record<ItemStatus, number> = { Pending: 0, Archived: 1, Failed: 2, Lost: 3 };
export const ITEM_STATUSES = (Object.keys(STATUS_ORDER) as ItemStatus[]).sort(
  (a, b) => STATUS_ORDER[a] - STATUS_ORDER[b],
);

/** The sidebar's page sizes; the route refuses others, so no request can ask for a huge page. */
export const PAGE_SIZES = [25, 50, 100] as const;

/** The comms topic of live rows. */
export const LIVE_TOPIC = 'rc-archiver/log';

export const MAX_TEXT_LENGTH = 200;

/** Admin routes, relative to the editor's admin root. */
export const ROUTES = {
  page: 'rc-archiver/log',
  csv: 'rc-archiver/log.csv',
  retry: 'rc-archiver/log/retry',
} as const;
