declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any

RED.nodes.registerType('rc-folder-sink', {
  category: 'RingCentral',
  color: '#C0DEED',
  icon: 'rc-folder.svg',
  align: 'right',
  inputs: 1,
  outputs: 2,
  defaults: {
    name: { value: '' },
    directory: { value: '' },
    template: { value: '' },
    timeZone: { value: 'UTC' },
    sidecar: { value: true },
    concurrency: { value: 4, validate: RED.validators.number(true) },
  },
  inputLabels: 'ArchiveItem',
  outputLabels: ['archived', 'failed'],
  paletteLabel: 'archive to folder',
  label: function (this: { name?: string; directory?: string }) {
    return this.name || (this.directory ? `folder ${this.directory}` : 'archive to folder');
  },
  labelStyle: function (this: { name?: string }) {
    return this.name ? 'node_label_italic' : '';
  },
});
