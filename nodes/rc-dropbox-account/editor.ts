declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
import { setupConnect } from '../shared/connect-editor';

let stopConnect: (() => void) | undefined;

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
    clientSecret: { type: 'password' },
    accessToken: { type: 'password' },
    refreshToken: { type: 'password' },
    expiresAt: { type: 'password' },
    connection: { type: 'password' },
  },
  label: function (this: { name?: string; account?: string }) {
    return this.name || (this.account ? `Dropbox: ${this.account}` : 'Dropbox');
  },
  oneditprepare: function (this: { id: string; endpoint?: string; account?: string }) {
    stopConnect = setupConnect(this, 'rc-dropbox-account', 'dropbox');
  },
  oneditsave: function () {
    stopConnect?.();
  },
  oneditcancel: function () {
    stopConnect?.();
  },
});
