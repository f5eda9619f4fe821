/**
 * The small part of Node-RED's runtime API the pack uses, typed here so node files stay strict
 * without pulling Node-RED's own type packages into the build.
 */
import type { EventEmitter } from 'node:events';

export interface NodeStatus {
  fill?: 'red' | 'green' | 'yellow' | 'blue' | 'grey';
  shape?: 'ring' | 'dot';
  text?: string;
}

export interface NodeMessage {
  _msgid?: string;
  topic?: string;
  payload?: unknown;
  [key: string]: unknown;
}

export type SendFn = (msg: NodeMessage | null | Array<NodeMessage | NodeMessage[] | null>) => void;
export type DoneFn = (err?: Error) => void;

export interface NodeDef {
  id: string;
  type: string;
  name?: string;
  z?: string;
  [key: string]: unknown;
}

export interface Node<Creds = Record<string, string | undefined>> extends EventEmitter {
  id: string;
  type: string;
  name?: string;
  credentials: Creds;
  status(status: NodeStatus | Record<string, never>): void;
  send: SendFn;
  log(msg: unknown): void;
  warn(msg: unknown): void;
  error(msg: unknown, sourceMsg?: NodeMessage): void;
  on(event: 'input', listener: (msg: NodeMessage, send: SendFn, done: DoneFn) => void): this;
  on(event: 'close', listener: (removed: boolean, done: () => void) => void): this;
  on(event: string, listener: (...args: never[]) => void): this;
}

export interface ExpressRequest {
  params: Record<string, string>;
  body: Record<string, unknown>;
  query: Record<string, string | undefined>;
}
export interface ExpressResponse {
  status(code: number): ExpressResponse;
  json(body: unknown): void;
  send(body: unknown): void;
  setHeader(name: string, value: string): void;
}
/**
 * Node constructors narrow `this` and their config; a method signature keeps that assignable
 * (method parameters are compared bivariantly).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type NodeConstructor = { construct(this: any, def: any): void }['construct'];

type Handler = (req: ExpressRequest, res: ExpressResponse, next?: () => void) => void;

export interface RED {
  nodes: {
    createNode(node: object, def: NodeDef): void;
    registerType(type: string, ctor: NodeConstructor, opts?: { credentials?: object }): void;
    getNode(id: string): unknown;
    getCredentials(id: string): Record<string, string | undefined> | undefined;
    addCredentials(id: string, credentials: Record<string, string | undefined>): void;
  };
  settings: { userDir?: string; get?(key: string): unknown; [key: string]: unknown };
  httpAdmin: {
    get(path: string, ...handlers: Handler[]): void;
    post(path: string, ...handlers: Handler[]): void;
  };
  auth: { needsPermission(permission: string): Handler };
  events: EventEmitter;
  /** Node-RED gives plugins and nodes these; optional so that test harnesses need not fake them. */
  plugins?: { registerPlugin(id: string, definition: { type?: string; [key: string]: unknown }): void };
  /** Sends to every connected editor that subscribed to the topic. */
  comms?: { publish(topic: string, data: unknown, retain?: boolean): void };
  _(key: string, substitutions?: Record<string, unknown>): string;
  log: { info(msg: string): void; warn(msg: string): void; error(msg: string): void };
}
