declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const $: any; // eslint-disable-line @typescript-eslint/no-explicit-any
import type { EditorNode } from '../shared/connect-editor';
import { setupStorageTest } from '../shared/storage-test-editor';
import { S3_BUCKET } from '../../lib/node-defaults';
import { showEmptyMeaning, showMissingDefaults } from '../shared/defaults-editor';

RED.nodes.registerType('rc-s3-bucket', {
  category: 'config',
  defaults: {
    name: { value: '' },
    bucket: { value: S3_BUCKET.value.bucket },
    prefix: { value: S3_BUCKET.value.prefix },
    region: { value: S3_BUCKET.value.region },
    endpoint: { value: S3_BUCKET.value.endpoint },
    forcePathStyle: { value: S3_BUCKET.value.forcePathStyle },
    storageClass: { value: S3_BUCKET.value.storageClass },
    objectLockMode: { value: S3_BUCKET.value.objectLockMode },
    objectLockDays: {
      value: S3_BUCKET.value.objectLockDays,
      validate: function (this: { objectLockMode?: string }, v: string) {
        const mode = $('#node-config-input-objectLockMode').length
          ? $('#node-config-input-objectLockMode').val()
          : this.objectLockMode;
        return !mode || /^[1-9]\d*$/.test(String(v));
      },
    },
    legalHold: { value: S3_BUCKET.value.legalHold },
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
    showMissingDefaults(this, S3_BUCKET, 'node-config-input');
    showEmptyMeaning(this, 'rc-s3-bucket', S3_BUCKET);
    const toggle = () => $('.rc-s3-lock-days').toggle(!!$('#node-config-input-objectLockMode').val());
    $('#node-config-input-objectLockMode').on('change', toggle);
    toggle();
    setupStorageTest(this, 'rc-s3-bucket');
  },
});
