import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import {
  formatFingerprint,
  parseFingerprint,
  SftpStorage,
  sftpOptionsFromEnv,
  writePieceSize,
  type SftpOptions,
} from '../../lib/storage/sftp';
import { startSshd, type SshdServer } from '../support/sshd';

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

function failingStream(chunks: Buffer[]): Readable {
  let i = 0;
  return new Readable({
    read() {
      if (i < chunks.length) this.push(chunks[i++]);
      else setImmediate(() => this.destroy(new Error('upstream reset')));
    },
  });
}

/** A TCP relay in front of sshd whose connections the test can cut, to simulate a dropped link. */
async function relay(port: number) {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((client) => {
    accepted++;
    const upstream = net.connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted: () => accepted,
    cut: () => sockets.forEach((s) => s.destroy()),
    close: () =>
      new Promise<void>((resolve) => (sockets.forEach((s) => s.destroy()), server.close(() => resolve()))),
  };
}

describe('SftpStorage against a real OpenSSH sshd', () => {
  let sshd: SshdServer;
  const opened: SftpStorage[] = [];

  before(async () => {
    sshd = await startSshd();
  });
  after(async () => {
    await Promise.all(opened.map((s) => s.close()));
    await sshd?.stop();
  });

  function storage(overrides: Partial<SftpOptions> = {}): SftpStorage {
    const s = new SftpStorage({
      host: sshd.host,
      port: sshd.port,
      username: sshd.username,
      privateKey: sshd.privateKey,
      hostFingerprint: sshd.hostFingerprint,
      root: sshd.root,
      connectTimeoutMs: 10_000,
      ...overrides,
    });
    opened.push(s);
    return s;
  }

  it('logs in with a key, writes the bytes and leaves no .part', async () => {
    const s = storage();
    await s.check();
    const data = randomBytes(300_000);
    const result = await s.put(
      'key/2024-05-01/rec one.mp3',
      Readable.from([data.subarray(0, 1000), data.subarray(1000)]),
      {
        expectedBytes: data.length,
      },
    );
    assert.deepEqual(result, {
      path: 'key/2024-05-01/rec one.mp3',
      bytes: data.length,
      sha256: sha256(data),
      alreadyPresent: false,
    });
    assert.deepEqual(
      readFileSync(path.join(sshd.root, 'key/2024-05-01/rec one.mp3')),
      data,
      'the bytes on the server',
    );
    assert.deepEqual(walk(path.join(sshd.root, 'key')), ['2024-05-01/rec one.mp3']);
    assert.deepEqual(await s.stat('key/2024-05-01/rec one.mp3'), { bytes: data.length });
    assert.equal(await s.stat('key/2024-05-01/none.mp3'), undefined);
    assert.equal(await s.stat('no/such/folder.mp3'), undefined);
  });

  it('streams a larger file with many writes in flight, byte-exact', async () => {
    const s = storage();
    const total = 24 * 1024 * 1024;
    const hash = createHash('sha256');
    let produced = 0;
    const body = new Readable({
      read() {
        if (produced >= total) return this.push(null);
        const n = Math.min(total - produced, 37_000 + (produced % 5000)); // odd sizes
        const buf = randomBytes(n);
        hash.update(buf);
        produced += n;
        this.push(buf);
      },
    });
    const result = await s.put('big/24mb.bin', body, { expectedBytes: total });
    const want = hash.digest('hex');
    assert.equal(result.sha256, want);
    assert.equal(sha256(readFileSync(path.join(sshd.root, 'big/24mb.bin'))), want);
  });

  it('reports an identical file as already present and replaces a different one', async () => {
    const s = storage();
    await s.put('dup/a.wav', Readable.from([Buffer.from('same content')]));
    const again = await s.put('dup/a.wav', Readable.from([Buffer.from('same content')]));
    assert.equal(again.alreadyPresent, true);
    const changed = await s.put('dup/a.wav', Readable.from([Buffer.from('SAME CONTENT')]));
    assert.equal(changed.alreadyPresent, false);
    assert.equal(readFileSync(path.join(sshd.root, 'dup/a.wav'), 'utf8'), 'SAME CONTENT');
    assert.deepEqual(walk(path.join(sshd.root, 'dup')), ['a.wav']);
  });

  it('a stream that fails midway leaves no target and no .part, and keeps an existing file', async () => {
    const s = storage();
    await assert.rejects(
      s.put('fail/rec.mp3', failingStream([randomBytes(200_000), randomBytes(200_000)])),
      /SFTP 127\.0\.0\.1:\d+: cannot store fail\/rec\.mp3: upstream reset/,
    );
    assert.deepEqual(walk(path.join(sshd.root, 'fail')), []);
    await s.put('fail/keep.mp3', Readable.from([Buffer.from('good')]));
    await assert.rejects(s.put('fail/keep.mp3', failingStream([Buffer.from('bad')])));
    assert.equal(readFileSync(path.join(sshd.root, 'fail/keep.mp3'), 'utf8'), 'good');
    assert.deepEqual(walk(path.join(sshd.root, 'fail')), ['keep.mp3']);
  });

  it('overwrites a .part that a dropped earlier try left behind', async () => {
    const s = storage();
    const { uid, gid } = statSync(sshd.root); // the SFTP user's
    const dir = path.join(sshd.root, 'stale');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'rec.mp3.part'), 'half of an old upload, longer than the new one');
    chownSync(dir, uid, gid);
    chownSync(path.join(dir, 'rec.mp3.part'), uid, gid);
    await s.put('stale/rec.mp3', Readable.from([Buffer.from('new')]));
    assert.equal(readFileSync(path.join(sshd.root, 'stale/rec.mp3'), 'utf8'), 'new');
    assert.deepEqual(walk(path.join(sshd.root, 'stale')), ['rec.mp3']);
  });

  it('checks the byte count against expectedBytes', async () => {
    const s = storage();
    await assert.rejects(
      s.put('len/a.mp3', Readable.from([Buffer.alloc(5)]), { expectedBytes: 6 }),
      /length mismatch: expected 6 bytes, received 5/,
    );
    await assert.rejects(
      s.put('len/b.mp3', Readable.from([Buffer.alloc(5), Buffer.alloc(5)]), { expectedBytes: 6 }),
      /length mismatch/,
    );
    assert.deepEqual(walk(path.join(sshd.root, 'len')), []);
  });

  it('stops on abort and removes the .part', async () => {
    const s = storage();
    const ac = new AbortController();
    let n = 0;
    const body = new Readable({
      read() {
        if (++n === 5) ac.abort();
        this.push(randomBytes(32 * 1024));
      },
    });
    await assert.rejects(s.put('abort/x.bin', body, { signal: ac.signal }), { name: 'AbortError' });
    assert.equal(body.destroyed, true);
    assert.deepEqual(walk(path.join(sshd.root, 'abort')), []);
  });

  it('refuses paths that escape the root', async () => {
    const s = storage();
    for (const bad of ['../x.txt', '/etc/x', 'a/../../x']) {
      await assert.rejects(s.put(bad, Readable.from([Buffer.from('x')])), /refused path/);
    }
  });

  it('logs in with an encrypted key and its passphrase, and explains a missing or wrong one', async () => {
    await storage({ privateKey: sshd.encryptedPrivateKey, passphrase: sshd.passphrase }).check();
    await assert.rejects(
      storage({ privateKey: sshd.encryptedPrivateKey }).check(),
      /the private key is encrypted: set its passphrase/,
    );
    await assert.rejects(
      storage({ privateKey: sshd.encryptedPrivateKey, passphrase: 'not-it' }).check(),
      (err: Error) =>
        /cannot decrypt the private key: wrong passphrase/.test(err.message) &&
        !err.message.includes('not-it'),
    );
    await assert.rejects(storage({ privateKey: 'garbage' }).check(), /cannot read the private key/);
  });

  it('logs in with a password', async (t) => {
    if (!sshd.password) return t.skip(sshd.passwordSkipReason);
    const s = storage({ privateKey: undefined, password: sshd.password });
    await s.check();
    await s.put('pw/f.txt', Readable.from([Buffer.from('via password')]));
    assert.equal(readFileSync(path.join(sshd.root, 'pw/f.txt'), 'utf8'), 'via password');
  });

  it('a wrong password is a clear authentication error that does not show the password', async () => {
    const secret = 'wrong-' + randomBytes(6).toString('hex');
    await assert.rejects(storage({ privateKey: undefined, password: secret }).check(), (err: Error) => {
      assert.match(
        err.message,
        new RegExp(`^SFTP 127\\.0\\.0\\.1:${sshd.port}: authentication failed for user "${sshd.username}"`),
      );
      assert.ok(!err.message.includes(secret), 'no password in the message');
      return true;
    });
  });

  it('refuses a server whose host key does not match the pinned fingerprint', async () => {
    const other = formatFingerprint(randomBytes(32));
    await assert.rejects(storage({ hostFingerprint: other }).check(), (err: Error) => {
      assert.match(err.message, /host key mismatch/);
      assert.ok(err.message.includes(`expected ${other}, got ${sshd.hostFingerprint}`), err.message);
      return true;
    });
  });

  it('refuses to connect without a fingerprint and shows the one the server presented', async () => {
    await assert.rejects(storage({ hostFingerprint: undefined }).check(), (err: Error) => {
      assert.match(err.message, /no host key fingerprint configured/);
      assert.ok(err.message.includes(`presented ${sshd.hostFingerprint} (ssh-ed25519)`), err.message);
      return true;
    });
    assert.deepEqual(
      walk(sshd.root).filter((f) => f.includes('probe')),
      [],
    );
  });

  it('accepts the fingerprint as OpenSSH prints it, with padding, or as hex with or without colons', async () => {
    const raw = parseFingerprint(sshd.hostFingerprint);
    const hex = raw.toString('hex');
    const forms = [
      sshd.hostFingerprint,
      sshd.hostFingerprint.slice('SHA256:'.length),
      `SHA256:${raw.toString('base64')}`,
      hex,
      hex.toUpperCase().match(/../g)!.join(':'),
      `256 ${sshd.hostFingerprint} rcarchiver-test (ED25519)`,
    ];
    for (const form of forms) await storage({ hostFingerprint: form }).check();
    assert.throws(() => parseFingerprint('MD5:12:34'), /MD5 fingerprints are not accepted/);
    assert.throws(() => parseFingerprint('SHA256:tooShort'), /not a SHA-256 fingerprint/);
    assert.throws(() => storage({ hostFingerprint: 'abc' }), /not a SHA-256 fingerprint/);
  });

  it('check() reports a missing root folder, and puts do not create it', async () => {
    const s = storage({ root: path.join(sshd.root, 'not-there') });
    await assert.rejects(s.check(), /root folder ".*not-there" does not exist on the server/);
    await assert.rejects(s.put('a/b.txt', Readable.from([Buffer.from('x')])), /does not exist on the server/);
    assert.equal(existsSync(path.join(sshd.root, 'not-there')), false);
  });

  it('reports permission denied', async (t) => {
    if (sshd.username === 'root') return t.skip('the SFTP user is root, for whom nothing is denied');
    const locked = path.join(sshd.root, 'locked');
    mkdirSync(locked, { mode: 0o755 });
    chownSync(locked, 0, 0);
    const s = storage({ root: locked });
    await assert.rejects(s.check(), /cannot write to root folder ".*locked": permission denied for user/);
    await assert.rejects(
      s.put('sub/f.txt', Readable.from([Buffer.from('x')])),
      /cannot store sub\/f\.txt: .*permission denied for user/i,
    );
  });

  it('a full disk (status 4, FAILURE) is said to be one, and nothing is left behind', async () => {
    const s = storage();
    const { uid, gid } = statSync(sshd.root); // the SFTP user's
    const dir = path.join(sshd.root, 'full');
    mkdirSync(dir);
    chownSync(dir, uid, gid);
    // The upload's .part leads to /dev/full, where every write fails with ENOSPC, which OpenSSH's
    // sftp server answers with the bare status 4, as it does for a full disk or quota.
    symlinkSync('/dev/full', path.join(dir, 'rec.mp3.part'));
    await assert.rejects(s.put('full/rec.mp3', Readable.from([randomBytes(100_000)])), (err: Error) => {
      assert.match(
        err.message,
        /^SFTP 127\.0\.0\.1:\d+: cannot store full\/rec\.mp3: the server refused the write, often a full disk or quota \(SFTP status 4: .+\)$/,
      );
      return true;
    });
    assert.deepEqual(walk(dir), [], 'no target, and the .part is removed');
  });

  it('connection refused is explained', async () => {
    const closed = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as net.AddressInfo;
        srv.close(() => resolve(port));
      });
    });
    await assert.rejects(storage({ port: closed }).check(), /connection refused/);
  });

  it('shares one connection between many puts, at most maxConcurrent at once, and reconnects after a drop', async () => {
    const link = await relay(sshd.port);
    try {
      const s = storage({ port: link.port, maxConcurrent: 2 });
      const files = Array.from({ length: 8 }, (_, i) => ({
        name: `many/f${i}.bin`,
        data: randomBytes(50_000 + i),
      }));
      const results = await Promise.all(files.map((f) => s.put(f.name, Readable.from([f.data]))));
      assert.equal(link.accepted(), 1, 'one connection for all puts');
      for (const [i, f] of files.entries()) {
        assert.equal(results[i].sha256, sha256(f.data));
        assert.deepEqual(readFileSync(path.join(sshd.root, f.name)), f.data);
      }
      link.cut();
      await new Promise((r) => setTimeout(r, 100));
      const after = await s.put('many/after-drop.txt', Readable.from([Buffer.from('again')]));
      assert.equal(after.bytes, 5);
      assert.equal(link.accepted(), 2, 'a new connection after the drop');
      await s.close();
    } finally {
      await link.close();
    }
  });

  it('a connection lost mid-transfer fails that put promptly; the next put reconnects', async () => {
    const link = await relay(sshd.port);
    try {
      const s = storage({ port: link.port });
      await s.put('drop/warm.txt', Readable.from([Buffer.from('warm')]));
      let n = 0;
      const body = new Readable({
        read() {
          n++;
          if (n === 20) link.cut();
          if (n > 20) setTimeout(() => this.push(randomBytes(16 * 1024)), 5);
          else this.push(randomBytes(16 * 1024));
        },
      });
      const started = Date.now();
      await assert.rejects(
        s.put('drop/big.bin', body),
        /cannot store drop\/big\.bin: .*(lost|closed|No response)/i,
      );
      assert.ok(Date.now() - started < 5000, 'failed promptly');
      assert.equal(body.destroyed, true);
      assert.equal(existsSync(path.join(sshd.root, 'drop/big.bin')), false);
      const again = await s.put('drop/after.txt', Readable.from([Buffer.from('ok')]));
      assert.equal(again.bytes, 2);
      assert.equal(link.accepted(), 2);
    } finally {
      await link.close();
    }
  });

  it('limits concurrent transfers', async () => {
    const s = storage({ maxConcurrent: 2 });
    let reading = 0;
    let peak = 0;
    const slow = () => {
      let sent = false;
      return new Readable({
        read() {
          if (sent) return;
          sent = true;
          reading++;
          peak = Math.max(peak, reading);
          setTimeout(() => {
            reading--;
            this.push(Buffer.from('x'));
            this.push(null);
          }, 30);
        },
      });
    };
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => s.put(`limit/${i}.txt`, slow())));
    assert.equal(results.length, 6);
    // How much the transfers overlap depends on timing; the limit must hold whatever it is.
    assert.ok(peak >= 1 && peak <= 2, `at most 2 transfers read at once (peak ${peak})`);
  });

  it('a 50 MB file in chunks that straddle the write pieces arrives byte-exact, with no .part', async () => {
    const s = storage();
    const piece = writePieceSize(32 * 1024, 256 * 1024 - 2048, 4); // OpenSSH's limits and handle
    // Sizes around one write piece and far from it, so that pieces are cut from and gathered
    // across chunks in every way.
    const sizes = [1, piece - 1, piece, piece + 1, 2, 3 * piece + 5, 1024 * 1024, 16 * 1024, 7, 250_000];
    const total = 50 * 1024 * 1024;
    const data = randomBytes(total);
    const chunks: Buffer[] = [];
    for (let off = 0, i = 0; off < total; i++) {
      const n = Math.min(sizes[i % sizes.length], total - off);
      chunks.push(data.subarray(off, off + n));
      off += n;
    }
    const result = await s.put('large/50mb.bin', Readable.from(chunks), { expectedBytes: total });
    assert.equal(result.bytes, total);
    assert.equal(result.sha256, sha256(data));
    assert.equal(
      sha256(readFileSync(path.join(sshd.root, 'large/50mb.bin'))),
      sha256(data),
      'the bytes on the server',
    );
    assert.deepEqual(walk(path.join(sshd.root, 'large')), ['50mb.bin']);
  });

  it('a connection cut in the middle of a 50 MB file leaves nothing under its name; a retry stores it whole', async () => {
    const link = await relay(sshd.port);
    try {
      const s = storage({ port: link.port });
      const total = 50 * 1024 * 1024;
      const data = randomBytes(total);
      const chunk = 256 * 1024;
      let sent = 0;
      const body = new Readable({
        read() {
          if (sent >= total) return this.push(null);
          // Halfway, with many writes in flight, the link goes.
          if (sent === total / 2) link.cut();
          this.push(data.subarray(sent, sent + chunk));
          sent += chunk;
        },
      });
      await assert.rejects(
        s.put('cut/50mb.bin', body, { expectedBytes: total }),
        /cannot store cut\/50mb\.bin: .*(lost|closed|No response)/i,
      );
      assert.ok(sent < total, 'the put stopped reading when the connection was lost');
      assert.equal(existsSync(path.join(sshd.root, 'cut/50mb.bin')), false, 'no file under the final name');
      const again = await s.put('cut/50mb.bin', Readable.from([data]), { expectedBytes: total });
      assert.equal(again.sha256, sha256(data));
      assert.equal(sha256(readFileSync(path.join(sshd.root, 'cut/50mb.bin'))), sha256(data));
      assert.deepEqual(walk(path.join(sshd.root, 'cut')), ['50mb.bin'], 'the .part of the cut try is gone');
    } finally {
      await link.close();
    }
  });

  it('sftpOptionsFromEnv fills empty fields from SFTP_* variables and reads the key file', () => {
    const keyFile = path.join(sshd.dir, 'env-key');
    writeFileSync(keyFile, 'KEY TEXT', { mode: 0o600 });
    const env = {
      SFTP_HOST: 'sftp.example',
      SFTP_PORT: '2222',
      SFTP_USER: 'archiver',
      SFTP_PASSWORD: 'pw',
      SFTP_PRIVATE_KEY_FILE: keyFile,
      SFTP_HOST_FINGERPRINT: 'SHA256:abc',
      SFTP_ROOT: '/srv/archive',
    };
    assert.deepEqual(sftpOptionsFromEnv({}, env), {
      host: 'sftp.example',
      port: 2222,
      username: 'archiver',
      password: 'pw',
      privateKey: 'KEY TEXT',
      hostFingerprint: 'SHA256:abc',
      root: '/srv/archive',
    });
    const own = sftpOptionsFromEnv(
      { host: 'mine', port: 22, username: '', privateKey: 'OWN', root: '' },
      env,
    );
    assert.equal(own.host, 'mine');
    assert.equal(own.port, 22);
    assert.equal(own.username, 'archiver');
    assert.equal(own.privateKey, 'OWN');
    assert.equal(own.root, '/srv/archive');
    assert.throws(
      () => sftpOptionsFromEnv({}, { SFTP_PRIVATE_KEY_FILE: '/nonexistent/key' }),
      /cannot read the private key file/,
    );
    assert.throws(() => new SftpStorage(sftpOptionsFromEnv({}, {})), /no host configured/);
  });
});

describe('writePieceSize', () => {
  const header = (handle: number) => 4 + 1 + 4 + 4 + handle + 8 + 4;

  it('fills whole SSH packets: two 32 KiB packets per write with OpenSSH', () => {
    const piece = writePieceSize(32 * 1024, 256 * 1024 - 2048, 4);
    assert.equal(piece + header(4), 2 * 32 * 1024);
  });

  it('follows the handle length and the packet size the server announced', () => {
    assert.equal(writePieceSize(32 * 1024, 256 * 1024 - 2048, 16) + header(16), 64 * 1024);
    assert.equal(writePieceSize(16 * 1024, 256 * 1024 - 2048, 4) + header(4), 32 * 1024);
  });

  it('never goes past the largest write the server takes', () => {
    // A server that takes less than two packets: one whole packet per write.
    assert.equal(writePieceSize(32 * 1024, 40_000, 4), 32 * 1024 - header(4));
    // Less than one packet (ssh2's own limit when it cannot tell): the limit itself.
    assert.equal(writePieceSize(32 * 1024, 34_000 - 2048, 4), 34_000 - 2048);
    // A packet size that makes no sense is taken as 32 KiB.
    assert.equal(writePieceSize(0, 256 * 1024 - 2048, 4) + header(4), 64 * 1024);
  });
});
