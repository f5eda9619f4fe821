declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const $: any; // eslint-disable-line @typescript-eslint/no-explicit-any

function validDate(value: string): boolean {
  return !value || !Number.isNaN(Date.parse(value));
}

/**
 * The properties every source's dialog has (the fields in shared/source-fields.html). Each node
 * writes them out one by one in its `defaults`: the Flow Library reads those keys without running code.
 */
export function sourceFields(defaults: {
  value: {
    initialDays: number;
    lookBackMinutes: number;
    backfill: string;
    backfillFrom: string;
    backfillTo: string;
    warnDays: number;
  };
}) {
  const value = defaults.value;
  return {
    initialDays: { value: value.initialDays, required: true, validate: RED.validators.number() },
    lookBackMinutes: { value: value.lookBackMinutes, required: true, validate: RED.validators.number() },
    backfill: { value: value.backfill },
    backfillFrom: { value: value.backfillFrom, validate: validDate },
    backfillTo: { value: value.backfillTo, validate: validDate },
    warnDays: { value: value.warnDays, validate: RED.validators.number(true) },
  };
}

export const sourceInputLabels = 'trigger';

/** The second output: what is near deletion at RingCentral and not archived yet. */
export const retentionOutputLabel = 'items near deletion, not archived';

/** Shows the range inputs only for a backfill of a range; a node saved with only a range gets "range". */
export function prepareSourceFields(node: { backfill?: string; backfillFrom?: string }): void {
  if (node.backfill === undefined && node.backfillFrom) $('#node-input-backfill').val('range');
  const toggle = () => $('.rc-source-backfill-range').toggle($('#node-input-backfill').val() === 'range');
  $('#node-input-backfill').on('change', toggle);
  toggle();
}
