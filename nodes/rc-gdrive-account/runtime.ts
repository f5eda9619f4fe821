import { DriveStorage, driveOAuth } from '../../lib/storage/gdrive';
import { provideStorage } from '../shared/account';
import { translator } from '../shared/i18n';
import { oauthCredentialFields, registerConnect, tokenKeeper, type OAuthCredentials } from '../shared/oauth';
import type { Node, NodeDef, RED } from '../shared/red';
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

export default function register(RED: RED): void {
  const t = translator(RED, catalog);
  function DriveAccount(this: Node<DriveCredentials>, def: DriveAccountDef) {
    RED.nodes.createNode(this, def);
    const endpoint = def.endpoint?.trim() || undefined;
    const common = {
      driveId: def.driveId?.trim() || undefined,
      rootPath: def.rootPath?.trim() || undefined,
      endpoint,
    };
    provideStorage(RED, this, () => {
      if (def.authMode === 'serviceAccount') {
        const key = this.credentials.serviceAccountKey?.trim();
        if (!key) throw new Error(t('rc-gdrive-account.errors.noKey'));
        return new DriveStorage({ ...common, auth: { kind: 'serviceAccount', key } });
      }
      const clientId = def.clientId?.trim();
      if (!clientId) throw new Error(t('rc-gdrive-account.errors.noClientId'));
      const keeper = tokenKeeper(RED, this, {
        clientId,
        clientSecret: this.credentials.clientSecret || undefined,
        endpoint,
      });
      if (!keeper.current()) throw new Error(t('rc-gdrive-account.errors.notConnected'));
      return new DriveStorage({ ...common, auth: { kind: 'oauth', keeper } });
    });
  }
  RED.nodes.registerType('rc-gdrive-account', DriveAccount, {
    credentials: { ...oauthCredentialFields, serviceAccountKey: { type: 'password' } },
  });
  registerConnect(RED, driveOAuth, 'rc-gdrive-account');
}
