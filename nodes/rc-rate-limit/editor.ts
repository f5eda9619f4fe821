declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
import { RATE_LIMIT } from '../../lib/node-defaults';
import { showMissingDefaults } from '../shared/defaults-editor';

RED.nodes.registerType('rc-rate-limit', {
  category: 'RingCentral',
  color: '#F8A44C',
  icon: 'rc-rate-limit.svg',
  inputs: 1,
  outputs: 1,
  defaults: {
    name: { value: '' },
    rc: { value: '', type: 'rc-config', required: false },
    group: { value: RATE_LIMIT.value.group },
    // Blank: Node-RED's nodeMessageBufferMaxLength, else 10000.
    maxQueue: {
      value: RATE_LIMIT.value.maxQueue,
      validate: (v: string | number) =>
        String(v ?? '').trim() === '' || /^[1-9]\d{0,7}$/.test(String(v).trim()),
    },
  },
  inputLabels: 'ArchiveItem',
  outputLabels: 'released when RingCentral allows',
  paletteLabel: 'rate limit',
  label: function (this: { name?: string; group?: string }) {
    return this.name || (this.group && this.group !== 'auto' ? `rate limit (${this.group})` : 'rate limit');
  },
  labelStyle: function (this: { name?: string }) {
    return this.name ? 'node_label_italic' : '';
  },
  oneditprepare: function (this: object) {
    showMissingDefaults(this, RATE_LIMIT);
  },
});
