declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
import { italicWhenNamed, sinkDefaults, sinkInputLabels, sinkOutputLabels } from '../shared/sink-editor';

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
    ...sinkDefaults(),
  },
  inputLabels: sinkInputLabels,
  outputLabels: sinkOutputLabels,
  paletteLabel: 'archive to SFTP',
  label: function (this: { name?: string }) {
    return this.name || 'archive to SFTP';
  },
  labelStyle: italicWhenNamed,
});
