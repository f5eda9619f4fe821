import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

export const BENCHMARKS_FILE = join(__dirname, '..', 'BENCHMARKS.md');

/** "Measured <date> on <cpu>, <n> cores, <GiB> GiB, Node <version>" for a section's first line. */
export function machineLine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `Measured ${new Date().toISOString().slice(0, 10)} on ${cpu}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

/**
 * Writes a `## heading` section into BENCHMARKS.md, replacing the section of that heading when it
 * is there, so that each benchmark owns its section and a run of one leaves the others alone.
 */
export function writeSection(heading: string, body: string): void {
  const head =
    '# Benchmarks\n\nNumbers from the benchmarks in `bench/`, each with the command that produced them.\n\n';
  const section = `## ${heading}\n\n${body.trimEnd()}\n`;
  let text = existsSync(BENCHMARKS_FILE) ? readFileSync(BENCHMARKS_FILE, 'utf8') : head;
  const start = text.indexOf(`## ${heading}\n`);
  if (start >= 0) {
    const next = text.indexOf('\n## ', start + 3);
    text = text.slice(0, start) + section + (next >= 0 ? text.slice(next) : '');
  } else text = `${text.trimEnd()}\n\n${section}`;
  writeFileSync(BENCHMARKS_FILE, text);
}
