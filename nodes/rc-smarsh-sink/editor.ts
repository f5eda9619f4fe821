declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const $: any; // eslint-disable-line @typescript-eslint/no-explicit-any
import { italicWhenNamed, sinkDefaults, sinkInputLabels, sinkOutputLabels } from '../shared/sink-editor';

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
    ...sinkDefaults(),
    sidecar: { value: false },
  },
  inputLabels: sinkInputLabels,
  outputLabels: sinkOutputLabels,
  paletteLabel: 'journal to Smarsh',
  label: function (this: { name?: string }) {
    return this.name || 'journal to Smarsh';
  },
  labelStyle: italicWhenNamed,
  oneditprepare: function () {
    // The e-mail carries the record: there is no sidecar to choose.
    $('#node-input-sidecar').closest('.form-row').hide();
  },
});
