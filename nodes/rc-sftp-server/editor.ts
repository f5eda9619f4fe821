declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
import type { EditorNode } from '../shared/connect-editor';
import { setupStorageTest } from '../shared/storage-test-editor';

RED.nodes.registerType('rc-sftp-server', {
  category: 'config',
  defaults: {
    name: { value: '' },
    host: { value: '' },
    port: { value: 22, validate: RED.validators.number(true) },
    username: { value: '' },
    root: { value: '' },
    hostFingerprint: {
      value: '',
      validate: function (v: string) {
        return !v || /^(SHA256:)?[A-Za-z0-9+/=:]+$/.test(v);
      },
    },
    privateKeyFile: { value: '' },
  },
  credentials: {
    password: { type: 'password' },
    privateKey: { type: 'password' },
    passphrase: { type: 'password' },
  },
  label: function (this: { name?: string; host?: string; username?: string }) {
    if (this.name) return this.name;
    return this.host ? `sftp://${this.username ? this.username + '@' : ''}${this.host}` : 'SFTP (env)';
  },
  oneditprepare: function (this: EditorNode) {
    setupStorageTest(this, 'rc-sftp-server');
  },
});
