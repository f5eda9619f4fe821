import {
  LoginPool,
  MAX_LOGINS,
  RcClient,
  configFromEnv,
  loginCredentialNames,
  loginSettingsOf,
  loginSlotsOf,
  otherAccounts,
  sessionStoreIn,
  type ConnectionInfo,
  type RcConnectionSettings,
} from '../../lib/ringcentral';
import { retentionFrom, type RetentionSettings } from '../../lib/retention';
import { Scheduler } from '../../lib/scheduler';
import { openTokenStore } from '../shared/oauth';
import type { Node, NodeDef, RED } from '../shared/red';
import { translator } from '../shared/i18n';
import { errorMessage } from '../shared/util';
import catalog from './locales/en-US/rc-config.json';

interface RcConfigDef extends NodeDef {
  server?: string;
  serverUrl?: string;
  retentionRecordingDays?: string | number;
  retentionRecordingCount?: string | number;
  retentionMessageDays?: string | number;
  retentionCallLogDays?: string | number;
  retentionTextDays?: string | number;
}

export interface RcCredentials {
  clientId?: string;
  clientSecret?: string;
  jwt?: string;
  [key: string]: string | undefined;
}

export interface RcConfigNode extends Node<RcCredentials> {
  /** The listing login's client (the first in service); its rate budgets are shared by every node using it. */
  getClient(): RcClient;
  /** Every login of this account: listing on one, downloads on whichever has room. */
  getPool(): LoginPool;
  /** How long this account's data stays at RingCentral (the dialog's figures, else the public defaults). */
  retention(): RetentionSettings;
  /** The download scheduler over this account's logins in service (see rc-rate-limit). */
  getScheduler(): Scheduler;
  /** The client of the login that runs with exactly these settings, else undefined. */
  clientFor(settings: RcConnectionSettings): RcClient | undefined;
}

const PASSWORD_PLACEHOLDER = '__PWRD__';

function serverSetting(def: { server?: unknown; serverUrl?: unknown }): string | undefined {
  const server = typeof def.server === 'string' ? def.server : '';
  if (server === 'custom')
    return typeof def.serverUrl === 'string' && def.serverUrl.trim() ? def.serverUrl.trim() : undefined;
  return server || undefined;
}

/** A login's entry in the token file: the first keeps the node's id, as before there were more. */
function sessionKey(nodeId: string, number: number): string {
  return number === 1 ? nodeId : `${nodeId}:login${number}`;
}

const sameSettings = (a: RcConnectionSettings, b: RcConnectionSettings) =>
  (['server', 'clientId', 'clientSecret', 'jwt'] as const).every((name) => a[name] === b[name]);

export default function register(RED: RED): void {
  const t = translator(RED, catalog);

  function RcConfig(this: RcConfigNode, def: RcConfigDef) {
    RED.nodes.createNode(this, def);
    let pool: LoginPool | undefined;
    let scheduler: Scheduler | undefined;
    this.getScheduler = () => (scheduler ??= new Scheduler({ logins: () => this.getPool().logins() }));
    let members: Array<{ number: number; settings: RcConnectionSettings; client: RcClient }> = [];
    // Tokens and rate budgets survive a restart in the pack's encrypted token file, one entry per
    // login (and, inside the entry, the login's hash: another JWT starts afresh).
    const store = openTokenStore(RED);
    const retention = retentionFrom(def);
    this.retention = () => retention;
    this.clientFor = (settings) => {
      try {
        this.getPool();
      } catch {
        return undefined;
      }
      return members.find((m) => sameSettings(m.settings, settings))?.client;
    };
    this.getPool = () => {
      if (pool) return pool;
      const logins = loginSettingsOf(serverSetting(def), loginSlotsOf(this.credentials ?? {}), (partial) =>
        configFromEnv(partial),
      );
      const created: typeof members = [];
      for (const login of logins) {
        if (!login.settings) {
          this.error(t('rc-config.error.login', { number: login.number, reason: errorMessage(login.error) }));
          continue;
        }
        const number = login.number;
        const label = (msg: string) =>
          logins.length > 1 ? `${t('rc-config.label.login')} ${number}: ${msg}` : msg;
        const client = new RcClient({
          ...login.settings,
          // One token store per login: SDK instances otherwise share tokens.
          cachePrefix: number === 1 ? `rcarchiver-${this.id}-` : `rcarchiver-${this.id}-${number}-`,
          session: sessionStoreIn(store, sessionKey(this.id, number)),
          log: (level, msg) =>
            level === 'error' || level === 'warn' ? this.warn(label(msg)) : this.log(label(msg)),
          onLoginRefused: (err) => pool?.refuse(`login${number}`, err),
        });
        created.push({ number, settings: login.settings, client });
      }
      members = created;
      pool = new LoginPool(created.map((m) => ({ id: `login${m.number}`, client: m.client })));
      pool.on('refused', ({ id, error }: { id: string; error: Error }) => {
        scheduler?.refresh();
        const others = pool?.logins().length ?? 0;
        this.error(
          t(others ? 'rc-config.error.refused' : 'rc-config.error.allRefused', {
            number: id.replace(/^login/, ''),
            reason: errorMessage(error),
            others,
          }),
        );
      });
      return pool;
    };
    this.getClient = () => this.getPool().listing();
    this.on('close', (removed: boolean, done: () => void) => {
      let closing = members;
      const closingPool = pool;
      scheduler?.dispose();
      scheduler = undefined;
      pool = undefined;
      members = [];
      const kept = Array.from({ length: MAX_LOGINS }, (_, i) => sessionKey(this.id, i + 1)).filter((key) =>
        store.get(key),
      );
      if (removed && !closing.length && kept.length) {
        // Never used since the start, but sessions kept from before may still be alive.
        try {
          this.getPool().dispose();
          closing = members;
        } catch {
          // without settings there is no session to end
        }
        pool = undefined;
        members = [];
      }
      closingPool?.dispose();
      // Removed: its sessions are ended at RingCentral and forgotten. Restarted or redeployed: the
      // next start goes on with the kept tokens.
      Promise.all(
        closing.map(({ client }) =>
          Promise.resolve(removed ? client.revokeSession() : undefined)
            .catch(() => undefined)
            .then(() => client.dispose()),
        ),
      )
        .then(() => {
          if (removed) for (const key of kept) store.delete(key);
        })
        .catch((err: unknown) => this.warn(errorMessage(err)))
        .finally(done);
    });
  }

  const credentials: Record<string, { type: 'text' | 'password' }> = {};
  for (let number = 1; number <= MAX_LOGINS; number++) {
    const names = loginCredentialNames(number);
    credentials[names.clientId] = { type: 'text' };
    credentials[names.clientSecret] = { type: 'password' };
    credentials[names.jwt] = { type: 'password' };
  }
  RED.nodes.registerType('rc-config', RcConfig, { credentials });

  // "Test connection" in the edit dialog: tests each login with what is typed in the dialog,
  // falling back to the deployed node's stored secrets (the editor only sends a placeholder for
  // those) and then to the environment. One line per login; all must be of one account.
  RED.httpAdmin.post(
    '/rc-archiver/rc-config/test',
    RED.auth.needsPermission('rc-config.write'),
    (req, res) => {
      const body = req.body ?? {};
      const stored = (typeof body.id === 'string' && RED.nodes.getCredentials(body.id)) || {};
      const typed: Record<string, string | undefined> = {};
      for (let number = 1; number <= MAX_LOGINS; number++) {
        for (const name of Object.values(loginCredentialNames(number))) {
          const value = typeof body[name] === 'string' ? (body[name] as string) : '';
          // A password left as the placeholder is the stored one. The first login's empty fields
          // are the stored ones too (as before there were more); another login's empty slot is
          // one the dialog removed.
          const keep = value === PASSWORD_PLACEHOLDER || (value === '' && (number === 1 || !(name in body)));
          typed[name] = keep ? (stored[name] as string | undefined) || undefined : value || undefined;
        }
      }
      const node = typeof body.id === 'string' ? (RED.nodes.getNode(body.id) as RcConfigNode | null) : null;
      const probes: RcClient[] = [];
      const testOne = async (settings: RcConnectionSettings): Promise<ConnectionInfo> => {
        // The deployed settings: test with the deployed session, which spends no login.
        const deployed = typeof node?.clientFor === 'function' ? node.clientFor(settings) : undefined;
        if (deployed) return deployed.testConnection();
        const probe = new RcClient({
          ...settings,
          cachePrefix: `rcarchiver-probe-${Date.now()}-${probes.length}-`,
        });
        probes.push(probe);
        return probe.testConnection();
      };
      Promise.resolve()
        .then(async () => {
          const logins = loginSettingsOf(serverSetting(body), loginSlotsOf(typed), (partial) =>
            configFromEnv(partial),
          );
          const results: Array<{ number: number; ok: boolean; error?: string } & Partial<ConnectionInfo>> =
            [];
          // One after another: each login spends at most one request of its own Auth budget.
          for (const login of logins) {
            if (!login.settings) {
              results.push({ number: login.number, ok: false, error: errorMessage(login.error) });
              continue;
            }
            try {
              results.push({ number: login.number, ok: true, ...(await testOne(login.settings)) });
            } catch (err) {
              results.push({ number: login.number, ok: false, error: errorMessage(err) });
            }
          }
          for (const other of otherAccounts(results)) {
            const result = results.find((r) => r.number === other.number)!;
            result.ok = false;
            result.error = t('rc-config.test.otherAccount', {
              account: other.accountId,
              expected: other.expectedAccountId,
            });
          }
          // The first login's fields stay at the top, as the dialog of one login read them.
          const firstFields: Record<string, unknown> = { ...results[0] };
          delete firstFields.number;
          res.json({ ...firstFields, ok: results.every((r) => r.ok), logins: results });
        })
        .catch((err: unknown) => res.status(200).json({ ok: false, error: errorMessage(err) }))
        // The probes' sessions are of no further use: they must not take one of the user's five.
        .finally(() =>
          Promise.all(
            probes.map((probe) =>
              probe
                .revokeSession()
                .catch(() => undefined)
                .finally(() => probe.dispose()),
            ),
          ),
        );
    },
  );
}
