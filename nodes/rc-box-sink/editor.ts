declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
import { SINK } from '../../lib/node-defaults';
import { showMissingDefaults } from '../shared/defaults-editor';
import { italicWhenNamed, sinkFields, sinkInputLabels, sinkOutputLabels } from '../shared/sink-editor';

const fields = sinkFields();

RED.nodes.registerType('rc-box-sink', {
  category: 'RingCentral',
  color: '#C0DEED',
  icon: 'rc-box.svg',
  align: 'right',
  inputs: 1,
  outputs: 2,
  defaults: {
    name: { value: '' },
    account: { value: '', type: 'rc-box-account', required: true },
    template: fields.template,
    timeZone: fields.timeZone,
    sidecar: fields.sidecar,
    concurrency: fields.concurrency,
  },
  inputLabels: sinkInputLabels,
  outputLabels: sinkOutputLabels,
  paletteLabel: 'archive to Box',
  label: function (this: { name?: string }) {
    return this.name || 'archive to Box';
  },
  labelStyle: italicWhenNamed,
  oneditprepare: function (this: object) {
    showMissingDefaults(this, SINK);
  },
});
