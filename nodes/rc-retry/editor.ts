declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
import { RETRY } from '../../lib/node-defaults';
import { parseSchedule } from '../../lib/retry-schedule';
import { showMissingDefaults } from '../shared/defaults-editor';

RED.nodes.registerType('rc-retry', {
  category: 'RingCentral',
  color: '#F8A44C',
  icon: 'rc-retry.svg',
  inputs: 1,
  outputs: 1,
  defaults: {
    name: { value: '' },
    schedule: {
      value: RETRY.value.schedule,
      required: true,
      // With two parameters Node-RED shows the returned text beside the red field.
      validate: function (value: string, opt?: unknown) {
        const parsed = parseSchedule(value);
        if (!parsed.error) return true;
        return opt === undefined ? false : parsed.error;
      },
    },
  },
  inputLabels: "failed items (a sink's error output)",
  outputLabels: 'items to try again',
  paletteLabel: 'retry',
  label: function (this: { name?: string; schedule?: string }) {
    return this.name || `retry ${this.schedule || RETRY.value.schedule}`;
  },
  labelStyle: function (this: { name?: string }) {
    return this.name ? 'node_label_italic' : '';
  },
  oneditprepare: function (this: object) {
    showMissingDefaults(this, RETRY);
  },
});
