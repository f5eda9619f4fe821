import { messageSource, type MessageSourceSettings } from '../../lib/sources/message-source';
import type { RcConfigNode } from '../rc-config/runtime';
import { createSource } from '../shared/source';
import type { Node, NodeDef, RED } from '../shared/red';
import { translator } from '../shared/i18n';
import catalog from './locales/en-US/rc-message-source.json';

interface SourceDef extends NodeDef, MessageSourceSettings {
  rc?: string;
}

export default function register(RED: RED): void {
  const t = translator(RED, catalog);
  function MessageSource(this: Node, def: SourceDef) {
    RED.nodes.createNode(this, def);
    const rcNode = def.rc ? (RED.nodes.getNode(def.rc) as RcConfigNode | null) : null;
    createSource(RED, this, {
      i18n: 'rc-message-source',
      t,
      ...messageSource(this.id, def, rcNode ?? undefined),
    });
  }

  RED.nodes.registerType('rc-message-source', MessageSource);
}
