import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TokenKeeper } from '../../lib/oauth/types';
import { BoxStorage } from '../../lib/storage/box';
import { testStorage, type CheckReport } from '../../lib/storage/check';
import { DropboxStorage } from '../../lib/storage/dropbox';
import { FolderStorage } from '../../lib/storage/folder';
import { DriveStorage } from '../../lib/storage/gdrive';
import { S3Storage, type S3StorageOptions } from '../../lib/storage/s3';
import { formatFingerprint, SftpStorage, type SftpOptions } from '../../lib/storage/sftp';
import { SmarshStorage, type SmarshOptions } from '../../lib/storage/smarsh';
import { startFakeBox, type FakeBox } from '../fakes/box';
import { startFakeDropbox, type FakeDropbox } from '../fakes/dropbox';
import { startFakeDrive, type FakeDrive } from '../fakes/gdrive';
import { startS3, type FakeS3 } from '../fakes/s3';
import { startSmtp, type FakeSmtp } from '../fakes/smtp';
import { haveOpenssl, makeTestCertificates } from '../fakes/tls';
import { startSshd, type SshdServer } from '../support/sshd';
import { expiredTokens, memoryKeeper, sftpOptionsOf } from './storage-helpers';

/** "id:status" per step, the way the dialog lists them. */
const outline = (r: CheckReport) => r.steps.map((s) => `${s.id}:${s.status}`);
const failed = (r: CheckReport) => r.steps.find((s) => s.status === 'failed');

function probesIn(dir: string): string[] {
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.includes('probe'));
}

function keeperFor(fake: {
  issueRefreshToken(): string;
  clientId?: string;
  appKey?: string;
  clientSecret?: string;
  url: string;
}): TokenKeeper {
  return memoryKeeper(
    { clientId: fake.clientId ?? fake.appKey!, clientSecret: fake.clientSecret, endpoint: fake.url },
    expiredTokens(fake.issueRefreshToken()),
  );
}

describe('storage check: folder', () => {
  const base = mkdtempSync(path.join(tmpdir(), 'rc-check-folder-'));
  after(() => rmSync(base, { recursive: true, force: true }));

  it('writes and removes a probe in a writable folder', async () => {
    const report = await testStorage(() => new FolderStorage({ root: base, createRoot: false }));
    assert.deepEqual(outline(report), ['folder:ok', 'write:ok', 'remove:ok']);
    assert.equal(report.ok, true);
    assert.deepEqual(probesIn(base), [], 'no probe left behind');
  });

  it("the sink's routine check still proves a write: a removed probe leaves no trace in a folder", async () => {
    const report = await new FolderStorage({ root: base, createRoot: false }).check({ leaveNoTrace: true });
    assert.deepEqual(outline(report), ['folder:ok', 'write:ok', 'remove:ok']);
    assert.deepEqual(probesIn(base), [], 'no probe left behind');
  });

  it('names a missing folder without creating it', async () => {
    const missing = path.join(base, 'not-there');
    const report = await testStorage(() => new FolderStorage({ root: missing, createRoot: false }));
    assert.deepEqual(outline(report), ['folder:failed']);
    assert.match(failed(report)!.reason!, /root folder .*not-there does not exist/);
    assert.equal(existsSync(missing), false);
  });

  it('says a folder cannot be written to', async () => {
    let dir = path.join(base, 'read-only');
    mkdirSync(dir);
    chmodSync(dir, 0o555);
    // Permissions do not stop root; sysfs refuses new files to everyone.
    if (process.getuid?.() === 0) dir = '/sys';
    const report = await testStorage(() => new FolderStorage({ root: dir, createRoot: false }));
    assert.deepEqual(outline(report), ['folder:ok', 'write:failed']);
    assert.match(failed(report)!.reason!, /permission denied/);
  });

  it('a missing directory setting is the failed settings step', async () => {
    const report = await testStorage(() => {
      throw new Error('no directory configured');
    });
    assert.deepEqual(outline(report), ['settings:failed']);
    assert.equal(report.ok, false);
  });
});

describe('storage check: SFTP against a real sshd', () => {
  let sshd: SshdServer;
  before(async () => {
    sshd = await startSshd();
  });
  after(async () => {
    await sshd?.stop();
  });

  const sftp =
    (over: Partial<SftpOptions> = {}) =>
    () =>
      new SftpStorage(sftpOptionsOf(sshd, over));

  it('passes every step and leaves no probe on the server', async () => {
    const report = await testStorage(sftp());
    assert.deepEqual(outline(report), [
      'connect:ok',
      'hostKey:ok',
      'login:ok',
      'folder:ok',
      'write:ok',
      'remove:ok',
    ]);
    assert.deepEqual(probesIn(sshd.root), []);
  });

  it('a wrong fingerprint fails at the host key, after reaching the server', async () => {
    const other = formatFingerprint(randomBytes(32));
    const report = await testStorage(sftp({ hostFingerprint: other }));
    assert.deepEqual(outline(report), ['connect:ok', 'hostKey:failed']);
    assert.match(failed(report)!.reason!, /host key mismatch: expected .* got SHA256:/);
  });

  it('a wrong password fails at the login and does not show the password', async () => {
    const secret = 'wrong-' + randomBytes(6).toString('hex');
    const report = await testStorage(sftp({ privateKey: undefined, password: secret }));
    assert.deepEqual(outline(report), ['connect:ok', 'hostKey:ok', 'login:failed']);
    assert.match(failed(report)!.reason!, /authentication failed for user/);
    assert.ok(!JSON.stringify(report).includes(secret), 'no password in the report');
  });

  it('an unwritable root fails at the write', async (t) => {
    if (sshd.username === 'root') return t.skip('the SFTP user is root, for whom nothing is denied');
    const locked = path.join(sshd.root, 'locked-check');
    mkdirSync(locked, { mode: 0o755 });
    chownSync(locked, 0, 0);
    const report = await testStorage(sftp({ root: locked }));
    assert.deepEqual(outline(report), ['connect:ok', 'hostKey:ok', 'login:ok', 'folder:ok', 'write:failed']);
    assert.match(failed(report)!.reason!, /cannot write to root folder ".*locked-check": permission denied/);
  });

  it('a missing root fails at the folder', async () => {
    const report = await testStorage(sftp({ root: path.join(sshd.root, 'absent') }));
    assert.deepEqual(outline(report).slice(-2), ['login:ok', 'folder:failed']);
  });
});

describe('storage check: S3 against s3rver', () => {
  let fake: FakeS3;
  before(async () => {
    fake = await startS3();
  });
  after(async () => {
    await fake?.close();
  });

  const s3 =
    (over: Partial<S3StorageOptions> = {}) =>
    () =>
      new S3Storage({
        bucket: fake.bucket,
        prefix: 'Check',
        endpoint: fake.url,
        forcePathStyle: true,
        accessKeyId: fake.accessKeyId,
        secretAccessKey: fake.secretAccessKey,
        retry: { attempts: 2, baseDelayMs: 5 },
        ...over,
      });

  it('passes with a probe written and deleted', async () => {
    const from = fake.requests.length;
    const report = await testStorage(s3());
    assert.deepEqual(outline(report), ['connect:ok', 'login:ok', 'folder:ok', 'write:ok', 'remove:ok']);
    assert.deepEqual(
      fake.requests.slice(from).map((r) => r.method),
      ['HEAD', 'PUT', 'DELETE'],
    );
  });

  it("the sink's routine check sends no PUT: an Object Lock bucket keeps nothing of it", async () => {
    const from = fake.requests.length;
    const report = await s3()().check({ leaveNoTrace: true });
    assert.deepEqual(outline(report), ['connect:ok', 'login:ok', 'folder:ok', 'write:skipped']);
    assert.deepEqual(
      fake.requests.slice(from).map((r) => r.method),
      ['HEAD'],
    );
  });

  it('a missing bucket fails at the folder step', async () => {
    const report = await testStorage(s3({ bucket: 'no-such-bucket' }));
    assert.deepEqual(outline(report), ['connect:ok', 'login:ok', 'folder:failed']);
    assert.match(failed(report)!.reason!, /the bucket no-such-bucket does not exist/);
  });

  it('a bad key fails at the login, without the secret', async () => {
    const secret = 'bad-' + randomBytes(8).toString('hex');
    const report = await testStorage(s3({ accessKeyId: 'AKIANOTKNOWN', secretAccessKey: secret }));
    assert.deepEqual(outline(report), ['connect:ok', 'login:failed']);
    assert.match(failed(report)!.reason!, /refused access to the bucket/);
    assert.ok(!JSON.stringify(report).includes(secret));
  });
});

describe('storage check: Dropbox, Box and Drive against their fakes', () => {
  let dropbox: FakeDropbox;
  let box: FakeBox;
  let drive: FakeDrive;
  before(async () => {
    [dropbox, box, drive] = await Promise.all([startFakeDropbox(), startFakeBox(), startFakeDrive()]);
  });
  after(async () => {
    await Promise.all([dropbox?.close(), box?.close(), drive?.close()]);
  });
  const all = ['connect:ok', 'login:ok', 'folder:ok', 'write:ok', 'remove:ok'];
  const retry = { attempts: 2, baseDelayMs: 5, maxDelayMs: 20 };

  it('Dropbox: ok with the probe gone, a refused token, a root that is a file', async () => {
    const ok = await testStorage(
      () => new DropboxStorage({ keeper: keeperFor(dropbox), root: '/Check', endpoint: dropbox.url, retry }),
    );
    assert.deepEqual(outline(ok), all);
    assert.deepEqual(
      dropbox.files().filter((f) => f.path.includes('probe')),
      [],
    );
    assert.ok(
      dropbox.requests.some((r) => r.path === '/2/files/delete_v2'),
      'the probe was deleted',
    );

    dropbox.seed('/Blocked', Buffer.from('a file where the root folder should be'));
    const blocked = await testStorage(
      () =>
        new DropboxStorage({ keeper: keeperFor(dropbox), root: '/Blocked', endpoint: dropbox.url, retry }),
    );
    assert.deepEqual(outline(blocked), ['connect:ok', 'login:ok', 'folder:failed']);
    assert.match(failed(blocked)!.reason!, /\/Blocked exists and is not a folder/);

    const k = keeperFor(dropbox);
    dropbox.revokeTokens();
    const refused = await testStorage(
      () => new DropboxStorage({ keeper: k, root: '/Check', endpoint: dropbox.url, retry }),
    );
    assert.deepEqual(outline(refused), ['connect:ok', 'login:failed']);
  });

  it('Box: ok with the probe in the trash, a refused token, a root folder id that does not exist', async () => {
    const ok = await testStorage(
      () =>
        new BoxStorage({
          auth: { kind: 'oauth', keeper: keeperFor(box) },
          rootPath: 'Check',
          endpoint: box.url,
          retry,
        }),
    );
    assert.deepEqual(outline(ok), all);
    assert.deepEqual(
      box.files().filter((f) => f.path.includes('probe')),
      [],
    );

    const missing = await testStorage(
      () =>
        new BoxStorage({
          auth: { kind: 'oauth', keeper: keeperFor(box) },
          rootFolderId: '987654321',
          endpoint: box.url,
          retry,
        }),
    );
    assert.deepEqual(outline(missing), ['connect:ok', 'login:ok', 'folder:failed']);

    const k = keeperFor(box);
    box.revokeTokens();
    const refused = await testStorage(
      () =>
        new BoxStorage({ auth: { kind: 'oauth', keeper: k }, rootPath: 'Check', endpoint: box.url, retry }),
    );
    assert.deepEqual(outline(refused), ['connect:ok', 'login:failed']);
  });

  it('Drive: ok with the probe deleted, a refused token, a shared drive that does not exist', async () => {
    const ok = await testStorage(
      () =>
        new DriveStorage({
          auth: { kind: 'oauth', keeper: keeperFor(drive) },
          rootPath: 'Check',
          endpoint: drive.url,
          retry,
        }),
    );
    assert.deepEqual(outline(ok), all);
    assert.deepEqual(
      drive.files().filter((f) => f.name.includes('probe')),
      [],
    );

    const missing = await testStorage(
      () =>
        new DriveStorage({
          auth: { kind: 'oauth', keeper: keeperFor(drive) },
          driveId: 'no-such-drive',
          rootPath: 'Check',
          endpoint: drive.url,
          retry,
        }),
    );
    assert.deepEqual(outline(missing), ['connect:ok', 'login:ok', 'folder:failed']);

    const k = keeperFor(drive);
    drive.revokeTokens();
    const refused = await testStorage(
      () =>
        new DriveStorage({
          auth: { kind: 'oauth', keeper: k },
          rootPath: 'Check',
          endpoint: drive.url,
          retry,
        }),
    );
    assert.deepEqual(outline(refused), ['connect:ok', 'login:failed']);
  });
});

describe('storage check: Smarsh against a fake SMTP journal', () => {
  let smtp: FakeSmtp;
  before(async () => {
    smtp = await startSmtp({ user: 'journal@example.com', pass: 's3cret-pass' });
  });
  after(async () => {
    await smtp?.close();
  });
  const smarsh =
    (over: Partial<SmarshOptions> = {}) =>
    () =>
      new SmarshStorage({
        host: '127.0.0.1',
        port: smtp.port,
        secure: false,
        user: 'journal@example.com',
        password: 's3cret-pass',
        from: 'archiver@customer.example',
        to: 'journal-123@smarsh.example',
        timeoutMs: 3000,
        retry: { attempts: 1, baseDelayMs: 10, maxDelayMs: 50 },
        ...over,
      });

  it('connects and logs in, sends no mail, and says the write was not tried', async () => {
    const report = await testStorage(smarsh());
    assert.deepEqual(outline(report), ['connect:ok', 'tls:skipped', 'login:ok', 'write:skipped']);
    assert.equal(report.steps.find((s) => s.id === 'write')!.reason, 'writeOnly');
    assert.equal(report.ok, true);
    assert.equal(smtp.messages.length, 0, 'no mail was sent');
    assert.ok(
      smtp.commands.some((c) => c.command === 'AUTH'),
      'the login was tried',
    );
  });

  it('a refused login fails at the login step, without the password', async () => {
    const before = smtp.authFailures;
    const report = await testStorage(smarsh({ password: 'not-the-password' }));
    assert.deepEqual(outline(report), ['connect:ok', 'login:failed']);
    assert.match(failed(report)!.reason!, /Smarsh refused the credentials/);
    assert.ok(!JSON.stringify(report).includes('not-the-password'));
    assert.equal(smtp.authFailures, before + 1);
    assert.equal(smtp.messages.length, 0);
  });

  it('a relay that is not there fails at connect', async () => {
    const report = await testStorage(smarsh({ port: 1 }));
    assert.deepEqual(outline(report), ['connect:failed']);
  });

  it('STARTTLS with the private CA passes the TLS step; without it the certificate fails it', async (t) => {
    if (!haveOpenssl()) return t.skip('needs the openssl CLI');
    const certs = makeTestCertificates();
    const tlsRelay = await startSmtp({ user: 'journal@example.com', pass: 's3cret-pass', tls: certs });
    try {
      const over = { port: tlsRelay.port, requireTLS: true };
      const trusted = await testStorage(smarsh({ ...over, tls: { ca: certs.ca } }));
      assert.deepEqual(outline(trusted), ['connect:ok', 'tls:ok', 'login:ok', 'write:skipped']);
      assert.ok(
        tlsRelay.commands.some((c) => c.command === 'AUTH' && c.secure),
        'AUTH went over TLS',
      );
      const untrusted = await testStorage(smarsh(over));
      assert.deepEqual(outline(untrusted), ['connect:ok', 'tls:failed']);
      assert.match(failed(untrusted)!.reason!, /TLS certificate is not trusted/);
      assert.equal(tlsRelay.messages.length, 0);
    } finally {
      await tlsRelay.close();
    }
  });
});
