import { ProviderError } from './retry';
import type { StorageAdapter } from './types';

/**
 * What a storage check looks at, in order. The editor shows one line per step from its message
 * catalog, so these ids are stable names, not text.
 */
export type CheckStepId =
  /** The settings make an adapter at all (a missing bucket name, no password or key). */
  | 'settings'
  /** The host answers (TCP, TLS, SSH handshake or the provider's API). */
  | 'connect'
  /** The SSH server's key is the pinned one. */
  | 'hostKey'
  /** The SMTP relay upgraded to TLS as configured. */
  | 'tls'
  /** The credentials (password, key, token) were accepted. */
  | 'login'
  /** The root folder or bucket exists (or was created) and is a folder. */
  | 'folder'
  /** A probe file was written in the root. */
  | 'write'
  /** The probe file was removed again. */
  | 'remove';

export type CheckStatus = 'ok' | 'failed' | 'skipped';

export interface CheckStep {
  id: CheckStepId;
  status: CheckStatus;
  /** Why it failed, or why it was skipped (a catalog key for skipped steps, e.g. `writeOnly`). */
  reason?: string;
}

export interface CheckReport {
  provider: string;
  ok: boolean;
  steps: CheckStep[];
}

const REPORT = Symbol.for('rc-archiver.checkReport');

/** The report a failed `check()` attached to its error. */
export function checkReportOf(err: unknown): CheckReport | undefined {
  return (err as { [REPORT]?: CheckReport } | undefined)?.[REPORT];
}

/**
 * Records a check step by step. A failed check still throws the adapter's readable error (so a
 * caller that only needs yes/no is unchanged) with the report attached, the failed step last.
 */
export class CheckSteps {
  private readonly steps: CheckStep[] = [];
  private running: CheckStepId | undefined;

  constructor(private readonly provider: string) {}

  /** Runs one step; when `fn` throws, the step is the one that failed. */
  async run<T>(id: CheckStepId, fn: () => Promise<T>): Promise<T> {
    this.running = id;
    const value = await fn();
    this.running = undefined;
    this.passed(id);
    return value;
  }

  /**
   * A step that is a request to the provider: an answer of any kind (even a refusal) shows the
   * host was reached, so `connect` is recorded as passed before it the first time.
   */
  async request<T>(id: CheckStepId, fn: () => Promise<T>): Promise<T> {
    try {
      const value = await this.run(id, fn);
      this.reached();
      return value;
    } catch (err) {
      if (!noAnswer(err)) this.reached();
      throw err;
    }
  }

  private reached(): void {
    if (this.steps.some((s) => s.id === 'connect')) return;
    const at = this.steps.findIndex((s) => s.id !== 'settings');
    this.steps.splice(at < 0 ? this.steps.length : at, 0, { id: 'connect', status: 'ok' });
  }

  passed(...ids: CheckStepId[]): void {
    for (const id of ids) this.steps.push({ id, status: 'ok' });
  }

  skipped(id: CheckStepId, reason: string): void {
    this.steps.push({ id, status: 'skipped', reason });
  }

  /**
   * The error to throw: `err` itself with the report attached. The failed step is `id`, else the
   * one running; a request that got no HTTP answer at all failed at reaching the host.
   */
  fail(err: unknown, id?: CheckStepId): unknown {
    let step = id ?? this.running ?? 'connect';
    if (!id && noAnswer(err) && !this.steps.some((s) => s.id === 'connect')) step = 'connect';
    this.running = undefined;
    this.steps.push({ id: step, status: 'failed', reason: reasonOf(err) });
    if (err instanceof Error) Object.defineProperty(err, REPORT, { value: this.report(), enumerable: false });
    return err;
  }

  report(): CheckReport {
    return {
      provider: this.provider,
      ok: this.steps.every((s) => s.status !== 'failed'),
      steps: this.steps.map((s) => ({ ...s })),
    };
  }
}

function reasonOf(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

/** A provider call that failed before any HTTP status came back (refused, reset, DNS). */
function noAnswer(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof ProviderError && e.status !== undefined) return false;
    const status =
      (e as { status?: unknown; statusCode?: unknown }).status ?? (e as { statusCode?: unknown }).statusCode;
    if (typeof status === 'number') return false;
    const code = (e as { code?: unknown }).code;
    if (
      typeof code === 'string' &&
      /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|UND_ERR_\w+)$/.test(
        code,
      )
    )
      return true;
  }
  return false;
}

/**
 * The outcome of an adapter's check as a report, whatever it threw: the Test button shows it.
 * `make` builds the adapter, so a setting that cannot make one is the failed `settings` step.
 */
export async function testStorage(make: () => StorageAdapter): Promise<CheckReport> {
  let adapter: StorageAdapter;
  try {
    adapter = make();
  } catch (err) {
    return { provider: '', ok: false, steps: [{ id: 'settings', status: 'failed', reason: reasonOf(err) }] };
  }
  try {
    return (await adapter.check()) ?? { provider: adapter.provider, ok: true, steps: [] };
  } catch (err) {
    return (
      checkReportOf(err) ?? {
        provider: adapter.provider,
        ok: false,
        steps: [{ id: 'connect', status: 'failed', reason: reasonOf(err) }],
      }
    );
  } finally {
    await adapter.close().catch(() => undefined);
  }
}
