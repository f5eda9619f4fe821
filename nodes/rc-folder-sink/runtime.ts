import { isAbsolute, resolve } from 'node:path';
import { FolderStorage } from '../../lib/storage/folder';
import type { StorageAdapter } from '../../lib/storage/types';
import type { Node, RED } from '../shared/red';
import { translator } from '../shared/i18n';
import catalog from './locales/en-US/rc-folder-sink.json';
import { createSink, type SinkDef } from '../shared/sink';
import { registerStorageTest } from '../shared/storage-test-route';

interface FolderSinkDef extends SinkDef {
  directory?: string;
}

/** The folder a sink writes to: its setting, else RC_ARCHIVE_DIR; '' when neither is set. */
function directoryOf(RED: RED, def: FolderSinkDef): string {
  const configured =
    (typeof def.directory === 'string' ? def.directory.trim() : '') || process.env.RC_ARCHIVE_DIR || '';
  // A relative directory is taken from the Node-RED user directory, not the process's cwd.
  if (!configured) return '';
  return isAbsolute(configured) ? configured : resolve(RED.settings.userDir || process.cwd(), configured);
}

export default function register(RED: RED): void {
  const t = translator(RED, catalog);
  function FolderSink(this: Node, def: FolderSinkDef) {
    RED.nodes.createNode(this, def);
    const directory = directoryOf(RED, def);
    let storage: StorageAdapter | undefined;
    createSink(
      RED,
      this,
      def,
      {
        storage() {
          if (!directory) throw new Error(t('rc-folder-sink.errors.noDirectory'));
          storage ??= new FolderStorage(directory);
          return storage;
        },
        close: async () => storage?.close(),
      },
      'rc-folder-sink',
      t,
    );
  }
  RED.nodes.registerType('rc-folder-sink', FolderSink);
  // The Test button looks at the folder as it is: it does not create it (the sink does, on its
  // first file), so a mistyped path shows up as missing.
  registerStorageTest(RED, 'rc-folder-sink', [], (settings) => {
    const directory = directoryOf(RED, settings as FolderSinkDef);
    if (!directory) throw new Error(t('rc-folder-sink.errors.noDirectory'));
    return new FolderStorage({ root: directory, createRoot: false });
  });
}
