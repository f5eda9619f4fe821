declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const $: any; // eslint-disable-line @typescript-eslint/no-explicit-any
import { oauthCredentialDefs, setupConnect, type EditorNode } from '../shared/connect-editor';
import { setupStorageTest } from '../shared/storage-test-editor';
import { BOX_ACCOUNT } from '../../lib/node-defaults';
import { showMissingDefaults } from '../shared/defaults-editor';

RED.nodes.registerType('rc-box-account', {
  category: 'config',
  defaults: {
    name: { value: '' },
    authMode: { value: BOX_ACCOUNT.value.authMode },
    clientId: { value: BOX_ACCOUNT.value.clientId },
    subjectType: { value: BOX_ACCOUNT.value.subjectType },
    subjectId: { value: BOX_ACCOUNT.value.subjectId },
    rootPath: { value: BOX_ACCOUNT.value.rootPath },
    account: { value: BOX_ACCOUNT.value.account },
    endpoint: { value: BOX_ACCOUNT.value.endpoint },
  },
  credentials: {
    clientSecret: oauthCredentialDefs.clientSecret,
    accessToken: oauthCredentialDefs.accessToken,
    refreshToken: oauthCredentialDefs.refreshToken,
    expiresAt: oauthCredentialDefs.expiresAt,
    connection: oauthCredentialDefs.connection,
    jwtConfig: { type: 'password' },
  },
  label: function (this: { name?: string; account?: string }) {
    return this.name || (this.account ? `Box: ${this.account}` : 'Box');
  },
  oneditprepare: function (this: EditorNode & { endpoint?: string; account?: string }) {
    showMissingDefaults(this, BOX_ACCOUNT, 'node-config-input');
    const toggle = () => {
      const mode = $('#node-config-input-authMode').val();
      $('.rc-box-client').toggle(mode !== 'jwt');
      $('.rc-box-oauth').toggle(mode === 'oauth');
      $('.rc-box-ccg').toggle(mode === 'ccg');
      $('.rc-box-jwt').toggle(mode === 'jwt');
    };
    $('#node-config-input-authMode').on('change', toggle);
    toggle();
    setupConnect(this, 'rc-box-account', 'box');
    setupStorageTest(this, 'rc-box-account');
  },
});
