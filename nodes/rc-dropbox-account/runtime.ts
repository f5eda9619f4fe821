import { DropboxStorage, dropboxOAuth } from '../../lib/storage/dropbox';
import { provideStorage } from '../shared/account';
import { translator } from '../shared/i18n';
import { oauthCredentialFields, registerConnect, tokenKeeper, type OAuthCredentials } from '../shared/oauth';
import type { Node, NodeDef, RED } from '../shared/red';
import catalog from './locales/en-US/rc-dropbox-account.json';

interface DropboxAccountDef extends NodeDef {
  clientId?: string;
  root?: string;
  endpoint?: string;
}

export default function register(RED: RED): void {
  const t = translator(RED, catalog);
  function DropboxAccount(this: Node<OAuthCredentials>, def: DropboxAccountDef) {
    RED.nodes.createNode(this, def);
    provideStorage(RED, this, () => {
      const clientId = def.clientId?.trim();
      if (!clientId) throw new Error(t('rc-dropbox-account.errors.noClientId'));
      const endpoint = def.endpoint?.trim() || undefined;
      const keeper = tokenKeeper(RED, this, { clientId, endpoint });
      if (!keeper.current()) throw new Error(t('rc-dropbox-account.errors.notConnected'));
      return new DropboxStorage({ keeper, root: def.root?.trim() || '/RingCentral Archive', endpoint });
    });
  }
  RED.nodes.registerType('rc-dropbox-account', DropboxAccount, { credentials: oauthCredentialFields });
  registerConnect(RED, dropboxOAuth, 'rc-dropbox-account');
}
