import { SINK } from '../../lib/node-defaults';
import { validateTemplate } from '../../lib/template';

declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any

function validTimeZone(zone: string): boolean {
  if (!zone) return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/**
 * The properties every sink's dialog has (the fields in shared/sink-fields.html). Each node writes
 * them out one by one in its `defaults`: the Flow Library reads those keys without running code.
 */
export function sinkFields(
  defaults: { value: { template: string; timeZone: string; sidecar: boolean; concurrency: number } } = SINK,
) {
  return {
    // Empty means the default; anything else is checked as the runtime checks it. Node-RED shows
    // the returned reason beside the red triangle only for a validator of two parameters.
    template: {
      value: defaults.value.template,
      validate: (v: string, _options?: unknown) => !String(v ?? '').trim() || (validateTemplate(v) ?? true),
    },
    timeZone: { value: defaults.value.timeZone, validate: validTimeZone },
    sidecar: { value: defaults.value.sidecar },
    concurrency: { value: defaults.value.concurrency, validate: RED.validators.number(true) },
  };
}

export const sinkInputLabels = 'ArchiveItem';
export const sinkOutputLabels = ['archived', 'failed'];

export function italicWhenNamed(this: { name?: string }): string {
  return this.name ? 'node_label_italic' : '';
}
