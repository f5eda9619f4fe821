import type { Clock } from '../../lib/controller';

/** Lets promises, setImmediate callbacks and SQLite settle without moving the clock. */
export async function settle(turns = 50): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Timers that run only when the test moves the clock. */
export class FakeClock implements Clock {
  time = Date.parse('2026-06-01T12:00:00Z');
  private timers: Array<{ at: number; run: () => void; id: number }> = [];
  private nextId = 1;
  now = (): number => this.time;
  setTimeout = (run: () => void, ms: number): unknown => {
    const id = this.nextId++;
    this.timers.push({ at: this.time + Math.max(0, ms), run, id });
    return id;
  };
  clearTimeout = (handle: unknown): void => {
    this.timers = this.timers.filter((t) => t.id !== handle);
  };
  get pending(): number {
    return this.timers.length;
  }
  /** When the earliest timer is due, if any. */
  get nextAt(): number | undefined {
    return this.timers.length ? Math.min(...this.timers.map((t) => t.at)) : undefined;
  }
  /** Moves the clock, running each timer due on the way, and lets the promises settle. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      await settle();
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.time = due.at;
      due.run();
    }
    this.time = end;
    await settle();
  }
}
