import { SftpStorage, sftpOptionsFromEnv } from '../../lib/storage/sftp';
import type { Node, NodeDef, RED } from '../shared/red';

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

export default function register(RED: RED): void {
  function SftpServer(this: SftpServerNode, def: SftpServerDef) {
    RED.nodes.createNode(this, def);
    let storage: SftpStorage | undefined;
    this.getStorage = () => {
      if (!storage) {
        const options = sftpOptionsFromEnv({
          host: def.host?.trim() || undefined,
          port: def.port ? Number(def.port) : undefined,
          username: def.username?.trim() || undefined,
          password: this.credentials.password || undefined,
          privateKey: this.credentials.privateKey || undefined,
          privateKeyFile: def.privateKeyFile?.trim() || undefined,
          passphrase: this.credentials.passphrase || undefined,
          hostFingerprint: def.hostFingerprint?.trim() || undefined,
          root: def.root?.trim() || undefined,
        });
        storage = new SftpStorage(options);
      }
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
}
