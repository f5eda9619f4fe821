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
}

/** Runs a node's built editor script against a stand-in for the editor's RED, as the browser does. */
function editorDefinition(type: string): EditorDefinition {
  const html = readFileSync(join(root, 'dist', 'nodes', type, `${type}.html`), 'utf8');
  const registered: Record<string, EditorDefinition> = {};
  const number = (blank?: boolean) => (v: unknown) =>
    (blank === true && (v === '' || v === undefined)) || (v !== '' && !Number.isNaN(Number(v)));
  const RED = {
    nodes: { registerType: (t: string, def: EditorDefinition) => (registered[t] = def) },
    validators: { number, regex: (re: RegExp) => (v: unknown) => re.test(String(v)) },
  };
  for (const script of scripts(html)) runInNewContext(script, { RED, $: () => ({}), window: {} });
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
