import { complianceExportSource, type ComplianceExportSettings } from '../../lib/sources/compliance-source';
import type { RcConfigNode } from '../rc-config/runtime';
import { createSource } from '../shared/source';
import type { Node, NodeDef, RED } from '../shared/red';
import { translator } from '../shared/i18n';
import catalog from './locales/en-US/rc-compliance-export.json';

interface ExportDef extends NodeDef, ComplianceExportSettings {
  rc?: string;
}

const TYPE = 'rc-compliance-export';

export default function register(RED: RED): void {
  const t = translator(RED, catalog);
  function ComplianceExport(this: Node, def: ExportDef) {
    RED.nodes.createNode(this, def);
    const rcNode = def.rc ? (RED.nodes.getNode(def.rc) as RcConfigNode | null) : null;
    createSource(RED, this, { i18n: TYPE, t, ...complianceExportSource(this.id, def, rcNode ?? undefined) });
  }

  RED.nodes.registerType(TYPE, ComplianceExport);
}
