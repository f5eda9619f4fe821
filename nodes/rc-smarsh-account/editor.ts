declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
import type { EditorNode } from '../shared/connect-editor';
import { setupStorageTest } from '../shared/storage-test-editor';
import { SMARSH_ACCOUNT } from '../../lib/node-defaults';
import { showEmptyMeaning, showMissingDefaults } from '../shared/defaults-editor';

const address = (v: string) => /^[^\s@<>]+@[^\s@<>]+$/.test(String(v).trim());

RED.nodes.registerType('rc-smarsh-account', {
  category: 'config',
  defaults: {
    name: { value: '' },
    host: { value: SMARSH_ACCOUNT.value.host, required: true },
    port: { value: SMARSH_ACCOUNT.value.port, validate: RED.validators.number(true) },
    security: { value: SMARSH_ACCOUNT.value.security },
    user: { value: SMARSH_ACCOUNT.value.user },
    // Required: the journal has no address of its own.
    from: { value: SMARSH_ACCOUNT.value.from, required: true, validate: address },
    to: { value: SMARSH_ACCOUNT.value.to, required: true, validate: address },
    maxMb: { value: SMARSH_ACCOUNT.value.maxMb, validate: RED.validators.number(true) },
    ca: { value: SMARSH_ACCOUNT.value.ca },
  },
  credentials: {
    password: { type: 'password' },
  },
  label: function (this: { name?: string; to?: string }) {
    return this.name || (this.to ? `Smarsh: ${this.to}` : 'Smarsh journal');
  },
  oneditprepare: function (this: EditorNode) {
    showMissingDefaults(this, SMARSH_ACCOUNT, 'node-config-input');
    showEmptyMeaning(this, 'rc-smarsh-account', SMARSH_ACCOUNT);
    setupStorageTest(this, 'rc-smarsh-account');
  },
});
