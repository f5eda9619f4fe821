declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
import { italicWhenNamed, sinkDefaults, sinkInputLabels, sinkOutputLabels } from '../shared/sink-editor';

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
    ...sinkDefaults(),
  },
  inputLabels: sinkInputLabels,
  outputLabels: sinkOutputLabels,
  paletteLabel: 'archive to Box',
  label: function (this: { name?: string }) {
    return this.name || 'archive to Box';
  },
  labelStyle: italicWhenNamed,
});
