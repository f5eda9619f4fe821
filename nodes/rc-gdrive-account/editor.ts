declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const $: any; // eslint-disable-line @typescript-eslint/no-explicit-any
import { oauthCredentialDefs, setupConnect, type EditorNode } from '../shared/connect-editor';
import { setupStorageTest } from '../shared/storage-test-editor';
import { GDRIVE_ACCOUNT } from '../../lib/node-defaults';
import { showMissingDefaults } from '../shared/defaults-editor';

RED.nodes.registerType('rc-gdrive-account', {
  category: 'config',
  defaults: {
    name: { value: '' },
    authMode: { value: GDRIVE_ACCOUNT.value.authMode },
    clientId: { value: GDRIVE_ACCOUNT.value.clientId },
    driveId: { value: GDRIVE_ACCOUNT.value.driveId },
    rootPath: { value: GDRIVE_ACCOUNT.value.rootPath },
    account: { value: GDRIVE_ACCOUNT.value.account },
    endpoint: { value: GDRIVE_ACCOUNT.value.endpoint },
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
    showMissingDefaults(this, GDRIVE_ACCOUNT, 'node-config-input');
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
