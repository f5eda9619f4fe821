// The Test button's route for the account config nodes, against each provider's fake: a deployed
// node's stored secrets and OAuth tokens are used where the dialog shows only the placeholder, a
// refused secret is the failed login step, and no secret comes back in the answer.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { startFakeBox, type FakeBox } from '../fakes/box';
import { startFakeDropbox, type FakeDropbox } from '../fakes/dropbox';
import { startFakeDrive, type FakeDrive } from '../fakes/gdrive';
import { startS3, type FakeS3 } from '../fakes/s3';
import { startSmtp, type FakeSmtp } from '../fakes/smtp';
import { createHelper } from '../support/helper';
import { builtNode } from '../support/node-red';

const { helper, userDir } = createHelper();
const types = [
  'rc-box-account',
  'rc-dropbox-account',
  'rc-gdrive-account',
  'rc-s3-bucket',
  'rc-smarsh-account',
];
const nodes = types.map(builtNode);

interface Answer {
  ok: boolean;
  steps: Array<{ id: string; status: string; reason?: string }>;
}
const outline = (a: Answer) => a.steps.map((s) => `${s.id}:${s.status}`);
const all = ['connect:ok', 'login:ok', 'folder:ok', 'write:ok', 'remove:ok'];

describe('Test connection of the account config nodes', () => {
  let box: FakeBox;
  let dropbox: FakeDropbox;
  let drive: FakeDrive;
  let s3: FakeS3;
  let smtp: FakeSmtp;

  before(async () => {
    [box, dropbox, drive, s3, smtp] = await Promise.all([
      startFakeBox(),
      startFakeDropbox(),
      startFakeDrive(),
      startS3(),
      startSmtp({ user: 'journal@example.com', pass: 'journal-secret' }),
    ]);
    await helper.startServer();
  });
  after(async () => {
    await helper.unload();
    await helper.stopServer();
    await Promise.all([box.close(), dropbox.close(), drive.close(), s3.close(), smtp.close()]);
    rmSync(userDir, { recursive: true, force: true });
  });

  async function load(flow: unknown[], credentials: Record<string, unknown>) {
    await helper.unload();
    await helper.load(nodes, flow, credentials);
  }

  async function test(
    type: string,
    settings: Record<string, unknown>,
    credentials: Record<string, string>,
    id = 'acct',
  ) {
    const res = await helper
      .request()
      .post('/rc-archiver/storage/test')
      .send({ type, id, settings, credentials })
      .expect(200);
    return res.body as unknown as Answer;
  }

  it("Box, Dropbox and Drive: the deployed node's tokens and secret stand behind the placeholder", async () => {
    const boxDef = { authMode: 'oauth', clientId: box.clientId, rootPath: 'Checked', endpoint: box.url };
    await load([{ id: 'acct', type: 'rc-box-account', ...boxDef }], {
      acct: { clientSecret: box.clientSecret, refreshToken: box.issueRefreshToken() },
    });
    assert.deepEqual(outline(await test('rc-box-account', boxDef, { clientSecret: '__PWRD__' })), all);
    assert.deepEqual(
      box.files().filter((f) => f.path.includes('probe')),
      [],
    );

    const dropboxDef = { clientId: dropbox.appKey, root: '/Checked', endpoint: dropbox.url };
    await load([{ id: 'acct', type: 'rc-dropbox-account', ...dropboxDef }], {
      acct: { refreshToken: dropbox.issueRefreshToken() },
    });
    assert.deepEqual(outline(await test('rc-dropbox-account', dropboxDef, {})), all);

    const driveDef = {
      authMode: 'oauth',
      clientId: drive.clientId,
      rootPath: 'Checked',
      endpoint: drive.url,
    };
    await load([{ id: 'acct', type: 'rc-gdrive-account', ...driveDef }], {
      acct: { clientSecret: drive.clientSecret, refreshToken: drive.issueRefreshToken() },
    });
    assert.deepEqual(outline(await test('rc-gdrive-account', driveDef, { clientSecret: '__PWRD__' })), all);

    // A deployed Drive account's client secret is not lent to a Box check of the same id.
    const ccg = { authMode: 'ccg', clientId: box.clientId, subjectId: box.enterpriseId, endpoint: box.url };
    const borrowed = await test('rc-box-account', ccg, { clientSecret: '__PWRD__' });
    assert.deepEqual(outline(borrowed), ['settings:failed']);
    assert.equal(
      (await test('rc-box-account', ccg, { clientSecret: box.clientSecret })).ok,
      true,
      'with its own secret typed, the same check passes',
    );

    // Not connected yet: the settings step says so before anything is sent.
    await load([{ id: 'acct', type: 'rc-gdrive-account', ...driveDef }], { acct: {} });
    const notConnected = await test('rc-gdrive-account', driveDef, {});
    assert.deepEqual(outline(notConnected), ['settings:failed']);
  });

  it('Box: an account connected in its dialog but never deployed is checked with the tokens from Connect', async () => {
    await load([], {});
    const adminUrl = (helper as unknown as { url(): string }).url();
    const started = await helper
      .request()
      .post('/rc-archiver/oauth/box/start')
      .send({
        id: 'fresh',
        clientId: box.clientId,
        clientSecret: box.clientSecret,
        endpoint: box.url,
        redirectUri: `${adminUrl}/rc-archiver/oauth/callback`,
      })
      .expect(200);
    const consent = await fetch(String(started.body.authorizeUrl), { redirect: 'manual' });
    // The helper serves the admin routes without a listening server: the browser's return is
    // replayed against them.
    const back = new URL(consent.headers.get('location')!);
    await helper
      .request()
      .get(back.pathname + back.search)
      .expect(200);
    const def = { authMode: 'oauth', clientId: box.clientId, rootPath: 'Fresh', endpoint: box.url };
    const answer = await test('rc-box-account', def, { clientSecret: '__PWRD__' }, 'fresh');
    assert.deepEqual(outline(answer), all);
    assert.ok(!JSON.stringify(answer).includes(box.clientSecret));
  });

  it('S3: the stored secret behind the placeholder, and a typed key id that is refused is the failed login', async () => {
    const def = { bucket: s3.bucket, prefix: 'Checked/', endpoint: s3.url, forcePathStyle: true };
    await load([{ id: 'acct', type: 'rc-s3-bucket', ...def }], {
      acct: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    });
    const stored = await test('rc-s3-bucket', def, {
      accessKeyId: s3.accessKeyId,
      secretAccessKey: '__PWRD__',
    });
    assert.deepEqual(outline(stored), all);
    // s3rver knows the key by its id: a typed id that is not it is refused.
    const wrong = 'AKIATYPEDNOTKNOWN';
    const refused = await test('rc-s3-bucket', def, { accessKeyId: wrong, secretAccessKey: '__PWRD__' });
    assert.deepEqual(outline(refused), ['connect:ok', 'login:failed']);
    assert.ok(!JSON.stringify(refused).includes(s3.secretAccessKey));
  });

  it('Smarsh: logs in with the stored password and sends nothing', async () => {
    const def = {
      host: '127.0.0.1',
      port: smtp.port,
      security: 'none',
      user: 'journal@example.com',
      from: 'archiver@example.com',
      to: 'journal@smarsh.example',
    };
    await load([{ id: 'acct', type: 'rc-smarsh-account', ...def }], {
      acct: { password: 'journal-secret' },
    });
    const ok = await test('rc-smarsh-account', def, { password: '__PWRD__' });
    assert.deepEqual(outline(ok), ['connect:ok', 'tls:skipped', 'login:ok', 'write:skipped']);
    const refused = await test('rc-smarsh-account', def, { password: 'not-the-journal-password' });
    assert.deepEqual(outline(refused), ['connect:ok', 'login:failed']);
    assert.ok(!JSON.stringify(refused).includes('not-the-journal-password'));
    assert.equal(smtp.messages.length, 0, 'no mail was sent');
  });
});
