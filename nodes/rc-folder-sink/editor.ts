declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
import { italicWhenNamed, sinkDefaults, sinkInputLabels, sinkOutputLabels } from '../shared/sink-editor';
import type { EditorNode } from '../shared/connect-editor';
import { setupStorageTest } from '../shared/storage-test-editor';

RED.nodes.registerType('rc-folder-sink', {
  category: 'RingCentral',
  color: '#C0DEED',
  icon: 'rc-folder.svg',
  align: 'right',
  inputs: 1,
  outputs: 2,
  defaults: {
    name: { value: '' },
    directory: { value: '' },
    ...sinkDefaults(),
  },
  inputLabels: sinkInputLabels,
  outputLabels: sinkOutputLabels,
  paletteLabel: 'archive to folder',
  label: function (this: { name?: string; directory?: string }) {
    return this.name || (this.directory ? `folder ${this.directory}` : 'archive to folder');
  },
  labelStyle: italicWhenNamed,
  oneditprepare: function (this: EditorNode) {
    setupStorageTest(this, 'rc-folder-sink');
  },
});
