import { SmarshStorage } from '../../lib/storage/smarsh';
import { provideStorage } from '../shared/account';
import { translator } from '../shared/i18n';
import type { Node, NodeDef, RED } from '../shared/red';
import catalog from './locales/en-US/rc-smarsh-account.json';

interface SmarshDef extends NodeDef {
  host?: string;
  port?: string | number;
  security?: 'tls' | 'starttls' | 'none';
  user?: string;
  from?: string;
  to?: string;
  maxMb?: string | number;
  /** PEM CA certificate(s) to trust for the relay's certificate (a private CA); empty: the system's. */
  ca?: string;
}

interface SmarshCredentials {
  password?: string;
  [key: string]: string | undefined;
}

const ADDRESS = /^[^\s@<>]+@[^\s@<>]+$/;
const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

export default function register(RED: RED): void {
  const t = translator(RED, catalog);
  function SmarshAccount(this: Node<SmarshCredentials>, def: SmarshDef) {
    RED.nodes.createNode(this, def);
    provideStorage(RED, this, () => {
      const host = def.host?.trim();
      if (!host) throw new Error(t('rc-smarsh-account.errors.noHost'));
      const from = def.from?.trim() ?? '';
      const to = def.to?.trim() ?? '';
      if (!ADDRESS.test(from) || !ADDRESS.test(to)) throw new Error(t('rc-smarsh-account.errors.addresses'));
      const maxMb = Number(def.maxMb) || 25;
      const security = def.security ?? 'starttls';
      const ca = def.ca?.trim();
      if (ca && !PEM_CERT.test(ca)) throw new Error(t('rc-smarsh-account.errors.ca'));
      return new SmarshStorage({
        host,
        port: Number(def.port) || (security === 'tls' ? 465 : 587),
        secure: security === 'tls',
        requireTLS: security === 'starttls',
        user: def.user?.trim() || undefined,
        password: this.credentials.password || undefined,
        from,
        to,
        maxBytes: Math.round(maxMb * 1024 * 1024),
        // Trusted for this relay in place of the public CAs (also when STARTTLS is only offered).
        ...(ca ? { tls: { ca } } : {}),
      });
    });
  }
  RED.nodes.registerType('rc-smarsh-account', SmarshAccount, {
    credentials: { password: { type: 'password' } },
  });
}
