// The helper that hosts a controller in a Node-RED node: messages settle with done() or done(err),
// the controller hears once that the flows started, and a close ends within Node-RED's budget even
// when the controller's work never settles, then closes the ledger and what the node opened.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it, mock } from 'node:test';
import type { ControllerIO } from '../../lib/controller';
import { hostController, type NodeController, type OpenedLedger } from '../../nodes/shared/host';
import type { Node, RED } from '../../nodes/shared/red';
import { settle } from '../support/clock';

const tmp = mkdtempSync(join(tmpdir(), 'rc-host-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function fakeRed(): RED {
  return {
    events: new EventEmitter(),
    settings: { userDir: tmp },
    log: { info: () => undefined, warn: () => undefined, error: () => undefined },
    _: (key: string) => key,
  } as unknown as RED;
}

function fakeNode() {
  const node = new EventEmitter() as EventEmitter & Partial<Node>;
  const statuses: unknown[] = [];
  Object.assign(node, {
    id: 'n1',
    type: 'rc-test',
    credentials: {},
    status: (s: unknown) => statuses.push(s),
    send: () => undefined,
    log: () => undefined,
    warn: () => undefined,
    error: () => undefined,
  });
  return { node: node as unknown as Node, statuses };
}

/** Sends a message as Node-RED does and resolves with what done() got. */
function deliver(node: Node, payload: unknown): Promise<Error | undefined> {
  return new Promise((resolve) => node.emit('input', { payload }, () => undefined, resolve));
}

function close(node: Node): Promise<void> {
  return new Promise((resolve) => node.emit('close', false, resolve));
}

describe('hostController', () => {
  afterEach(() => mock.timers.reset());

  it('settles each message with done() or done(err), and passes the flows start on once, after it', async () => {
    process.env.RC_ARCHIVER_LEDGER = join(tmp, 'a.sqlite');
    const RED = fakeRed();
    const { node } = fakeNode();
    let io: ControllerIO | undefined;
    let opened: OpenedLedger | undefined;
    let starts = 0;
    hostController(RED, node, {
      i18n: 'rc-test',
      t: (key, subs) => `${key}${subs ? JSON.stringify(subs) : ''}`,
      deferStart: true,
      create(given, ledger): NodeController {
        io = given;
        opened = ledger;
        return {
          async input(msg) {
            if (msg.payload === 'bad') throw new Error('that went wrong');
            if (msg.payload === 'odd') throw 'a string';
          },
          flowsStarted: () => starts++,
          close: async () => undefined,
        };
      },
    });
    assert.ok(opened?.ledger, 'the ledger is open');
    assert.equal(io?.id, 'n1');
    assert.equal(io?.text('status.done', { count: 2 }), 'rc-test.status.done{"count":2}');
    assert.equal(await deliver(node, 'good'), undefined);
    assert.equal((await deliver(node, 'bad'))?.message, 'that went wrong');
    assert.equal((await deliver(node, 'odd'))?.message, 'a string');
    RED.events.emit('flows:started');
    assert.equal(starts, 0, 'after the start event has reached every node');
    await settle();
    assert.equal(starts, 1);
    await close(node);
    RED.events.emit('flows:started');
    await settle();
    assert.equal(starts, 1, 'no longer listening once closed');
  });

  it('closes within the budget when the controller never settles, then the ledger and what the node opened', async () => {
    process.env.RC_ARCHIVER_LEDGER = join(tmp, 'b.sqlite');
    mock.timers.enable({ apis: ['setTimeout'] });
    const RED = fakeRed();
    const { node } = fakeNode();
    let opened: OpenedLedger | undefined;
    let targetClosed = false;
    hostController(RED, node, {
      i18n: 'rc-test',
      t: (key) => key,
      create(_io, ledger) {
        opened = ledger;
        return { close: () => new Promise<void>(() => undefined) };
      },
      afterClose: async () => {
        targetClosed = true;
      },
    });
    const ledgerClose = mock.method(opened!.ledger!, 'close');
    let closed = false;
    void close(node).then(() => (closed = true));
    await settle();
    mock.timers.tick(9_999);
    await settle();
    assert.equal(closed, false, 'it waits for the work in flight');
    mock.timers.tick(1);
    await settle();
    assert.equal(closed, true, 'and no longer than 10 s, within Node-RED 15 s');
    assert.equal(targetClosed, true);
    assert.equal(ledgerClose.mock.callCount(), 1, 'the ledger is closed');
  });
});
