declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
import { COMPLIANCE_EXPORT } from '../../lib/node-defaults';
import { showMissingDefaults } from '../shared/defaults-editor';

/** Empty, or up to 10 comma-separated entries each matching `pattern`. */
function idList(pattern: RegExp) {
  return (value: string) => {
    const parts = String(value ?? '')
      .split(/[,;\s]+/)
      .filter(Boolean);
    return parts.length <= 10 && parts.every((p) => pattern.test(p));
  };
}

RED.nodes.registerType('rc-compliance-export', {
  category: 'RingCentral',
  color: '#F8A44C',
  icon: 'rc-compliance-export.svg',
  inputs: 1,
  outputs: 1,
  defaults: {
    name: { value: '' },
    rc: { value: '', type: 'rc-config', required: true },
    initialDays: {
      value: COMPLIANCE_EXPORT.value.initialDays,
      required: true,
      validate: RED.validators.number(),
    },
    contacts: {
      value: COMPLIANCE_EXPORT.value.contacts,
      validate: idList(/^(?:\d{1,20}|[^\s@,]+@[^\s@,]+\.[^\s@,]+)$/),
    },
    chatIds: { value: COMPLIANCE_EXPORT.value.chatIds, validate: idList(/^\d{1,20}$/) },
    unpack: { value: COMPLIANCE_EXPORT.value.unpack },
    pollSeconds: {
      value: COMPLIANCE_EXPORT.value.pollSeconds,
      required: true,
      validate: (v: string | number) => Number(v) >= 1,
    },
  },
  inputLabels: 'trigger',
  outputLabels: ['one message per export zip (and per chat per day when unpacked)'],
  paletteLabel: 'compliance export',
  label: function (this: { name?: string; unpack?: boolean }) {
    return this.name || (this.unpack ? 'team messaging (unpacked)' : 'team messaging export');
  },
  labelStyle: function (this: { name?: string }) {
    return this.name ? 'node_label_italic' : '';
  },
  oneditprepare: function (this: object) {
    showMissingDefaults(this, COMPLIANCE_EXPORT);
  },
});
