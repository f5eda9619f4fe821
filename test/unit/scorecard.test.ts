// What the Flow Library's scorecard (node-red-dev validate) reads from the built pack, checked by
// the same rule it applies: it cannot run here, because its other checks need the network. It
// parses each node's .html <script> with acorn and reads the registerType object statically: a
// spread in it (or in its defaults or credentials) makes the node "Unable to parse".
// Also: each editor's defaults are the ones the runtime uses for a setting a flow does not have.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runInNewContext } from 'node:vm';
import * as acorn from 'acorn';
import * as walk from 'acorn-walk';
import { NODE_DEFAULTS, settingOf } from '../../lib/node-defaults';
import { root } from '../support/node-red';

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  'node-red': { nodes: Record<string, string> };
};
const nodeFiles = Object.entries(pkg['node-red'].nodes);

/** The text/javascript blocks of a node's .html, found as node-red-dev finds them. */
function scripts(html: string): string[] {
  const blocks: string[] = [];
  const pattern = /<script.+?type=['"]text\/javascript['"].*?>([\S\s]*?)<\/script>/gi;
  for (let m = pattern.exec(html); m; m = pattern.exec(html)) blocks.push(m[1]);
  return blocks;
}

interface Registration {
  type: string;
  /** Properties of the registerType object, of its defaults and of its credentials that have no plain key. */
  unreadable: string[];
  literals: Record<string, unknown>;
  defaults?: string[];
  credentials?: string[];
}

type AnyNode = acorn.Node & Record<string, unknown>;

function keyOf(property: AnyNode): string | undefined {
  if (property.type !== 'Property') return undefined;
  const key = property.key as AnyNode;
  return key.type === 'Identifier' ? (key.name as string) : undefined;
}

/** Reads every registerType call of a script the way the scorecard does. */
function registrations(source: string): Registration[] {
  const found: Registration[] = [];
  const program = acorn.parse(source, { ecmaVersion: 'latest' });
  walk.simple(program, {
    CallExpression(call) {
      const callee = call.callee as AnyNode;
      if (callee.type !== 'MemberExpression' || (callee.property as AnyNode).name !== 'registerType') return;
      const [typeNode, defNode] = call.arguments as AnyNode[];
      assert.equal(typeNode.type, 'Literal', 'the node type is a literal');
      assert.equal(defNode.type, 'ObjectExpression', `${String(typeNode.value)}: the definition is inline`);
      const reg: Registration = { type: String(typeNode.value), unreadable: [], literals: {} };
      for (const prop of defNode.properties as AnyNode[]) {
        const key = keyOf(prop);
        if (!key) {
          reg.unreadable.push(`registerType: ${prop.type} at ${prop.start}`);
          continue;
        }
        const value = prop.value as AnyNode;
        if (key === 'defaults' || key === 'credentials') {
          if (value.type !== 'ObjectExpression') {
            reg.unreadable.push(`${key} is not inline`);
            continue;
          }
          const keys: string[] = [];
          for (const inner of value.properties as AnyNode[]) {
            const name = keyOf(inner);
            if (name) keys.push(name);
            else reg.unreadable.push(`${key}: ${inner.type} at ${inner.start}`);
          }
          reg[key] = keys;
        } else if (['icon', 'color', 'inputs', 'outputs', 'category'].includes(key)) {
          reg.literals[key] = value.type === 'Literal' ? value.value : `(not a literal: ${value.type})`;
        }
      }
      found.push(reg);
    },
  });
  return found;
}

function registrationOf(type: string): Registration {
  const html = readFileSync(join(root, 'dist', 'nodes', type, `${type}.html`), 'utf8');
  const all = scripts(html).flatMap(registrations);
  assert.equal(all.length, 1, `${type}: one registerType in its .html`);
  return all[0];
}

interface EditorDefault {
  value?: unknown;
  type?: string;
  required?: boolean;
  validate?(this: object, value: unknown): unknown;
}
interface EditorDefinition {
  category: string;
  defaults: Record<string, EditorDefault>;
  label?(this: object): string;
  oneditprepare?(this: object): void;
}

/** Opens the dialog of a node saved as `saved`, as the editor does: what its fields then show. */
function openDialog(type: string, saved: Record<string, unknown>): DialogStandIn {
  const html = readFileSync(join(root, 'dist', 'nodes', type, `${type}.html`), 'utf8');
  const dialog = new DialogStandIn(html, type);
  const editor = editorDefinition(type, dialog);
  const prefix = editor.category === 'config' ? 'node-config-input' : 'node-input';
  // Node-RED fills the fields the saved node has; the rest keep the template's (empty) value.
  for (const [key, value] of Object.entries(saved)) {
    if (value === undefined) continue;
    if (typeof value === 'boolean') dialog.checked.set(`${prefix}-${key}`, value);
    else dialog.values.set(`${prefix}-${key}`, String(value));
  }
  const node = {
    id: 'saved0000000001',
    ...saved,
    _: (key: string, substitutions?: Record<string, string>) => message(type, key, substitutions),
  };
  editor.oneditprepare!.call(node);
  return dialog;
}

/**
 * A stand-in for the jQuery of an edit dialog, enough for a dialog's oneditprepare: it knows the
 * inputs of the node's template (their ids and whether each is a checkbox), and records what the
 * script puts in them.
 */
class DialogStandIn {
  readonly values = new Map<string, string>();
  readonly checked = new Map<string, boolean>();
  readonly placeholders = new Map<string, string>();
  private readonly checkboxes = new Set<string>();
  private readonly inputs = new Set<string>();

  constructor(html: string, type: string) {
    const start = html.indexOf(`data-template-name="${type}"`);
    const template = html.slice(start, html.indexOf('</script>', start));
    for (const tag of template.match(/<(input|select|textarea)\b[^>]*>/g) ?? []) {
      const id = /\bid="([^"]+)"/.exec(tag)?.[1];
      if (!id) continue;
      this.inputs.add(id);
      if (/\btype="checkbox"/.test(tag)) this.checkboxes.add(id);
    }
  }

  /** The `$` the script sees: every call chains, as jQuery's do. */
  readonly $ = (selector: unknown): unknown => {
    const id = typeof selector === 'string' && selector.startsWith('#') ? selector.slice(1) : '';
    const known = this.inputs.has(id);
    const element: Record<string, unknown> = new Proxy(
      {},
      {
        get: (_target, name) => {
          if (name === 'length') return known ? 1 : 0;
          if (name === 'val')
            return (value?: unknown) => {
              if (value === undefined) return this.values.get(id) ?? '';
              this.values.set(id, String(value));
              return element;
            };
          if (name === 'prop')
            return (key: string, value?: unknown) => {
              if (value === undefined) return this.checked.get(id) ?? false;
              if (key === 'checked') this.checked.set(id, value === true);
              return element;
            };
          if (name === 'is') return () => this.checkboxes.has(id);
          if (name === 'attr')
            return (key: string, value?: unknown) => {
              if (value === undefined)
                return key === 'type' && this.checkboxes.has(id) ? 'checkbox' : undefined;
              if (key === 'placeholder') this.placeholders.set(id, String(value));
              return element;
            };
          return () => element;
        },
      },
    );
    return element;
  };
}

/** The node's message in its en-US catalog, with `__name__` substituted as Node-RED's i18next does. */
function message(type: string, key: string, substitutions: Record<string, string> = {}): string {
  const catalog = JSON.parse(
    readFileSync(join(root, 'nodes', type, 'locales', 'en-US', `${type}.json`), 'utf8'),
  ) as Record<string, unknown>;
  let found: unknown = catalog;
  for (const part of key.split('.')) found = (found as Record<string, unknown> | undefined)?.[part];
  assert.equal(typeof found, 'string', `${key} is in the catalog of ${type}`);
  return (found as string).replace(/__(\w+)__/g, (_, name: string) => substitutions[name] ?? '');
}

/** Runs a node's built editor script against a stand-in for the editor's RED, as the browser does. */
function editorDefinition(type: string, dialog?: DialogStandIn): EditorDefinition {
  const html = readFileSync(join(root, 'dist', 'nodes', type, `${type}.html`), 'utf8');
  const registered: Record<string, EditorDefinition> = {};
  const number = (blank?: boolean) => (v: unknown) =>
    (blank === true && (v === '' || v === undefined)) || (v !== '' && !Number.isNaN(Number(v)));
  const RED = {
    nodes: { registerType: (t: string, def: EditorDefinition) => (registered[t] = def) },
    validators: { number, regex: (re: RegExp) => (v: unknown) => re.test(String(v)) },
  };
  const window = { location: { origin: 'http://127.0.0.1:1880', pathname: '/' } };
  for (const script of scripts(html))
    runInNewContext(script, { RED, $: dialog?.$ ?? (() => ({})), window, URL });
  assert.ok(registered[type], `${type}: the editor script registers the type`);
  return registered[type];
}

describe('the Flow Library scorecard', () => {
  for (const [type, file] of nodeFiles) {
    it(`${type}: node-red-dev can read its registration`, () => {
      assert.equal(file, `dist/nodes/${type}/${type}.js`);
      const reg = registrationOf(type);
      assert.equal(reg.type, type);
      assert.deepEqual(reg.unreadable, [], 'every property has a plain key (no spread)');
      assert.ok(reg.defaults && reg.defaults.length > 0, 'defaults are read');
      const required =
        reg.literals.category === 'config'
          ? ['category']
          : ['category', 'color', 'icon', 'inputs', 'outputs'];
      for (const key of required) {
        assert.ok(key in reg.literals, `${key} is set`);
        assert.doesNotMatch(String(reg.literals[key]), /not a literal/, `${key} is a literal`);
      }
    });
  }

  it('each credential the runtime declares is read from the editor registration too', () => {
    for (const [type] of nodeFiles) {
      const reg = registrationOf(type);
      const runtime = readFileSync(join(root, 'nodes', type, 'runtime.ts'), 'utf8');
      if (!/credentials:/.test(runtime) && !reg.credentials) continue;
      assert.ok(reg.credentials && reg.credentials.length > 0, `${type}: credentials are read`);
    }
  });
});

describe('one default per setting for the editor and the runtime', () => {
  for (const [type, defaults] of Object.entries(NODE_DEFAULTS)) {
    it(`${type}: a new node in the editor gets the defaults the runtime uses`, () => {
      const editor = editorDefinition(type);
      for (const [key, value] of Object.entries(defaults.value)) {
        assert.ok(editor.defaults[key], `the editor has ${key}`);
        assert.deepEqual(editor.defaults[key].value, value, `${key}: the editor's default`);
      }
      // Nothing of the node's own settings is decided elsewhere: only its name and config nodes.
      const own = Object.keys(editor.defaults).filter((k) => k !== 'name' && !editor.defaults[k].type);
      assert.deepEqual(
        own.sort(),
        Object.keys(defaults.value).sort(),
        'every setting is in lib/node-defaults',
      );
    });

    it(`${type}: a flow without its settings loads valid in the editor`, () => {
      const editor = editorDefinition(type);
      const saved = {};
      for (const [key, def] of Object.entries(editor.defaults)) {
        if (def.type || !(key in defaults.value) || def.required) continue;
        const valid = def.validate ? def.validate.call(saved, undefined) : true;
        assert.equal(
          valid,
          true,
          `${key} absent is valid (the runtime takes ${String(settingOf(defaults, saved, key))})`,
        );
      }
    });
  }

  it('every node type of the pack with settings of its own has its defaults in lib/node-defaults', () => {
    for (const [type] of nodeFiles) {
      const own = Object.keys(editorDefinition(type).defaults).filter((k) => k !== 'name');
      if (own.length === 0) continue;
      assert.ok(NODE_DEFAULTS[type], `${type} is in NODE_DEFAULTS`);
    }
    assert.equal(Object.keys(NODE_DEFAULTS).length, 20, 'the 13 flow nodes and the 7 config nodes');
  });

  for (const [type, defaults] of Object.entries(NODE_DEFAULTS)) {
    if (!defaults.whenEmpty) continue;
    it(`${type}: a field the runtime fills when empty stays empty in a new node, and says what it takes`, () => {
      const dialog = openDialog(type, { ...defaults.value });
      for (const [key, otherwise] of Object.entries(defaults.whenEmpty!)) {
        assert.equal(defaults.value[key], '', `${key}: a new node leaves it empty (its variable may apply)`);
        assert.equal(dialog.values.get(`node-config-input-${key}`), '', `${key}: the field shows empty`);
        const placeholder = dialog.placeholders.get(`node-config-input-${key}`);
        assert.ok(
          placeholder?.includes(String(otherwise)),
          `${key}: the placeholder says ${String(otherwise)}`,
        );
        assert.equal(placeholder, message(type, `${type}.placeholder.${key}`, { value: String(otherwise) }));
      }
    });
  }

  it('an S3 bucket config saved before its prefix, region and lock settings existed: valid, and its dialog shows what the runtime does', () => {
    const saved = { bucket: 'archive-bucket', endpoint: 'http://127.0.0.1:9000' };
    const editor = editorDefinition('rc-s3-bucket');
    for (const [key, def] of Object.entries(editor.defaults)) {
      if (def.validate)
        assert.equal(def.validate.call(saved, (saved as Record<string, unknown>)[key]), true, key);
    }
    const dialog = openDialog('rc-s3-bucket', saved);
    // The runtime writes at the top of the bucket: saving the dialog unchanged must not move it.
    assert.equal(dialog.values.get('node-config-input-prefix'), '');
    assert.equal(settingOf(NODE_DEFAULTS['rc-s3-bucket'], saved, 'prefix'), '');
    assert.equal(dialog.values.get('node-config-input-region'), '');
    assert.equal(dialog.placeholders.get('node-config-input-region'), 'empty: S3_REGION, else us-east-1');
    assert.equal(dialog.checked.get('node-config-input-legalHold'), false);
    assert.equal(dialog.checked.get('node-config-input-forcePathStyle'), false);
    assert.equal(dialog.values.get('node-config-input-bucket'), 'archive-bucket', 'a saved field is kept');
  });

  it('an SFTP server, a Box and a Drive account and a RingCentral login saved with few settings show what the runtime does', () => {
    const sftp = openDialog('rc-sftp-server', { host: '127.0.0.1' });
    assert.equal(sftp.values.get('node-config-input-port'), '', 'the port stays empty: SFTP_PORT, else 22');
    assert.equal(sftp.placeholders.get('node-config-input-port'), 'SFTP_PORT, else 22');
    for (const type of ['rc-box-account', 'rc-gdrive-account']) {
      const dialog = openDialog(type, { clientId: 'app' });
      assert.equal(dialog.values.get('node-config-input-authMode'), 'oauth', `${type}: the sign-in it uses`);
      assert.equal(
        dialog.values.get('node-config-input-rootPath'),
        '',
        `${type}: the top of the drive, as it writes`,
      );
    }
    const login = openDialog('rc-config', {});
    assert.equal(login.values.get('node-config-input-server'), '', 'the server: RC_SERVER, else production');
    assert.equal(login.values.get('node-config-input-retentionRecordingDays'), '90');
    assert.equal(login.values.get('node-config-input-retentionTextDays'), '0');
    const smarsh = openDialog('rc-smarsh-account', { host: 'relay.example.com', security: 'tls' });
    assert.equal(smarsh.values.get('node-config-input-port'), '', 'the port of the security chosen');
    assert.equal(smarsh.values.get('node-config-input-maxMb'), '25');
  });

  it('a call-log source saved before "archive" existed says what it archives: recordings only', () => {
    const editor = editorDefinition('rc-call-log-source');
    const label = (config: object) => editor.label!.call(config);
    assert.equal(label({ scope: 'account' }), 'call recordings');
    assert.equal(settingOf(NODE_DEFAULTS['rc-call-log-source'], {}, 'archive'), 'recordings');
    assert.equal(
      label({ scope: 'account', archive: editor.defaults.archive.value }),
      'call log + recordings',
    );
    assert.equal(label({ scope: 'account', archive: 'records' }), 'call log');
  });
});

describe('the scorecard checks the README answers', () => {
  it('D01: the README names every dependency and their number', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const d01 = readme.slice(readme.indexOf('**D01**'), readme.indexOf('**D03**'));
    assert.ok(d01.length > 0, 'the README answers D01');
    const names = Object.keys(pkg.dependencies);
    for (const name of names) assert.ok(d01.includes(`\`${name}\``), `the README says why ${name} is needed`);
    assert.match(d01, new RegExp(`the pack has ${names.length},`), 'the README gives their number');
  });
});
