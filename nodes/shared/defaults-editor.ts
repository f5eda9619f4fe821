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

/**
 * In the dialog, an empty field whose runtime takes a value of its own says which: the placeholder
 * `<type>.placeholder.<key>` of the node's catalog, with that value as `__value__`.
 */
export function showEmptyMeaning(
  node: { _(key: string, substitutions?: Record<string, string>): string },
  type: string,
  defaults: NodeDefaults<Settings>,
  prefix = 'node-config-input',
): void {
  for (const [key, value] of Object.entries(defaults.whenEmpty ?? {})) {
    $(`#${prefix}-${key}`).attr(
      'placeholder',
      node._(`${type}.placeholder.${key}`, { value: String(value) }),
    );
  }
}
