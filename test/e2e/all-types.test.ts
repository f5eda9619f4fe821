// Every kind of data the pack archives, end to end: the RingCentral simulator → a real Node-RED
// process running a flow with both sources → a real OpenSSH sshd. Checked against the simulator's
// own data: every voicemail, fax, SMS, MMS, call-log record and recording exactly once with the
// right bytes, in admin scope (every extension) and in extension scope (one user, nothing else).
import assert from 'node:assert/strict';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ItemKind, ItemStatus } from '../../lib/items';
import { Ledger } from '../../lib/ledger';
import { cursorName } from '../../lib/sources/call-log';
import { messageCursorName } from '../../lib/sources/messages';
import { startSimulator, type Simulator } from '../sim/index';
import { ownsMessages } from '../sim/messages';
import { prepareUserDir, removeDir, startNodeRed, type NodeRedProcess } from '../support/node-red-process';
import { archiverEnv, sha256, walk } from '../support/e2e';
import { startSshd, type SshdServer } from '../support/sshd';
import { waitFor } from '../support/wait';

const CALL_SOURCE = 'all-types-calls';
const MESSAGE_SOURCE = 'all-types-messages';

/** What the simulator says one archived item must be. */
interface Expected {
  kind: ItemKind;
  extensionId: string;
  /** SHA-256 of a downloaded file (recording, attachment). */
  sha256?: string;
  /** A JSON item (call-log record, SMS): the id its content must have. */
  id?: string;
  /** SMS: the exact conversation id (digits beyond 2^53, as a string). */
  conversationId?: string;
}

/**
 * Everything the two sources must archive of the simulator's data, by ledger key: the call-log
 * record and each recording of every call, each attachment of every voicemail, fax and MMS, every
 * plain SMS as JSON. Pager messages and purged messages (no content left) are not archived.
 * With `extensionId`: only that extension's.
 */
function expectedItems(sim: Simulator, extensionId?: string): Map<string, Expected> {
  const out = new Map<string, Expected>();
  for (const call of sim.allCalls()) {
    if (extensionId && call.extensionId !== extensionId) continue;
    out.set(`CallLog:${call.id}`, { kind: 'CallLog', extensionId: call.extensionId, id: call.id });
    for (const rec of call.recordings) {
      out.set(`CallRecording:${rec.id}`, {
        kind: 'CallRecording',
        extensionId: call.extensionId,
        sha256: sim.expectedContent(rec.id).sha256,
      });
    }
  }
  for (const m of sim.allMessages({ extensionId, availability: ['Alive', 'Deleted'] })) {
    if (m.type === 'SMS' && !m.mms) {
      out.set(`SMS:${m.id}`, {
        kind: 'SMS',
        extensionId: m.extensionId,
        id: m.id,
        conversationId: m.conversationId,
      });
      continue;
    }
    const kind: ItemKind | undefined =
      m.type === 'VoiceMail' ? 'Voicemail' : m.type === 'Fax' ? 'Fax' : m.mms ? 'MMS' : undefined;
    if (!kind) continue; // Pager
    for (const a of m.attachments) {
      out.set(`${kind}:${m.id}:${a.id}`, {
        kind,
        extensionId: m.extensionId,
        sha256: sim.expectedAttachment(m.id, a.id).sha256,
      });
    }
  }
  return out;
}

interface SidecarDoc {
  key?: string;
  kind?: string;
  extensionId?: string;
  archive?: { path?: string; sha256?: string; bytes?: number };
}

interface ArchivedFile {
  path: string;
  sha256: string;
  sidecar?: SidecarDoc;
}

/** The files under the root, each with its `<file>.json` sidecar; the sidecars themselves are not files of their own. */
function readArchive(dir: string): ArchivedFile[] {
  const all = walk(dir);
  const present = new Set(all);
  const isSidecar = (f: string) => f.endsWith('.json') && present.has(f.slice(0, -'.json'.length));
  return all
    .filter((f) => !isSidecar(f))
    .map((path) => {
      const sidecarFile = join(dir, `${path}.json`);
      return {
        path,
        sha256: sha256(join(dir, path)),
        sidecar: present.has(`${path}.json`)
          ? (JSON.parse(readFileSync(sidecarFile, 'utf8')) as SidecarDoc)
          : undefined,
      };
    });
}

/** The flow under test: one inject into both sources, rate limit, SFTP sink, archive log. */
function flow(scope: 'account' | 'extension'): unknown[] {
  const tab = 'all-types-tab';
  return [
    { id: tab, type: 'tab', label: 'all types', disabled: false, info: '' },
    {
      id: 'all-types-inject',
      type: 'inject',
      z: tab,
      name: 'once',
      props: [{ p: 'payload' }],
      repeat: '',
      crontab: '',
      once: true,
      onceDelay: '0.5',
      topic: '',
      payload: '',
      payloadType: 'date',
      wires: [[CALL_SOURCE, MESSAGE_SOURCE]],
    },
    {
      id: CALL_SOURCE,
      type: 'rc-call-log-source',
      z: tab,
      name: '',
      rc: 'all-types-rc',
      scope,
      archive: 'both',
      extensionId: '',
      initialDays: 7,
      lookBackMinutes: 120,
      backfillFrom: '',
      backfillTo: '',
      wires: [['all-types-rate']],
    },
    {
      id: MESSAGE_SOURCE,
      type: 'rc-message-source',
      z: tab,
      name: '',
      rc: 'all-types-rc',
      scope,
      voicemail: true,
      fax: true,
      sms: true,
      mms: true,
      initialDays: 7,
      lookBackMinutes: 60,
      backfillFrom: '',
      backfillTo: '',
      wires: [['all-types-rate']],
    },
    {
      id: 'all-types-rate',
      type: 'rc-rate-limit',
      z: tab,
      name: '',
      rc: '',
      group: 'auto',
      wires: [['all-types-sink']],
    },
    {
      id: 'all-types-sink',
      type: 'rc-sftp-sink',
      z: tab,
      name: '',
      server: 'all-types-sftp',
      template: '',
      timeZone: 'UTC',
      sidecar: true,
      concurrency: 4,
      wires: [['all-types-log'], ['all-types-log', 'all-types-failed']],
    },
    { id: 'all-types-log', type: 'rc-archive-log', z: tab, name: '', summaryDelay: 1, wires: [[]] },
    {
      id: 'all-types-failed',
      type: 'debug',
      z: tab,
      name: 'failed item',
      active: true,
      tosidebar: false,
      console: true,
      tostatus: false,
      complete: 'error.message',
      targetType: 'msg',
      wires: [],
    },
    {
      id: 'all-types-catch',
      type: 'catch',
      z: tab,
      name: '',
      scope: null,
      uncaught: false,
      wires: [['all-types-error']],
    },
    {
      id: 'all-types-error',
      type: 'debug',
      z: tab,
      name: 'error',
      active: true,
      tosidebar: false,
      console: true,
      tostatus: false,
      complete: 'error',
      targetType: 'msg',
      wires: [],
    },
    { id: 'all-types-rc', type: 'rc-config', name: 'RingCentral (environment)', server: '', serverUrl: '' },
    {
      id: 'all-types-sftp',
      type: 'rc-sftp-server',
      name: 'SFTP (environment)',
      host: '',
      port: '',
      username: '',
      root: '',
      hostFingerprint: '',
      privateKeyFile: '',
    },
  ];
}

describe('every data type end to end: simulator → Node-RED → sshd', { timeout: 600_000 }, () => {
  let sim: Simulator;
  let sshd: SshdServer;
  let work: string;
  let red: NodeRedProcess | undefined;
  /** The user whose data the extension-scope run archives (not the admin). */
  let user: string;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'rc-archiver-all-types-'));
    sshd = await startSshd();
    // A few days of calls and messages; no late records or recordings, so that what the simulator
    // shows now is what a listing finds. A short rate window keeps the test quick.
    sim = await startSimulator({
      seed: 20240,
      days: 3,
      callsPerDay: 8,
      recordingFraction: 0.6,
      twoRecordingFraction: 0.3,
      legOnlyFraction: 0.2,
      wavFraction: 0.3,
      faxFraction: 0.15,
      lateFraction: 0,
      lateRecordingFraction: 0,
      recordingBytes: { min: 5_000, max: 60_000 },
      messagesPerDay: 8,
      transcriptionFraction: 0.6,
      deletedMessageFraction: 0.1,
      purgedMessageFraction: 0.05,
      rateWindowSec: 4,
      rateLimits: { Heavy: 20 },
    });
    user = sim.extensions[2].id;
    const disabled = sim.data.allExtensions.find((e) => e.type === 'User' && e.status === 'Disabled')!;
    const hoursAgo = (h: number) => sim.now() - h * 3_600_000;
    // Every kind for the extension-scope user, so that its run covers every kind too.
    sim.addCalls(1, { extensionId: user, layout: 'two', at: hoursAgo(5) });
    sim.addCalls(1, { extensionId: user, layout: 'legOnly', format: 'wav', at: hoursAgo(4) });
    sim.addCalls(1, { extensionId: user, withRecording: false, at: hoursAgo(3) });
    let h = 2;
    for (const type of ['VoiceMail', 'VoiceMail', 'Fax', 'SMS', 'MMS', 'MMS'] as const)
      sim.addMessages(1, { extensionId: user, type, at: hoursAgo((h += 0.5)) });
    for (let i = 0; i < 4; i++)
      sim.addMessages(1, { extensionId: user, type: 'Fax', direction: 'Outbound', at: hoursAgo((h += 0.5)) });
    // Messages of a disabled user and of a deleted one in the trash.
    sim.addMessages(1, { extensionId: disabled.id, type: 'MMS', at: hoursAgo((h += 0.5)) });
    sim.addMessages(1, { extensionId: disabled.id, type: 'VoiceMail', at: hoursAgo((h += 0.5)) });
    sim.addMessages(1, { type: 'SMS', availability: 'Deleted', at: hoursAgo((h += 0.5)) });
    // Purged: no content left, nothing to archive.
    sim.addMessages(1, { extensionId: user, type: 'MMS', availability: 'Purged', at: hoursAgo((h += 0.5)) });
  });

  after(async () => {
    await red?.kill();
    await sim?.close();
    await sshd?.stop();
    if (work) removeDir(work);
  });

  it('the seed has every kind of data the test is about', () => {
    const calls = sim.allCalls();
    const recordings = calls.flatMap((c) => c.recordings);
    const messages = sim.allMessages();
    const attachments = messages.flatMap((m) => m.attachments.map((a) => ({ m, a })));
    const users = new Set(sim.extensions.map((e) => e.id));
    const types = new Map(sim.data.allExtensions.map((e) => [e.id, e]));
    const checks: Array<[boolean, string]> = [
      [calls.some((c) => c.recordings.length === 2), 'a call with two recordings'],
      [recordings.some((r) => r.legOnly), 'a recording only in a leg (Detailed view)'],
      [recordings.some((r) => r.contentType !== 'audio/mpeg'), 'a WAV recording'],
      [calls.some((c) => c.type === 'Fax'), 'a fax call in the call log'],
      [calls.some((c) => c.recordings.length === 0 && c.type === 'Voice'), 'a call without a recording'],
      [attachments.some(({ a }) => a.type === 'AudioTranscription'), 'a voicemail with a transcription'],
      [
        messages.some((m) => m.type === 'VoiceMail' && m.attachments.length === 1),
        'a voicemail without a transcription',
      ],
      [attachments.some(({ a }) => a.type === 'SourceDocument'), 'a fax with its source document'],
      [
        messages.some((m) => m.mms && m.attachments.filter((a) => a.type === 'MmsAttachment').length >= 2),
        'an MMS with several images',
      ],
      [messages.some((m) => m.type === 'SMS' && !m.mms), 'a plain SMS'],
      [messages.some((m) => m.type === 'Pager'), 'a pager message (not archived)'],
      [messages.some((m) => m.availability === 'Deleted'), 'a message in the trash'],
      [messages.some((m) => m.availability === 'Purged'), 'a purged message (not archived)'],
      [
        messages.some((m) => types.get(m.extensionId)?.status === 'Disabled'),
        'a disabled user with messages',
      ],
      [
        new Set(messages.filter((m) => !users.has(m.extensionId)).map((m) => types.get(m.extensionId)?.type))
          .size >= 2,
        'messages in mailboxes of several types',
      ],
    ];
    const missing = checks.filter(([ok]) => !ok).map(([, what]) => what);
    assert.deepEqual(missing, [], 'the simulator data lacks these');
    const own = expectedItems(sim, user);
    const kinds = new Set([...own.values()].map((e) => e.kind));
    assert.deepEqual(
      [...kinds].sort(),
      ['CallLog', 'CallRecording', 'Fax', 'MMS', 'SMS', 'Voicemail'],
      'the extension-scope user has every kind',
    );
    assert.ok(
      expectedItems(sim).size > own.size + 20,
      'other extensions have plenty of data the extension scope must leave out',
    );
  });

  /**
   * Runs the flow once in a fresh Node-RED (fresh ledger, fresh SFTP folder) until both sources have
   * listed everything and nothing is Pending any more, then compares the SFTP folder with `expected`.
   */
  async function archiveAndCheck(options: {
    name: string;
    scope: 'account' | 'extension';
    jwt: string;
    mailboxes: string[];
    expected: Map<string, Expected>;
    /** Where to report the size and the time of the run. */
    diagnostic(message: string): void;
  }): Promise<void> {
    const { name, scope, expected } = options;
    const userDir = join(work, `node-red-${name}`);
    const ledgerFile = join(work, `ledger-${name}.sqlite`);
    const rootOnDisk = join(sshd.root, name);
    mkdirSync(rootOnDisk);
    const owner = statSync(sshd.root);
    if (process.getuid?.() === 0) chownSync(rootOnDisk, owner.uid, owner.gid);
    prepareUserDir(userDir, flow(scope));
    sim.resetStats();
    const started = Date.now();
    red = await startNodeRed({
      userDir,
      env: {
        ...archiverEnv(sim, sshd, work, rootOnDisk),
        RC_JWT: options.jwt,
        RC_ARCHIVER_LEDGER: ledgerFile,
      },
    });
    const proc = red;

    // Done: both sources moved their cursors (call log, every mailbox) — so every item they found
    // is in the ledger — nothing is Pending, and neither the ledger nor the folder changed for 3 s.
    const cursors = [
      cursorName(CALL_SOURCE),
      ...options.mailboxes.map((id) => messageCursorName(MESSAGE_SOURCE, id)),
    ];
    let missingCursors = cursors;
    let lastCounts: Record<ItemStatus, number> | undefined;
    let signature = '';
    let stableSince = Date.now();
    let lastPoll = 0;
    try {
      await waitFor(
        () => {
          if (proc.child.exitCode !== null || /Uncaught Exception/.test(proc.output()))
            throw new Error(`node-red failed:\n${proc.output().slice(-4000)}`);
          if (Date.now() - lastPoll < 250) return false;
          lastPoll = Date.now();
          if (!existsSync(ledgerFile)) return false;
          const ledger = Ledger.open(ledgerFile);
          try {
            missingCursors = cursors.filter((c) => ledger.getCursor(c) === undefined);
            lastCounts = ledger.counts();
          } finally {
            ledger.close();
          }
          const now = `${JSON.stringify(lastCounts)} ${walk(rootOnDisk).length}`;
          if (now !== signature) {
            signature = now;
            stableSince = Date.now();
          }
          return missingCursors.length === 0 && lastCounts.Pending === 0 && Date.now() - stableSince >= 3000;
        },
        180_000,
        `${name}: both sources listed, nothing Pending, counts still`,
      );
    } catch (err) {
      throw new Error(
        `${(err as Error).message}; cursors not set: ${missingCursors.join(', ') || 'none'}; ledger: ${JSON.stringify(
          lastCounts,
        )}; expected ${expected.size} items\n${proc.output().slice(-4000)}`,
      );
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    await proc.stop();
    red = undefined;

    const files = readArchive(rootOnDisk);
    const diagnostics = `\n(${name}: ${files.length} files, ${expected.size} expected, ${seconds} s)`;

    // No partial uploads, and every file has its sidecar.
    assert.deepEqual(
      files.filter((f) => /\.part$/.test(f.path)).map((f) => f.path),
      [],
      `no .part leftovers${diagnostics}`,
    );
    assert.deepEqual(
      files.filter((f) => !f.sidecar).map((f) => f.path),
      [],
      `every file has its .json sidecar${diagnostics}`,
    );

    // Exactly the expected items, each in one file.
    const byKey = new Map<string, ArchivedFile[]>();
    for (const f of files) {
      const key = f.sidecar?.key ?? `(no key) ${f.path}`;
      byKey.set(key, [...(byKey.get(key) ?? []), f]);
    }
    const twice = [...byKey]
      .filter(([, fs]) => fs.length > 1)
      .map(([k, fs]) => `${k}: ${fs.map((f) => f.path).join(' | ')}`);
    assert.deepEqual(twice, [], `no item archived twice${diagnostics}`);
    const missing = [...expected.keys()].filter((k) => !byKey.has(k)).sort();
    const extra = [...byKey.keys()].filter((k) => !expected.has(k)).sort();
    assert.deepEqual(
      { missing, extra },
      { missing: [], extra: [] },
      `the archive holds exactly the expected items${diagnostics}`,
    );

    // The right bytes: downloads by SHA-256 from the simulator's generator, JSON by their ids.
    for (const [key, [file]] of byKey) {
      const want = expected.get(key)!;
      assert.equal(file.sidecar?.kind, want.kind, `${key}: kind in the sidecar`);
      assert.equal(file.sidecar?.archive?.path, file.path, `${key}: path in the sidecar`);
      assert.equal(file.sidecar?.archive?.sha256, file.sha256, `${key}: hash in the sidecar is the file's`);
      if (scope === 'extension')
        assert.equal(file.sidecar?.extensionId, user, `${key}: belongs to the logged-in user`);
      if (want.sha256) {
        assert.equal(file.sha256, want.sha256, `${key}: bytes of ${file.path}`);
        continue;
      }
      const json = JSON.parse(readFileSync(join(rootOnDisk, file.path), 'utf8')) as Record<string, unknown>;
      assert.equal(String(json.id), want.id, `${key}: the JSON in ${file.path} is that record`);
      if (want.kind === 'SMS') {
        assert.equal(typeof json.conversationId, 'string', `${key}: conversationId is a string`);
        assert.equal(json.conversationId, want.conversationId, `${key}: exact conversationId`);
      }
    }
    // Independent of the sidecars: as many files with each downloaded content as items with it.
    const filesBySha = new Map<string, number>();
    for (const f of files) filesBySha.set(f.sha256, (filesBySha.get(f.sha256) ?? 0) + 1);
    const wantBySha = new Map<string, number>();
    for (const e of expected.values())
      if (e.sha256) wantBySha.set(e.sha256, (wantBySha.get(e.sha256) ?? 0) + 1);
    for (const [sha, n] of wantBySha)
      assert.equal(filesBySha.get(sha) ?? 0, n, `files with content ${sha.slice(0, 12)}…${diagnostics}`);

    // The ledger says Archived for each item, with the file's path and hash, and nothing else.
    const ledger = Ledger.open(ledgerFile);
    try {
      assert.deepEqual(
        ledger.counts(),
        { Pending: 0, Archived: expected.size, Failed: 0, Lost: 0 },
        `ledger counts${diagnostics}`,
      );
      for (const [key, [file]] of byKey) {
        const row = ledger.get(key);
        assert.equal(row?.status, 'Archived', `${key} Archived in the ledger`);
        assert.equal(row?.receipt?.path, file.path, `${key}: ledger path`);
        assert.equal(row?.receipt?.sha256, file.sha256, `${key}: ledger hash`);
      }
    } finally {
      ledger.close();
    }
    assert.equal(sim.stats.rateLimited, 0, 'the simulator answered no request with 429');
    const kinds = new Map<string, number>();
    for (const e of expected.values()) kinds.set(e.kind, (kinds.get(e.kind) ?? 0) + 1);
    options.diagnostic(
      `${name}: ${files.length} files (${[...kinds].map(([k, n]) => `${n} ${k}`).join(', ')}) in ${seconds} s`,
    );
  }

  it('admin scope: every item of every extension arrives once with the right bytes', async (t) => {
    const expected = expectedItems(sim);
    assert.ok(
      new Set([...expected.values()].map((e) => e.extensionId)).size > sim.extensions.length,
      'items of users and of other mailboxes',
    );
    await archiveAndCheck({
      name: 'admin',
      scope: 'account',
      jwt: sim.credentials.jwt,
      mailboxes: sim.data.allExtensions.filter(ownsMessages).map((e) => e.id),
      expected,
      diagnostic: (m) => t.diagnostic(m),
    });
  });

  it("extension scope: exactly the logged-in user's items, nothing of any other extension", async (t) => {
    await archiveAndCheck({
      name: 'extension',
      scope: 'extension',
      jwt: sim.jwtFor(user),
      mailboxes: [user],
      expected: expectedItems(sim, user),
      diagnostic: (m) => t.diagnostic(m),
    });
  });
});
