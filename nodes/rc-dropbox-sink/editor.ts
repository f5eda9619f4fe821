declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
import { italicWhenNamed, sinkDefaults, sinkInputLabels, sinkOutputLabels } from '../shared/sink-editor';

RED.nodes.registerType('rc-dropbox-sink', {
  category: 'RingCentral',
  color: '#C0DEED',
  icon: 'rc-dropbox.svg',
  align: 'right',
  inputs: 1,
  outputs: 2,
  defaults: {
    name: { value: '' },
    account: { value: '', type: 'rc-dropbox-account', required: true },
    ...sinkDefaults(),
  },
  inputLabels: sinkInputLabels,
  outputLabels: sinkOutputLabels,
  paletteLabel: 'archive to Dropbox',
  label: function (this: { name?: string }) {
    return this.name || 'archive to Dropbox';
  },
  labelStyle: italicWhenNamed,
});
