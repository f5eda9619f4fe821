/**
 * The browser tests' Chromium: Debian's (scripts/ensure-chromium.sh installs it), driven by
 * playwright-core, which never downloads a browser of its own. Every page may reach 127.0.0.1 only;
 * any other request is refused and recorded so that a test can assert there was none.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { root } from './node-red';

export const CHROMIUM = process.env.RC_TEST_CHROMIUM ?? '/usr/bin/chromium';
export const screenshotDir = join(root, 'test-output', 'screenshots');

/** The pack's node types as package.json lists them, with whether each is a config node. */
export function packTypes(): Array<{ type: string; config: boolean }> {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    'node-red': { nodes: Record<string, string> };
  };
  return Object.keys(pkg['node-red'].nodes).map((type) => {
    // Read from the source, not from the editor, so that a node that lost its category is noticed.
    const editor = readFileSync(join(root, 'nodes', type, 'editor.ts'), 'utf8');
    return { type, config: /category:\s*['"]config['"]/.test(editor) };
  });
}

/**
 * A fresh profile per launch (playwright-core makes and removes it). Without the
 * background-networking flags Chromium tries to reach Google's services at start.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export interface EditorPage {
  page: Page;
  context: BrowserContext;
  /** Requests that tried to leave 127.0.0.1 (refused). */
  external: string[];
  /** Uncaught errors in the editor's scripts. */
  pageErrors: string[];
  close(): Promise<void>;
}

/**
 * Opens the Node-RED editor at `url` in a new context and waits until the palette is there. The
 * window is 1440x900 unless `viewport` says otherwise (a laptop's, say).
 */
export async function openEditor(
  browser: Browser,
  url: string,
  viewport: { width: number; height: number } = { width: 1440, height: 900 },
): Promise<EditorPage> {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const external: string[] = [];
  const pageErrors: string[] = [];
  await context.route('**/*', (route) => {
    const host = new URL(route.request().url()).hostname;
    if (host === '127.0.0.1') return route.continue();
    external.push(route.request().url());
    return route.abort('blockedbyclient');
  });
  // Short enough that a missing element fails one test, not the whole file's time budget.
  context.setDefaultTimeout(10_000);
  // tsx compiles the tests keeping function names: a named function inside a page.evaluate callback
  // calls esbuild's __name helper, which the page lacks.
  await context.addInitScript({ content: 'globalThis.__name ??= (fn) => fn;' });
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  // The editor's first load fetches every node's scripts: as long as the wait for its node types.
  await page.goto(url, { timeout: 60_000 });
  // The editor is ready when the node types are loaded and the first flow tab is shown.
  await page.waitForFunction(
    () => {
      const red = (window as unknown as { RED?: { nodes?: { getType?(t: string): unknown } } }).RED;
      return !!red?.nodes?.getType?.('rc-config') && !!document.querySelector('.red-ui-tab.active');
    },
    undefined,
    { timeout: 60_000 },
  );
  await page.locator('#red-ui-palette .red-ui-palette-node').first().waitFor();
  // Trays and menus then open at once instead of sliding in: the same dialogs, seconds quicker.
  await page.evaluate(() => {
    (window as unknown as { $: { fx: { off: boolean } } }).$.fx.off = true;
  });
  return { page, context, external, pageErrors, close: () => context.close() };
}

/** Saves a screenshot of the page (or one element of it) as test-output/screenshots/<name>.png. */
export async function screenshot(target: Page | Locator, name: string): Promise<string> {
  mkdirSync(screenshotDir, { recursive: true });
  const path = join(screenshotDir, `${name}.png`);
  await target.screenshot({ path });
  return path;
}

/** Waits until an element stops moving (trays slide in), so a screenshot shows it in place. */
export async function settled(target: Locator, timeoutMs = 5000): Promise<void> {
  const started = Date.now();
  let last = '';
  for (;;) {
    const box = JSON.stringify(await target.boundingBox());
    if (box === last && box !== 'null') return;
    if (Date.now() - started > timeoutMs) throw new Error(`element still moving after ${timeoutMs} ms`);
    last = box;
    await new Promise((r) => setTimeout(r, 60));
  }
}

/** Drags a node type from the palette onto the workspace at (x, y) of the canvas; returns its id. */
export async function dragFromPalette(page: Page, type: string, x: number, y: number): Promise<string> {
  const entry = page.locator(`#red-ui-palette .red-ui-palette-node[data-palette-type="${type}"]`);
  await entry.scrollIntoViewIfNeeded();
  const canvas = page.locator('#red-ui-workspace-chart');
  await entry.dragTo(canvas, { targetPosition: { x, y } });
  // The dropped node is the one selection of the workspace.
  return page.evaluate(() => {
    const red = (window as unknown as { RED: { view: { selection(): { nodes?: Array<{ id: string }> } } } })
      .RED;
    const nodes = red.view.selection().nodes ?? [];
    if (nodes.length !== 1) throw new Error(`expected one selected node after the drop, got ${nodes.length}`);
    return nodes[0].id;
  });
}

/** The node's shape on the workspace. */
export function flowNode(page: Page, id: string): Locator {
  return page.locator(`#red-ui-workspace-chart g.red-ui-flow-node-group[id="${id}"]`);
}

/**
 * The edit tray of a node and that of a config node opened from it. Node-RED takes a tray out of
 * the page while another is stacked on it, so trays are told apart by their buttons, not by order.
 */
export function nodeTray(page: Page): Locator {
  return page.locator('.red-ui-tray', { has: page.locator('#node-dialog-ok') });
}
export function configTray(page: Page): Locator {
  return page.locator('.red-ui-tray', { has: page.locator('#node-config-dialog-ok') });
}

/** Opens a workspace node's edit dialog by double-clicking it; returns the tray that opened. */
export async function openNodeDialog(page: Page, id: string): Promise<Locator> {
  await flowNode(page, id).locator('rect.red-ui-flow-node').dblclick();
  const tray = nodeTray(page);
  await tray.locator('#dialog-form').waitFor();
  return tray;
}

/** Cancels whatever edit trays are open (a failed test leaves them, and they shade the palette). */
export async function closeTrays(page: Page): Promise<void> {
  for (const tray of [configTray(page), nodeTray(page)]) {
    if ((await tray.count()) === 0) continue;
    await tray.locator('#node-config-dialog-cancel, #node-dialog-cancel').first().click();
    await tray.waitFor({ state: 'detached' });
  }
}

/** Whether a workspace node shows Node-RED's red triangle (invalid properties). */
export async function showsInvalid(page: Page, id: string): Promise<boolean> {
  const badge = flowNode(page, id).locator('.red-ui-flow-node-error');
  return (await badge.count()) > 0 && (await badge.first().isVisible());
}

/**
 * Shows a sidebar tab as a user does: Node-RED 5 has a button per tab in its tab bar; Node-RED 4
 * has a tab, or an icon button when the bar is narrow, else the tab in the bar's menu (the caret).
 */
export async function showSidebarTab(page: Page, id: string): Promise<void> {
  for (const shortcut of [
    page.locator(`.red-ui-sidebar-tab-bar button[data-tab-id="${id}"]`),
    page.locator(`#red-ui-tab-${id}`),
    page.locator(`#red-ui-tab-${id}-link-button`),
  ]) {
    if (await shortcut.isVisible()) return shortcut.click();
  }
  await page.locator('#red-ui-sidebar .red-ui-tab-link-button-menu').first().click();
  await page.locator(`#red-ui-tabs-menu-option-${id}`).click();
}

/** Waits until an element's text matches (the page updates it from the runtime); returns the text. */
export async function waitForText(
  target: Locator,
  pattern: RegExp | string,
  timeoutMs = 30_000,
): Promise<string> {
  const started = Date.now();
  const matches = (text: string) => (typeof pattern === 'string' ? text === pattern : pattern.test(text));
  let text = '';
  while (!matches((text = ((await target.textContent()) ?? '').trim()))) {
    if (Date.now() - started > timeoutMs) throw new Error(`the text is "${text}", not ${pattern}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return text;
}
