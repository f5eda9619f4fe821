declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
import { oauthCredentialDefs, setupConnect, type EditorNode } from '../shared/connect-editor';
import { setupStorageTest } from '../shared/storage-test-editor';
import { DROPBOX_ACCOUNT } from '../../lib/node-defaults';
import { showMissingDefaults } from '../shared/defaults-editor';

RED.nodes.registerType('rc-dropbox-account', {
  category: 'config',
  defaults: {
    name: { value: '' },
    clientId: { value: DROPBOX_ACCOUNT.value.clientId, required: true },
    root: { value: DROPBOX_ACCOUNT.value.root },
    account: { value: DROPBOX_ACCOUNT.value.account },
    endpoint: { value: DROPBOX_ACCOUNT.value.endpoint },
  },
  credentials: {
    clientSecret: oauthCredentialDefs.clientSecret,
    accessToken: oauthCredentialDefs.accessToken,
    refreshToken: oauthCredentialDefs.refreshToken,
    expiresAt: oauthCredentialDefs.expiresAt,
    connection: oauthCredentialDefs.connection,
  },
  label: function (this: { name?: string; account?: string }) {
    return this.name || (this.account ? `Dropbox: ${this.account}` : 'Dropbox');
  },
  oneditprepare: function (this: EditorNode & { endpoint?: string; account?: string }) {
    showMissingDefaults(this, DROPBOX_ACCOUNT, 'node-config-input');
    setupConnect(this, 'rc-dropbox-account', 'dropbox');
    setupStorageTest(this, 'rc-dropbox-account');
  },
});
