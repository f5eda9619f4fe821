import type { ControllerIO } from '../../lib/controller';
import type { LogLedger } from '../../lib/ledger/types';
import type { Translate } from './i18n';
import { openLedger } from './ledger';
import type { Node, NodeMessage, RED, SendFn } from './red';
import { closeAfter, errorMessage } from './util';

/** A controller of lib/ as a node hosts it: the source runner, the sink runner, the retry scheduler. */
export interface NodeController {
  /** Settles when the node may call `done`; a rejection is the error `done` gets. */
  input?(msg: NodeMessage, send: SendFn): Promise<void> | void;
  /** The flows run: work a restart left can go out. */
  flowsStarted?(): void;
  /** Stops timers and work; settles when what is in flight has ended. */
  close(): Promise<void>;
}

/** The ledger as the node opened it, or why it could not. */
export interface OpenedLedger {
  ledger?: LogLedger;
  error?: string;
}

/**
 * Wires a controller to a Node-RED node: opens the ledger, hands the controller the node's send,
 * status and log with the node type's words (`i18n` is its catalog prefix), passes messages in
 * with send/done, tells it when the flows start, and closes it within Node-RED's close budget,
 * then the ledger, then `afterClose`.
 */
export function hostController(
  RED: RED,
  node: Node,
  options: {
    i18n: string;
    t: Translate;
    create(io: ControllerIO, opened: OpenedLedger): NodeController;
    /** Run flowsStarted after the start event has reached every node (sources send then). */
    deferStart?: boolean;
    afterClose?(): Promise<void> | void;
  },
): void {
  const opened: OpenedLedger = {};
  try {
    opened.ledger = openLedger(RED);
  } catch (err) {
    opened.error = errorMessage(err);
  }
  const io: ControllerIO = {
    id: node.id,
    type: node.type,
    ...(node.name ? { name: node.name } : {}),
    send: (msg) => node.send(msg),
    status: (status) => node.status(status),
    log: (text) => node.log(text),
    warn: (text) => node.warn(text),
    error: (text, msg) => (msg ? node.error(text, msg) : node.error(text)),
    text: (key, subs) => options.t(`${options.i18n}.${key}`, subs),
  };
  const controller = options.create(io, opened);

  let timer: NodeJS.Timeout | undefined;
  const onFlowsStarted = () => {
    if (!options.deferStart) return controller.flowsStarted?.();
    timer = setTimeout(() => controller.flowsStarted?.(), 0);
  };
  if (controller.flowsStarted) RED.events.on('flows:started', onFlowsStarted);

  node.on('input', (msg: NodeMessage, send: SendFn, done: (err?: Error) => void) => {
    const failed = (err: unknown) => done(err instanceof Error ? err : new Error(errorMessage(err)));
    // Called at once, not a turn later: what the controller decides on arrival (a rate limiter's
    // grant, its queue bound) happens in the order the messages came.
    let settled: Promise<void> | void;
    try {
      settled = controller.input?.(msg, send);
    } catch (err) {
      return failed(err);
    }
    Promise.resolve(settled).then(() => done(), failed);
  });

  node.on('close', (_removed: boolean, done: () => void) => {
    if (timer) clearTimeout(timer);
    RED.events.removeListener('flows:started', onFlowsStarted);
    closeAfter(controller.close(), () => {
      opened.ledger?.close();
      Promise.resolve()
        .then(() => options.afterClose?.())
        .catch(() => undefined)
        .finally(done);
    });
  });
}
