import { callLogSource, type CallLogSourceSettings } from '../../lib/sources/call-log-source';
import type { RcConfigNode } from '../rc-config/runtime';
import { createSource } from '../shared/source';
import type { Node, NodeDef, RED } from '../shared/red';
import { translator } from '../shared/i18n';
import catalog from './locales/en-US/rc-call-log-source.json';

interface SourceDef extends NodeDef, CallLogSourceSettings {
  rc?: string;
}

export default function register(RED: RED): void {
  const t = translator(RED, catalog);
  function CallLogSource(this: Node, def: SourceDef) {
    RED.nodes.createNode(this, def);
    const rcNode = def.rc ? (RED.nodes.getNode(def.rc) as RcConfigNode | null) : null;
    createSource(RED, this, {
      i18n: 'rc-call-log-source',
      t,
      ...callLogSource(this.id, def, rcNode ?? undefined),
    });
  }

  RED.nodes.registerType('rc-call-log-source', CallLogSource);
}
