declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const $: any; // eslint-disable-line @typescript-eslint/no-explicit-any
import { oauthCredentialDefs, setupConnect, type EditorNode } from '../shared/connect-editor';
import { setupStorageTest } from '../shared/storage-test-editor';

RED.nodes.registerType('rc-box-account', {
  category: 'config',
  defaults: {
    name: { value: '' },
    authMode: { value: 'oauth' },
    clientId: { value: '' },
    subjectType: { value: 'enterprise' },
    subjectId: { value: '' },
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
    jwtConfig: { type: 'password' },
  },
  label: function (this: { name?: string; account?: string }) {
    return this.name || (this.account ? `Box: ${this.account}` : 'Box');
  },
  oneditprepare: function (this: EditorNode & { endpoint?: string; account?: string }) {
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
