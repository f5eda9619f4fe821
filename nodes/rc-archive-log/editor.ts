declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
import { ARCHIVE_LOG } from '../../lib/node-defaults';
import { showMissingDefaults } from '../shared/defaults-editor';

// Absent from a flow saved before the setting existed: the runtime takes the default.
const nonNegative = (v: string | number | undefined) =>
  v === undefined || (String(v).trim() !== '' && Number(v) >= 0);

RED.nodes.registerType('rc-archive-log', {
  category: 'RingCentral',
  color: '#E2D96E',
  icon: 'rc-log.svg',
  inputs: 1,
  outputs: 2,
  defaults: {
    name: { value: '' },
    summaryDelay: { value: ARCHIVE_LOG.value.summaryDelay, validate: nonNegative },
    keepDays: {
      value: ARCHIVE_LOG.value.keepDays,
      validate: (v: string | number | undefined) =>
        v === undefined || (nonNegative(v) && Number.isInteger(Number(v))),
    },
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
  oneditprepare: function (this: object) {
    showMissingDefaults(this, ARCHIVE_LOG);
  },
});
