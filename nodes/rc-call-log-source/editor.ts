import {
  prepareSourceFields,
  retentionOutputLabel,
  sourceFields,
  sourceInputLabels,
} from '../shared/source-editor';
import { CALL_LOG_SOURCE, settingOf } from '../../lib/node-defaults';
import { showMissingDefaults } from '../shared/defaults-editor';

declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const $: any; // eslint-disable-line @typescript-eslint/no-explicit-any

const fields = sourceFields(CALL_LOG_SOURCE);

RED.nodes.registerType('rc-call-log-source', {
  category: 'RingCentral',
  color: '#F8A44C',
  icon: 'rc-phone.svg',
  inputs: 1,
  outputs: 2,
  defaults: {
    name: { value: '' },
    rc: { value: '', type: 'rc-config', required: true },
    scope: { value: CALL_LOG_SOURCE.value.scope },
    archive: { value: CALL_LOG_SOURCE.value.archive },
    extensionId: { value: CALL_LOG_SOURCE.value.extensionId },
    initialDays: fields.initialDays,
    lookBackMinutes: fields.lookBackMinutes,
    backfill: fields.backfill,
    backfillFrom: fields.backfillFrom,
    backfillTo: fields.backfillTo,
    warnDays: fields.warnDays,
  },
  inputLabels: sourceInputLabels,
  outputLabels: ['one message per call-log record and per recording', retentionOutputLabel],
  paletteLabel: 'call log',
  label: function (this: { name?: string; scope?: string; extensionId?: string; archive?: string }) {
    if (this.name) return this.name;
    // A node saved before the choice existed archives what it did then, and says so.
    const archive = settingOf(CALL_LOG_SOURCE, this, 'archive');
    const what =
      archive === 'recordings'
        ? 'call recordings'
        : archive === 'records'
          ? 'call log'
          : 'call log + recordings';
    return this.scope === 'extension' ? `${what} (ext ${this.extensionId || 'me'})` : what;
  },
  labelStyle: function (this: { name?: string }) {
    return this.name ? 'node_label_italic' : '';
  },
  oneditprepare: function (this: { backfill?: string; backfillFrom?: string }) {
    showMissingDefaults(this, CALL_LOG_SOURCE);
    prepareSourceFields(this);
    const toggle = () => $('.rc-source-extension').toggle($('#node-input-scope').val() === 'extension');
    $('#node-input-scope').on('change', toggle);
    toggle();
  },
});
