import { DriveStorage, driveOAuth } from '../../lib/storage/gdrive';
import { provideStorage } from '../shared/account';
import { translator, type Translate } from '../shared/i18n';
import { oauthCredentialFields, registerConnect, tokenKeeper, type OAuthCredentials } from '../shared/oauth';
import type { Node, NodeDef, RED } from '../shared/red';
import { registerStorageTest } from '../shared/storage-test-route';
import catalog from './locales/en-US/rc-gdrive-account.json';

interface DriveAccountDef extends NodeDef {
  authMode?: 'oauth' | 'serviceAccount';
  clientId?: string;
  driveId?: string;
  rootPath?: string;
  endpoint?: string;
}

interface DriveCredentials extends OAuthCredentials {
  serviceAccountKey?: string;
}

/** The adapter of an account's settings (deployed, or a dialog's for its Test button). */
function driveStorage(
  RED: RED,
  node: Pick<Node<DriveCredentials>, 'id' | 'credentials'>,
  def: DriveAccountDef,
  t: Translate,
): DriveStorage {
  const text = (v: unknown) => (typeof v === 'string' ? v.trim() : '');
  const endpoint = text(def.endpoint) || undefined;
  const common = {
    driveId: text(def.driveId) || undefined,
    rootPath: text(def.rootPath) || undefined,
    endpoint,
  };
  if (def.authMode === 'serviceAccount') {
    const key = node.credentials.serviceAccountKey?.trim();
    if (!key) throw new Error(t('rc-gdrive-account.errors.noKey'));
    return new DriveStorage({ ...common, auth: { kind: 'serviceAccount', key } });
  }
  const clientId = text(def.clientId);
  if (!clientId) throw new Error(t('rc-gdrive-account.errors.noClientId'));
  const keeper = tokenKeeper(RED, node, {
    clientId,
    clientSecret: node.credentials.clientSecret || undefined,
    endpoint,
  });
  if (!keeper.current()) throw new Error(t('rc-gdrive-account.errors.notConnected'));
  return new DriveStorage({ ...common, auth: { kind: 'oauth', keeper } });
}

export default function register(RED: RED): void {
  const t = translator(RED, catalog);
  function DriveAccount(this: Node<DriveCredentials>, def: DriveAccountDef) {
    RED.nodes.createNode(this, def);
    provideStorage(RED, this, () => driveStorage(RED, this, def, t));
  }
  RED.nodes.registerType('rc-gdrive-account', DriveAccount, {
    credentials: { ...oauthCredentialFields, serviceAccountKey: { type: 'password' } },
  });
  registerConnect(RED, driveOAuth, 'rc-gdrive-account');
  registerStorageTest(
    RED,
    'rc-gdrive-account',
    ['clientSecret', 'serviceAccountKey'],
    (settings, credentials, id) => driveStorage(RED, { id, credentials }, settings as DriveAccountDef, t),
  );
}
