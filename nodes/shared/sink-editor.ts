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

/** The properties every sink's dialog has (the fields in shared/sink-fields.html). */
export function sinkDefaults() {
  return {
    // Empty means the default; anything else is checked as the runtime checks it. Node-RED shows
    // the returned reason beside the red triangle only for a validator of two parameters.
    template: {
      value: '',
      validate: (v: string, _options?: unknown) => !String(v ?? '').trim() || (validateTemplate(v) ?? true),
    },
    timeZone: { value: 'UTC', validate: validTimeZone },
    sidecar: { value: true },
    concurrency: { value: 4, validate: RED.validators.number(true) },
  };
}

export const sinkInputLabels = 'ArchiveItem';
export const sinkOutputLabels = ['archived', 'failed'];

export function italicWhenNamed(this: { name?: string }): string {
  return this.name ? 'node_label_italic' : '';
}
