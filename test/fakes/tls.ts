import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A private CA and a server certificate it signed for 127.0.0.1 and localhost, made fresh for a
 * test run with the openssl CLI (node:crypto cannot issue X.509 certificates). Bundled test
 * certificates expire; these live two days.
 */
export interface TestCertificates {
  /** The CA certificate (PEM): what a client with a private CA is given to trust. */
  ca: string;
  /** The server's certificate and key (PEM). */
  cert: string;
  key: string;
}

/** True when the openssl CLI can be run (it is in Debian's and most CI images). */
export function haveOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function makeTestCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'rc-test-ca-'));
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  // P-256 keys: quick to make, and every TLS stack takes them.
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    writeFileSync(
      join(dir, 'ca.cnf'),
      'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n',
    );
    writeFileSync(
      join(dir, 'server.cnf'),
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        'authorityKeyIdentifier=keyid',
      ].join('\n') + '\n',
    );
    // The CA: a request self-signed with CA extensions (x509 -req works on OpenSSL 1.1 and 3).
    openssl(
      'req',
      '-new',
      ...ecKey,
      '-keyout',
      'ca.key',
      '-out',
      'ca.csr',
      '-subj',
      '/CN=RC Archiver test CA',
    );
    openssl(
      'x509',
      '-req',
      '-in',
      'ca.csr',
      '-signkey',
      'ca.key',
      '-days',
      '2',
      '-extfile',
      'ca.cnf',
      '-out',
      'ca.pem',
    );
    openssl('req', '-new', ...ecKey, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
    openssl(
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-set_serial',
      '0x' + Date.now().toString(16),
      '-days',
      '2',
      '-extfile',
      'server.cnf',
      '-out',
      'server.pem',
    );
    const read = (name: string) => readFileSync(join(dir, name), 'utf8');
    return { ca: read('ca.pem'), cert: read('server.pem'), key: read('server.key') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
