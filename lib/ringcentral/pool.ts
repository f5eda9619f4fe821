import { EventEmitter } from 'node:events';
import { abortReason, type BudgetPermit, type RateBudget } from './budget';
import { isLoginRefusal, type RcClient, type RcConnectionSettings } from './client';
import type { ApiGroup, ContentFetcher, ContentResponse } from './types';

/** One login of a pool as its owner hands it in: an id that names it (never a secret) and its client. */
export interface PoolMember {
  id: string;
  client: RcClient;
}

/** A login in service, as a scheduler sees it: its budgets, and the client that spends them. */
export interface PoolLogin {
  id: string;
  budget(group: ApiGroup): RateBudget;
  client: RcClient;
}

/** A request slot of one login: send the request with `client`, then settle `permit`. */
export interface LoginGrant {
  login: string;
  client: RcClient;
  permit: BudgetPermit;
}

export interface RefusedLogin {
  id: string;
  error: Error;
}

/**
 * The logins of one RingCentral account that one rc-config holds. RingCentral counts its limits
 * per app and user, so each login brings a budget of its own: listing stays on one login (the
 * first in service, so cursors and sync tokens see one view), downloads go to whichever login has
 * room. A login RingCentral refuses leaves the pool; the others go on. It comes back only with a
 * new pool (the config deployed again), since only new settings can change the answer.
 *
 * Emits "refused" ({ id, error }) when a login leaves.
 */
export class LoginPool extends EventEmitter implements ContentFetcher {
  private readonly members: PoolMember[];
  private readonly out = new Map<string, Error>();
  private disposed = false;

  constructor(members: PoolMember[]) {
    super();
    // Every waiting acquire listens for a login leaving: as many as there are downloads waiting.
    this.setMaxListeners(0);
    if (!members.length) throw new Error('A pool of RingCentral logins needs at least one login');
    const ids = new Set(members.map((m) => m.id));
    if (ids.size !== members.length) throw new Error('The logins of a pool need distinct ids');
    this.members = [...members];
  }

  /** The logins in service, in their order. */
  logins(): PoolLogin[] {
    return this.members
      .filter((m) => !this.out.has(m.id))
      .map((m) => ({ id: m.id, client: m.client, budget: (group: ApiGroup) => m.client.budget(group) }));
  }

  /** Every login's id, in service or not. */
  ids(): string[] {
    return this.members.map((m) => m.id);
  }

  /** The logins taken out, with RingCentral's reason. */
  refused(): RefusedLogin[] {
    return this.members
      .filter((m) => this.out.has(m.id))
      .map((m) => ({ id: m.id, error: this.out.get(m.id)! }));
  }

  /**
   * The login that lists (call log, messages, exports): the first in service. When every login
   * has been refused, the first login's client, whose requests then fail with RingCentral's reason.
   */
  listing(): RcClient {
    return (this.members.find((m) => !this.out.has(m.id)) ?? this.members[0]).client;
  }

  /** The client of one login (a grant names it), in service or not. */
  client(id: string): RcClient | undefined {
    return this.members.find((m) => m.id === id)?.client;
  }

  /** Takes a login out of service (RingCentral refused it). */
  refuse(id: string, error: Error): void {
    if (this.disposed || this.out.has(id) || !this.members.some((m) => m.id === id)) return;
    this.out.set(id, error);
    this.emit('refused', { id, error });
  }

  /**
   * A slot of `group` on the login with the most room; waits (without polling) until one has
   * room. Rejects when every login has been refused, when the signal aborts or the pool closes.
   */
  async acquire(group: ApiGroup, signal?: AbortSignal): Promise<LoginGrant> {
    for (;;) {
      this.checkOpen();
      if (signal?.aborted) throw abortReason(signal);
      const logins = this.logins();
      if (!logins.length) throw this.noLoginError();
      const roomiest = pickRoomiest(logins, group);
      if (roomiest) {
        // The budget has room and nobody waits in it: this resolves at once.
        const permit = await roomiest.budget(group).acquire(signal);
        return { login: roomiest.id, client: roomiest.client, permit };
      }
      await this.untilRoom(logins, group, signal);
    }
  }

  /**
   * A content stream through the login with room, on the slot the pool took for it. A login that
   * RingCentral refuses on the way leaves the pool, and the download goes to another.
   */
  async openContent(
    uri: string,
    options: { signal?: AbortSignal; group?: ApiGroup } = {},
  ): Promise<ContentResponse> {
    const group = options.group ?? 'Heavy';
    for (;;) {
      const grant = await this.acquire(group, options.signal);
      try {
        return await grant.client.openContent(uri, { ...options, group, permit: grant.permit });
      } catch (err) {
        if (!isLoginRefusal(err)) throw err;
        this.refuse(grant.login, err);
      }
    }
  }

  /** Stops handing out slots; the clients are their owner's to dispose. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.emit('closed');
    this.removeAllListeners();
  }

  /** Resolves when any of the logins has room, a login leaves or the pool closes. */
  private untilRoom(logins: PoolLogin[], group: ApiGroup, signal?: AbortSignal): Promise<void> {
    const stop = new AbortController();
    const unlink = signal ? linkAbort(signal, stop) : () => undefined;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (error?: Error) => {
        if (settled) return;
        settled = true;
        this.off('refused', onChange);
        this.off('closed', onChange);
        unlink();
        stop.abort();
        if (error) reject(error);
        else resolve();
      };
      const onChange = () => settle();
      this.on('refused', onChange);
      this.on('closed', onChange);
      for (const login of logins) {
        login
          .budget(group)
          .ready(stop.signal)
          .then(
            () => settle(),
            (err: unknown) => {
              if (stop.signal.aborted) {
                // ours (another login had room first) or the caller's
                if (signal?.aborted) settle(abortReason(signal));
                return;
              }
              settle(err instanceof Error ? err : new Error(String(err)));
            },
          );
      }
    });
  }

  private noLoginError(): Error {
    const reasons = this.refused().map((r) => `${r.id}: ${r.error.message}`);
    return new Error(`RingCentral refused every login of this config (${reasons.join('; ')})`);
  }

  private checkOpen(): void {
    if (this.disposed) throw new Error('RingCentral login pool closed');
  }
}

/** The login whose budget has the most room now (nobody waiting in it, no pause), if any. */
function pickRoomiest(logins: PoolLogin[], group: ApiGroup): PoolLogin | undefined {
  let best: PoolLogin | undefined;
  let bestRoom = 0;
  for (const login of logins) {
    const s = login.budget(group).snapshot();
    if (s.pausedUntil !== null || s.queued > 0) continue;
    if (s.remaining > bestRoom) {
      best = login;
      bestRoom = s.remaining;
    }
  }
  return best;
}

function linkAbort(from: AbortSignal, to: AbortController): () => void {
  if (from.aborted) {
    to.abort();
    return () => undefined;
  }
  const onAbort = () => to.abort();
  from.addEventListener('abort', onAbort, { once: true });
  return () => from.removeEventListener('abort', onAbort);
}

/** Logins one rc-config can hold: the first and up to nine more (credentials are declared up front). */
export const MAX_LOGINS = 10;

/** What the dialog holds for one login; an extra login's blank app fields mean the first login's app. */
export interface LoginSlot {
  number: number;
  clientId?: string;
  clientSecret?: string;
  jwt?: string;
}

/** The credential names of login `number`: `jwt`, `clientId`, `clientSecret` for the first, `jwt2`… after. */
export function loginCredentialNames(number: number): {
  clientId: string;
  clientSecret: string;
  jwt: string;
} {
  const suffix = number === 1 ? '' : String(number);
  return { clientId: `clientId${suffix}`, clientSecret: `clientSecret${suffix}`, jwt: `jwt${suffix}` };
}

/** The logins in a set of credentials: the first always (it may come from the environment), others when filled. */
export function loginSlotsOf(credentials: Record<string, string | undefined>): LoginSlot[] {
  const slots: LoginSlot[] = [];
  for (let number = 1; number <= MAX_LOGINS; number++) {
    const names = loginCredentialNames(number);
    const value = (name: string) => {
      const v = credentials[name];
      return typeof v === 'string' && v.trim() ? v.trim() : undefined;
    };
    const slot: LoginSlot = {
      number,
      clientId: value(names.clientId),
      clientSecret: value(names.clientSecret),
      jwt: value(names.jwt),
    };
    if (number === 1 || slot.clientId || slot.clientSecret || slot.jwt) slots.push(slot);
  }
  return slots;
}

/**
 * The connection settings of each login, or why it has none. The first login falls back to the
 * environment (RC_CLIENT_ID, RC_CLIENT_SECRET, RC_JWT); another login needs its own JWT and takes
 * the first login's app where its own fields are blank. Throws only for the first login.
 */
export function loginSettingsOf(
  server: string | undefined,
  slots: LoginSlot[],
  resolve: (partial: Partial<RcConnectionSettings>) => RcConnectionSettings,
): Array<{ number: number; settings?: RcConnectionSettings; error?: Error }> {
  const [first, ...more] = slots;
  const firstSettings = resolve({ server, ...pick(first) });
  return [
    { number: first.number, settings: firstSettings },
    ...more.map((slot) => {
      try {
        if (!slot.jwt) throw new Error(`login ${slot.number} has no JWT`);
        return {
          number: slot.number,
          settings: resolve({
            server: firstSettings.server,
            clientId: slot.clientId ?? firstSettings.clientId,
            clientSecret: slot.clientSecret ?? firstSettings.clientSecret,
            jwt: slot.jwt,
          }),
        };
      } catch (err) {
        return { number: slot.number, error: err instanceof Error ? err : new Error(String(err)) };
      }
    }),
  ];
}

function pick(slot: LoginSlot): Partial<RcConnectionSettings> {
  const out: Partial<RcConnectionSettings> = {};
  if (slot.clientId) out.clientId = slot.clientId;
  if (slot.clientSecret) out.clientSecret = slot.clientSecret;
  if (slot.jwt) out.jwt = slot.jwt;
  return out;
}

/**
 * The logins whose account is not the first answering login's: a pool holds logins of one
 * account (its data, its retention), so another account's login is a mistake to report.
 */
export function otherAccounts<T extends { number: number; accountId?: string }>(
  results: T[],
): Array<T & { expectedAccountId: string }> {
  const reference = results.find((r) => r.accountId)?.accountId;
  if (!reference) return [];
  return results
    .filter((r) => r.accountId && r.accountId !== reference)
    .map((r) => ({ ...r, expectedAccountId: reference }));
}
