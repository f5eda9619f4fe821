import { BOX_ACCOUNT } from '../../lib/node-defaults';
import { BoxStorage, boxOAuth } from '../../lib/storage/box';
import { provideStorage } from '../shared/account';
import { translator, type Translate } from '../shared/i18n';
import { oauthCredentialFields, registerConnect, tokenKeeper, type OAuthCredentials } from '../shared/oauth';
import type { Node, NodeDef, RED } from '../shared/red';
import { registerStorageTest } from '../shared/storage-test-route';
import catalog from './locales/en-US/rc-box-account.json';

interface BoxAccountDef extends NodeDef {
  authMode?: 'oauth' | 'ccg' | 'jwt';
  clientId?: string;
  subjectType?: 'enterprise' | 'user';
  subjectId?: string;
  rootPath?: string;
  endpoint?: string;
}

interface BoxCredentials extends OAuthCredentials {
  jwtConfig?: string;
}

/** The adapter of an account's settings (deployed, or a dialog's for its Test button). */
function boxStorage(
  RED: RED,
  node: Pick<Node<BoxCredentials>, 'id' | 'credentials'>,
  def: BoxAccountDef,
  t: Translate,
): BoxStorage {
  const text = (v: unknown) => (typeof v === 'string' ? v.trim() : '');
  const endpoint = text(def.endpoint) || undefined;
  const rootPath = text(def.rootPath) || undefined;
  const mode = def.authMode || BOX_ACCOUNT.value.authMode;
  if (mode === 'jwt') {
    const config = node.credentials.jwtConfig?.trim();
    if (!config) throw new Error(t('rc-box-account.errors.noJwtConfig'));
    return new BoxStorage({ auth: { kind: 'jwt', config }, rootPath, endpoint });
  }
  const clientId = text(def.clientId);
  const clientSecret = node.credentials.clientSecret;
  if (!clientId || !clientSecret) throw new Error(t('rc-box-account.errors.noClient'));
  if (mode === 'ccg') {
    const subjectId = text(def.subjectId);
    if (!subjectId) throw new Error(t('rc-box-account.errors.noSubject'));
    const subject = def.subjectType === 'user' ? { userId: subjectId } : { enterpriseId: subjectId };
    return new BoxStorage({
      auth: { kind: 'ccg', clientId, clientSecret, ...subject },
      rootPath,
      endpoint,
    });
  }
  const keeper = tokenKeeper(RED, node, { clientId, clientSecret, endpoint });
  if (!keeper.current()) throw new Error(t('rc-box-account.errors.notConnected'));
  return new BoxStorage({ auth: { kind: 'oauth', keeper }, rootPath, endpoint });
}

export default function register(RED: RED): void {
  const t = translator(RED, catalog);
  function BoxAccount(this: Node<BoxCredentials>, def: BoxAccountDef) {
    RED.nodes.createNode(this, def);
    provideStorage(RED, this, () => boxStorage(RED, this, def, t));
  }
  RED.nodes.registerType('rc-box-account', BoxAccount, {
    credentials: { ...oauthCredentialFields, jwtConfig: { type: 'password' } },
  });
  registerConnect(RED, boxOAuth, 'rc-box-account');
  registerStorageTest(RED, 'rc-box-account', ['clientSecret', 'jwtConfig'], (settings, credentials, id) =>
    boxStorage(RED, { id, credentials }, settings as BoxAccountDef, t),
  );
}
