import { BoxStorage, boxOAuth } from '../../lib/storage/box';
import { provideStorage } from '../shared/account';
import { translator } from '../shared/i18n';
import { oauthCredentialFields, registerConnect, tokenKeeper, type OAuthCredentials } from '../shared/oauth';
import type { Node, NodeDef, RED } from '../shared/red';
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

export default function register(RED: RED): void {
  const t = translator(RED, catalog);
  function BoxAccount(this: Node<BoxCredentials>, def: BoxAccountDef) {
    RED.nodes.createNode(this, def);
    const endpoint = def.endpoint?.trim() || undefined;
    const rootPath = def.rootPath?.trim() || undefined;
    provideStorage(RED, this, () => {
      const mode = def.authMode ?? 'oauth';
      if (mode === 'jwt') {
        const config = this.credentials.jwtConfig?.trim();
        if (!config) throw new Error(t('rc-box-account.errors.noJwtConfig'));
        return new BoxStorage({ auth: { kind: 'jwt', config }, rootPath, endpoint });
      }
      const clientId = def.clientId?.trim();
      const clientSecret = this.credentials.clientSecret;
      if (!clientId || !clientSecret) throw new Error(t('rc-box-account.errors.noClient'));
      if (mode === 'ccg') {
        const subjectId = def.subjectId?.trim();
        if (!subjectId) throw new Error(t('rc-box-account.errors.noSubject'));
        const subject = def.subjectType === 'user' ? { userId: subjectId } : { enterpriseId: subjectId };
        return new BoxStorage({
          auth: { kind: 'ccg', clientId, clientSecret, ...subject },
          rootPath,
          endpoint,
        });
      }
      const keeper = tokenKeeper(RED, this, { clientId, clientSecret, endpoint });
      if (!keeper.current()) throw new Error(t('rc-box-account.errors.notConnected'));
      return new BoxStorage({ auth: { kind: 'oauth', keeper }, rootPath, endpoint });
    });
  }
  RED.nodes.registerType('rc-box-account', BoxAccount, {
    credentials: { ...oauthCredentialFields, jwtConfig: { type: 'password' } },
  });
  registerConnect(RED, boxOAuth, 'rc-box-account');
}
