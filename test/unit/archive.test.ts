import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  archiveItem,
  hashingStream,
  hashReadable,
  LOST_REASON,
  LostContentError,
  redact,
  type ArchiveDeps,
} from '../../lib/archive';
import type { ArchiveItem } from '../../lib/items';
import { Ledger } from '../../lib/ledger/index';
import { RcClient } from '../../lib/ringcentral/client';
import { RcApiError } from '../../lib/ringcentral/errors';
import type { ContentFetcher, ContentResponse } from '../../lib/ringcentral/types';
import { FolderStorage } from '../../lib/storage/folder';
import type { StorageAdapter } from '../../lib/storage/types';
import { DEFAULT_TEMPLATE, renderPath } from '../../lib/template';
import { startSimulator, type Simulator } from '../sim/index';

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) =>
      path.relative(dir, path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)),
    )
    .sort();
}

function recording(id: string, extra: Partial<ArchiveItem> = {}): ArchiveItem {
  return {
    key: `CallRecording:${id}`,
    kind: 'CallRecording',
    accountId: '1000',
    extensionId: '2000',
    extensionNumber: '101',
    ownerName: 'Alice Smith',
    from: '+15550001111',
    to: ['+15550002222'],
    direction: 'Inbound',
    createdAt: '2024-05-01T22:30:00.000Z',
    fileName: `${id}.mp3`,
    contentType: 'audio/mpeg',
    content: { uri: `https://media.example/restapi/v1.0/account/1000/recording/${id}/content` },
    record: { id: `log-${id}`, sessionId: 's1', recording: { id } },
    rc: 'rc-node',
    ...extra,
  };
}

interface FakeFetcher extends ContentFetcher {
  calls: string[];
  groups: Array<string | undefined>;
  lastBody?: Readable;
}

/** Serves `data` as the content, or fails the way `mode` says. */
function fakeFetcher(
  data: Buffer,
  opts: {
    contentType?: string;
    contentLength?: number | null;
    mode?: 'ok' | 'cut' | 'reject' | 'stall';
  } = {},
): FakeFetcher {
  const fetcher: FakeFetcher = {
    calls: [],
    groups: [],
    async openContent(uri: string, options?: { group?: string }): Promise<ContentResponse> {
      fetcher.calls.push(uri);
      fetcher.groups.push(options?.group);
      if (opts.mode === 'reject') {
        throw new Error(
          `HTTP 404 for ${uri}?access_token=SECRET-TOKEN-123 (Authorization: Bearer abc.def.ghi)`,
        );
      }
      let offset = 0;
      const half = Math.floor(data.length / 2);
      const body = new Readable({
        read() {
          if (opts.mode === 'cut' && offset >= half) {
            setImmediate(() => this.destroy(new Error('connection reset by peer')));
            return;
          }
          if (opts.mode === 'stall' && offset >= half) return; // never sends the rest
          if (offset >= data.length) return void this.push(null);
          const n = Math.min(16 * 1024, data.length - offset);
          this.push(data.subarray(offset, offset + n));
          offset += n;
        },
      });
      fetcher.lastBody = body;
      return {
        body,
        contentType: opts.contentType,
        contentLength: opts.contentLength === null ? undefined : (opts.contentLength ?? data.length),
      };
    },
  };
  return fetcher;
}

describe('archiveItem', () => {
  let root: string;
  let storage: FolderStorage;
  let ledger: Ledger;

  before(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'rc-archive-test-'));
    storage = new FolderStorage(root);
  });
  beforeEach(() => {
    ledger?.close();
    ledger = Ledger.openMemory();
  });
  after(() => {
    ledger?.close();
    rmSync(root, { recursive: true, force: true });
  });

  function deps(fetcher: ContentFetcher, extra: Partial<ArchiveDeps> = {}): ArchiveDeps {
    return {
      fetcher,
      storage,
      ledger,
      sinkName: 'folder-sink',
      template: DEFAULT_TEMPLATE,
      timeZone: 'UTC',
      sidecar: true,
      ...extra,
    };
  }

  it('stores the file and its sidecar, and records the receipt as Archived', async () => {
    const item = recording('1001');
    ledger.recordFound([item], 'src');
    const data = randomBytes(100_000);
    const fetcher = fakeFetcher(data, { contentType: 'audio/wav' });
    const receipt = await archiveItem(item, deps(fetcher, { timeZone: 'Europe/Berlin' }));

    const expectedPath = renderPath(DEFAULT_TEMPLATE, item, { timeZone: 'Europe/Berlin', extension: 'wav' });
    assert.equal(receipt.path, expectedPath);
    assert.match(receipt.path, /2024-05-02.*\.wav$/, 'date in the zone, extension from the response type');
    assert.equal(receipt.provider, 'folder');
    assert.equal(receipt.bytes, data.length);
    assert.equal(receipt.sha256, sha256(data));
    assert.equal(receipt.alreadyPresent, false);
    assert.equal(receipt.sidecarPath, `${receipt.path}.json`);
    assert.deepEqual(readFileSync(path.join(root, receipt.path)), data);
    assert.deepEqual(fetcher.calls, [(item.content as { uri: string }).uri]);

    const sidecar = JSON.parse(readFileSync(path.join(root, receipt.sidecarPath!), 'utf8'));
    assert.equal(sidecar.key, item.key);
    assert.equal(sidecar.ownerName, 'Alice Smith');
    assert.deepEqual(sidecar.record, item.record);
    assert.deepEqual(sidecar.content, item.content);
    assert.deepEqual(sidecar.archive, {
      provider: 'folder',
      path: receipt.path,
      bytes: data.length,
      sha256: sha256(data),
      contentType: 'audio/wav',
      archivedAt: receipt.archivedAt,
      timeZone: 'Europe/Berlin',
    });

    const row = ledger.get(item.key)!;
    assert.equal(row.status, 'Archived');
    assert.equal(row.sink, 'folder-sink');
    assert.deepEqual(row.receipt, receipt);
    assert.equal(row.attempts, 1);
    assert.deepEqual(
      walk(root).filter((f) => f.endsWith('.part')),
      [],
    );
  });

  it('a second run skips the download when the archived file is still there', async () => {
    const item = recording('1002');
    ledger.recordFound([item], 'src');
    const data = randomBytes(5000);
    const first = await archiveItem(item, deps(fakeFetcher(data)));
    const fetcher = fakeFetcher(data);
    const second = await archiveItem(item, deps(fetcher));
    assert.deepEqual(fetcher.calls, [], 'the fetcher was not called');
    assert.deepEqual(second, { ...first, alreadyPresent: true });
    assert.equal(ledger.get(item.key)!.attempts, 1);

    // Gone from storage: downloaded again.
    unlinkSync(path.join(root, first.path));
    const third = await archiveItem(item, deps(fetcher));
    assert.equal(fetcher.calls.length, 1);
    assert.equal(third.alreadyPresent, false);
    assert.deepEqual(readFileSync(path.join(root, third.path)), data);
  });

  it('an item archived to a write-only target (an e-mail journal) is not sent again', async () => {
    const item = recording('1003');
    ledger.recordFound([item], 'src');
    const data = randomBytes(3000);
    // A journal cannot be read back: its stat never finds anything.
    const sent: string[] = [];
    const journal: StorageAdapter = {
      provider: 'journal',
      writeOnly: true,
      async put(relPath, body) {
        const { sha256: hash, bytes } = await hashReadable(body);
        sent.push(relPath);
        return { path: relPath, bytes, sha256: hash, alreadyPresent: false };
      },
      stat: async () => undefined,
      check: async () => undefined,
      close: async () => undefined,
    };
    await archiveItem(item, deps(fakeFetcher(data), { storage: journal, sidecar: false }));
    const fetcher = fakeFetcher(data);
    const again = await archiveItem(item, deps(fetcher, { storage: journal, sidecar: false }));
    assert.equal(sent.length, 1, 'one message, not two');
    assert.deepEqual(fetcher.calls, []);
    assert.equal(again.alreadyPresent, true);
  });

  it('an identical file left by an earlier run (not yet in the ledger) is reported as already present', async () => {
    const item = recording('1003');
    const data = randomBytes(3000);
    await archiveItem(item, deps(fakeFetcher(data)));
    ledger.close();
    ledger = Ledger.openMemory(); // the ledger lost the receipt, the file is there
    const receipt = await archiveItem(item, deps(fakeFetcher(data)));
    assert.equal(receipt.alreadyPresent, true);
    assert.equal(ledger.get(item.key)!.status, 'Archived', 'an unknown key is recorded from the item');
  });

  it('a download that fails midway marks the item Failed, leaves no file and destroys the stream', async () => {
    const item = recording('1004');
    ledger.recordFound([item], 'src');
    const fetcher = fakeFetcher(randomBytes(200_000), { mode: 'cut' });
    await assert.rejects(
      archiveItem(item, deps(fetcher)),
      /^Error: cannot archive CallRecording:1004: .*connection reset by peer/,
    );
    const row = ledger.get(item.key)!;
    assert.equal(row.status, 'Failed');
    assert.match(row.lastError!, /connection reset by peer/);
    assert.equal(fetcher.lastBody!.destroyed, true);
    const target = renderPath(DEFAULT_TEMPLATE, item, { timeZone: 'UTC', extension: 'mp3' });
    assert.equal(existsSync(path.join(root, target)), false);
    assert.deepEqual(
      walk(path.dirname(path.join(root, target))).filter((f) => f.includes('1004')),
      [],
      'no temporary file',
    );
  });

  it('a body shorter than Content-Length fails with a length mismatch', async () => {
    const item = recording('1005');
    ledger.recordFound([item], 'src');
    await assert.rejects(
      archiveItem(item, deps(fakeFetcher(Buffer.alloc(100), { contentLength: 150 }))),
      /length mismatch/,
    );
    assert.equal(ledger.get(item.key)!.status, 'Failed');
  });

  it('a failed request is recorded without the tokens in its message', async () => {
    const item = recording('1006');
    ledger.recordFound([item], 'src');
    await assert.rejects(
      archiveItem(item, deps(fakeFetcher(Buffer.alloc(1), { mode: 'reject' }))),
      (err: Error) => {
        assert.match(err.message, /cannot archive CallRecording:1006: HTTP 404/);
        assert.ok(
          !err.message.includes('SECRET-TOKEN-123') && !err.message.includes('abc.def.ghi'),
          err.message,
        );
        return true;
      },
    );
    const row = ledger.get(item.key)!;
    assert.equal(row.status, 'Failed');
    assert.ok(!row.lastError!.includes('SECRET-TOKEN-123'), row.lastError);
    assert.equal(redact('x?access_token=abc&b=1 Bearer xyz'), 'x?access_token=***&b=1 Bearer ***');
  });

  it('content RingCentral answers 404 for is marked Lost with the reason, not Failed, and writes nothing', async () => {
    const item = recording('4040');
    ledger.recordFound([item], 'src');
    const calls: string[] = [];
    const fetcher: ContentFetcher = {
      async openContent(uri: string): Promise<ContentResponse> {
        calls.push(uri);
        throw new RcApiError('Resource for parameter [recordingId] is not found', {
          status: 404,
          errorCode: 'CMN-102',
          path: '/restapi/v1.0/account/1000/recording/4040/content',
        });
      },
    };
    const before = walk(root);
    const err = await archiveItem(item, deps(fetcher)).then(
      () => assert.fail('expected a rejection'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof LostContentError);
    assert.equal(err.lost, true);
    assert.equal(err.key, item.key);
    assert.match(err.message, /CallRecording:4040.*no longer has this content \(404\)/);
    assert.equal(calls.length, 1);
    const row = ledger.get(item.key)!;
    assert.equal(row.status, 'Lost');
    assert.equal(row.lastError, LOST_REASON);
    assert.match(row.lastError!, /deleted by retention or by a user/);
    assert.equal(row.attempts, 1);
    assert.deepEqual(
      ledger.events(item.key).map((e) => e.event),
      ['Found', 'Attempt', 'Lost'],
    );
    assert.deepEqual(ledger.counts(), { Pending: 0, Archived: 0, Failed: 0, Lost: 1 });
    assert.deepEqual(walk(root), before, 'no file and no sidecar');

    // Any other failure, even one whose text says 404, stays a plain failure.
    const other = recording('4041');
    const plain = fakeFetcher(Buffer.alloc(0), { mode: 'reject' });
    await assert.rejects(archiveItem(other, deps(plain)), (e: unknown) => !(e instanceof LostContentError));
    assert.equal(ledger.get(other.key)?.status, 'Failed');
  });

  it('an abort stops the download, destroys the stream and leaves the item Pending', async () => {
    const item = recording('1007');
    ledger.recordFound([item], 'src');
    const fetcher = fakeFetcher(randomBytes(100_000), { mode: 'stall' });
    const ac = new AbortController();
    const work = archiveItem(item, deps(fetcher, { signal: ac.signal }));
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(work, /archiving CallRecording:1007 was stopped/);
    assert.equal(fetcher.lastBody!.destroyed, true);
    assert.equal(ledger.get(item.key)!.status, 'Pending');
  });

  it('stores content.json items as pretty JSON without calling the fetcher', async () => {
    const record = {
      id: 'log-77',
      startTime: '2024-05-01T10:00:00Z',
      duration: 42,
      legs: [{ action: 'Phone Call' }],
    };
    const item: ArchiveItem = {
      ...recording('77'),
      key: 'CallLog:log-77',
      kind: 'CallLog',
      fileName: 'log-77.json',
      contentType: 'application/json',
      content: { json: record },
      record,
    };
    ledger.recordFound([item], 'src');
    const fetcher = fakeFetcher(Buffer.alloc(0));
    const receipt = await archiveItem(item, deps(fetcher));
    assert.deepEqual(fetcher.calls, []);
    assert.match(receipt.path, /Call Log\/.*log-77\.json$/);
    const text = readFileSync(path.join(root, receipt.path), 'utf8');
    assert.equal(text, JSON.stringify(record, null, 2) + '\n');
    assert.equal(receipt.sha256, sha256(text));
    const sidecar = JSON.parse(readFileSync(path.join(root, `${receipt.path}.json`), 'utf8'));
    assert.equal(sidecar.content, undefined, 'the JSON is the file itself, not repeated');
    assert.equal(sidecar.archive.contentType, 'application/json');
    assert.equal(ledger.get(item.key)!.status, 'Archived');
  });

  it('writes no sidecar when it is off, and takes the extension from the item for octet-stream', async () => {
    const item = recording('1008');
    ledger.recordFound([item], 'src');
    const receipt = await archiveItem(
      item,
      deps(
        fakeFetcher(Buffer.from('mp3 bytes'), {
          contentType: 'application/octet-stream',
          contentLength: null,
        }),
        {
          sidecar: false,
        },
      ),
    );
    assert.match(receipt.path, /\.mp3$/);
    assert.equal(receipt.sidecarPath, undefined);
    assert.equal(existsSync(path.join(root, `${receipt.path}.json`)), false);
  });

  it('downloads recordings in the Heavy group and message attachments in the Medium one', async () => {
    const voicemail = recording('vm1', { key: 'Voicemail:9:1', kind: 'Voicemail', fileName: '9-1.mp3' });
    const call = recording('1301');
    ledger.recordFound([voicemail, call], 'src');
    const fetcher = fakeFetcher(randomBytes(1000), { contentType: 'audio/mpeg' });
    await archiveItem(voicemail, deps(fetcher));
    await archiveItem(call, deps(fetcher));
    assert.deepEqual(fetcher.groups, ['Medium', 'Heavy']);
  });

  describe('against the simulator', () => {
    let sim: Simulator;
    const clients: RcClient[] = [];
    before(async () => {
      sim = await startSimulator({
        seed: 11,
        days: 1,
        callsPerDay: 8,
        recordingBytes: { min: 300_000, max: 400_000 },
      });
    });
    after(async () => {
      for (const c of clients) await c.dispose();
      await sim?.close();
    });
    const rcClient = (maxResumes?: number) => {
      const c = new RcClient({
        ...sim.credentials,
        server: sim.platformUrl,
        cachePrefix: `archive-${clients.length}-`,
        retryBaseMs: 20,
        ...(maxResumes !== undefined ? { maxResumes } : {}),
      });
      clients.push(c);
      return c;
    };
    const simItem = (rec: { id: string; contentUri: string }) =>
      recording(rec.id, { content: { uri: rec.contentUri } });

    /** The folder storage, counting the puts it gets and the bytes and errors each one sees. */
    function watchedStorage() {
      const puts: Array<{ path: string; bytes: number; error?: string }> = [];
      const watched: StorageAdapter = {
        provider: storage.provider,
        stat: (p) => storage.stat(p),
        check: () => storage.check(),
        close: async () => undefined,
        put: (p, body, options) => {
          const seen = { path: p, bytes: 0 } as (typeof puts)[number];
          puts.push(seen);
          // counts without a 'data' listener, which would start the flow before the put reads
          const counted = new Transform({
            transform(chunk: Buffer, _encoding, callback) {
              seen.bytes += chunk.length;
              callback(null, chunk);
            },
          });
          body.on('error', (err) => {
            seen.error = err.message;
            counted.destroy(err);
          });
          body.pipe(counted);
          return storage.put(p, counted, options);
        },
      };
      return { watched, puts };
    }

    it('a download reset midway is resumed into the same upload: one put, the whole file, right hash', async () => {
      const rec = sim.allRecordings()[0];
      const item = simItem(rec);
      ledger.recordFound([item], 'src');
      const { watched, puts } = watchedStorage();
      sim.resetStats();
      // the storage has written 150,000 bytes when the connection is reset
      sim.fault({ kind: 'reset', host: 'media', match: rec.id, afterBytes: 150_000 });
      const receipt = await archiveItem(item, deps(rcClient(), { storage: watched }));
      const expected = sim.expectedContent(rec.id);
      assert.equal(receipt.sha256, expected.sha256);
      assert.equal(receipt.bytes, expected.bytes);
      assert.equal(sha256(readFileSync(path.join(root, receipt.path))), expected.sha256, 'the file on disk');
      const content = puts.filter((p) => p.path === receipt.path);
      assert.equal(content.length, 1, 'one upload');
      assert.equal(content[0].bytes, expected.bytes, 'the upload saw every byte once');
      assert.equal(content[0].error, undefined, 'the upload never saw the cut');
      const media = sim.requestLog.filter((r) => r.host === 'media');
      assert.deepEqual(
        media.map((r) => r.status),
        [200, 206],
      );
      // the rest was asked for from the last byte that reached the upload (a reset loses what
      // was still in the socket's buffers)
      const from = Number(/^bytes=(\d+)-$/.exec(media[1].range ?? '')?.[1]);
      assert.ok(from > 0 && from <= 150_000, `resumed from byte ${from}`);
      const row = ledger.get(item.key)!;
      assert.equal(row.status, 'Archived');
      assert.equal(row.attempts, 1);
    });

    it("a download cut short for good is reported as RingCentral's fault, not the storage's", async () => {
      const rec = sim.allRecordings()[1];
      const item = simItem(rec);
      ledger.recordFound([item], 'src');
      sim.fault({ kind: 'reset', host: 'media', match: rec.id, afterBytes: 100_000 });
      const err = (await archiveItem(item, deps(rcClient(0))).catch((e: unknown) => e)) as Error;
      assert.match(
        err.message,
        new RegExp(
          `^cannot archive ${item.key}: RingCentral download GET /restapi/v1\\.0/account/\\d+/recording/${rec.id}/content ended after 100000 of ${rec.bytes} bytes`,
        ),
      );
      assert.doesNotMatch(err.message, /cannot store/, 'the folder is not blamed');
      assert.equal((err.cause as RcApiError).errorCode, 'IncompleteContent');
      const row = ledger.get(item.key)!;
      assert.equal(row.status, 'Failed');
      assert.match(row.lastError!, /^RingCentral download GET \S+ ended after 100000 of/);
      const target = renderPath(DEFAULT_TEMPLATE, item, { timeZone: 'UTC', extension: 'mp3' });
      assert.deepEqual(
        walk(path.dirname(path.join(root, target))).filter((f) => f.includes(rec.id)),
        [],
        'nothing left behind',
      );
    });

    it('a storage failure still names the storage', async () => {
      const rec = sim.allRecordings()[2];
      const item = simItem(rec);
      ledger.recordFound([item], 'src');
      const refusing: StorageAdapter = {
        provider: 'folder',
        stat: async () => undefined,
        check: async () => undefined,
        close: async () => undefined,
        put: async (p, body) => {
          body.destroy();
          throw new Error(`Folder ${root}: cannot store ${p}: no space left on device`);
        },
      };
      await assert.rejects(
        archiveItem(item, deps(rcClient(), { storage: refusing })),
        new RegExp(
          `^Error: cannot archive ${item.key}: Folder .*: cannot store .*: no space left on device$`,
        ),
      );
    });
  });

  it('hashingStream counts and hashes what passes through', async () => {
    const h = hashingStream(6);
    const out: Buffer[] = [];
    h.on('data', (c: Buffer) => out.push(c));
    await new Promise<void>((resolve, reject) => {
      h.on('end', resolve).on('error', reject);
      h.write('abc');
      h.end(Buffer.from('def'));
    });
    assert.equal(Buffer.concat(out).toString(), 'abcdef');
    assert.equal(h.bytes, 6);
    assert.equal(h.sha256, sha256('abcdef'));
  });
});
