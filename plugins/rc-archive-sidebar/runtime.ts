import type { Writable } from 'node:stream';
import { archiveEvents } from '../../lib/bus';
import type { LogFilter, LogLedger } from '../../lib/ledger/types';
import { writeLogCsv } from '../../lib/log-export';
import { manualRetry } from '../../lib/retry';
import { translator, type Translate } from '../../nodes/shared/i18n';
import { openLedger } from '../../nodes/shared/ledger';
import type { RED } from '../../nodes/shared/red';
import { errorMessage } from '../../nodes/shared/util';
import catalog from './locales/en-US/rc-archive-sidebar.json';
import { LIVE_TOPIC, ROUTES } from './constants';
import { BadRequest, parseFilter, parsePaging, parseRetryKeys } from './params';

/** Live rows go out at most this often, so a busy run does not flood every open editor. */
const LIVE_INTERVAL_MS = 500;
/** Keys per live message: the sidebar only reloads its page, so beyond this the count is enough. */
const LIVE_MAX_KEYS = 200;

/** What the routes use of Express's request and response; Node-RED's admin app is Express. */
interface Request {
  query: Record<string, unknown>;
  body?: unknown;
}
interface Response {
  headersSent: boolean;
  writableEnded: boolean;
  destroyed: boolean;
  status(code: number): Response;
  json(body: unknown): void;
  setHeader(name: string, value: string): void;
  removeHeader(name: string): void;
  end(): void;
  destroy(err?: Error): void;
}
type Handler = Parameters<RED['httpAdmin']['get']>[1];

/** The listener of the last registration: registering again (a reloaded runtime) replaces it. */
let liveListener: ((change: { key: string }) => void) | undefined;

export default function register(RED: RED): void {
  const t = translator(RED, catalog);
  let ledger: LogLedger | undefined;

  // Opened on the first request, not at start: a Node-RED whose user never opens the sidebar and
  // deploys no archiver node never creates a ledger file.
  function log(): LogLedger {
    if (!ledger) {
      try {
        ledger = openLedger(RED);
      } catch (err) {
        throw new Error(t('rc-archive-sidebar.errors.ledger', { error: errorMessage(err) }));
      }
    }
    return ledger;
  }

  const read = RED.auth.needsPermission('rc-archiver.read');
  const write = RED.auth.needsPermission('rc-archiver.write');
  const route = (handler: (req: Request, res: Response) => unknown | Promise<unknown>): Handler =>
    ((req: Request, res: Response) => {
      Promise.resolve()
        .then(() => handler(req, res))
        .catch((err: unknown) => fail(res, err, t));
    }) as unknown as Handler;

  RED.httpAdmin.get(
    `/${ROUTES.page}`,
    read,
    route((req, res) => {
      const filter = parseFilter(req.query);
      const { page, pageSize } = parsePaging(req.query);
      res.setHeader('Cache-Control', 'no-store');
      res.json(log().page(filter, page, pageSize));
    }),
  );

  RED.httpAdmin.get(
    `/${ROUTES.csv}`,
    read,
    route((req, res) => streamCsv(log(), parseFilter(req.query), res)),
  );

  RED.httpAdmin.post(
    `/${ROUTES.retry}`,
    write,
    route((req, res) => {
      const keys = parseRetryKeys(req.body);
      res.json(manualRetry(log(), keys));
    }),
  );

  publishLiveRows(RED);

  RED.plugins?.registerPlugin('rc-archive-sidebar', { type: 'rc-archiver-sidebar' });
}

function fail(res: Response, err: unknown, t: Translate): void {
  if (res.headersSent) {
    // Mid-download: a cut connection tells the browser the file is incomplete; a clean end would not.
    res.destroy(err instanceof Error ? err : new Error(errorMessage(err)));
    return;
  }
  // An error before the first CSV byte is a JSON answer, not a file to save.
  res.removeHeader('Content-Disposition');
  if (err instanceof BadRequest) {
    res.status(400).json({ error: t(`rc-archive-sidebar.errors.${err.code}`, err.values), code: err.code });
    return;
  }
  res.status(500).json({ error: t('rc-archive-sidebar.errors.internal', { error: errorMessage(err) }) });
}

/**
 * The CSV of exactly this filter, streamed by writeLogCsv: rows come from the ledger in batches and
 * are written as the client takes them (it waits for 'drain'), and a client that goes away stops
 * it, so memory stays flat for a million rows.
 */
async function streamCsv(ledger: LogLedger, filter: LogFilter, res: Response): Promise<void> {
  const date = new Date().toISOString().slice(0, 10);
  res.setHeader('Content-Type', 'text/csv; charset=utf-8');
  res.setHeader('Content-Disposition', `attachment; filename="rc-archive-log-${date}.csv"`);
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.status(200);
  await writeLogCsv(ledger, filter, res as unknown as Writable);
  if (!res.destroyed && !res.writableEnded) res.end();
}

/**
 * Tells open editors which rows changed, coalesced: at most one message per LIVE_INTERVAL_MS with
 * the keys that changed since the last one. Sends nothing while nothing changes.
 */
function publishLiveRows(RED: RED): void {
  const comms = RED.comms;
  if (!comms) return;
  const keys = new Set<string>();
  let more = false;
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    const payload = { keys: [...keys], more };
    keys.clear();
    more = false;
    comms.publish(LIVE_TOPIC, payload, false);
  };
  const listener = (change: { key: string }) => {
    if (keys.size < LIVE_MAX_KEYS) keys.add(change.key);
    else more = true;
    timer ??= setTimeout(flush, LIVE_INTERVAL_MS).unref();
  };
  if (liveListener) archiveEvents.off('change', liveListener);
  liveListener = listener;
  archiveEvents.on('change', listener);
}
