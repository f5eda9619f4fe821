declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
import type { EditorNode } from '../shared/connect-editor';
import { setupStorageTest } from '../shared/storage-test-editor';
import { SFTP_SERVER } from '../../lib/node-defaults';
import { showEmptyMeaning, showMissingDefaults } from '../shared/defaults-editor';

RED.nodes.registerType('rc-sftp-server', {
  category: 'config',
  defaults: {
    name: { value: '' },
    host: { value: SFTP_SERVER.value.host },
    port: { value: SFTP_SERVER.value.port, validate: RED.validators.number(true) },
    username: { value: SFTP_SERVER.value.username },
    root: { value: SFTP_SERVER.value.root },
    hostFingerprint: {
      value: SFTP_SERVER.value.hostFingerprint,
      validate: function (v: string) {
        return !v || /^(SHA256:)?[A-Za-z0-9+/=:]+$/.test(v);
      },
    },
    privateKeyFile: { value: SFTP_SERVER.value.privateKeyFile },
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
    showMissingDefaults(this, SFTP_SERVER, 'node-config-input');
    showEmptyMeaning(this, 'rc-sftp-server', SFTP_SERVER);
    setupStorageTest(this, 'rc-sftp-server');
  },
});
