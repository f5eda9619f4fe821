declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
import { italicWhenNamed, sinkDefaults, sinkInputLabels, sinkOutputLabels } from '../shared/sink-editor';

RED.nodes.registerType('rc-s3-sink', {
  category: 'RingCentral',
  color: '#C0DEED',
  icon: 'rc-s3.svg',
  align: 'right',
  inputs: 1,
  outputs: 2,
  defaults: {
    name: { value: '' },
    account: { value: '', type: 'rc-s3-bucket', required: true },
    ...sinkDefaults(),
  },
  inputLabels: sinkInputLabels,
  outputLabels: sinkOutputLabels,
  paletteLabel: 'archive to S3',
  label: function (this: { name?: string }) {
    return this.name || 'archive to S3';
  },
  labelStyle: italicWhenNamed,
});
