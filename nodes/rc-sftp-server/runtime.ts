import { SFTP_SERVER } from '../../lib/node-defaults';
import { SftpStorage, sftpOptionsFromEnv } from '../../lib/storage/sftp';
import type { Node, NodeDef, RED } from '../shared/red';
import { registerStorageTest } from '../shared/storage-test-route';

interface SftpServerDef extends NodeDef {
  host?: string;
  port?: string | number;
  username?: string;
  root?: string;
  hostFingerprint?: string;
  privateKeyFile?: string;
}

export interface SftpCredentials {
  password?: string;
  privateKey?: string;
  passphrase?: string;
  [key: string]: string | undefined;
}

export interface SftpServerNode extends Node<SftpCredentials> {
  /** One connection per server, shared by every sink that writes to it. */
  getStorage(): SftpStorage;
}

/** The adapter of a server's settings (deployed, or a dialog's for its Test button). */
function sftpStorage(def: SftpServerDef, credentials: SftpCredentials): SftpStorage {
  const text = (v: unknown) => (typeof v === 'string' ? v.trim() : '');
  const options = sftpOptionsFromEnv({
    host: text(def.host) || undefined,
    port: def.port ? Number(def.port) : undefined,
    username: text(def.username) || undefined,
    password: credentials.password || undefined,
    privateKey: credentials.privateKey || undefined,
    privateKeyFile: text(def.privateKeyFile) || undefined,
    passphrase: credentials.passphrase || undefined,
    hostFingerprint: text(def.hostFingerprint) || undefined,
    root: text(def.root) || undefined,
  });
  return new SftpStorage({ ...options, port: options.port ?? SFTP_SERVER.whenEmpty.port });
}

export default function register(RED: RED): void {
  function SftpServer(this: SftpServerNode, def: SftpServerDef) {
    RED.nodes.createNode(this, def);
    let storage: SftpStorage | undefined;
    this.getStorage = () => {
      storage ??= sftpStorage(def, this.credentials);
      return storage;
    };
    this.on('close', (_removed: boolean, done: () => void) => {
      const closing = storage;
      storage = undefined;
      Promise.resolve(closing?.close()).finally(done);
    });
  }
  RED.nodes.registerType('rc-sftp-server', SftpServer, {
    credentials: {
      password: { type: 'password' },
      privateKey: { type: 'password' },
      passphrase: { type: 'password' },
    },
  });
  registerStorageTest(
    RED,
    'rc-sftp-server',
    ['password', 'privateKey', 'passphrase'],
    (settings, credentials) => sftpStorage(settings as SftpServerDef, credentials),
  );
}
