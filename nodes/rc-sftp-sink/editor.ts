declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any

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
    template: { value: '' },
    timeZone: { value: 'UTC' },
    sidecar: { value: true },
    concurrency: { value: 4, validate: RED.validators.number(true) },
  },
  inputLabels: 'ArchiveItem',
  outputLabels: ['archived', 'failed'],
  paletteLabel: 'archive to SFTP',
  label: function (this: { name?: string }) {
    return this.name || 'archive to SFTP';
  },
  labelStyle: function (this: { name?: string }) {
    return this.name ? 'node_label_italic' : '';
  },
});
