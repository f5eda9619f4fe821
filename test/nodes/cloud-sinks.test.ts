// Every cloud sink in a flow, as a user wires it: a call-log source over the RingCentral simulator,
// the provider's sink and account config, with the provider's fake on 127.0.0.1. The adapters'
// own tests cover chunking, conflicts and hashes in depth; here the point is what the user sees:
// files with the right bytes, ledger rows with the right status, and a revoked account that
// pauses the sink once (one error, no RingCentral download while it lasts, the items Pending) and
// whose backlog goes out after it works again, one download per file.
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { startFakeBox } from '../fakes/box';
import { startFakeDropbox } from '../fakes/dropbox';
import { startFakeDrive, type FakeDrive } from '../fakes/gdrive';
import { startS3 } from '../fakes/s3';
import { parseMail, startSmtp } from '../fakes/smtp';
import { haveOpenssl, makeTestCertificates } from '../fakes/tls';
import { startSimulator, type Simulator } from '../sim/index';
import { readLedger, until } from '../support/e2e';
import { createHelper } from '../support/helper';
import { builtNode } from '../support/node-red';
import { allWaitingAtSink, statuses } from '../support/wait';

const { helper, userDir } = createHelper();
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** One provider as the test drives it. */
interface Provider {
  sinkType: string;
  accountType: string;
  /** The account config node (id 'acct') and its credentials. */
  account(): { def: Record<string, unknown>; credentials: Record<string, string> };
  /** Archived files: path relative to the sink's root → bytes. */
  files(): Map<string, Buffer>;
  /** The account's tokens stop working. */
  revoke(): void;
  /** The user connects again: new credentials for the account node. */
  reconnect(): Record<string, string>;
  /** The target works again without anyone touching the flow (where the provider allows it). */
  restore?(): void;
  sidecars: boolean;
  /** What a refused-credentials error says. */
  authError: RegExp;
  close(): Promise<void>;
  /** Reads the stored files again where `files()` is a snapshot (S3). */
  refresh?(): Promise<void>;
}

async function driveProvider(): Promise<Provider> {
  const fake: FakeDrive = await startFakeDrive();
  const creds = () => ({ clientSecret: fake.clientSecret, refreshToken: fake.issueRefreshToken() });
  let credentials = creds();
  return {
    sinkType: 'rc-gdrive-sink',
    accountType: 'rc-gdrive-account',
    account: () => ({
      def: { authMode: 'oauth', clientId: fake.clientId, rootPath: 'Archive', endpoint: fake.url },
      credentials,
    }),
    files: () =>
      new Map(
        fake
          .files()
          .filter((f) => f.path.startsWith('Archive/'))
          .map((f) => [f.path.slice('Archive/'.length), f.data]),
      ),
    revoke: () => fake.revokeTokens(),
    reconnect: () => (credentials = creds()),
    sidecars: true,
    authError: /Google Drive refused the credentials.*reconnect/,
    close: () => fake.close(),
  };
}

/** Files under `prefix`, keyed by the path below it. */
function below(files: Array<{ path: string; data: Buffer }>, prefix: string): Map<string, Buffer> {
  return new Map(
    files.filter((f) => f.path.startsWith(prefix)).map((f) => [f.path.slice(prefix.length), f.data]),
  );
}

async function dropboxProvider(): Promise<Provider> {
  const fake = await startFakeDropbox();
  let credentials = { refreshToken: fake.issueRefreshToken() };
  return {
    sinkType: 'rc-dropbox-sink',
    accountType: 'rc-dropbox-account',
    account: () => ({ def: { clientId: fake.appKey, root: '/Archive', endpoint: fake.url }, credentials }),
    files: () => below(fake.files(), '/Archive/'),
    revoke: () => fake.revokeTokens(),
    reconnect: () => (credentials = { refreshToken: fake.issueRefreshToken() }),
    sidecars: true,
    authError: /Dropbox refused the credentials.*reconnect/,
    close: () => fake.close(),
  };
}

async function boxProvider(): Promise<Provider> {
  const fake = await startFakeBox();
  const creds = () => ({ clientSecret: fake.clientSecret, refreshToken: fake.issueRefreshToken() });
  let credentials = creds();
  return {
    sinkType: 'rc-box-sink',
    accountType: 'rc-box-account',
    account: () => ({
      def: { authMode: 'oauth', clientId: fake.clientId, rootPath: 'Archive', endpoint: fake.url },
      credentials,
    }),
    files: () => below(fake.files(), 'Archive/'),
    revoke: () => fake.revokeTokens(),
    reconnect: () => (credentials = creds()),
    sidecars: true,
    authError: /Box refused the credentials.*reconnect/,
    close: () => fake.close(),
  };
}

/** Box with a JWT app: its config JSON pasted into the account; the enterprise admin revokes it. */
async function boxJwtProvider(): Promise<Provider> {
  const fake = await startFakeBox();
  const passphrase = randomBytes(12).toString('hex');
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase },
  });
  const jwtConfig = JSON.stringify(
    {
      boxAppSettings: {
        clientID: fake.clientId,
        clientSecret: fake.clientSecret,
        appAuth: { publicKeyID: fake.addPublicKey(publicKey), privateKey, passphrase },
      },
      enterpriseID: fake.enterpriseId,
    },
    null,
    2,
  );
  return {
    sinkType: 'rc-box-sink',
    accountType: 'rc-box-account',
    account: () => ({
      def: { authMode: 'jwt', rootPath: 'Archive', endpoint: fake.url },
      credentials: { jwtConfig },
    }),
    files: () => below(fake.files(), 'Archive/'),
    revoke: () => {
      fake.authorizeApp(false);
      fake.revokeTokens();
    },
    // The admin authorizes the app again; the same config works.
    reconnect: () => {
      fake.authorizeApp(true);
      return { jwtConfig };
    },
    sidecars: true,
    authError: /Box refused the credentials \(unauthorized_client\).*reconnect/,
    close: () => fake.close(),
  };
}

async function s3Provider(): Promise<Provider> {
  const fake = await startS3();
  const credentials = { accessKeyId: fake.accessKeyId, secretAccessKey: fake.secretAccessKey };
  const client = new S3Client({
    endpoint: fake.directUrl,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials,
  });
  let snapshot = new Map<string, Buffer>();
  return {
    sinkType: 'rc-s3-sink',
    accountType: 'rc-s3-bucket',
    account: () => ({
      def: { bucket: fake.bucket, prefix: 'Archive/', endpoint: fake.url, forcePathStyle: true },
      credentials,
    }),
    // Read through s3rver directly (the test's own reads stay out of the proxy's log and faults).
    files: () => snapshot,
    revoke: () => fake.refuseCredentials('InvalidAccessKeyId'),
    reconnect: () => {
      fake.refuseCredentials(undefined);
      return credentials;
    },
    restore: () => fake.refuseCredentials(undefined),
    sidecars: true,
    // The probe (a HEAD of the bucket) says it before any upload does.
    authError: /S3 refused (the credentials|access to the bucket)/,
    close: async () => {
      client.destroy();
      await fake.close();
    },
    async refresh() {
      const next = new Map<string, Buffer>();
      const listed = await client.send(new ListObjectsV2Command({ Bucket: fake.bucket, Prefix: 'Archive/' }));
      for (const o of listed.Contents ?? []) {
        const got = await client.send(new GetObjectCommand({ Bucket: fake.bucket, Key: o.Key! }));
        next.set(o.Key!.slice('Archive/'.length), Buffer.from(await got.Body!.transformToByteArray()));
      }
      snapshot = next;
    },
  };
}

/**
 * Smarsh journaling; with `privateCa`, over STARTTLS to a relay whose certificate a private CA
 * issued, the CA pasted into the journal config.
 */
async function smarshProvider(privateCa = false): Promise<Provider> {
  const certs = privateCa ? makeTestCertificates() : undefined;
  const fake = await startSmtp(certs ? { tls: certs } : {});
  let snapshot = new Map<string, Buffer>();
  let credentials = { password: fake.requireAuth.pass };
  const original = fake.requireAuth.pass;
  return {
    sinkType: 'rc-smarsh-sink',
    accountType: 'rc-smarsh-account',
    account: () => ({
      def: {
        host: '127.0.0.1',
        port: fake.port,
        security: certs ? 'starttls' : 'none',
        ...(certs ? { ca: certs.ca } : {}),
        user: fake.requireAuth.user,
        from: 'archiver@example.com',
        to: 'journal@smarsh.example',
      },
      credentials,
    }),
    files: () => snapshot,
    // The relay's password is changed: the one in the config no longer logs in.
    revoke: () => {
      fake.requireAuth.pass = 'changed-by-the-admin';
    },
    // The user types the new password into the journal config.
    reconnect: () => (credentials = { password: fake.requireAuth.pass }),
    // The relay's admin puts the old password back.
    restore: () => {
      fake.requireAuth.pass = original;
    },
    sidecars: false,
    authError: /Smarsh refused the credentials/,
    close: () => fake.close(),
    // One e-mail per item: the archive path is in its body, the file is its attachment.
    async refresh() {
      if (certs)
        assert.ok(
          fake.commands.every((c) => c.secure),
          'every login and message went under TLS',
        );
      const next = new Map<string, Buffer>();
      for (const raw of fake.messages) {
        const mail = await parseMail(raw);
        const path = /Archive path: (.+)/.exec(mail.text ?? '')?.[1]?.trim();
        assert.ok(path && mail.attachments.length === 1, 'one attachment and its path per e-mail');
        assert.ok(!next.has(path), `one e-mail per item (${path})`);
        next.set(path, mail.attachments[0].content);
      }
      snapshot = next;
    },
  };
}

const providers: Array<[string, () => Promise<Provider>]> = [
  ['Dropbox', dropboxProvider],
  ['Box', boxProvider],
  ['Box (JWT app)', boxJwtProvider],
  ['Google Drive', driveProvider],
  ['S3', s3Provider],
  ['Smarsh', () => smarshProvider()],
];
// The certificates are made with the openssl CLI at test time.
if (haveOpenssl()) providers.push(['Smarsh (STARTTLS, private CA)', () => smarshProvider(true)]);

describe('cloud sinks in a flow', { timeout: 180_000 }, () => {
  let sim: Simulator;
  before(async () => {
    await helper.startServer();
    sim = await startSimulator({ seed: 11, days: 1, callsPerDay: 4, recordingFraction: 1, rateWindowSec: 3 });
  });
  after(async () => {
    await sim.close();
    await helper.stopServer();
    rmSync(userDir, { recursive: true, force: true });
  });

  let run = 0;
  for (const [label, start] of providers) {
    it(`${label}: a revoked account pauses the sink once with no download and nothing failed; after it works again every item arrives once with its bytes`, async () => {
      const p = await start();
      const ledgerFile = join(userDir, `ledger-cloud-${++run}.sqlite`);
      process.env.RC_ARCHIVER_LEDGER = ledgerFile;
      process.env.RC_ARCHIVER_TOKENS = join(userDir, `tokens-${run}.json`);
      const nodes = ['rc-config', 'rc-call-log-source', p.accountType, p.sinkType].map(builtNode);
      const flow = (account: ReturnType<Provider['account']>) => [
        { id: 'rc', type: 'rc-config', server: 'custom', serverUrl: sim.platformUrl },
        {
          id: 'src',
          type: 'rc-call-log-source',
          rc: 'rc',
          scope: 'account',
          archive: 'both',
          initialDays: 2,
          wires: [['sink']],
        },
        { id: 'acct', type: p.accountType, ...account.def },
        { id: 'sink', type: p.sinkType, account: 'acct', wires: [['ok'], ['bad']] },
        { id: 'ok', type: 'helper' },
        { id: 'bad', type: 'helper' },
      ];
      const counts = () => readLedger(ledgerFile, (l) => l.counts());
      try {
        // Revoked before the first run: the sink says so once and keeps every item Pending.
        p.revoke();
        let account = p.account();
        await helper.load(nodes, flow(account), { rc: { ...sim.credentials }, acct: account.credentials });
        const errors: Array<{
          targetDown?: boolean;
          payload: { waiting: string[] };
          error: { message: string };
        }> = [];
        helper.getNode('bad').on('input', (m: never) => errors.push(m));
        const downloadsBefore = sim.stats.downloads.started;
        const srcStatus = statuses(helper.getNode('src'));
        const sinkStatus = statuses(helper.getNode('sink'));
        helper.getNode('src').receive({ payload: 1 });
        await until(() => errors.length > 0 && (counts()?.Pending ?? 0) > 0, 60_000, 'the outage notice');
        // The source is done listing and every item it found waits at the sink: nothing more of
        // this run is on its way to the error output.
        await until(
          () => srcStatus.some((s) => s.fill === 'green') && allWaitingAtSink(sinkStatus, counts()?.Pending),
          30_000,
          'every item found waiting at the sink',
        );
        assert.equal(errors.length, 1, 'one error for the outage, not one per item');
        assert.equal(errors[0].targetDown, true);
        assert.match(errors[0].error.message, p.authError);
        assert.doesNotMatch(errors[0].error.message, /Bearer|access_token|refresh_token=|\n\s+at /);
        const waiting = counts()!;
        const expectedItems = waiting.Pending;
        assert.equal(waiting.Failed, 0, 'nothing failed: no retry is spent');
        assert.equal(waiting.Archived, 0);
        assert.ok(errors[0].payload.waiting.length > 0, 'the notice names the waiting items');
        assert.equal(
          sim.stats.downloads.started,
          downloadsBefore,
          'no RingCentral download while it is down',
        );
        await p.refresh?.();
        assert.equal(p.files().size, 0, 'nothing stored');

        const receipts = new Map<string, { path: string; sha256: string; bytes: number }>();
        const onArchived = (m: never) => {
          const { receipt } = m as { receipt: { path: string; sha256: string; bytes: number } };
          receipts.set(receipt.path, receipt);
        };
        if (p.restore) {
          // The target works again by itself: the sink's next probe finds it, the backlog goes out.
          helper.getNode('ok').on('input', onArchived);
          p.restore();
        } else {
          // The user connects again and deploys; the source sends its Pending items at start.
          await helper.unload();
          account = { ...p.account(), credentials: p.reconnect() };
          await helper.load(nodes, flow(account), { rc: { ...sim.credentials }, acct: account.credentials });
          helper.getNode('ok').on('input', onArchived);
        }
        await until(
          () => receipts.size >= expectedItems && counts()?.Archived === expectedItems,
          90_000,
          'every item to archive',
        );
        if (p.restore) assert.equal(errors.length, 1, 'still the one error');

        await p.refresh?.();
        const files = p.files();
        const items = readLedger(ledgerFile, (l) => l.query({ limit: 10_000 }))!;
        const recordingIds = items
          .filter((i) => i.key.startsWith('CallRecording:'))
          .map((i) => i.key.slice('CallRecording:'.length));
        assert.ok(recordingIds.length > 0, 'the run found recordings');
        assert.equal(
          sim.stats.downloads.started - downloadsBefore,
          recordingIds.length,
          'one RingCentral download per recording',
        );
        const wanted = new Set(recordingIds.map((id) => sim.expectedContent(id).sha256));
        const stored = new Set(
          [...receipts.values()].map((r) => sha256(files.get(r.path) ?? Buffer.alloc(0))),
        );
        for (const hash of wanted) assert.ok(stored.has(hash), 'each recording is stored with its bytes');
        for (const r of receipts.values())
          assert.equal(sha256(files.get(r.path)!), r.sha256, `${r.path} matches its receipt`);
        assert.equal(
          files.size,
          expectedItems * (p.sidecars ? 2 : 1),
          'one file per item (and its sidecar), no copies',
        );
        const after = counts();
        assert.equal(after?.Archived, expectedItems);
        assert.equal(after?.Failed ?? 0, 0);
        assert.equal(after?.Pending ?? 0, 0);
      } finally {
        await helper.unload();
        await p.close();
      }
    });
  }
});
