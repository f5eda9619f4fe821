import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeRedDir } from './node-red';

export interface TestHelper {
  init(runtimePath: string, settings?: Record<string, unknown>): void;
  load(nodes: unknown[], flow: unknown[], credentials?: Record<string, unknown>): Promise<void>;
  unload(): Promise<void>;
  startServer(): Promise<void>;
  stopServer(): Promise<void>;
  getNode(id: string): TestNode;
  request(): { post(path: string): SuperTestRequest; get(path: string): SuperTestRequest };
  settings(settings: Record<string, unknown>): void;
}
export interface SuperTestRequest {
  send(body: unknown): SuperTestRequest;
  set(name: string, value: string): SuperTestRequest;
  expect(status: number): Promise<{ body: Record<string, unknown> }>;
}
export interface TestNode {
  id: string;
  on(event: string, fn: (...args: never[]) => void): void;
  receive(msg: Record<string, unknown>): void;
  status: (...args: unknown[]) => void;
  error: (...args: unknown[]) => void;
  [key: string]: unknown;
}

/** node-red-node-test-helper bound to the Node-RED this run tests, with a fresh user directory. */
export function createHelper(): { helper: TestHelper; userDir: string } {
  const helper = require('node-red-node-test-helper') as TestHelper;
  const userDir = mkdtempSync(join(tmpdir(), 'rc-archiver-nodes-'));
  helper.init(join(nodeRedDir(), 'lib', 'red.js'), { userDir });
  return { helper, userDir };
}
