import { setMaxListeners } from 'node:events';
import { archiveItem, LostContentError } from '../../lib/archive';
import { isArchiveItem, type Receipt } from '../../lib/items';
import type { LedgerApi } from '../../lib/ledger/types';
import { SINK, settingOf } from '../../lib/node-defaults';
import type { StorageAdapter } from '../../lib/storage/types';
import { DEFAULT_TEMPLATE, validateTemplate } from '../../lib/template';
import type { RcConfigNode } from '../rc-config/runtime';
import { openLedger } from './ledger';
import { translator, type Translate } from './i18n';
import type { DoneFn, Node, NodeDef, NodeMessage, RED, SendFn } from './red';
import { closeAfter, errorMessage, shortText, timeOfDay } from './util';

export interface SinkDef extends NodeDef {
  template?: string;
  timeZone?: string;
  sidecar?: boolean;
  concurrency?: string | number;
}

/** What differs between sinks: where the bytes go. */
export interface SinkTarget {
  /** The storage, or an Error that says what is wrong with the configuration. */
  storage(): StorageAdapter;
  /** Closes what the node itself opened (a shared connection is closed by its config node). */
  close?(): Promise<void>;
}

interface Job {
  msg: NodeMessage;
  send: SendFn;
  done: DoneFn;
}

function validTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/**
 * The runtime shared by every sink node: checks the item, streams it through lib/archive into the
 * node's storage with a bounded number of transfers at once, and maps the outcome to the two
 * outputs (archived, failed), `done` and the status.
 */
export function createSink(
  RED: RED,
  node: Node,
  def: SinkDef,
  target: SinkTarget,
  i18n: string,
  t: Translate,
): void {
  const template = (def.template || '').trim() || DEFAULT_TEMPLATE;
  const timeZone = (def.timeZone || '').trim() || SINK.value.timeZone;
  const sidecar = settingOf(SINK, def, 'sidecar') !== false;
  const concurrency = Math.max(1, Math.min(16, Number(def.concurrency) || SINK.value.concurrency));
  const sinkName = def.name || `${def.type}:${def.id}`;
  const abort = new AbortController();
  // Each transfer in flight listens to this one signal.
  setMaxListeners(1000, abort.signal);
  const queue: Job[] = [];
  const inFlight = new Map<string, Promise<Receipt>>();
  let active = 0;
  let archived = 0;
  let failed = 0;
  /** Of the failed: content RingCentral no longer has (404), Lost in the ledger. */
  let lost = 0;
  let closed = false;
  let idle: Promise<void> = Promise.resolve();
  let settleIdle: (() => void) | undefined;

  const configError =
    validateTemplate(template) ?? (validTimeZone(timeZone) ? undefined : `unknown time zone "${timeZone}"`);
  let ledger: LedgerApi | undefined;
  let ledgerError: string | undefined;
  try {
    ledger = openLedger(RED);
  } catch (err) {
    ledgerError = errorMessage(err);
  }
  const setupError = configError ?? ledgerError;
  if (setupError) {
    node.status({ fill: 'red', shape: 'ring', text: shortText(setupError) });
    node.error(setupError);
  }

  const showStatus = () => {
    if (closed) return;
    let text = t(`${i18n}.status.counts`, {
      archived,
      failed,
      active: active + queue.length,
      time: timeOfDay(),
    });
    if (lost) {
      const lostText = t(`${i18n}.status.lost`, { count: lost });
      text += ` · ${lostText === `${i18n}.status.lost` ? `${lost} lost` : lostText}`;
    }
    node.status({
      fill: failed ? 'yellow' : active ? 'blue' : 'green',
      shape: active ? 'ring' : 'dot',
      text,
    });
  };

  const archiveOne = async (msg: NodeMessage): Promise<Receipt> => {
    if (setupError) throw new Error(setupError);
    const item = msg.payload;
    if (!isArchiveItem(item)) throw new Error(t(`${i18n}.errors.notItem`));
    const rcNode = RED.nodes.getNode(item.rc) as RcConfigNode | null;
    if (!rcNode || typeof rcNode.getClient !== 'function') {
      throw new Error(t(`${i18n}.errors.noRc`, { key: item.key, rc: item.rc }));
    }
    // The same item twice at once (a resend after a restart while the first is still going):
    // the second waits for the first instead of writing again.
    const running = inFlight.get(item.key);
    if (running) return running;
    const work = archiveItem(item, {
      fetcher: rcNode.getClient(),
      storage: target.storage(),
      ledger: ledger!,
      sinkName,
      template,
      timeZone,
      sidecar,
      signal: abort.signal,
    });
    inFlight.set(item.key, work);
    try {
      return await work;
    } finally {
      inFlight.delete(item.key);
    }
  };

  const pump = () => {
    while (!closed && active < concurrency && queue.length) {
      const job = queue.shift()!;
      active++;
      showStatus();
      archiveOne(job.msg)
        .then(
          (receipt) => {
            archived++;
            job.msg.receipt = receipt;
            job.send([job.msg, null]);
            job.done();
          },
          (err: unknown) => {
            const message = errorMessage(err);
            if (closed) return job.done();
            failed++;
            const isLost = err instanceof LostContentError;
            if (isLost) lost++;
            job.msg.error = {
              message,
              source: { id: node.id, type: node.type, name: node.name },
              ...(isLost ? { lost: true } : {}),
            };
            job.send([null, job.msg]);
            job.done(new Error(message));
            // Lost content is no fault of the flow: the counts (with "n lost") stay in view.
            if (!isLost) node.status({ fill: 'red', shape: 'ring', text: shortText(message) });
          },
        )
        .finally(() => {
          active--;
          if (failed === lost || active || queue.length) showStatus();
          if (!active && !queue.length) settleIdle?.();
          pump();
        });
    }
  };

  node.on('input', (msg: NodeMessage, send: SendFn, done: DoneFn) => {
    if (!active && !queue.length) idle = new Promise((resolve) => (settleIdle = resolve));
    queue.push({ msg, send, done });
    pump();
  });

  node.on('close', (_removed: boolean, done: () => void) => {
    closed = true;
    // Queued items stay Pending in the ledger and go out again after the restart.
    for (const job of queue.splice(0)) job.done();
    abort.abort();
    closeAfter(idle, () => {
      ledger?.close();
      Promise.resolve(target.close?.()).finally(done);
    });
  });
}

/** A config node that hands out the storage of one account, server or bucket. */
export interface StorageConfigNode extends Node {
  /** The account's storage, shared by every sink using it; throws when the config is incomplete. */
  getStorage(): StorageAdapter;
}

/**
 * Registers a sink whose storage comes from a config node (`def[configProperty]`): the cloud
 * providers and SFTP. `sidecar: false` leaves the JSON sidecar out whatever the dialog says
 * (Smarsh carries the metadata in the e-mail itself).
 */
export function registerConfigSink(
  RED: RED,
  type: string,
  catalog: Record<string, unknown>,
  options: { configProperty: string; noConfigKey: string; sidecar?: false },
): void {
  const t = translator(RED, catalog);
  function ConfigSink(this: Node, def: SinkDef) {
    RED.nodes.createNode(this, def);
    const id = def[options.configProperty];
    const config = typeof id === 'string' && id ? (RED.nodes.getNode(id) as StorageConfigNode | null) : null;
    const noConfig = t(`${type}.errors.${options.noConfigKey}`);
    createSink(
      RED,
      this,
      options.sidecar === false ? { ...def, sidecar: false } : def,
      {
        storage() {
          if (!config || typeof config.getStorage !== 'function') throw new Error(noConfig);
          return config.getStorage();
        },
      },
      type,
      t,
    );
    if (!config) this.status({ fill: 'red', shape: 'ring', text: noConfig });
  }
  RED.nodes.registerType(type, ConfigSink);
}
