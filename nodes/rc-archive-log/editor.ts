declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any

const nonNegative = (v: string | number) => String(v ?? '').trim() !== '' && Number(v) >= 0;

RED.nodes.registerType('rc-archive-log', {
  category: 'RingCentral',
  color: '#E2D96E',
  icon: 'rc-log.svg',
  inputs: 1,
  outputs: 2,
  defaults: {
    name: { value: '' },
    summaryDelay: { value: 3, validate: nonNegative },
    // RingCentral Archiver keeps its logs 6 months; 0 keeps them forever.
    keepDays: { value: 183, validate: (v: string | number) => nonNegative(v) && Number.isInteger(Number(v)) },
  },
  inputLabels: 'archived or failed items',
  outputLabels: ['run summary', 'alert: automatic retries used up'],
  paletteLabel: 'archive log',
  label: function (this: { name?: string }) {
    return this.name || 'archive log';
  },
  labelStyle: function (this: { name?: string }) {
    return this.name ? 'node_label_italic' : '';
  },
});
