// Which storage failures are the target's (the sink pauses) and which are one file's (the item
// fails): each adapter against its fake or real server, judged by isTargetFailure as the sink does.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import type { TokenKeeper } from '../../lib/oauth/types';
import { BoxStorage } from '../../lib/storage/box';
import { DropboxStorage } from '../../lib/storage/dropbox';
import { FolderStorage } from '../../lib/storage/folder';
import { DriveStorage } from '../../lib/storage/gdrive';
import { S3Storage } from '../../lib/storage/s3';
import { SftpStorage } from '../../lib/storage/sftp';
import { SmarshStorage } from '../../lib/storage/smarsh';
import { isTargetFailure } from '../../lib/storage/target';
import type { StorageAdapter } from '../../lib/storage/types';
import { startFakeBox } from '../fakes/box';
import { startFakeDropbox } from '../fakes/dropbox';
import { startFakeDrive } from '../fakes/gdrive';
import { startS3 } from '../fakes/s3';
import { startSmtp } from '../fakes/smtp';
import { startSshd } from '../support/sshd';
import { expiredTokens, memoryKeeper, sftpOptionsOf } from './storage-helpers';

const body = () => Readable.from([Buffer.from('some bytes\n')]);

/** The error a put fails with (the test fails when it succeeds). */
async function putError(storage: StorageAdapter, rel = 'a/b.txt'): Promise<unknown> {
  try {
    await storage.put(rel, body(), { expectedBytes: 11 });
  } catch (err) {
    return err;
  }
  assert.fail('the put succeeded');
}

function keeper(client: TokenKeeper['client'], refreshToken: string): TokenKeeper {
  return memoryKeeper(client, expiredTokens(refreshToken));
}

const fast = { attempts: 2, baseDelayMs: 5, maxDelayMs: 10 };

describe('target-level or item-level, per storage', () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('folder: a root that cannot be made is the target; a file where the root or an item folder should be is the item', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rc-target-folder-'));
    dirs.push(dir);
    writeFileSync(path.join(dir, 'mount'), 'not mounted');
    assert.equal(
      isTargetFailure(await putError(new FolderStorage(path.join(dir, 'mount', 'archive')))),
      true,
    );
    assert.equal(isTargetFailure(await putError(new FolderStorage(path.join(dir, 'mount')))), false);
    writeFileSync(path.join(dir, 'a'), 'in the way');
    assert.equal(isTargetFailure(await putError(new FolderStorage(dir))), false);
    const missing = new FolderStorage({ root: path.join(dir, 'gone'), createRoot: false });
    assert.equal(isTargetFailure(await putError(missing)), true);
  });

  it('SFTP (a real sshd): a wrong host key, a refused login, a closed port and a missing root are the target; a file in the way is the item', async () => {
    const sshd = await startSshd();
    const opened: SftpStorage[] = [];
    const make = (over: Partial<ConstructorParameters<typeof SftpStorage>[0]> = {}) => {
      const s = new SftpStorage(sftpOptionsOf(sshd, over));
      opened.push(s);
      return s;
    };
    try {
      const wrongKey = 'SHA256:' + Buffer.alloc(32, 7).toString('base64').replace(/=+$/, '');
      assert.equal(isTargetFailure(await putError(make({ hostFingerprint: wrongKey }))), true);
      assert.equal(isTargetFailure(await putError(make({ username: 'nobody-here' }))), true);
      assert.equal(isTargetFailure(await putError(make({ root: path.join(sshd.root, 'not-there') }))), true);
      writeFileSync(path.join(sshd.root, 'blocked'), 'in the way');
      assert.equal(isTargetFailure(await putError(make(), 'blocked/b.txt')), false);
    } finally {
      await Promise.all(opened.map((s) => s.close()));
      await sshd.stop();
    }
    assert.equal(isTargetFailure(await putError(make())), true, 'nothing listens on the port any more');
  });

  it('S3: a missing bucket and refused keys are the target; a path outside the prefix is the item', async () => {
    const fake = await startS3();
    try {
      const make = (bucket = fake.bucket) =>
        new S3Storage({
          bucket,
          prefix: 'Archive/',
          endpoint: fake.url,
          forcePathStyle: true,
          accessKeyId: fake.accessKeyId,
          secretAccessKey: fake.secretAccessKey,
          retry: fast,
        });
      assert.equal(isTargetFailure(await putError(make('no-such-bucket'))), true);
      fake.refuseCredentials('InvalidAccessKeyId');
      assert.equal(isTargetFailure(await putError(make())), true);
      fake.refuseCredentials(undefined);
      fake.failNext(10, 503);
      assert.equal(isTargetFailure(await putError(make())), true, 'S3 still down after the retries');
      fake.failNext(0);
      assert.equal(isTargetFailure(await putError(make(), '../escape.txt')), false);
    } finally {
      await fake.close();
    }
  });

  it('Dropbox: revoked tokens and a provider still failing after the retries are the target', async () => {
    const fake = await startFakeDropbox();
    try {
      const make = () =>
        new DropboxStorage({
          keeper: keeper({ clientId: fake.appKey, endpoint: fake.url }, fake.issueRefreshToken()),
          root: '/Archive',
          endpoint: fake.url,
          retry: fast,
        });
      const revoked = make();
      fake.revokeTokens();
      assert.equal(isTargetFailure(await putError(revoked)), true);
      const storage = make();
      fake.failNext(10, 503);
      assert.equal(isTargetFailure(await putError(storage)), true);
      fake.failNext(0, 503);
    } finally {
      await fake.close();
    }
  });

  it('Box: a full account (507) is the target', async () => {
    const fake = await startFakeBox();
    try {
      const storage = new BoxStorage({
        auth: {
          kind: 'oauth',
          keeper: keeper(
            { clientId: fake.clientId, clientSecret: fake.clientSecret, endpoint: fake.url },
            fake.issueRefreshToken(),
          ),
        },
        rootPath: 'Archive',
        endpoint: fake.url,
        retry: fast,
      });
      await storage.check();
      fake.failNext(10, 507);
      assert.equal(isTargetFailure(await putError(storage)), true);
      fake.failNext(0, 500);
    } finally {
      await fake.close();
    }
  });

  it('Google Drive: a full Drive (storageQuotaExceeded) is the target', async () => {
    const fake = await startFakeDrive();
    try {
      const storage = new DriveStorage({
        auth: {
          kind: 'oauth',
          keeper: keeper(
            { clientId: fake.clientId, clientSecret: fake.clientSecret, endpoint: fake.url },
            fake.issueRefreshToken(),
          ),
        },
        rootPath: 'Archive',
        endpoint: fake.url,
        retry: fast,
      });
      await storage.check();
      fake.failNext(10, 403, undefined, 'storageQuotaExceeded');
      assert.equal(isTargetFailure(await putError(storage)), true);
      fake.failNext(0, 500);
    } finally {
      await fake.close();
    }
  });

  it('Smarsh: a relay that is gone or keeps answering 4xx is the target; a message too large is the item', async () => {
    const smtp = await startSmtp();
    const spool = mkdtempSync(path.join(tmpdir(), 'rc-target-smarsh-'));
    dirs.push(spool);
    const make = (port = smtp.port) =>
      new SmarshStorage({
        host: '127.0.0.1',
        port,
        secure: false,
        user: smtp.requireAuth.user,
        password: smtp.requireAuth.pass,
        from: 'archiver@customer.example',
        to: 'journal@smarsh.example',
        tempDir: spool,
        timeoutMs: 3000,
        retry: fast,
      });
    try {
      smtp.failNext(10, 452, '4.3.1 Insufficient system storage');
      assert.equal(isTargetFailure(await putError(make())), true);
      smtp.failNext(1, 552, '5.3.4 Message size exceeds fixed limit');
      assert.equal(isTargetFailure(await putError(make())), false);
      smtp.failNext(0, 250, '');
    } finally {
      await smtp.close();
    }
    // Nothing listens there any more.
    assert.equal(isTargetFailure(await putError(make())), true);
  });
});
