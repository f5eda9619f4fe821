// Shared with the controllers in lib/, which cannot import from nodes/.
export { errorMessage, shortText } from '../../lib/controller';

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
