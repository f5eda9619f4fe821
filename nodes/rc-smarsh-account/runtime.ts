import { SMARSH_ACCOUNT, SMTP_TLS_PORT } from '../../lib/node-defaults';
import { SmarshStorage } from '../../lib/storage/smarsh';
import { provideStorage } from '../shared/account';
import { translator, type Translate } from '../shared/i18n';
import type { Node, NodeDef, RED } from '../shared/red';
import { registerStorageTest } from '../shared/storage-test-route';
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

/** The adapter of a journal's settings (deployed, or a dialog's for its Test button). */
function smarshStorage(def: SmarshDef, credentials: SmarshCredentials, t: Translate): SmarshStorage {
  const text = (v: unknown) => (typeof v === 'string' ? v.trim() : '');
  const host = text(def.host);
  if (!host) throw new Error(t('rc-smarsh-account.errors.noHost'));
  const from = text(def.from);
  const to = text(def.to);
  if (!ADDRESS.test(from) || !ADDRESS.test(to)) throw new Error(t('rc-smarsh-account.errors.addresses'));
  const maxMb = Number(def.maxMb) || SMARSH_ACCOUNT.value.maxMb;
  const security = def.security || SMARSH_ACCOUNT.value.security;
  const ca = text(def.ca);
  if (ca && !PEM_CERT.test(ca)) throw new Error(t('rc-smarsh-account.errors.ca'));
  return new SmarshStorage({
    host,
    port: Number(def.port) || (security === 'tls' ? SMTP_TLS_PORT : SMARSH_ACCOUNT.whenEmpty.port),
    secure: security === 'tls',
    requireTLS: security === 'starttls',
    user: text(def.user) || undefined,
    password: credentials.password || undefined,
    from,
    to,
    maxBytes: Math.round(maxMb * 1024 * 1024),
    // Trusted for this relay in place of the public CAs (also when STARTTLS is only offered).
    ...(ca ? { tls: { ca } } : {}),
  });
}

export default function register(RED: RED): void {
  const t = translator(RED, catalog);
  function SmarshAccount(this: Node<SmarshCredentials>, def: SmarshDef) {
    RED.nodes.createNode(this, def);
    provideStorage(RED, this, () => smarshStorage(def, this.credentials, t));
  }
  RED.nodes.registerType('rc-smarsh-account', SmarshAccount, {
    credentials: { password: { type: 'password' } },
  });
  registerStorageTest(RED, 'rc-smarsh-account', ['password'], (settings, credentials) =>
    smarshStorage(settings as SmarshDef, credentials, t),
  );
}
