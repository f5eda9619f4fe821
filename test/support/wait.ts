import type { TestNode } from './helper';

/** Polls `check` every 50 ms until it returns a truthy value; rejects after `timeoutMs`. */
export function waitFor<T>(
  check: () => T | undefined | false,
  timeoutMs = 30_000,
  what = 'condition',
): Promise<T> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      let value: T | undefined | false;
      try {
        value = check();
      } catch (err) {
        return reject(err);
      }
      if (value) return resolve(value);
      if (Date.now() - started > timeoutMs) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 50);
    };
    tick();
  });
}

/** Collects every status a node shows from now on. */
export function statuses(node: TestNode): Array<{ fill?: string; text?: string }> {
  const seen: Array<{ fill?: string; text?: string }> = [];
  const original = node.status.bind(node);
  node.status = (s: unknown) => {
    seen.push(s as { fill?: string; text?: string });
    return original(s);
  };
  return seen;
}

/**
 * True once a sink's last status says that `pending` items wait for its target: every item sent to
 * it has arrived, so nothing more of that run can reach its outputs until the target is checked again.
 */
export function allWaitingAtSink(sinkStatus: Array<{ text?: string }>, pending: number | undefined): boolean {
  const shown = / (\d+) waiting$/.exec(sinkStatus.at(-1)?.text ?? '');
  return !!pending && shown !== null && Number(shown[1]) === pending;
}
