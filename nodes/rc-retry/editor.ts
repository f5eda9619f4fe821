declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
import { DEFAULT_SCHEDULE, parseSchedule } from '../../lib/retry-schedule';

RED.nodes.registerType('rc-retry', {
  category: 'RingCentral',
  color: '#F8A44C',
  icon: 'rc-retry.svg',
  inputs: 1,
  outputs: 1,
  defaults: {
    name: { value: '' },
    schedule: {
      value: DEFAULT_SCHEDULE,
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
    return this.name || `retry ${this.schedule || DEFAULT_SCHEDULE}`;
  },
  labelStyle: function (this: { name?: string }) {
    return this.name ? 'node_label_italic' : '';
  },
});
