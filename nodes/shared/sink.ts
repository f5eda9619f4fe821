import { setMaxListeners } from 'node:events';
import { archiveItem, LostContentError } from '../../lib/archive';
import { archiveEvents, deferred } from '../../lib/bus';
import { isArchiveItem, type ArchiveItem, type Receipt } from '../../lib/items';
import type { LedgerApi } from '../../lib/ledger/types';
import { SINK, settingOf } from '../../lib/node-defaults';
import { SinkWorker, type WorkerState } from '../../lib/sink-worker';
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
  key: string;
  item: ArchiveItem;
  rcNode: RcConfigNode;
  msg: NodeMessage;
  send: SendFn;
  done: DoneFn;
}

/** Items a sink holds while its target is down; beyond, they wait in the ledger only. */
const MAX_WAITING = 10_000;

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
  const inFlight = new Map<string, Promise<Receipt>>();
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

  const secondsUntil = (at: number | undefined) =>
    Math.max(0, Math.ceil(((at ?? Date.now()) - Date.now()) / 1000));

  const showStatus = (state: WorkerState = worker.state) => {
    if (closed) return;
    const busy = state.active + state.waiting;
    if (state.reason && (state.probing || state.health === 'recovering')) {
      node.status({ fill: 'yellow', shape: 'ring', text: t(`${i18n}.status.checking`, { waiting: busy }) });
      return;
    }
    if (state.health === 'down') {
      node.status({
        fill: 'red',
        shape: 'ring',
        text: t(`${i18n}.status.down`, {
          reason: shortText(state.reason ?? '', 40),
          seconds: secondsUntil(state.nextProbeAt),
          waiting: busy,
        }),
      });
      return;
    }
    let text = t(`${i18n}.status.counts`, {
      archived,
      failed,
      active: busy,
      time: timeOfDay(),
    });
    if (lost) {
      const lostText = t(`${i18n}.status.lost`, { count: lost });
      text += ` · ${lostText === `${i18n}.status.lost` ? `${lost} lost` : lostText}`;
    }
    node.status({
      fill: failed ? 'yellow' : busy ? 'blue' : 'green',
      shape: busy ? 'ring' : 'dot',
      text,
    });
  };

  const archiveOne = async (item: ArchiveItem, rcNode: RcConfigNode): Promise<Receipt> => {
    if (setupError) throw new Error(setupError);
    // The same item twice at once (a resend after a restart while the first is still going):
    // the second waits for the first instead of writing again.
    const running = inFlight.get(item.key);
    if (running) return running;
    const work = archiveItem(item, {
      // Through the config's pool: the download goes to whichever of its logins has room.
      fetcher: typeof rcNode.getPool === 'function' ? rcNode.getPool() : rcNode.getClient(),
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

  const fail = (job: Job, err: unknown) => {
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
    else showStatus();
  };

  const sinkRef = { id: node.id, type: node.type, ...(node.name ? { name: node.name } : {}) };
  let lastSend: SendFn | undefined;
  let countdown: NodeJS.Timeout | undefined;
  let overflowWarned = false;
  const worker: SinkWorker<Job> = new SinkWorker<Job>({
    concurrency,
    archive: (job) => archiveOne(job.item, job.rcNode),
    async probe(kind) {
      // A setting of the sink itself is wrong, or the storage config is incomplete: that fails
      // each item with its reason (archiveOne), it is no outage to wait out.
      if (setupError) return;
      let storage: StorageAdapter;
      try {
        storage = target.storage();
      } catch {
        return;
      }
      await storage.check({ leaveNoTrace: kind === 'routine' });
    },
    onArchived(job, receipt) {
      archived++;
      job.msg.receipt = receipt;
      job.send([job.msg, null]);
      job.done();
      if (worker.idle) settleIdle?.();
    },
    onFailed(job, err) {
      fail(job, err);
      if (worker.idle) settleIdle?.();
    },
    onDown(outage) {
      const text = t(`${i18n}.errors.down`, {
        reason: outage.reason,
        count: outage.waiting.length,
        seconds: secondsUntil(outage.nextProbeAt),
      });
      const since = new Date(outage.since).toISOString();
      const nextCheckAt = new Date(outage.nextProbeAt).toISOString();
      // One message per outage, not one per item: the items are not failed, they wait here.
      const msg: NodeMessage = {
        topic: 'target-down',
        payload: { sink: sinkRef, reason: outage.reason, waiting: outage.waiting, since, nextCheckAt },
        targetDown: true,
        error: { message: text, target: true, source: { id: node.id, type: node.type, name: node.name } },
      };
      node.error(text, msg);
      (lastSend ?? ((m) => node.send(m)))([null, msg]);
      archiveEvents.emit('targetDown', {
        sink: sinkRef,
        reason: outage.reason,
        waiting: outage.waiting,
        since,
        nextCheckAt,
      });
    },
    onUp(recovery) {
      node.log(
        t(`${i18n}.log.up`, {
          seconds: Math.round(recovery.downForMs / 1000),
          reason: recovery.reason,
          count: recovery.waiting,
        }),
      );
      archiveEvents.emit('targetUp', { sink: sinkRef, ...recovery });
      overflowWarned = false;
    },
    // While the target is down the items wait in memory; past this many, their sources send them
    // again on their next run (they are Pending in the ledger), so a long outage stays bounded.
    maxWaiting: MAX_WAITING,
    onOverflow(job) {
      try {
        const row = ledger?.get(job.key);
        if (row?.status === 'Pending' && row.source) deferred.add(row.source, [row.key]);
      } catch {
        // The ledger still says what the item's state is; a Retry from the sidebar reaches it.
      }
      if (!overflowWarned) node.warn(t(`${i18n}.errors.overflow`, { count: MAX_WAITING }));
      overflowWarned = true;
      job.done();
    },
    onState(state) {
      // While down, the countdown to the next check stays current.
      if (state.health === 'down' && !countdown) countdown = setInterval(() => showStatus(), 5000);
      else if (state.health !== 'down' && countdown) {
        clearInterval(countdown);
        countdown = undefined;
      }
      // An item's own failure stays in view until there is something else to show.
      if (failed === lost || state.active || state.waiting || state.reason) showStatus(state);
    },
  });

  node.on('input', (msg: NodeMessage, send: SendFn, done: DoneFn) => {
    lastSend = send;
    const item = msg.payload;
    // What no storage can fix fails at once, before any probe.
    if (setupError) return fail({ msg, send, done } as Job, new Error(setupError));
    if (!isArchiveItem(item)) return fail({ msg, send, done } as Job, new Error(t(`${i18n}.errors.notItem`)));
    const rcNode = RED.nodes.getNode(item.rc) as RcConfigNode | null;
    if (!rcNode || typeof rcNode.getClient !== 'function') {
      return fail(
        { msg, send, done } as Job,
        new Error(t(`${i18n}.errors.noRc`, { key: item.key, rc: item.rc })),
      );
    }
    if (worker.idle) idle = new Promise((resolve) => (settleIdle = resolve));
    worker.push({ key: item.key, item, rcNode, msg, send, done });
  });

  node.on('close', (_removed: boolean, done: () => void) => {
    closed = true;
    if (countdown) clearInterval(countdown);
    // Queued items stay Pending in the ledger and go out again after the restart.
    for (const job of worker.close()) job.done();
    if (worker.idle) settleIdle?.();
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
