declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
import { SINK } from '../../lib/node-defaults';
import { showMissingDefaults } from '../shared/defaults-editor';
import { italicWhenNamed, sinkFields, sinkInputLabels, sinkOutputLabels } from '../shared/sink-editor';

const fields = sinkFields();

RED.nodes.registerType('rc-sftp-sink', {
  category: 'RingCentral',
  color: '#C0DEED',
  icon: 'rc-sftp.svg',
  align: 'right',
  inputs: 1,
  outputs: 2,
  defaults: {
    name: { value: '' },
    server: { value: '', type: 'rc-sftp-server', required: true },
    template: fields.template,
    timeZone: fields.timeZone,
    sidecar: fields.sidecar,
    concurrency: fields.concurrency,
  },
  inputLabels: sinkInputLabels,
  outputLabels: sinkOutputLabels,
  paletteLabel: 'archive to SFTP',
  label: function (this: { name?: string }) {
    return this.name || 'archive to SFTP';
  },
  labelStyle: italicWhenNamed,
  oneditprepare: function (this: object) {
    showMissingDefaults(this, SINK);
  },
});
