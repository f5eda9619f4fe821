declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const $: any; // eslint-disable-line @typescript-eslint/no-explicit-any

import type { EditorNode } from './connect-editor';

interface CheckStep {
  id: string;
  status: 'ok' | 'failed' | 'skipped';
  reason?: string;
}

interface TestAnswer {
  ok: boolean;
  steps: CheckStep[];
  timedOut?: boolean;
}

const MARK = { ok: '\u2714', failed: '\u2718', skipped: '\u2013' } as const;

/**
 * The dialog's current value of each setting and credential of the node type: what the user
 * typed, saved or not. A setting without an input in the dialog keeps the node's own value.
 */
function dialogValues(node: Record<string, unknown>, type: string) {
  const def = RED.nodes.getType(type) ?? {};
  const prefix = def.category === 'config' ? 'node-config-input-' : 'node-input-';
  const read = (name: string) => {
    const input = $(`#${prefix}${name}`);
    if (!input.length) return undefined;
    return input.is(':checkbox') ? input.prop('checked') : input.val();
  };
  const settings: Record<string, unknown> = {};
  for (const name of Object.keys(def.defaults ?? {})) settings[name] = read(name) ?? node[name];
  const credentials: Record<string, unknown> = {};
  for (const name of Object.keys(def.credentials ?? {})) {
    const value = read(name);
    if (value !== undefined) credentials[name] = value;
  }
  return { settings, credentials };
}

/**
 * Wires the Test button of a storage dialog (shared/storage-test-fields.html): sends the dialog's
 * settings and credentials to the runtime, which checks reachability, login and the right to
 * write, and shows one line per step with the reason of the one that failed.
 */
export function setupStorageTest(node: EditorNode, type: string): void {
  const t = (key: string, values?: Record<string, string>) => node._(`${type}.storageTest.${key}`, values);
  const out = $(`#${type}-storage-test-result`);
  $(`#${type}-storage-test`).on('click', () => {
    out.removeClass('rc-ok rc-error').text(t('running'));
    const { settings, credentials } = dialogValues(node as unknown as Record<string, unknown>, type);
    $.ajax({
      url: 'rc-archiver/storage/test',
      type: 'POST',
      contentType: 'application/json',
      data: JSON.stringify({ type, id: node.id, settings, credentials }),
    })
      .done((r: TestAnswer) => {
        const lines = r.steps.map((s) => {
          const label = t(`steps.${s.id}`);
          if (s.status === 'ok') return `${MARK.ok} ${label}`;
          if (s.status === 'skipped') return `${MARK.skipped} ${label}: ${t(`skipped.${s.reason ?? ''}`)}`;
          return `${MARK.failed} ${label}: ${s.reason ?? ''}`;
        });
        lines.push(r.timedOut ? t('timedOut') : r.ok ? t('passed') : t('failed'));
        out.addClass(r.ok ? 'rc-ok' : 'rc-error').text(lines.join('\n'));
      })
      .fail((xhr: { status: number; responseJSON?: { error?: string }; statusText?: string }) => {
        const reason = xhr.responseJSON?.error ?? xhr.statusText ?? '';
        out.addClass('rc-error').text(t('requestFailed', { status: String(xhr.status), reason }));
      });
  });
}
