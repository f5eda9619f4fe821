import { isAbsolute, resolve } from 'node:path';
import { FolderStorage } from '../../lib/storage/folder';
import type { StorageAdapter } from '../../lib/storage/types';
import type { Node, RED } from '../shared/red';
import { translator } from '../shared/i18n';
import catalog from './locales/en-US/rc-folder-sink.json';
import { createSink, type SinkDef } from '../shared/sink';

interface FolderSinkDef extends SinkDef {
  directory?: string;
}

export default function register(RED: RED): void {
  const t = translator(RED, catalog);
  function FolderSink(this: Node, def: FolderSinkDef) {
    RED.nodes.createNode(this, def);
    const configured = (def.directory || '').trim() || process.env.RC_ARCHIVE_DIR || '';
    // A relative directory is taken from the Node-RED user directory, not the process's cwd.
    const directory = configured
      ? isAbsolute(configured)
        ? configured
        : resolve(RED.settings.userDir || process.cwd(), configured)
      : '';
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
}
