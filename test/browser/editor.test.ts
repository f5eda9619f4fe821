// The pack as a user meets it in the Node-RED editor, in Debian's Chromium against a real Node-RED
// process: the palette, every edit dialog with an invalid setting, the Connect dialogs, and the
// example flow imported from Import > Examples and deployed against the RingCentral simulator.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Locator, Page } from 'playwright-core';
import { startSimulator, type Simulator } from '../sim/index';
import {
  closeTrays,
  configTray,
  dragFromPalette,
  flowNode,
  launchChromium,
  openEditor,
  openNodeDialog,
  packTypes,
  screenshot,
  settled,
  showsInvalid,
  type EditorPage,
} from '../support/browser';
import { archiverEnv } from '../support/e2e';
import { root } from '../support/node-red';
import { prepareUserDir, removeDir, startNodeRed, type NodeRedProcess } from '../support/node-red-process';
import { sshdInstalled, startSshd, type SshdServer } from '../support/sshd';

const types = packTypes();
const paletteTypes = types.filter((t) => !t.config).map((t) => t.type);
const configTypes = types.filter((t) => t.config).map((t) => t.type);

/** What makes each palette node's dialog invalid, as a user would get it wrong. */
type Mistake = (
  { field: string; value: string; select?: { field: string; value: string } } | { missingConfig: string }
) & {
  /** What the red triangle's tooltip says, when the node words its own message. */
  tip?: RegExp;
};
const sinkMistake: Mistake = { field: 'timeZone', value: 'Mars/Olympus' };
const mistakes: Record<string, Mistake> = {
  'rc-call-log-source': { missingConfig: 'rc' },
  'rc-message-source': {
    select: { field: 'backfill', value: 'range' },
    field: 'backfillFrom',
    value: 'next tuesday',
  },
  'rc-compliance-export': { field: 'chatIds', value: 'general' },
  'rc-rate-limit': { field: 'maxQueue', value: '-5' },
  'rc-archive-log': { field: 'keepDays', value: '1.5' },
  'rc-retry': { field: 'schedule', value: 'soon', tip: /"soon" is not a delay/ },
  // A template that climbs out of the storage root is refused in the dialog, with the reason.
  'rc-sftp-sink': { field: 'template', value: '../{key}', tip: /may not contain "\.\."/ },
  'rc-folder-sink': { field: 'template', value: 'calls/../../{key}', tip: /may not contain "\.\."/ },
  'rc-dropbox-sink': sinkMistake,
  'rc-box-sink': sinkMistake,
  'rc-gdrive-sink': sinkMistake,
  'rc-s3-sink': sinkMistake,
  'rc-smarsh-sink': sinkMistake,
};

/** Each config node: the palette node and property whose "+" button adds one, and its mistake. */
const configMistakes: Record<
  string,
  {
    from: string;
    property: string;
    /** Box and Google Drive accounts check nothing in the dialog (the mode decides what is needed). */
    field?: string;
    value?: string;
    /** A right value, entered first where the empty field is already wrong. */
    valid?: string;
    select?: { field: string; value: string };
    /** Flagged only when the dialog is opened again (the check reads the saved server choice). */
    reopen?: boolean;
  }
> = {
  'rc-config': {
    from: 'rc-call-log-source',
    property: 'rc',
    select: { field: 'server', value: 'custom' },
    field: 'serverUrl',
    value: 'ringcentral dot com',
    reopen: true,
  },
  'rc-sftp-server': {
    from: 'rc-sftp-sink',
    property: 'server',
    field: 'hostFingerprint',
    value: 'my server!',
  },
  'rc-s3-bucket': {
    from: 'rc-s3-sink',
    property: 'account',
    select: { field: 'objectLockMode', value: 'COMPLIANCE' },
    field: 'objectLockDays',
    valid: '2555',
    value: '0',
  },
  'rc-smarsh-account': {
    from: 'rc-smarsh-sink',
    property: 'account',
    field: 'from',
    valid: 'archiver@example.com',
    value: 'archiver',
  },
  // The app key (client ID) is required before Connect can start.
  'rc-dropbox-account': { from: 'rc-dropbox-sink', property: 'account', field: 'clientId' },
  'rc-box-account': { from: 'rc-box-sink', property: 'account' },
  'rc-gdrive-account': { from: 'rc-gdrive-sink', property: 'account' },
};
const connectTypes = new Set(['rc-dropbox-account', 'rc-box-account', 'rc-gdrive-account']);

async function hasError(input: Locator): Promise<boolean> {
  return /\binput-error\b/.test((await input.getAttribute('class')) ?? '');
}

/** Visible text in a dialog that is a message key instead of words (a catalog lookup that missed). */
async function untranslated(tray: Locator): Promise<string[]> {
  const text = await tray.innerText();
  return text.match(/\brc-[a-z-]+\.[\w.]+\b/g) ?? [];
}

/** Types a wrong value the way a user does (click, type, leave the field). */
async function enter(page: Page, input: Locator, value: string): Promise<void> {
  await input.fill(value);
  await input.press('Tab');
  await page.waitForTimeout(50);
}

describe('the editor in Chromium', { timeout: 240_000 }, () => {
  let sim: Simulator;
  let sshd: SshdServer | undefined;
  let work: string;
  let red: NodeRedProcess;
  let browser: Browser;
  let editor: EditorPage;
  const pages: EditorPage[] = [];
  /** Message keys each config dialog showed instead of words. */
  const keysShown = new Map<string, string[]>();

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'rc-archiver-browser-'));
    sim = await startSimulator({
      seed: 7,
      days: 1,
      callsPerDay: 6,
      recordingFraction: 0.5,
      rateWindowSec: 4,
    });
    // With sshd (CI installs it) the example archives for real; without, its SFTP target is a
    // closed port and the sink says so in its status.
    if (sshdInstalled()) sshd = await startSshd();
    const env: Record<string, string> = sshd
      ? archiverEnv(sim, sshd, work)
      : {
          RC_SERVER: sim.platformUrl,
          RC_CLIENT_ID: sim.credentials.clientId,
          RC_CLIENT_SECRET: sim.credentials.clientSecret,
          RC_JWT: sim.credentials.jwt,
          SFTP_HOST: '127.0.0.1',
          SFTP_PORT: '9',
          SFTP_USER: 'archiver',
          SFTP_PASSWORD: 'unused',
          SFTP_HOST_FINGERPRINT: `SHA256:${'A'.repeat(43)}`,
          SFTP_ROOT: '/archive',
        };
    prepareUserDir(join(work, 'node-red'), []);
    [red, browser] = await Promise.all([
      startNodeRed({ userDir: join(work, 'node-red'), env }),
      launchChromium(),
    ]);
    editor = await openEditor(browser, red.url);
    pages.push(editor);
  });

  after(async () => {
    for (const p of pages) await p.close().catch(() => undefined);
    await browser?.close();
    await red?.kill();
    await sim?.close();
    await sshd?.stop();
    if (work) removeDir(work);
  });

  it('the palette shows every node of the pack under one category, each with its own icon', async () => {
    const { page } = editor;
    assert.ok(paletteTypes.length >= 10, `package.json lists the palette nodes (${paletteTypes.length})`);
    const categories = new Set<string>();
    for (const type of paletteTypes) {
      const entry = page.locator(`#red-ui-palette .red-ui-palette-node[data-palette-type="${type}"]`);
      assert.equal(await entry.count(), 1, `${type} is in the palette once`);
      categories.add(
        await entry.evaluate((el) => el.closest('.red-ui-palette-category')?.id ?? '(no category)'),
      );
    }
    assert.deepEqual([...categories], ['red-ui-palette-container-RingCentral'], 'one category for the pack');
    const category = page.locator('#red-ui-palette-container-RingCentral');
    assert.equal(
      (await category.locator('.red-ui-palette-header').innerText()).trim(),
      'RingCentral',
      'the category is named RingCentral',
    );
    for (const type of configTypes) {
      assert.equal(
        await page.locator(`#red-ui-palette .red-ui-palette-node[data-palette-type="${type}"]`).count(),
        0,
        `config node ${type} is not in the palette`,
      );
    }

    // Node-RED answers a missing icon with its default arrow: compare the bytes the editor shows
    // with the pack's own file, and check that the browser can draw it.
    for (const type of paletteTypes) {
      const icon = page.locator(`.red-ui-palette-node[data-palette-type="${type}"] .red-ui-palette-icon`);
      const loaded = await icon.evaluate(async (el) => {
        const url = getComputedStyle(el).backgroundImage.replace(/^url\("?|"?\)$/g, '');
        const body = await (await fetch(url)).text();
        const img = new Image();
        img.src = url;
        const drawn = await img.decode().then(
          () => img.naturalWidth > 0,
          () => false,
        );
        return { url, body, drawn };
      });
      const file = decodeURIComponent(loaded.url.split('/').pop() ?? '');
      assert.match(
        loaded.url,
        /\/icons\/@rcarchiver\/node-red-ringcentral-archiver\/[^/]+\.svg$/,
        `${type}: icon from the pack`,
      );
      let own = '';
      try {
        own = readFileSync(join(root, 'icons', file), 'utf8');
      } catch {
        assert.fail(`${type}: its icon ${file} is not in icons/`);
      }
      assert.equal(loaded.body, own, `${type}: the editor shows icons/${file}, not Node-RED's default`);
      assert.ok(loaded.drawn, `${type}: the icon ${file} loads as an image`);
    }
    await category.scrollIntoViewIfNeeded();
    await screenshot(category, 'palette');
  });

  for (const type of paletteTypes) {
    it(`${type}: the edit dialog opens and flags an invalid setting`, async () => {
      const { page } = editor;
      await closeTrays(page);
      const mistake = mistakes[type];
      assert.ok(mistake, `the test knows an invalid setting of ${type}`);
      const id = await dragFromPalette(page, type, 200 + (paletteTypes.indexOf(type) % 3) * 250, 120);
      const validAtDrop = !(await showsInvalid(page, id));
      const tray = await openNodeDialog(page, id);
      assert.ok((await tray.locator('.red-ui-tray-header').innerText()).includes('Edit'), 'the edit tray');
      if ('missingConfig' in mistake) {
        // No config node exists yet: the dialog offers to add one and marks the field.
        const select = page.locator(`#node-input-${mistake.missingConfig}`);
        assert.equal(await select.inputValue(), '_ADD_', 'the dialog offers to add a config node');
        assert.ok(await hasError(select), `${mistake.missingConfig} is marked invalid`);
        assert.equal(validAtDrop, false, 'the node shows the red triangle from the start');
      } else {
        if (mistake.select)
          await page.locator(`#node-input-${mistake.select.field}`).selectOption(mistake.select.value);
        const input = page.locator(`#node-input-${mistake.field}`);
        assert.equal(await hasError(input), false, `${mistake.field} starts valid`);
        await enter(page, input, mistake.value);
        assert.ok(await hasError(input), `${mistake.field} "${mistake.value}" is marked invalid`);
      }
      assert.deepEqual(await untranslated(tray), [], 'the dialog shows words, not message keys');
      await settled(tray);
      await screenshot(page, `dialog-${type}`);
      await page.locator('#node-dialog-ok').click();
      await tray.waitFor({ state: 'detached' });
      assert.ok(await showsInvalid(page, id), 'the node shows the red triangle');
      // The triangle's tooltip names the property.
      await flowNode(page, id).locator('.red-ui-flow-node-error').hover();
      const field = 'missingConfig' in mistake ? mistake.missingConfig : mistake.field;
      const tip = page.locator('#red-ui-workspace-chart .red-ui-flow-port-tooltip', {
        hasText: 'Invalid properties',
      });
      await tip.waitFor();
      assert.match(
        (await tip.textContent()) ?? '',
        mistake.tip ?? new RegExp(`- ${field}\\b`),
        `the tooltip says what is wrong`,
      );
      await page.mouse.move(5, 5);
      await tip.waitFor({ state: 'detached' });
    });
  }

  for (const type of configTypes) {
    it(`${type}: the config dialog opens from its node and flags an invalid setting`, async () => {
      const { page } = editor;
      await closeTrays(page);
      const c = configMistakes[type];
      assert.ok(c, `the test knows how to open ${type} and an invalid setting of it`);
      const id = await dragFromPalette(page, c.from, 300, 400);
      const nodeTray = await openNodeDialog(page, id);
      await settled(nodeTray);
      await page.locator(`#node-input-btn-${c.property}-add`).click();
      const tray = configTray(page);
      await tray.locator('#node-config-dialog-edit-form').waitFor();
      assert.ok(
        (await tray.locator('.red-ui-tray-header').innerText()).includes(type),
        `the tray edits a ${type}`,
      );
      if (c.select) await page.locator(`#node-config-input-${c.select.field}`).selectOption(c.select.value);
      const input = page.locator(`#node-config-input-${c.field}`);
      if (c.field === undefined) {
        // Nothing to check in this dialog.
      } else if (c.value === undefined) {
        assert.ok(await hasError(input), `the empty ${c.field} is marked required`);
      } else {
        if (c.valid !== undefined) await enter(page, input, c.valid);
        assert.equal(await hasError(input), false, `${c.field} "${c.valid ?? ''}" is valid`);
        await enter(page, input, c.value);
        if (c.reopen) {
          await page.locator('#node-config-dialog-ok').click();
          await tray.waitFor({ state: 'detached' });
          await page.locator(`#node-input-btn-${c.property}-edit`).click();
          await tray.locator('#node-config-dialog-edit-form').waitFor();
        }
        assert.ok(await hasError(input), `${c.field} "${c.value}" is marked invalid`);
      }
      if (connectTypes.has(type)) {
        const redirect = page.locator('#node-config-connect-redirect');
        assert.equal(
          await redirect.innerText(),
          `${red.url}/rc-archiver/oauth/callback`,
          'the dialog shows the redirect URI to register with the provider',
        );
        const connect = page.locator('#node-config-connect');
        assert.ok(await connect.isVisible(), 'a Connect button');
        assert.equal((await connect.innerText()).trim(), 'Connect');
      }
      if (type === 'rc-config') {
        // More logins: none shown until added; an added one fits the dialog at the default width.
        const rows = tray.locator('.rc-config-login:visible');
        assert.equal(await rows.count(), 0, 'no extra login shown at first');
        await page.locator('#rc-config-add-login').click();
        assert.equal(await rows.count(), 1, 'Add login shows one login');
        const jwt2 = page.locator('#node-config-input-jwt2');
        assert.ok(await jwt2.isVisible(), "login 2's JWT field");
        const [field, form] = [await jwt2.boundingBox(), await tray.boundingBox()];
        assert.ok(field && form && field.x + field.width <= form.x + form.width, 'login 2 fits the dialog');
      }
      keysShown.set(type, await untranslated(tray));
      await settled(tray);
      await screenshot(page, `dialog-${type}`);
      await page.locator('#node-config-dialog-cancel').click();
      await tray.waitFor({ state: 'detached' });
      // The node's tray slides back in as the config tray leaves: a click during that slide can
      // miss, so Cancel is clicked again until the dialog is gone.
      for (let tries = 0; tries < 3 && (await nodeTray.count()); tries++) {
        await page.locator('#node-dialog-cancel').click();
        await nodeTray.waitFor({ state: 'detached' }).catch(() => undefined);
      }
      assert.equal(await nodeTray.count(), 0, 'the node dialog closed');
    });
  }

  it('the config dialogs show words, not message keys', () => {
    const shown = Object.fromEntries([...keysShown].filter(([, keys]) => keys.length > 0));
    assert.deepEqual(shown, {}, 'no dialog shows a message key');
  });

  it('Test connection in the SFTP server dialog checks what is typed, before anything is deployed', async (t) => {
    if (!sshd) return t.skip('no sshd on this machine');
    const { page } = editor;
    await closeTrays(page);
    const id = await dragFromPalette(page, 'rc-sftp-sink', 300, 400);
    const nodeTray = await openNodeDialog(page, id);
    await settled(nodeTray);
    await page.locator('#node-input-btn-server-add').click();
    const tray = configTray(page);
    await tray.locator('#node-config-dialog-edit-form').waitFor();
    const field = (name: string) => page.locator(`#node-config-input-${name}`);
    await field('host').fill(sshd.host);
    await field('port').fill(String(sshd.port));
    await field('username').fill(sshd.username);
    await field('privateKeyFile').fill(join(work, 'id_sftp'));
    await field('root').fill(sshd.root);
    // A fingerprint that is not the server's: the dialog's value counts, not the environment's.
    await field('hostFingerprint').fill(`SHA256:${'B'.repeat(43)}`);
    const result = page.locator('#rc-sftp-server-storage-test-result');
    const press = async (expected: RegExp) => {
      await page.locator('#rc-sftp-server-storage-test').click();
      await page
        .locator('#rc-sftp-server-storage-test-result', { hasText: expected })
        .waitFor({ timeout: 30_000 });
      return result.innerText();
    };
    const refused = await press(/The check failed/);
    assert.match(refused, /✔ SSH server reached/);
    assert.match(refused, /✘ Host key matches the fingerprint: .*host key mismatch/);
    await result.scrollIntoViewIfNeeded();
    await settled(tray);
    await screenshot(tray, 'storage-test-sftp-refused');

    await field('hostFingerprint').fill(sshd.hostFingerprint);
    const passed = await press(/All checks passed/);
    assert.deepEqual(passed.split('\n'), [
      '✔ SSH server reached',
      '✔ Host key matches the fingerprint',
      '✔ Credentials accepted',
      '✔ Root folder exists',
      '✔ Probe file written',
      '✔ Probe file removed',
      'All checks passed.',
    ]);
    assert.deepEqual(await untranslated(tray), [], 'the result shows words, not message keys');
    await result.scrollIntoViewIfNeeded();
    await settled(tray);
    await screenshot(tray, 'storage-test-sftp');
    await page.locator('#node-config-dialog-cancel').click();
    await tray.waitFor({ state: 'detached' });
    await page.locator('#node-dialog-cancel').click();
    await nodeTray.waitFor({ state: 'detached' });
  });

  it('Test connection in the folder sink dialog names a folder that does not exist', async () => {
    const { page } = editor;
    await closeTrays(page);
    const id = await dragFromPalette(page, 'rc-folder-sink', 450, 250);
    const tray = await openNodeDialog(page, id);
    await settled(tray);
    const missing = join(work, 'no-such-folder');
    await page.locator('#node-input-directory').fill(missing);
    await page.locator('#rc-folder-sink-storage-test').click();
    const result = page.locator('#rc-folder-sink-storage-test-result');
    await result.filter({ hasText: 'The check failed' }).waitFor({ timeout: 30_000 });
    const text = await result.innerText();
    assert.match(text, /✘ Folder exists \(not created by the test\): .*does not exist/);
    assert.ok(text.includes(missing), 'the folder is named');
    await result.scrollIntoViewIfNeeded();
    await settled(tray);
    await screenshot(tray, 'storage-test-folder');
    await page.locator('#node-dialog-cancel').click();
    await tray.waitFor({ state: 'detached' });
  });

  it('the example flow imports from Import > Examples, deploys and runs', async () => {
    // A fresh editor: the dialogs above left invalid nodes that are not to be deployed.
    const fresh = await openEditor(browser, red.url);
    pages.push(fresh);
    const { page } = fresh;
    await page.locator('#red-ui-header-button-sidemenu').click();
    await page.locator('#menu-item-import').click();
    await page.locator('#red-ui-tab-red-ui-clipboard-dialog-import-tab-examples').click();
    const examples = page.locator('#red-ui-clipboard-dialog-import-tab-examples');
    await examples
      .locator('.red-ui-treeList-label', { hasText: '@rcarchiver/node-red-ringcentral-archiver' })
      .click();
    await examples.locator('.red-ui-treeList-label', { hasText: 'half-hourly-archiver' }).click();
    await screenshot(page.locator('.ui-dialog:visible'), 'import-examples');
    await page.locator('#red-ui-clipboard-dialog-ok').click();

    await page.locator('#red-ui-workspace-tabs .red-ui-tab', { hasText: 'RingCentral archiver' }).click();
    const example = JSON.parse(
      readFileSync(join(root, 'examples', 'half-hourly-archiver.json'), 'utf8'),
    ) as Array<{ type: string; name?: string }>;
    const shown = await page.locator('#red-ui-workspace-chart g.red-ui-flow-node-group').count();
    assert.equal(
      shown,
      example.filter((n) => n.type !== 'tab' && !configTypes.includes(n.type)).length,
      'every node of the example is on the new tab',
    );
    assert.equal(
      await page.locator('#red-ui-workspace-chart .red-ui-flow-node-error:visible').count(),
      0,
      'no node of the example is invalid',
    );

    await page.locator('#red-ui-header-button-deploy').click();
    await page.locator('.red-ui-notification', { hasText: 'Successfully deployed' }).waitFor();

    const status = (label: string) =>
      page
        .locator('#red-ui-workspace-chart g.red-ui-flow-node-group', {
          has: page.locator('.red-ui-flow-node-label', { hasText: label }),
        })
        .locator('.red-ui-flow-node-status-label');
    const waitForStatus = async (label: string, pattern: RegExp) => {
      const started = Date.now();
      let text = '';
      while (!pattern.test(text)) {
        if (Date.now() - started > 60_000)
          assert.fail(`"${label}" shows "${text}", not ${pattern}:\n${red.output().slice(-2000)}`);
        await page.waitForTimeout(250);
        text = (await status(label).first().textContent()) ?? '';
      }
      return text;
    };
    await waitForStatus('call log + recordings', /^\d+ new/);
    await waitForStatus('messages (all extensions)', /^\d+ new from \d+ extensions/);
    await waitForStatus('rate limit', /\d+ released/);
    if (sshd) {
      const log = await waitForStatus('archive log', /✓ [1-9]\d* ✗ 0 · 0 pending/);
      assert.ok(log, 'items archived over SFTP, none failed');
    } else {
      await waitForStatus('archive to SFTP', /SFTP 127\.0\.0\.1:9/);
      await waitForStatus('archive log', /✓ 0 ✗ [1-9]\d* · 0 pending/);
    }
    await screenshot(page, 'example-deployed');
  });

  it('nothing in the editor tried to reach beyond 127.0.0.1, and no script failed', () => {
    for (const p of pages) {
      assert.deepEqual(p.external, [], 'no request left 127.0.0.1');
      assert.deepEqual(p.pageErrors, [], 'no uncaught error in the editor');
    }
  });
});
