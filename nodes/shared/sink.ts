import { SinkRunner, type RcLogin, type SinkSettings } from '../../lib/sink-runner';
import type { StorageAdapter } from '../../lib/storage/types';
import type { RcConfigNode } from '../rc-config/runtime';
import { hostController } from './host';
import { translator, type Translate } from './i18n';
import type { Node, NodeDef, RED } from './red';

export interface SinkDef extends NodeDef, SinkSettings {}

/** What differs between sinks: where the bytes go. */
export interface SinkTarget {
  /** The storage, or an Error that says what is wrong with the configuration. */
  storage(): StorageAdapter;
  /** Closes what the node itself opened (a shared connection is closed by its config node). */
  close?(): Promise<void>;
}

/**
 * Hosts a sink's runner (lib/sink-runner.ts) in its node: the items go into `target`'s storage,
 * with the RingCentral login of the rc-config node each item names.
 */
export function createSink(
  RED: RED,
  node: Node,
  def: SinkDef,
  target: SinkTarget,
  i18n: string,
  t: Translate,
): void {
  const rcConfig = (rc: string): RcLogin | undefined => {
    const rcNode = RED.nodes.getNode(rc) as RcConfigNode | null;
    return rcNode && typeof rcNode.getClient === 'function' ? rcNode : undefined;
  };
  hostController(RED, node, {
    i18n,
    t,
    create: (io, { ledger, error }) =>
      new SinkRunner({
        io,
        settings: def,
        ledger,
        ledgerError: error,
        storage: () => target.storage(),
        rcConfig,
      }),
    afterClose: () => target.close?.(),
  });
}

/** A config node that hands out the storage of one account, server or bucket. */
export interface StorageConfigNode extends Node {
  /** The account's storage, shared by every sink using it; throws when the config is incomplete. */
  getStorage(): StorageAdapter;
}

/**
 * Registers a sink whose storage comes from a config node (`def[configProperty]`): the cloud
 * providers and SFTP. `sidecar: false` leaves the JSON sidecar out whatever the dialog says
 * (Smarsh carries the metadata in the e-mail itself).
 */
export function registerConfigSink(
  RED: RED,
  type: string,
  catalog: Record<string, unknown>,
  options: { configProperty: string; noConfigKey: string; sidecar?: false },
): void {
  const t = translator(RED, catalog);
  function ConfigSink(this: Node, def: SinkDef) {
    RED.nodes.createNode(this, def);
    const id = def[options.configProperty];
    const config = typeof id === 'string' && id ? (RED.nodes.getNode(id) as StorageConfigNode | null) : null;
    const noConfig = t(`${type}.errors.${options.noConfigKey}`);
    createSink(
      RED,
      this,
      options.sidecar === false ? { ...def, sidecar: false } : def,
      {
        storage() {
          if (!config || typeof config.getStorage !== 'function') throw new Error(noConfig);
          return config.getStorage();
        },
      },
      type,
      t,
    );
    if (!config) this.status({ fill: 'red', shape: 'ring', text: noConfig });
  }
  RED.nodes.registerType(type, ConfigSink);
}
