import { DROPBOX_ACCOUNT } from '../../lib/node-defaults';
import { DropboxStorage, dropboxOAuth } from '../../lib/storage/dropbox';
import { provideStorage } from '../shared/account';
import { translator, type Translate } from '../shared/i18n';
import { oauthCredentialFields, registerConnect, tokenKeeper, type OAuthCredentials } from '../shared/oauth';
import type { Node, NodeDef, RED } from '../shared/red';
import { registerStorageTest } from '../shared/storage-test-route';
import catalog from './locales/en-US/rc-dropbox-account.json';

type AccountCredentials = Pick<Node<OAuthCredentials>, 'id' | 'credentials'>;

interface DropboxAccountDef extends NodeDef {
  clientId?: string;
  root?: string;
  endpoint?: string;
}

/** The adapter of an account's settings (deployed, or a dialog's for its Test button). */
function dropboxStorage(
  RED: RED,
  node: AccountCredentials,
  def: DropboxAccountDef,
  t: Translate,
): DropboxStorage {
  const text = (v: unknown) => (typeof v === 'string' ? v.trim() : '');
  const clientId = text(def.clientId);
  if (!clientId) throw new Error(t('rc-dropbox-account.errors.noClientId'));
  const endpoint = text(def.endpoint) || undefined;
  const keeper = tokenKeeper(RED, node, { clientId, endpoint });
  if (!keeper.current()) throw new Error(t('rc-dropbox-account.errors.notConnected'));
  return new DropboxStorage({ keeper, root: text(def.root) || DROPBOX_ACCOUNT.value.root, endpoint });
}

export default function register(RED: RED): void {
  const t = translator(RED, catalog);
  function DropboxAccount(this: Node<OAuthCredentials>, def: DropboxAccountDef) {
    RED.nodes.createNode(this, def);
    provideStorage(RED, this, () => dropboxStorage(RED, this, def, t));
  }
  RED.nodes.registerType('rc-dropbox-account', DropboxAccount, { credentials: oauthCredentialFields });
  registerConnect(RED, dropboxOAuth, 'rc-dropbox-account');
  registerStorageTest(RED, 'rc-dropbox-account', ['clientSecret'], (settings, credentials, id) =>
    dropboxStorage(RED, { id, credentials }, settings as DropboxAccountDef, t),
  );
}
