// The flows a user meets first, as the editor shows them at its default size and sidebar width:
// the demo `npm start` deploys, each example from Import > Examples, and a flow saved before some
// settings existed. No node is invalid, no two nodes overlap, and the labels and dialogs say what
// the runtime does.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { demoFlow } from '../../scripts/demo-flow';
import { startSimulator, type Simulator } from '../sim/index';
import {
  closeTrays,
  configTray,
  launchChromium,
  openEditor,
  packTypes,
  screenshot,
  settled,
  type EditorPage,
} from '../support/browser';
import { root } from '../support/node-red';
import { prepareUserDir, removeDir, startNodeRed, type NodeRedProcess } from '../support/node-red-process';

const configTypes = new Set(
  packTypes()
    .filter((t) => t.config)
    .map((t) => t.type),
);

interface ShownNode {
  id: string;
  type: string;
  label: string;
  x: number;
  y: number;
  w: number;
  h: number;
  valid: boolean | undefined;
  errors: string[];
}

interface ShownTab {
  nodes: ShownNode[];
  configs: Array<{ id: string; type: string; valid: boolean | undefined; errors: string[] }>;
  trianglesShown: number;
  /** The part of the canvas the workspace shows beside the palette and the sidebar. */
  visible: { w: number; h: number };
}

/** Shows the tab and reads what the editor drew of it: each node's box, label and validity. */
async function showTab(page: Page, label: string): Promise<ShownTab> {
  const exact = new RegExp(`^\\s*${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`);
  const tab = page.locator('#red-ui-workspace-tabs .red-ui-tab', { hasText: exact });
  // A second click soon after the first is a double click, which opens the flow's own dialog.
  if (!/\bactive\b/.test((await tab.getAttribute('class')) ?? '')) await tab.click();
  await page.waitForFunction(() => {
    const red = (window as unknown as { RED: EditorRed }).RED;
    const z = red.workspaces.active();
    const nodes = red.nodes.filterNodes({ z });
    return nodes.length > 0 && nodes.every((n) => n.w !== undefined && n.h !== undefined);
  });
  return page.evaluate(() => {
    const red = (window as unknown as { RED: EditorRed }).RED;
    const z = red.workspaces.active();
    const used = new Set<string>();
    const nodes = red.nodes.filterNodes({ z }).map((n) => {
      for (const value of Object.values(n)) if (typeof value === 'string') used.add(value);
      const text = document.querySelector(`g.red-ui-flow-node-group[id="${n.id}"] .red-ui-flow-node-label`);
      return {
        id: n.id,
        type: n.type,
        label: (text?.textContent ?? '').trim(),
        // The button of an inject or debug node sticks out of its box, on the side away from its align.
        x: n._def?.button ? n.x + (n._def.align === 'right' ? 12.5 : -12.5) : n.x,
        y: n.y,
        w: (n.w ?? 0) + (n._def?.button ? 25 : 0),
        h: n.h ?? 0,
        valid: n.valid,
        errors: n.validationErrors ?? [],
      };
    });
    const configs: ShownTab['configs'] = [];
    red.nodes.eachConfig((c) => {
      if (used.has(c.id))
        configs.push({ id: c.id, type: c.type, valid: c.valid, errors: c.validationErrors ?? [] });
    });
    const trianglesShown = Array.from(
      document.querySelectorAll('#red-ui-workspace-chart .red-ui-flow-node-error') as ArrayLike<Element>,
    ).filter(
      (el) => (el as SVGGraphicsElement).getBBox().width > 0 && getComputedStyle(el).display !== 'none',
    ).length;
    const chart = document.getElementById('red-ui-workspace-chart')!;
    return { nodes, configs, trianglesShown, visible: { w: chart.clientWidth, h: chart.clientHeight } };
  });
}

interface EditorNodeObject {
  id: string;
  type: string;
  x: number;
  y: number;
  w?: number;
  h?: number;
  valid?: boolean;
  validationErrors?: string[];
  _def?: { button?: unknown; align?: string };
}
interface EditorRed {
  workspaces: { active(): string };
  nodes: {
    filterNodes(filter: { z: string }): EditorNodeObject[];
    eachConfig(cb: (node: EditorNodeObject) => void): void;
  };
}

/** Pairs of nodes whose boxes (x, y is the centre) share any area. */
function overlapping(nodes: ShownNode[]): string[] {
  const pairs: string[] = [];
  for (let i = 0; i < nodes.length; i++) {
    for (let j = i + 1; j < nodes.length; j++) {
      const a = nodes[i];
      const b = nodes[j];
      const apart =
        a.x + a.w / 2 <= b.x - b.w / 2 ||
        b.x + b.w / 2 <= a.x - a.w / 2 ||
        a.y + a.h / 2 <= b.y - b.h / 2 ||
        b.y + b.h / 2 <= a.y - a.h / 2;
      if (!apart) pairs.push(`"${a.label || a.type}" and "${b.label || b.type}"`);
    }
  }
  return pairs;
}

function assertClean(tab: ShownTab, what: string): void {
  const invalid = [...tab.nodes, ...tab.configs]
    .filter((n) => n.valid === false)
    .map((n) => `${n.type} ${n.id}: ${n.errors.join(', ')}`);
  assert.deepEqual(invalid, [], `${what}: no node is invalid on load`);
  assert.equal(tab.trianglesShown, 0, `${what}: no red triangle on the canvas`);
  assert.deepEqual(overlapping(tab.nodes), [], `${what}: no two nodes overlap`);
  const hidden = tab.nodes
    .filter(
      (n) =>
        n.x - n.w / 2 < 0 ||
        n.y - n.h / 2 < 0 ||
        n.x + n.w / 2 > tab.visible.w ||
        n.y + n.h / 2 > tab.visible.h,
    )
    .map((n) => n.label || n.type);
  assert.deepEqual(
    hidden,
    [],
    `${what}: every node is in view at the default sidebar width (${tab.visible.w} px)`,
  );
}

async function importExample(page: Page, name: string): Promise<void> {
  await page.locator('#red-ui-header-button-sidemenu').click();
  await page.locator('#menu-item-import').click();
  await page.locator('#red-ui-tab-red-ui-clipboard-dialog-import-tab-examples').click();
  const examples = page.locator('#red-ui-clipboard-dialog-import-tab-examples');
  await examples
    .locator('.red-ui-treeList-label', { hasText: '@rcarchiver/node-red-ringcentral-archiver' })
    .click();
  await examples.locator('.red-ui-treeList-label', { hasText: name }).click();
  await page.locator('#red-ui-clipboard-dialog-ok').click();
  await page.locator('#red-ui-clipboard-dialog-ok').waitFor({ state: 'hidden' });
}

async function importText(page: Page, flow: unknown[]): Promise<void> {
  await page.locator('#red-ui-header-button-sidemenu').click();
  await page.locator('#menu-item-import').click();
  const text = page.locator('#red-ui-clipboard-dialog-import-text');
  await text.fill(JSON.stringify(flow));
  // The dialog checks the text as it is typed.
  await text.press('End');
  await page.locator('#red-ui-clipboard-dialog-ok').click();
  await page.locator('#red-ui-clipboard-dialog-ok').waitFor({ state: 'hidden' });
}

async function openDialog(page: Page, id: string): Promise<void> {
  await page
    .locator(`#red-ui-workspace-chart g.red-ui-flow-node-group[id="${id}"] rect.red-ui-flow-node`)
    .dblclick();
  await page.locator('.red-ui-tray #dialog-form').waitFor();
  await settled(page.locator('.red-ui-tray', { has: page.locator('#node-dialog-ok') }));
}

describe('the demo and the examples in the editor', { timeout: 240_000 }, () => {
  let sim: Simulator;
  let work: string;
  let red: NodeRedProcess;
  let browser: Browser;
  let editor: EditorPage;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'rc-archiver-flows-'));
    sim = await startSimulator({
      seed: 3,
      days: 1,
      callsPerDay: 4,
      recordingFraction: 0.5,
      rateWindowSec: 4,
    });
    // The demo as `npm start` deploys it: the flows file of the Node-RED it starts.
    prepareUserDir(join(work, 'node-red'), demoFlow());
    [red, browser] = await Promise.all([
      startNodeRed({
        userDir: join(work, 'node-red'),
        env: {
          RC_SERVER: sim.platformUrl,
          RC_CLIENT_ID: sim.credentials.clientId,
          RC_CLIENT_SECRET: sim.credentials.clientSecret,
          RC_JWT: sim.credentials.jwt,
        },
      }),
      launchChromium(),
    ]);
    editor = await openEditor(browser, red.url);
  });

  after(async () => {
    await editor?.close().catch(() => undefined);
    await browser?.close();
    await red?.kill();
    await sim?.close();
    if (work) removeDir(work);
  });

  it('the demo loads with every node valid, none overlapping, labels that say what it archives', async () => {
    const { page } = editor;
    const tab = await showTab(page, 'RingCentral archiver demo');
    await screenshot(page, 'flow-demo');
    assertClean(tab, 'demo');
    const labels = Object.fromEntries(tab.nodes.map((n) => [n.type, n.label]));
    // The e2e demo test sees both kinds arrive in the archive folder.
    assert.equal(labels['rc-call-log-source'], 'call log + recordings');
    assert.equal(labels['rc-folder-sink'], 'folder ../archive');
    assert.equal(labels['rc-archive-log'], 'archive log');
  });

  it('the demo archive log dialog shows its settings, none empty', async () => {
    const { page } = editor;
    await closeTrays(page);
    await showTab(page, 'RingCentral archiver demo');
    await openDialog(page, 'demo0000000000b5');
    assert.equal(await page.locator('#node-input-keepDays').inputValue(), '183');
    assert.equal(await page.locator('#node-input-summaryDelay').inputValue(), '3');
    await closeTrays(page);
  });

  const examples = readdirSync(join(root, 'examples'))
    .filter((f) => f.endsWith('.json'))
    .sort();
  for (const file of examples) {
    it(`example ${file}: imports with every node valid and none overlapping`, async () => {
      const { page } = editor;
      await closeTrays(page);
      const flow = JSON.parse(readFileSync(join(root, 'examples', file), 'utf8')) as Array<{
        type: string;
        label?: string;
      }>;
      const tabLabel = flow.find((n) => n.type === 'tab')?.label;
      assert.ok(tabLabel, `${file} has a tab`);
      await importExample(page, file.replace(/\.json$/, ''));
      const tab = await showTab(page, tabLabel);
      await screenshot(page, `flow-${file.replace(/\.json$/, '')}`);
      assert.equal(
        tab.nodes.length,
        flow.filter((n) => n.type !== 'tab' && !configTypes.has(n.type)).length,
        'every node of the example is on its tab',
      );
      assertClean(tab, file);
    });
  }

  it('a flow saved before some settings existed loads valid, and its dialogs show what the runtime does', async () => {
    const { page } = editor;
    await closeTrays(page);
    const tab = 'savedbefore00001';
    await importText(page, [
      { id: tab, type: 'tab', label: 'saved before' },
      // No archive (the choice came later: recordings only), no keepDays, no sidecar.
      { id: 'savedbefore00002', type: 'rc-call-log-source', z: tab, rc: '', x: 200, y: 80, wires: [[], []] },
      { id: 'savedbefore00003', type: 'rc-archive-log', z: tab, x: 200, y: 160, wires: [[], []] },
      {
        id: 'savedbefore00004',
        type: 'rc-folder-sink',
        z: tab,
        directory: 'x',
        x: 200,
        y: 240,
        wires: [[], []],
      },
    ]);
    const shown = await showTab(page, 'saved before');
    const byType = Object.fromEntries(shown.nodes.map((n) => [n.type, n]));
    assert.equal(byType['rc-call-log-source'].label, 'call recordings', 'the label says recordings only');
    assert.notEqual(byType['rc-archive-log'].valid, false, 'the archive log without keepDays is valid');
    assert.notEqual(byType['rc-folder-sink'].valid, false, 'the sink without sidecar is valid');

    await openDialog(page, byType['rc-call-log-source'].id);
    assert.equal(await page.locator('#node-input-archive').inputValue(), 'recordings');
    await closeTrays(page);
    await openDialog(page, byType['rc-archive-log'].id);
    assert.equal(await page.locator('#node-input-keepDays').inputValue(), '183');
    await closeTrays(page);
    await openDialog(page, byType['rc-folder-sink'].id);
    assert.equal(
      await page.locator('#node-input-sidecar').isChecked(),
      true,
      'a sidecar, as the runtime writes',
    );
    assert.equal(await page.locator('#node-input-timeZone').inputValue(), 'UTC');
    await screenshot(page, 'flow-saved-before-sink-dialog');
    await closeTrays(page);
  });

  it('config nodes saved before some settings existed load valid, and their dialogs leave the environment in charge', async () => {
    const { page } = editor;
    await closeTrays(page);
    const tab = 'savedbefore00011';
    await importText(page, [
      { id: tab, type: 'tab', label: 'configs saved before' },
      // No prefix (the bucket's top), no region (S3_REGION), no lock or legal hold settings.
      { id: 'savedbefore00012', type: 'rc-s3-bucket', bucket: 'old-bucket' },
      // No port (SFTP_PORT, else 22).
      { id: 'savedbefore00013', type: 'rc-sftp-server', host: '127.0.0.1' },
      {
        id: 'savedbefore00014',
        type: 'rc-s3-sink',
        z: tab,
        account: 'savedbefore00012',
        x: 200,
        y: 80,
        wires: [[], []],
      },
      {
        id: 'savedbefore00015',
        type: 'rc-sftp-sink',
        z: tab,
        server: 'savedbefore00013',
        x: 200,
        y: 160,
        wires: [[], []],
      },
    ]);
    const shown = await showTab(page, 'configs saved before');
    assert.deepEqual(
      shown.configs.map((c) => [c.type, c.valid !== false, c.errors]).sort(),
      [
        ['rc-s3-bucket', true, []],
        ['rc-sftp-server', true, []],
      ],
      'both config nodes are valid',
    );
    const byType = Object.fromEntries(shown.nodes.map((n) => [n.type, n]));

    const openConfig = async (sinkId: string, property: string) => {
      await openDialog(page, sinkId);
      await page.locator(`#node-input-btn-${property}-edit`).click();
      const tray = configTray(page);
      await tray.locator('#node-config-dialog-edit-form').waitFor();
      await settled(tray);
    };
    await openConfig(byType['rc-s3-sink'].id, 'account');
    assert.equal(await page.locator('#node-config-input-bucket').inputValue(), 'old-bucket');
    assert.equal(
      await page.locator('#node-config-input-prefix').inputValue(),
      '',
      'the top, as the runtime writes',
    );
    const region = page.locator('#node-config-input-region');
    assert.equal(await region.inputValue(), '', 'no region filled in over S3_REGION');
    assert.equal(await region.getAttribute('placeholder'), 'empty: S3_REGION, else us-east-1');
    assert.equal(await page.locator('#node-config-input-legalHold').isChecked(), false);
    await screenshot(page, 'config-saved-before-s3-dialog');
    await closeTrays(page);

    await openConfig(byType['rc-sftp-sink'].id, 'server');
    const port = page.locator('#node-config-input-port');
    assert.equal(await port.inputValue(), '', 'no port filled in over SFTP_PORT');
    assert.equal(await port.getAttribute('placeholder'), 'SFTP_PORT, else 22');
    await closeTrays(page);
  });

  it('nothing in the editor tried to reach beyond 127.0.0.1, and no script failed', () => {
    assert.deepEqual(editor.external, [], 'no request left 127.0.0.1');
    assert.deepEqual(editor.pageErrors, [], 'no uncaught error in the editor');
  });
});
