import {
  prepareSourceFields,
  retentionOutputLabel,
  sourceDefaults,
  sourceInputLabels,
} from '../shared/source-editor';

declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const $: any; // eslint-disable-line @typescript-eslint/no-explicit-any

RED.nodes.registerType('rc-call-log-source', {
  category: 'RingCentral',
  color: '#F8A44C',
  icon: 'rc-phone.svg',
  inputs: 1,
  outputs: 2,
  defaults: {
    name: { value: '' },
    rc: { value: '', type: 'rc-config', required: true },
    scope: { value: 'account' },
    archive: { value: 'both' },
    extensionId: { value: '' },
    ...sourceDefaults(90, 120),
  },
  inputLabels: sourceInputLabels,
  outputLabels: ['one message per call-log record and per recording', retentionOutputLabel],
  paletteLabel: 'call log',
  label: function (this: { name?: string; scope?: string; extensionId?: string; archive?: string }) {
    if (this.name) return this.name;
    const what =
      this.archive === 'recordings'
        ? 'call recordings'
        : this.archive === 'records'
          ? 'call log'
          : 'call log + recordings';
    return this.scope === 'extension' ? `${what} (ext ${this.extensionId || 'me'})` : what;
  },
  labelStyle: function (this: { name?: string }) {
    return this.name ? 'node_label_italic' : '';
  },
  oneditprepare: function (this: { backfill?: string; backfillFrom?: string }) {
    prepareSourceFields(this);
    const toggle = () => $('.rc-source-extension').toggle($('#node-input-scope').val() === 'extension');
    $('#node-input-scope').on('change', toggle);
    toggle();
  },
});
