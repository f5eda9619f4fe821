import type { ControllerIO, ControllerMessage, ControllerStatus } from '../../lib/controller';

/** A node's side of a controller, recorded: what it sent, showed and logged. */
export function recordingIO(id: string, type = 'rc-test') {
  const sent: ControllerMessage[] = [];
  const second: ControllerMessage[] = [];
  const statuses: ControllerStatus[] = [];
  const logs: string[] = [];
  const warnings: string[] = [];
  const errors: Array<{ text: string; msg?: ControllerMessage }> = [];
  /** Every output of a send goes to `sent` (output 1) or `second` (output 2). */
  const send: ControllerIO['send'] = (msg) => {
    const outputs = Array.isArray(msg) ? msg : [msg];
    outputs.forEach((out, i) => {
      for (const m of Array.isArray(out) ? out : [out]) if (m) (i === 0 ? sent : second).push(m);
    });
  };
  const io: ControllerIO = {
    id,
    type,
    send,
    status: (s) => statuses.push(s),
    log: (text) => logs.push(text),
    warn: (text) => warnings.push(text),
    error: (text, msg) => errors.push({ text, msg }),
    // The key and its substitutions, so that a test sees which words the user gets.
    text: (key, subs) => (subs ? `${key} ${JSON.stringify(subs)}` : key),
  };
  return { io, send, sent, second, statuses, logs, warnings, errors, lastStatus: () => statuses.at(-1) };
}
