import type { SftpServerNode } from '../rc-sftp-server/runtime';
import type { Node, RED } from '../shared/red';
import { translator } from '../shared/i18n';
import catalog from './locales/en-US/rc-sftp-sink.json';
import { createSink, type SinkDef } from '../shared/sink';

interface SftpSinkDef extends SinkDef {
  server?: string;
}

export default function register(RED: RED): void {
  const t = translator(RED, catalog);
  function SftpSink(this: Node, def: SftpSinkDef) {
    RED.nodes.createNode(this, def);
    const server = def.server ? (RED.nodes.getNode(def.server) as SftpServerNode | null) : null;
    createSink(
      RED,
      this,
      def,
      {
        storage() {
          if (!server) throw new Error(t('rc-sftp-sink.errors.noServer'));
          return server.getStorage();
        },
      },
      'rc-sftp-sink',
      t,
    );
    if (!server) this.status({ fill: 'red', shape: 'ring', text: t('rc-sftp-sink.errors.noServer') });
  }
  RED.nodes.registerType('rc-sftp-sink', SftpSink);
}
