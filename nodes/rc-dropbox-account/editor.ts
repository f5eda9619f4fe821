declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
import { oauthCredentialDefs, setupConnect, type EditorNode } from '../shared/connect-editor';
import { setupStorageTest } from '../shared/storage-test-editor';

RED.nodes.registerType('rc-dropbox-account', {
  category: 'config',
  defaults: {
    name: { value: '' },
    clientId: { value: '', required: true },
    root: { value: '/RingCentral Archive' },
    account: { value: '' },
    endpoint: { value: '' },
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
    setupConnect(this, 'rc-dropbox-account', 'dropbox');
    setupStorageTest(this, 'rc-dropbox-account');
  },
});
