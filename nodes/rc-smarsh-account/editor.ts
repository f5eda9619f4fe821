declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
import type { EditorNode } from '../shared/connect-editor';
import { setupStorageTest } from '../shared/storage-test-editor';

const address = (v: string) => /^[^\s@<>]+@[^\s@<>]+$/.test(String(v).trim());

RED.nodes.registerType('rc-smarsh-account', {
  category: 'config',
  defaults: {
    name: { value: '' },
    host: { value: '', required: true },
    port: { value: 587, validate: RED.validators.number(true) },
    security: { value: 'starttls' },
    user: { value: '' },
    from: { value: '', validate: address },
    to: { value: '', validate: address },
    maxMb: { value: 25, validate: RED.validators.number(true) },
    ca: { value: '' },
  },
  credentials: {
    password: { type: 'password' },
  },
  label: function (this: { name?: string; to?: string }) {
    return this.name || (this.to ? `Smarsh: ${this.to}` : 'Smarsh journal');
  },
  oneditprepare: function (this: EditorNode) {
    setupStorageTest(this, 'rc-smarsh-account');
  },
});
