/**
 * What a controller (source runner, sink runner, retry scheduler) gets from the node that hosts
 * it: a way to send, to show a status and to log, and the words of its catalog. Structurally the
 * same as Node-RED's node API, so that nodes/shared/runtime.ts hands the node's own functions in
 * and a unit test hands in recorders.
 */
import { realClock, type WorkerClock } from './sink-worker';

export interface ControllerMessage {
  _msgid?: string;
  topic?: string;
  payload?: unknown;
  [key: string]: unknown;
}

export type ControllerSend = (
  msg: ControllerMessage | null | Array<ControllerMessage | ControllerMessage[] | null>,
) => void;

export interface ControllerStatus {
  fill?: 'red' | 'green' | 'yellow' | 'blue' | 'grey';
  shape?: 'ring' | 'dot';
  text?: string;
}

export interface ControllerIO {
  /** The node's id: the ledger's `source`, `retryNode` and entrance name. */
  id: string;
  type: string;
  name?: string;
  /** Sends on the node's outputs outside of an input (a resend, a timer). */
  send: ControllerSend;
  status(status: ControllerStatus): void;
  log(text: string): void;
  warn(text: string): void;
  /** With a message, so that a Catch node sees it. */
  error(text: string, msg?: ControllerMessage): void;
  /** A key of the node type's catalog without the type prefix ("status.done"), with substitutions. */
  text(key: string, substitutions?: Record<string, unknown>): string;
}

/** Time and timers; tests hand in a clock they move themselves. */
export type Clock = WorkerClock;
export { realClock };

/** A status that says what went wrong, kept short (Node-RED shows it under the node). */
export function shortText(text: string, max = 60): string {
  const compact = text.replace(/ (GET|POST|PUT|PATCH|DELETE) \/\S+/g, '').replace(/\s+/g, ' ');
  return compact.length <= max ? compact : `${compact.slice(0, max - 1)}…`;
}

/** A message for the user from anything thrown, without stack traces. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err);
  } catch {
    return String(err);
  }
}

export function timeOfDayAt(ms: number): string {
  return new Date(ms).toTimeString().slice(0, 5);
}
