declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const $: any; // eslint-disable-line @typescript-eslint/no-explicit-any
import { oauthCredentialDefs, setupConnect, type EditorNode } from '../shared/connect-editor';
import { setupStorageTest } from '../shared/storage-test-editor';

RED.nodes.registerType('rc-gdrive-account', {
  category: 'config',
  defaults: {
    name: { value: '' },
    authMode: { value: 'oauth' },
    clientId: { value: '' },
    driveId: { value: '' },
    rootPath: { value: 'RingCentral Archive' },
    account: { value: '' },
    endpoint: { value: '' },
  },
  credentials: {
    clientSecret: oauthCredentialDefs.clientSecret,
    accessToken: oauthCredentialDefs.accessToken,
    refreshToken: oauthCredentialDefs.refreshToken,
    expiresAt: oauthCredentialDefs.expiresAt,
    connection: oauthCredentialDefs.connection,
    serviceAccountKey: { type: 'password' },
  },
  label: function (this: { name?: string; account?: string; authMode?: string }) {
    return this.name || (this.account ? `Google Drive: ${this.account}` : 'Google Drive');
  },
  oneditprepare: function (this: EditorNode & { endpoint?: string; account?: string }) {
    const toggle = () => {
      const oauth = $('#node-config-input-authMode').val() !== 'serviceAccount';
      $('.rc-gdrive-oauth').toggle(oauth);
      $('.rc-gdrive-sa').toggle(!oauth);
    };
    $('#node-config-input-authMode').on('change', toggle);
    toggle();
    setupConnect(this, 'rc-gdrive-account', 'gdrive');
    setupStorageTest(this, 'rc-gdrive-account');
  },
});
