import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import type { ArchiveItem, Receipt } from '../../lib/items';
import { Ledger } from '../../lib/ledger';
import { startSimulator, type Simulator } from '../sim/index';
import { createHelper } from '../support/helper';
import { builtNode } from '../support/node-red';
import { statuses, waitFor } from '../support/wait';

const { helper, userDir } = createHelper();
const allNodes = ['rc-config', 'rc-message-source', 'rc-rate-limit', 'rc-folder-sink'].map(builtNode);

function ledgerStatus(key: string): string {
  const ledger = Ledger.open(process.env.RC_ARCHIVER_LEDGER!);
  try {
    return ledger.get(key)?.status ?? 'absent';
  } finally {
    ledger.close();
  }
}

interface Expected {
  /** Attachment items: key -> SHA-256 of the bytes. */
  attachments: Map<string, string>;
  /** SMS JSON items: key -> exact conversation id. */
  sms: Map<string, string | undefined>;
}

/** What the source must archive of the simulator's store: every attachment, every plain SMS. */
function expectedOf(sim: Simulator, extensionId?: string): Expected {
  const attachments = new Map<string, string>();
  const sms = new Map<string, string | undefined>();
  for (const m of sim.allMessages({ extensionId, availability: ['Alive', 'Deleted'] })) {
    if (m.type === 'SMS' && !m.mms) {
      sms.set(`SMS:${m.id}`, m.conversationId);
      continue;
    }
    const kind = m.type === 'VoiceMail' ? 'Voicemail' : m.type === 'Fax' ? 'Fax' : m.mms ? 'MMS' : undefined;
    if (!kind) continue; // Pager
    for (const a of m.attachments)
      attachments.set(`${kind}:${m.id}:${a.id}`, sim.expectedAttachment(m.id, a.id).sha256);
  }
  return { attachments, sms };
}

describe('rc-message-source with the simulator', { timeout: 240_000 }, () => {
  let sim: Simulator;
  let archive: string;
  let n = 0;

  before(async () => {
    await new Promise<void>((resolve) => helper.startServer().then(resolve));
    // Few attachments: lib/archive.ts downloads in the client's default group (Heavy, 10 a minute,
    // paced at 60 s because the media host's answers name Medium), not Medium; see the report.
    sim = await startSimulator({ seed: 11, days: 2, callsPerDay: 1, messagesPerDay: 5, rateWindowSec: 3 });
  });
  after(async () => {
    await sim.close();
    await helper.stopServer();
    rmSync(userDir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await helper.unload();
  });

  function flow(scope: 'account' | 'extension') {
    n++;
    archive = join(userDir, `messages-${n}`);
    process.env.RC_ARCHIVER_LEDGER = join(userDir, `messages-ledger-${n}.sqlite`);
    return {
      flow: [
        {
          id: 'src',
          type: 'rc-message-source',
          rc: 'rc',
          scope,
          initialDays: 5,
          lookBackMinutes: 60,
          wires: [['rl']],
        },
        { id: 'rl', type: 'rc-rate-limit', group: 'auto', wires: [['sink']] },
        {
          id: 'sink',
          type: 'rc-folder-sink',
          directory: archive,
          timeZone: 'UTC',
          sidecar: true,
          wires: [['ok'], ['bad']],
        },
        { id: 'ok', type: 'helper' },
        { id: 'bad', type: 'helper' },
        { id: 'rc', type: 'rc-config', server: 'custom', serverUrl: sim.platformUrl },
      ],
      credentials: { rc: { ...sim.credentials } },
    };
  }

  async function archiveAll(
    scope: 'account' | 'extension',
    expected: Expected,
    watch?: (src: ReturnType<typeof helper.getNode>) => void,
  ) {
    const { flow: f, credentials } = flow(scope);
    await helper.load(allNodes, f, credentials);
    const received: Array<{ payload: ArchiveItem; receipt: Receipt }> = [];
    const failed: unknown[] = [];
    helper.getNode('ok').on('input', (m: never) => received.push(m));
    helper.getNode('bad').on('input', (m: never) => failed.push(m));
    const src = helper.getNode('src');
    watch?.(src);
    const seen = statuses(src);
    const rlSeen = statuses(helper.getNode('rl'));
    const sinkSeen = statuses(helper.getNode('sink'));
    src.receive({ payload: 1 });
    const total = expected.attachments.size + expected.sms.size;
    await waitFor(() => seen.some((s) => s.fill === 'green' || s.fill === 'red'), 60_000, 'listing done');
    assert.equal(seen.find((s) => s.fill === 'red')?.text, undefined, 'no error');
    await waitFor(() => received.length + failed.length >= total, 120_000, 'every item archived').catch(
      (err: Error) => {
        const got = new Set(received.map((m) => m.payload.key));
        const missing = [...expected.attachments.keys(), ...expected.sms.keys()].filter((k) => !got.has(k));
        throw new Error(
          `${err.message}: ${received.length}/${total}, missing ${missing
            .slice(0, 5)
            .map((k) => `${k}=${ledgerStatus(k)}`)
            .join(' ')}; rate limit: ${rlSeen.at(-1)?.text}; sink: ${sinkSeen.at(-1)?.text}`,
        );
      },
    );
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(failed, []);
    const keys = received.map((m) => m.payload.key);
    assert.equal(new Set(keys).size, keys.length, 'each item once');
    assert.deepEqual([...keys].sort(), [...expected.attachments.keys(), ...expected.sms.keys()].sort());
    for (const { payload, receipt } of received) {
      const want = expected.attachments.get(payload.key);
      if (want) {
        assert.equal(receipt.sha256, want, `${payload.key} bytes`);
        const onDisk = createHash('sha256')
          .update(readFileSync(join(archive, receipt.path)))
          .digest('hex');
        assert.equal(onDisk, want, `${payload.key} file`);
      } else {
        const json = JSON.parse(readFileSync(join(archive, receipt.path), 'utf8')) as Record<string, unknown>;
        const conversation = expected.sms.get(payload.key);
        if (conversation) assert.equal(json.conversationId, conversation, `${payload.key} conversation id`);
      }
    }
    const ledger = Ledger.open(process.env.RC_ARCHIVER_LEDGER!);
    try {
      for (const key of keys) assert.equal(ledger.get(key)?.status, 'Archived');
    } finally {
      ledger.close();
    }
    return { src, seen, received };
  }

  it('account scope: every attachment of every mailbox with the right bytes, once; a second run adds nothing', async () => {
    const expected = expectedOf(sim);
    assert.ok(expected.attachments.size > 5 && expected.sms.size > 0, 'the simulator has messages');
    const users = new Set(sim.extensions.map((e) => e.id));
    assert.ok(
      sim.allMessages().some((m) => !users.has(m.extensionId)),
      'some messages are in mailboxes that are not users',
    );
    const { src, seen, received } = await archiveAll('account', expected);
    const count = received.length;
    seen.length = 0;
    src.receive({ payload: 2 });
    await waitFor(() => seen.some((s) => s.fill === 'green'), 60_000, 'second run done');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(received.length, count, 'nothing new the second time');
    assert.equal(sim.stats.rateLimited, 0, 'no 429 was provoked');
  });

  it('account scope: a mailbox whose message store answers 403 is skipped with a warning, the others archived', async () => {
    const all = expectedOf(sim);
    const victim = sim.extensions.find(
      (e) => e.id !== sim.adminExtension.id && expectedOf(sim, e.id).attachments.size > 0,
    )!;
    const skipped = expectedOf(sim, victim.id);
    for (const key of skipped.attachments.keys()) all.attachments.delete(key);
    for (const key of skipped.sms.keys()) all.sms.delete(key);
    const fault = sim.fault({
      kind: 'status',
      status: 403,
      match: `/extension/${victim.id}/message-store`,
      times: Infinity,
      body: {
        errorCode: 'CMN-408',
        message: 'In order to call this API endpoint, user needs to have [ReadMessages] permission',
      },
    });
    const warnings: string[] = [];
    try {
      await archiveAll('account', all, (src) =>
        src.on('call:warn', (call: { args: unknown[] }) => warnings.push(String(call.args[0]))),
      );
    } finally {
      fault.cancel();
    }
    assert.ok(
      warnings.some((w) => w.includes(victim.id) && /skipped/.test(w)),
      `a warning names the skipped extension: ${warnings.join(' | ')}`,
    );
  });

  it('resends its own Pending items when the flows start', async () => {
    const { flow: f, credentials } = flow('extension');
    const item: ArchiveItem = {
      key: 'Voicemail:1:2',
      kind: 'Voicemail',
      accountId: '1',
      createdAt: new Date().toISOString(),
      fileName: '2.mp3',
      contentType: 'audio/mpeg',
      content: { uri: 'http://127.0.0.1:9/x' },
      record: {},
      rc: 'rc',
    };
    const ledger = Ledger.open(process.env.RC_ARCHIVER_LEDGER!);
    try {
      ledger.recordFound([item], 'src');
      ledger.recordFound([{ ...item, key: 'Voicemail:1:3' }], 'another-source');
    } finally {
      ledger.close();
    }
    const out = f.map((node) => (node.id === 'src' ? { ...node, wires: [['ok']] } : node));
    const got: string[] = [];
    await helper.load(allNodes, out, credentials);
    helper.getNode('ok').on('input', (m: never) => got.push((m as { payload: ArchiveItem }).payload.key));
    await waitFor(() => got.length >= 1, 10_000, 'the pending item resent');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(got, ['Voicemail:1:2']);
  });

  it("extension scope: only the logged-in user's messages", async () => {
    const own = sim.extensions[0].id;
    const expected = expectedOf(sim, own);
    assert.ok(expected.attachments.size + expected.sms.size > 0, 'the user has messages');
    const { received } = await archiveAll('extension', expected);
    assert.ok(received.every((m) => m.payload.extensionId === own));
  });
});
