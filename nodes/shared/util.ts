/** A message for the user from anything thrown, without stack traces. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err);
  } catch {
    return String(err);
  }
}

/**
 * Status text stays short (Node-RED shows it under the node): request paths are left out, they
 * are in the log, and the reason comes first.
 */
export function shortText(text: string, max = 60): string {
  const compact = text.replace(/ (GET|POST|PUT|PATCH|DELETE) \/\S+/g, '').replace(/\s+/g, ' ');
  return compact.length <= max ? compact : `${compact.slice(0, max - 1)}…`;
}

export function timeOfDay(date = new Date()): string {
  return date.toTimeString().slice(0, 5);
}

/**
 * Waits for work in flight when a node closes, but never longer than Node-RED's close budget
 * (15 s) allows; `finish` runs exactly once.
 */
export function closeAfter(work: Promise<unknown>, finish: () => void, limitMs = 10_000): void {
  let finished = false;
  const once = () => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    finish();
  };
  const timer = setTimeout(once, limitMs);
  work.then(once, once);
}
