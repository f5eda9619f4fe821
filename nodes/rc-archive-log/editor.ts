declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any

RED.nodes.registerType('rc-archive-log', {
  category: 'RingCentral',
  color: '#E2D96E',
  icon: 'rc-log.svg',
  inputs: 1,
  outputs: 1,
  defaults: {
    name: { value: '' },
    summaryDelay: { value: 3, validate: RED.validators.number() },
  },
  inputLabels: 'archived or failed items',
  outputLabels: 'run summary',
  paletteLabel: 'archive log',
  label: function (this: { name?: string }) {
    return this.name || 'archive log';
  },
  labelStyle: function (this: { name?: string }) {
    return this.name ? 'node_label_italic' : '';
  },
});
