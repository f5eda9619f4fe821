import type { StorageAdapter } from '../../lib/storage/types';
import { forgetTokens } from './oauth';
import type { Node, RED } from './red';
import type { StorageConfigNode } from './sink';
import { errorMessage } from './util';

/**
 * The part every storage config node shares: one adapter per account, made on first use from the
 * node's settings (so a wrong setting fails the item that needed it with a clear reason, not the
 * deploy), closed when the node stops, and refreshed tokens forgotten when the node is removed.
 */
export function provideStorage(RED: RED, node: Node<object>, make: () => StorageAdapter): void {
  let storage: StorageAdapter | undefined;
  (node as unknown as StorageConfigNode).getStorage = () => {
    if (!storage) {
      try {
        storage = make();
      } catch (err) {
        node.error(errorMessage(err));
        throw err;
      }
    }
    return storage;
  };
  node.on('close', (removed: boolean, done: () => void) => {
    const closing = storage;
    storage = undefined;
    if (removed) forgetTokens(RED, node.id);
    Promise.resolve(closing?.close())
      .catch(() => undefined)
      .finally(done);
  });
}
