declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
import { FOLDER_SINK } from '../../lib/node-defaults';
import type { EditorNode } from '../shared/connect-editor';
import { showMissingDefaults } from '../shared/defaults-editor';
import { italicWhenNamed, sinkFields, sinkInputLabels, sinkOutputLabels } from '../shared/sink-editor';
import { setupStorageTest } from '../shared/storage-test-editor';

const folderFields = sinkFields(FOLDER_SINK);

RED.nodes.registerType('rc-folder-sink', {
  category: 'RingCentral',
  color: '#C0DEED',
  icon: 'rc-folder.svg',
  align: 'right',
  inputs: 1,
  outputs: 2,
  defaults: {
    name: { value: '' },
    directory: { value: FOLDER_SINK.value.directory },
    template: folderFields.template,
    timeZone: folderFields.timeZone,
    sidecar: folderFields.sidecar,
    concurrency: folderFields.concurrency,
  },
  inputLabels: sinkInputLabels,
  outputLabels: sinkOutputLabels,
  paletteLabel: 'archive to folder',
  label: function (this: { name?: string; directory?: string }) {
    return this.name || (this.directory ? `folder ${this.directory}` : 'archive to folder');
  },
  labelStyle: italicWhenNamed,
  oneditprepare: function (this: EditorNode) {
    showMissingDefaults(this, FOLDER_SINK);
    setupStorageTest(this, 'rc-folder-sink');
  },
});
