declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const $: any; // eslint-disable-line @typescript-eslint/no-explicit-any
import type { EditorNode } from '../shared/connect-editor';
import { setupStorageTest } from '../shared/storage-test-editor';

RED.nodes.registerType('rc-s3-bucket', {
  category: 'config',
  defaults: {
    name: { value: '' },
    // Empty: S3_BUCKET.
    bucket: { value: '' },
    prefix: { value: 'RingCentral Archive/' },
    region: { value: 'us-east-1' },
    endpoint: { value: '' },
    forcePathStyle: { value: false },
    storageClass: { value: '' },
    objectLockMode: { value: '' },
    objectLockDays: {
      value: '',
      validate: function (this: { objectLockMode?: string }, v: string) {
        const mode = $('#node-config-input-objectLockMode').length
          ? $('#node-config-input-objectLockMode').val()
          : this.objectLockMode;
        return !mode || /^[1-9]\d*$/.test(String(v));
      },
    },
    legalHold: { value: false },
  },
  credentials: {
    accessKeyId: { type: 'text' },
    secretAccessKey: { type: 'password' },
    sessionToken: { type: 'password' },
  },
  label: function (this: { name?: string; bucket?: string; prefix?: string }) {
    return this.name || (this.bucket ? `s3://${this.bucket}/${this.prefix || ''}` : 'S3 bucket');
  },
  oneditprepare: function (this: EditorNode) {
    const toggle = () => $('.rc-s3-lock-days').toggle(!!$('#node-config-input-objectLockMode').val());
    $('#node-config-input-objectLockMode').on('change', toggle);
    toggle();
    setupStorageTest(this, 'rc-s3-bucket');
  },
});
