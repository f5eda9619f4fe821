// The storage dialogs' Test button against a real Node-RED with editor logins: the route refuses a
// read-only user, checks an SFTP server from a dialog's unsaved settings (for a node never
// deployed) and from a deployed node's stored key when the dialog shows only the placeholder, and
// reports a folder sink's missing directory; no probe file stays behind.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { walk } from '../support/e2e';
import {
  editorToken,
  editorUsersSetting,
  prepareUserDir,
  removeDir,
  startNodeRed,
  type NodeRedProcess,
} from '../support/node-red-process';
import { startSshd, type SshdServer } from '../support/sshd';

interface Answer {
  ok: boolean;
  steps: Array<{ id: string; status: string; reason?: string }>;
}

describe('Test connection route', { timeout: 180_000 }, () => {
  let sshd: SshdServer;
  let red: NodeRedProcess | undefined;
  let userDir: string;
  let archive: string;

  const server = () => ({
    host: sshd.host,
    port: sshd.port,
    username: sshd.username,
    root: sshd.root,
    hostFingerprint: sshd.hostFingerprint,
    privateKeyFile: '',
  });

  before(async () => {
    sshd = await startSshd();
    userDir = await mkdtemp(join(tmpdir(), 'rc-archiver-storage-test-'));
    archive = join(userDir, 'archive');
    mkdirSync(archive);
    prepareUserDir(
      userDir,
      [{ id: 'srv', type: 'rc-sftp-server', name: 'deployed', ...server() }],
      editorUsersSetting(),
    );
    // credentialSecret is false in the test settings: Node-RED reads this file as it is.
    writeFileSync(join(userDir, 'flows_cred.json'), JSON.stringify({ srv: { privateKey: sshd.privateKey } }));
    red = await startNodeRed({ userDir });
  });
  after(async () => {
    await red?.kill();
    await sshd?.stop();
    removeDir(userDir);
  });

  async function test(body: unknown, username: 'admin' | 'viewer' = 'admin'): Promise<Response> {
    const token = await editorToken(red!.url, username);
    return fetch(`${red!.url}/rc-archiver/storage/test`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
  }
  const outline = (a: Answer) => a.steps.map((s) => `${s.id}:${s.status}`);
  const sftpSteps = ['connect:ok', 'hostKey:ok', 'login:ok', 'folder:ok', 'write:ok', 'remove:ok'];

  it('refuses a read-only user and an unknown type', async () => {
    const refused = await test(
      { type: 'rc-sftp-server', id: 'srv', settings: server(), credentials: {} },
      'viewer',
    );
    assert.equal(refused.status, 401, 'the viewer lacks rc-sftp-server.write');
    const unknown = await test({ type: 'inject', id: 'x', settings: {}, credentials: {} });
    assert.equal(unknown.status, 400);
    assert.deepEqual(
      walk(sshd.root).filter((f) => f.includes('probe')),
      [],
    );
  });

  it('checks a node that was never deployed with the key typed in its dialog', async () => {
    const res = await test({
      type: 'rc-sftp-server',
      id: 'not-deployed',
      settings: server(),
      credentials: { password: '', privateKey: sshd.privateKey, passphrase: '' },
    });
    assert.equal(res.status, 200);
    const answer = (await res.json()) as Answer;
    assert.deepEqual(outline(answer), sftpSteps);
    assert.equal(answer.ok, true);
    assert.deepEqual(
      walk(sshd.root).filter((f) => f.includes('probe')),
      [],
      'the probe was removed',
    );
  });

  it("uses the deployed node's key for a placeholder, and the dialog's unsaved password over it", async () => {
    const stored = (await (
      await test({
        type: 'rc-sftp-server',
        id: 'srv',
        settings: server(),
        credentials: { password: '', privateKey: '__PWRD__', passphrase: '' },
      })
    ).json()) as Answer;
    assert.deepEqual(outline(stored), sftpSteps);

    // A changed (unsaved) setting in the dialog counts: here a fingerprint that is not the server's.
    const wrongKey = (await (
      await test({
        type: 'rc-sftp-server',
        id: 'srv',
        settings: { ...server(), hostFingerprint: 'SHA256:' + 'A'.repeat(43) },
        credentials: { privateKey: '__PWRD__' },
      })
    ).json()) as Answer;
    assert.deepEqual(outline(wrongKey), ['connect:ok', 'hostKey:failed']);
    assert.match(wrongKey.steps[1].reason!, /host key mismatch/);

    const secret = 'typed-but-wrong-password';
    const typed = (await (
      await test({
        type: 'rc-sftp-server',
        id: 'not-deployed-either',
        settings: server(),
        credentials: { password: secret, privateKey: '' },
      })
    ).json()) as Answer;
    assert.deepEqual(outline(typed), ['connect:ok', 'hostKey:ok', 'login:failed']);
    assert.ok(!JSON.stringify(typed).includes(secret), 'no password in the answer');
    assert.ok(!red!.output().includes(secret), 'no password in the log');
  });

  it("reports a folder sink's missing directory, and passes for one that exists", async () => {
    const missing = (await (
      await test({ type: 'rc-folder-sink', id: 'f1', settings: { directory: join(archive, 'nope') } })
    ).json()) as Answer;
    assert.deepEqual(outline(missing), ['folder:failed']);
    assert.match(missing.steps[0].reason!, /does not exist/);

    const ok = (await (
      await test({ type: 'rc-folder-sink', id: 'f1', settings: { directory: 'archive' } })
    ).json()) as Answer;
    assert.deepEqual(outline(ok), ['folder:ok', 'write:ok', 'remove:ok'], 'relative to the user directory');
    assert.deepEqual(walk(archive), []);
  });
});
