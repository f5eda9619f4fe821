import { testStorage, type CheckReport } from '../../lib/storage/check';
import type { StorageAdapter } from '../../lib/storage/types';
import type { ExpressRequest, ExpressResponse, RED } from './red';
import { errorMessage } from './util';

/** What the editor shows for a password credential that is set (the real value stays in the runtime). */
export const PASSWORD_PLACEHOLDER = '__PWRD__';

/** The route every storage dialog's Test button calls. */
export const STORAGE_TEST_PATH = '/rc-archiver/storage/test';

/** A check that has not finished by then is reported as such; the dialog should not wait forever. */
const TEST_TIMEOUT_MS = 45_000;

export type Credentials = Record<string, string | undefined>;

/**
 * Builds the adapter a node would use from the dialog's settings and credentials (the same code
 * the node runs when deployed), for the node `id`, which may not be deployed yet.
 */
export type StorageFactory = (
  settings: Record<string, unknown>,
  credentials: Credentials,
  id: string,
) => StorageAdapter;

interface Entry {
  make: StorageFactory;
  /** The node type's credential fields; the dialog sends only these. */
  credentials: string[];
}

/**
 * One route for every storage node type, whichever registers first: each node type gets its own
 * RED object, but they share the admin app.
 */
const registry = new WeakMap<object, Map<string, Entry>>();

/**
 * The dialog's credentials over the stored ones: a password the dialog shows as the placeholder is
 * the deployed (or Connected) node's; OAuth tokens never reach the dialog and always come from there.
 */
export function mergeCredentials(fields: string[], typed: unknown, stored: Credentials): Credentials {
  const sent = typed && typeof typed === 'object' ? (typed as Record<string, unknown>) : {};
  const merged: Credentials = { ...stored };
  for (const name of fields) {
    const value = sent[name];
    if (typeof value !== 'string' || value === PASSWORD_PLACEHOLDER) continue;
    merged[name] = value === '' ? undefined : value;
  }
  return merged;
}

/** Defence in depth: a credential value never appears in what the route answers. */
function redact(report: StorageTestAnswer, credentials: Credentials): StorageTestAnswer {
  const secrets = Object.values(credentials).filter(
    (v): v is string => typeof v === 'string' && v.length >= 4,
  );
  const clean = (text: string) => secrets.reduce((out, s) => out.split(s).join('***'), text);
  return {
    ...report,
    steps: report.steps.map((s) => (s.reason === undefined ? s : { ...s, reason: clean(s.reason) })),
  };
}

/** What the route answers: the report, or that the check was still running when it gave up. */
export type StorageTestAnswer = CheckReport & { timedOut?: boolean };

function withTimeout(work: Promise<CheckReport>): Promise<StorageTestAnswer> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<StorageTestAnswer>((resolve) => {
    timer = setTimeout(
      () => resolve({ provider: '', ok: false, steps: [], timedOut: true }),
      TEST_TIMEOUT_MS,
    );
    timer.unref();
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/**
 * Registers a storage node type for the dialog's Test button: `POST /rc-archiver/storage/test`
 * with `{ type, id, settings, credentials }` needs `<type>.write`, like editing the node, and
 * answers the check's report (`{ ok, provider, steps }`).
 */
export function registerStorageTest(
  RED: RED,
  type: string,
  credentials: string[],
  make: StorageFactory,
): void {
  let types = registry.get(RED.httpAdmin);
  if (!types) {
    const known = new Map<string, Entry>();
    types = known;
    registry.set(RED.httpAdmin, known);
    RED.httpAdmin.post(STORAGE_TEST_PATH, (req, res) => {
      const nodeType = typeof req.body?.type === 'string' ? req.body.type : '';
      const entry = known.get(nodeType);
      if (!entry) {
        res.status(400).json({ error: 'not a storage node type' });
        return;
      }
      RED.auth.needsPermission(`${nodeType}.write`)(req, res, () => answer(RED, entry, req, res));
    });
  }
  types.set(type, { make, credentials });
}

function answer(RED: RED, entry: Entry, req: ExpressRequest, res: ExpressResponse): void {
  const body = req.body ?? {};
  const id = typeof body.id === 'string' ? body.id : '';
  // A deployed node of another type never lends its secrets to this check.
  const deployed = id ? (RED.nodes.getNode(id) as { type?: string } | null | undefined) : undefined;
  const sameType = !deployed || deployed.type === body.type;
  const stored = (id && sameType && RED.nodes.getCredentials(id)) || {};
  const credentials = mergeCredentials(entry.credentials, body.credentials, stored);
  const settings =
    body.settings && typeof body.settings === 'object' ? (body.settings as Record<string, unknown>) : {};
  withTimeout(testStorage(() => entry.make(settings, credentials, id)))
    .then((report) => res.json(redact(report, credentials)))
    .catch((err: unknown) =>
      res.json(
        redact(
          {
            provider: '',
            ok: false,
            steps: [{ id: 'connect', status: 'failed', reason: errorMessage(err) }],
          },
          credentials,
        ),
      ),
    );
}
