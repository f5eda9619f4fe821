// The write-once S3 example, deployed unchanged in a real Node-RED process with nothing but
// environment variables pointing at the RingCentral simulator and an S3 on 127.0.0.1 (s3rver).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startS3, type FakeS3 } from '../fakes/s3';
import { startSimulator, type Simulator } from '../sim/index';
import { readLedger, until, untilSettled } from '../support/e2e';
import { root } from '../support/node-red';
import { prepareUserDir, removeDir, startNodeRed, type NodeRedProcess } from '../support/node-red-process';
import { createHash } from 'node:crypto';

const example = JSON.parse(
  readFileSync(join(root, 'examples', 'write-once-s3-archive.json'), 'utf8'),
) as Array<Record<string, unknown>>;

describe(
  'the write-once S3 example end to end, configured by the environment alone',
  { timeout: 300_000 },
  () => {
    let sim: Simulator;
    let s3: FakeS3;
    let client: S3Client;
    let work: string;
    let red: NodeRedProcess | undefined;

    before(async () => {
      work = mkdtempSync(join(tmpdir(), 'rc-archiver-s3-e2e-'));
      [sim, s3] = await Promise.all([
        startSimulator({ seed: 11, days: 1, callsPerDay: 8, recordingFraction: 0.5, rateWindowSec: 4 }),
        startS3(),
      ]);
      client = new S3Client({
        endpoint: s3.directUrl,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      });
    });

    after(async () => {
      await red?.kill();
      client?.destroy();
      await s3?.close();
      await sim?.close();
      if (work) removeDir(work);
    });

    it('the example as shipped has no bucket, endpoint, region or key of its own', () => {
      const bucket = example.find((n) => n.type === 'rc-s3-bucket')!;
      assert.equal(bucket.bucket, '');
      assert.equal(bucket.endpoint, '');
      assert.equal(bucket.region, '');
      assert.equal(bucket.credentials, undefined);
    });

    it('archives every recording into the bucket with its bytes and a Compliance retention', async () => {
      const userDir = join(work, 'node-red');
      prepareUserDir(userDir, example);
      red = await startNodeRed({
        userDir,
        env: {
          RC_SERVER: sim.platformUrl,
          RC_CLIENT_ID: sim.credentials.clientId,
          RC_CLIENT_SECRET: sim.credentials.clientSecret,
          RC_JWT: sim.credentials.jwt,
          S3_BUCKET: s3.bucket,
          S3_REGION: 'us-east-1',
          S3_ENDPOINT: s3.url,
          S3_FORCE_PATH_STYLE: 'true',
          AWS_ACCESS_KEY_ID: s3.accessKeyId,
          AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
        },
      });
      const ledgerFile = join(userDir, 'rc-archiver', 'ledger.sqlite');
      const expected = sim.allRecordings().length;
      assert.ok(expected > 0, `the simulator has recordings (${expected})`);
      await until(
        () =>
          (readLedger(ledgerFile, (l) => l.count({ kind: 'CallRecording', status: 'Archived' })) ?? 0) >=
          expected,
        180_000,
        `${expected} recordings archived`,
        red,
      );
      await untilSettled(ledgerFile, 120_000, red);

      const rows = readLedger(ledgerFile, (l) => l.query({ kind: 'CallRecording', limit: 10_000 })) ?? [];
      assert.equal(rows.length, expected);
      const wanted = new Set(sim.allRecordings().map((r) => sim.expectedContent(r.id).sha256));
      for (const row of rows) {
        assert.equal(row.status, 'Archived', `${row.key} archived`);
        // The receipt's path is below the bucket config's prefix, which the example sets.
        const key = `RingCentral Archive/${row.receipt!.path}`;
        const got = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
        const bytes = Buffer.from(await got.Body!.transformToByteArray());
        const hash = createHash('sha256').update(bytes).digest('hex');
        assert.ok(wanted.has(hash), `${key}: the recording's bytes`);
        wanted.delete(hash);
      }
      assert.equal(wanted.size, 0, 'every recording is in the bucket once');
      // s3rver keeps no Object Lock: what S3 acts on is the headers of each write.
      const writes = s3.requests.filter(
        (r) => r.method === 'PUT' && !r.query.partNumber && r.path.includes('/Call Recordings/'),
      );
      assert.ok(writes.length > 0, 'recordings were written');
      for (const w of writes)
        assert.equal(w.headers['x-amz-object-lock-mode'], 'COMPLIANCE', `${w.path} locked`);
      assert.equal(
        readLedger(ledgerFile, (l) => l.counts().Failed),
        0,
        'nothing failed',
      );
    });
  },
);
