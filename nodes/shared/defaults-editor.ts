import { settingOf, type NodeDefaults, type Settings } from '../../lib/node-defaults';

declare const $: any; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * In the dialog, a setting the saved flow does not have shows what the runtime makes of it, so
 * that saving the dialog unchanged does not change what the node does (Node-RED would show an
 * empty field and an unticked box).
 */
export function showMissingDefaults(
  node: object,
  defaults: NodeDefaults<Settings>,
  prefix = 'node-input',
): void {
  const config = node as Record<string, unknown>;
  for (const key of Object.keys(defaults.value)) {
    if (config[key] !== undefined && config[key] !== null) continue;
    const input = $(`#${prefix}-${key}`);
    if (!input.length) continue;
    const value = settingOf(defaults, config, key);
    if (input.attr('type') === 'checkbox') input.prop('checked', value === true);
    else input.val(String(value));
  }
}
