import { RcClient, configFromEnv, sessionStoreIn, type RcConnectionSettings } from '../../lib/ringcentral';
import { retentionFrom, type RetentionSettings } from '../../lib/retention';
import { schedulerForClient, type Scheduler } from '../../lib/scheduler';
import { openTokenStore } from '../shared/oauth';
import type { Node, NodeDef, RED } from '../shared/red';
import { errorMessage } from '../shared/util';

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
  /** The one client of this login; its rate budgets are shared by every node using it. */
  getClient(): RcClient;
  /** How long this account's data stays at RingCentral (the dialog's figures, else the public defaults). */
  retention(): RetentionSettings;
  /** The download scheduler over this account's logins (see rc-rate-limit). */
  getScheduler(): Scheduler;
  /** This node's client when it runs with exactly these settings, else undefined. */
  clientFor(settings: RcConnectionSettings): RcClient | undefined;
}

const PASSWORD_PLACEHOLDER = '__PWRD__';

function serverSetting(def: { server?: unknown; serverUrl?: unknown }): string | undefined {
  const server = typeof def.server === 'string' ? def.server : '';
  if (server === 'custom')
    return typeof def.serverUrl === 'string' && def.serverUrl.trim() ? def.serverUrl.trim() : undefined;
  return server || undefined;
}

export default function register(RED: RED): void {
  function RcConfig(this: RcConfigNode, def: RcConfigDef) {
    RED.nodes.createNode(this, def);
    let client: RcClient | undefined;
    let scheduler: Scheduler | undefined;
    this.getScheduler = () => (scheduler ??= schedulerForClient(this.id, () => this.getClient()));
    // Tokens and rate budgets survive a restart in the pack's encrypted token file, keyed by this
    // node's id (and, inside the entry, by the login: another JWT starts afresh).
    const store = openTokenStore(RED);
    const retention = retentionFrom(def);
    this.retention = () => retention;
    const settingsOf = () =>
      configFromEnv({
        server: serverSetting(def),
        clientId: this.credentials.clientId,
        clientSecret: this.credentials.clientSecret,
        jwt: this.credentials.jwt,
      });
    this.clientFor = (settings) => {
      try {
        const own = settingsOf();
        const same = (['server', 'clientId', 'clientSecret', 'jwt'] as const).every(
          (name) => own[name] === settings[name],
        );
        return same ? this.getClient() : undefined;
      } catch {
        return undefined;
      }
    };
    this.getClient = () => {
      if (!client) {
        const settings = settingsOf();
        client = new RcClient({
          ...settings,
          // One token store per config node: SDK instances otherwise share tokens.
          cachePrefix: `rcarchiver-${this.id}-`,
          session: sessionStoreIn(store, this.id),
          log: (level, msg) => (level === 'error' || level === 'warn' ? this.warn(msg) : this.log(msg)),
        });
      }
      return client;
    };
    this.on('close', (removed: boolean, done: () => void) => {
      let closing = client;
      client = undefined;
      scheduler?.dispose();
      scheduler = undefined;
      if (removed && !closing && store.get(this.id)) {
        // Never used since the start, but a session kept from before may still be alive.
        try {
          closing = this.getClient();
        } catch {
          // without settings there is no session to end
        }
        client = undefined;
      }
      // Removed: its session is ended at RingCentral and forgotten. Restarted or redeployed: the
      // next start goes on with the kept tokens.
      Promise.resolve(removed ? closing?.revokeSession() : undefined)
        .catch(() => undefined)
        .then(() => closing?.dispose())
        .then(() => {
          if (removed) store.delete(this.id);
        })
        .catch((err: unknown) => this.warn(errorMessage(err)))
        .finally(done);
    });
  }

  RED.nodes.registerType('rc-config', RcConfig, {
    credentials: {
      clientId: { type: 'text' },
      clientSecret: { type: 'password' },
      jwt: { type: 'password' },
    },
  });

  // "Test connection" in the edit dialog: uses what is typed in the dialog, falling back to the
  // deployed node's stored secrets (the editor only sends a placeholder for those) and then to
  // the environment.
  RED.httpAdmin.post(
    '/rc-archiver/rc-config/test',
    RED.auth.needsPermission('rc-config.write'),
    (req, res) => {
      const body = req.body ?? {};
      const stored = (typeof body.id === 'string' && RED.nodes.getCredentials(body.id)) || {};
      const pick = (name: 'clientId' | 'clientSecret' | 'jwt') => {
        const typed = typeof body[name] === 'string' ? (body[name] as string) : '';
        if (typed && typed !== PASSWORD_PLACEHOLDER) return typed;
        return stored[name] || undefined;
      };
      let probe: RcClient | undefined;
      Promise.resolve()
        .then(() => {
          const settings = configFromEnv({
            server: serverSetting(body),
            clientId: pick('clientId'),
            clientSecret: pick('clientSecret'),
            jwt: pick('jwt'),
          });
          // The dialog shows the deployed settings: test with the deployed session, which spends
          // no login and no session.
          const node =
            typeof body.id === 'string' ? (RED.nodes.getNode(body.id) as RcConfigNode | null) : null;
          const deployed = typeof node?.clientFor === 'function' ? node.clientFor(settings) : undefined;
          if (deployed) return deployed.testConnection();
          probe = new RcClient({ ...settings, cachePrefix: `rcarchiver-probe-${Date.now()}-` });
          return probe.testConnection();
        })
        .then((result) => res.json({ ok: true, ...result }))
        .catch((err: unknown) => res.status(200).json({ ok: false, error: errorMessage(err) }))
        // The probe's session is of no further use: it must not take one of the user's five.
        .finally(() =>
          probe
            ?.revokeSession()
            .catch(() => undefined)
            .finally(() => probe?.dispose()),
        );
    },
  );
}
