declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const $: any; // eslint-disable-line @typescript-eslint/no-explicit-any
import { SMARSH_SINK } from '../../lib/node-defaults';
import { showMissingDefaults } from '../shared/defaults-editor';
import { italicWhenNamed, sinkFields, sinkInputLabels, sinkOutputLabels } from '../shared/sink-editor';

const smarshFields = sinkFields(SMARSH_SINK);

RED.nodes.registerType('rc-smarsh-sink', {
  category: 'RingCentral',
  color: '#C0DEED',
  icon: 'rc-smarsh.svg',
  align: 'right',
  inputs: 1,
  outputs: 2,
  defaults: {
    name: { value: '' },
    account: { value: '', type: 'rc-smarsh-account', required: true },
    template: smarshFields.template,
    timeZone: smarshFields.timeZone,
    sidecar: smarshFields.sidecar,
    concurrency: smarshFields.concurrency,
  },
  inputLabels: sinkInputLabels,
  outputLabels: sinkOutputLabels,
  paletteLabel: 'journal to Smarsh',
  label: function (this: { name?: string }) {
    return this.name || 'journal to Smarsh';
  },
  labelStyle: italicWhenNamed,
  oneditprepare: function (this: object) {
    showMissingDefaults(this, SMARSH_SINK);
    // The e-mail carries the record: there is no sidecar to choose.
    $('#node-input-sidecar').closest('.form-row').hide();
  },
});
