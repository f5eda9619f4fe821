import {
  prepareSourceFields,
  retentionOutputLabel,
  sourceFields,
  sourceInputLabels,
} from '../shared/source-editor';
import { MESSAGE_SOURCE } from '../../lib/node-defaults';
import { showMissingDefaults } from '../shared/defaults-editor';

declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const $: any; // eslint-disable-line @typescript-eslint/no-explicit-any

const fields = sourceFields(MESSAGE_SOURCE);

RED.nodes.registerType('rc-message-source', {
  category: 'RingCentral',
  color: '#F8A44C',
  icon: 'rc-message.svg',
  inputs: 1,
  outputs: 2,
  defaults: {
    name: { value: '' },
    rc: { value: '', type: 'rc-config', required: true },
    scope: { value: MESSAGE_SOURCE.value.scope },
    voicemail: { value: MESSAGE_SOURCE.value.voicemail },
    fax: { value: MESSAGE_SOURCE.value.fax },
    sms: { value: MESSAGE_SOURCE.value.sms },
    mms: { value: MESSAGE_SOURCE.value.mms },
    initialDays: fields.initialDays,
    lookBackMinutes: fields.lookBackMinutes,
    backfill: fields.backfill,
    backfillFrom: fields.backfillFrom,
    backfillTo: fields.backfillTo,
    warnDays: fields.warnDays,
  },
  inputLabels: sourceInputLabels,
  outputLabels: ['one message per voicemail, fax, SMS or MMS item', retentionOutputLabel],
  paletteLabel: 'messages',
  label: function (this: {
    name?: string;
    scope?: string;
    voicemail?: boolean;
    fax?: boolean;
    sms?: boolean;
    mms?: boolean;
  }) {
    if (this.name) return this.name;
    const kinds = [
      this.voicemail !== false ? 'voicemail' : '',
      this.fax !== false ? 'fax' : '',
      this.sms !== false ? 'SMS' : '',
      this.mms !== false ? 'MMS' : '',
    ].filter(Boolean);
    const what = kinds.length === 4 ? 'messages' : kinds.join(', ') || 'messages (none chosen)';
    return this.scope === 'account' ? `${what} (all extensions)` : what;
  },
  labelStyle: function (this: { name?: string }) {
    return this.name ? 'node_label_italic' : '';
  },
  oneditprepare: function (this: { backfill?: string; backfillFrom?: string; scope?: string }) {
    showMissingDefaults(this, MESSAGE_SOURCE);
    prepareSourceFields(this);
    $('#node-input-scope').val(this.scope === 'account' ? 'account' : 'extension');
  },
});
