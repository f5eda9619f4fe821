// The "RingCentral Archive" sidebar in Debian's Chromium against a real Node-RED: one cycle against
// the RingCentral simulator in which the call recordings' folder is broken (a file stands where the
// folder should be) while the call-log records archive; the sidebar lists every item, filters by
// status, downloads exactly the filtered rows as CSV, and after the fault is cleared a click on
// Retry turns a failed row Archived. At Node-RED's default sidebar width, in a laptop's window, each
// row shows its type, File Created, status and Retry without sideways scrolling; a wide sidebar and
// the wide view show every column, and the tab's title fits.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Locator, Page } from 'playwright-core';
import { LOG_CSV_COLUMNS, parseCsv } from '../../lib/csv';
import type { LedgerRow } from '../../lib/ledger';
import { startSimulator, type Simulator } from '../sim/index';
import {
  launchChromium,
  openEditor,
  screenshot,
  showSidebarTab,
  waitForText,
  type EditorPage,
} from '../support/browser';
import { readLedger, until, walk } from '../support/e2e';
import { prepareUserDir, removeDir, startNodeRed, type NodeRedProcess } from '../support/node-red-process';

/** Laptop-sized windows, in which the sidebar opens at Node-RED's default width. */
const LAPTOP_WINDOWS = [
  { width: 1366, height: 768 },
  { width: 1280, height: 800 },
];
const COLUMNS = ['type', 'from', 'to', 'created', 'archived', 'storage', 'status', 'action'];

interface Box {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

function flows(callLogDir: string, recordingDir: string): unknown[] {
  return [
    { id: 'tab', type: 'tab', label: 'Archive' },
    { id: 'rc', type: 'rc-config', server: '' },
    {
      id: 'inject',
      type: 'inject',
      z: 'tab',
      name: 'run',
      props: [{ p: 'payload' }],
      payload: '',
      payloadType: 'date',
      repeat: '',
      crontab: '',
      once: false,
      x: 100,
      y: 80,
      wires: [['source']],
    },
    {
      id: 'source',
      type: 'rc-call-log-source',
      z: 'tab',
      rc: 'rc',
      scope: 'account',
      archive: 'both',
      initialDays: 3,
      lookBackMinutes: 120,
      warnDays: 7,
      x: 260,
      y: 80,
      wires: [['limit'], []],
    },
    {
      id: 'limit',
      type: 'rc-rate-limit',
      z: 'tab',
      rc: 'rc',
      group: 'auto',
      x: 440,
      y: 80,
      wires: [['kind']],
    },
    {
      id: 'kind',
      type: 'switch',
      z: 'tab',
      name: 'recording?',
      property: 'payload.kind',
      propertyType: 'msg',
      rules: [{ t: 'eq', v: 'CallRecording', vt: 'str' }, { t: 'else' }],
      checkall: 'false',
      outputs: 2,
      x: 600,
      y: 80,
      wires: [['recordings'], ['calllog']],
    },
    {
      id: 'recordings',
      type: 'rc-folder-sink',
      z: 'tab',
      name: 'recordings',
      directory: recordingDir,
      timeZone: 'UTC',
      sidecar: false,
      concurrency: 2,
      x: 800,
      y: 60,
      wires: [[], ['retry']],
    },
    {
      id: 'calllog',
      type: 'rc-folder-sink',
      z: 'tab',
      name: 'call log',
      directory: callLogDir,
      timeZone: 'UTC',
      sidecar: false,
      concurrency: 2,
      x: 800,
      y: 120,
      wires: [[], ['retry']],
    },
    // A long schedule: within the test only a click retries.
    { id: 'retry', type: 'rc-retry', z: 'tab', schedule: '1h', x: 600, y: 200, wires: [['limit']] },
  ];
}

describe('the RingCentral Archive sidebar in Chromium', { timeout: 180_000 }, () => {
  let sim: Simulator;
  let work: string;
  let userDir: string;
  let recordingDir: string;
  let red: NodeRedProcess;
  let browser: Browser;
  let editor: EditorPage;
  let page: Page;

  const ledgerFile = () => join(userDir, 'rc-archiver', 'ledger.sqlite');
  const ledgerRows = () => readLedger(ledgerFile(), (l) => l.query({ limit: 10_000 })) ?? [];
  const sidebar = () => page.locator('[data-rc="sidebar"]');
  const rc = (name: string) => sidebar().locator(`[data-rc="${name}"]`);
  const rows = () => rc('rows').locator('[data-rc="row"]');
  const shownRows = async () =>
    rows().evaluateAll((trs) =>
      trs.map((tr) => ({
        key: tr.getAttribute('data-key') ?? '',
        status: tr.getAttribute('data-status') ?? '',
        type: tr.querySelector('[data-rc="cell-type"]')?.textContent ?? '',
        storage: tr.querySelector('[data-rc="cell-storage"]')?.textContent ?? '',
        retry: !!tr.querySelector('[data-rc="retry"]'),
      })),
    );
  /** Polls the sidebar until `check` holds for the rows it shows (they update live). */
  async function waitForRows(check: (shown: Awaited<ReturnType<typeof shownRows>>) => boolean, what: string) {
    const started = Date.now();
    let shown = await shownRows();
    while (!check(shown)) {
      if (Date.now() - started > 30_000)
        assert.fail(`timed out waiting for the sidebar to show ${what}; it shows ${JSON.stringify(shown)}`);
      await page.waitForTimeout(200);
      shown = await shownRows();
    }
    return shown;
  }

  /**
   * What the user sees of the log: the rows' scroll area without its scroll bar, cut to the
   * editor's sidebar (or the wide view) and to the window; and where each row's cells are.
   */
  async function layout() {
    return sidebar().evaluate((root) => {
      const rect = (el: Element) => {
        const r = el.getBoundingClientRect();
        return { left: r.left, right: r.right, top: r.top, bottom: r.bottom };
      };
      const scroll = root.querySelector('.rc-archive-scroll') as HTMLElement;
      const s = rect(scroll);
      const clips = [rect(root), { left: 0, right: window.innerWidth, top: 0, bottom: window.innerHeight }];
      const frame = root.closest('#red-ui-sidebar, .red-ui-sidebar, [data-rc="wide"] .rc-archive-wide');
      if (frame) clips.push(rect(frame));
      const visible = {
        left: s.left,
        right: s.left + scroll.clientWidth,
        top: s.top,
        bottom: s.top + scroll.clientHeight,
      };
      for (const c of clips) {
        visible.left = Math.max(visible.left, c.left);
        visible.right = Math.min(visible.right, c.right);
        visible.top = Math.max(visible.top, c.top);
        visible.bottom = Math.min(visible.bottom, c.bottom);
      }
      const shownBox = (el: Element | null) =>
        el && (el as HTMLElement).offsetParent !== null && el.getBoundingClientRect().width > 0
          ? rect(el)
          : null;
      return {
        frameWidth: frame ? Math.round(frame.getBoundingClientRect().width) : 0,
        visible,
        sidewaysScroll: scroll.scrollWidth - scroll.clientWidth,
        headers: Object.fromEntries(
          Array.from(root.querySelectorAll('thead th[data-rc^="col-"]')).map((th) => [
            th.getAttribute('data-rc')!.slice(4),
            shownBox(th),
          ]),
        ),
        rows: Array.from(root.querySelectorAll('[data-rc="rows"] [data-rc="row"]')).map((tr) => ({
          key: tr.getAttribute('data-key') ?? '',
          type: shownBox(tr.querySelector('[data-rc="cell-type"]')),
          created: shownBox(tr.querySelector('[data-rc="cell-created"]')),
          status: shownBox(tr.querySelector('[data-rc="status"]')),
          statusTitle: tr.querySelector('[data-rc="status"]')?.getAttribute('title') ?? '',
          retry: tr.querySelector('[data-rc="retry"]')
            ? shownBox(tr.querySelector('[data-rc="retry"]'))
            : undefined,
        })),
      };
    });
  }
  const inside = (box: Box | null | undefined, frame: Box) =>
    !!box && box.left >= frame.left - 0.5 && box.right <= frame.right + 0.5;

  /** Every row shows type, File Created, status and (if failed) Retry within what the user sees. */
  async function assertCompactRows(what: string) {
    const seen = await layout();
    assert.ok(seen.rows.length > 0, `${what}: rows are shown`);
    assert.ok(seen.sidewaysScroll <= 0, `${what}: no sideways scrolling (${seen.sidewaysScroll} px more)`);
    assert.ok(
      seen.rows.some((r) => r.retry !== undefined),
      `${what}: some rows are failed and offer Retry`,
    );
    for (const r of seen.rows) {
      const where = `${what}, ${r.key}: ${JSON.stringify(r)} within ${JSON.stringify(seen.visible)}`;
      assert.ok(inside(r.type, seen.visible), `${where}: the type is in view`);
      assert.ok(inside(r.created, seen.visible), `${where}: File Created is in view`);
      assert.ok(inside(r.status, seen.visible), `${where}: the status is in view`);
      if (r.retry !== undefined) {
        assert.ok(inside(r.retry, seen.visible), `${where}: Retry is in view`);
        assert.match(r.statusTitle, /\S/, `${where}: the failed status tells the error`);
      }
    }
    // The first row is in view top to bottom, as a user sees it without scrolling.
    const first = seen.rows[0];
    assert.ok(
      first.status!.top >= seen.visible.top && first.status!.bottom <= seen.visible.bottom,
      `${what}: the first row is in view`,
    );
    return seen;
  }

  /** Every column's header is shown and in view. */
  async function assertFullTable(what: string) {
    const seen = await layout();
    assert.ok(seen.sidewaysScroll <= 0, `${what}: no sideways scrolling (${seen.sidewaysScroll} px more)`);
    for (const col of COLUMNS)
      assert.ok(
        inside(seen.headers[col], seen.visible),
        `${what}: the ${col} column is shown (${JSON.stringify(seen)})`,
      );
    return seen;
  }

  /** The tab's title, where this Node-RED shows it, is whole: it does not overflow its box. */
  async function assertTitleFits(what: string) {
    const titles = await page.evaluate(() => {
      const candidates = [
        // Node-RED 4: the tab in the sidebar's tab bar.
        ...Array.from(document.querySelectorAll('#red-ui-tab-rc-archive .red-ui-tab-label')),
        // Node-RED 5: the banner over the sidebar section that shows the tab.
        ...Array.from(document.querySelectorAll('.red-ui-sidebar-section'))
          .filter((section) => section.querySelector('[data-rc="sidebar"]'))
          .map((section) => section.querySelector('.red-ui-sidebar-banner-label')),
      ].filter((el): el is HTMLElement => !!el && (el as HTMLElement).offsetParent !== null);
      return candidates.map((el) => {
        const text = el.querySelector('span') ?? el;
        const box = el.getBoundingClientRect();
        const textBox = text.getBoundingClientRect();
        return {
          text: (text.textContent ?? '').trim(),
          overflow: Math.max(text.scrollWidth - text.clientWidth, el.scrollWidth - el.clientWidth),
          outside: textBox.right > box.right + 0.5 || textBox.left < box.left - 0.5,
        };
      });
    });
    assert.ok(titles.length > 0, `${what}: the tab's title is shown`);
    for (const title of titles) {
      assert.match(title.text, /archive/i, `${what}: the title names the archive`);
      assert.ok(title.overflow <= 0 && !title.outside, `${what}: the title fits: ${JSON.stringify(title)}`);
    }
    // The full name: the label of the tab's button (5), the entry of the View menu (4 and 5).
    const full = await page.evaluate(
      () =>
        document
          .querySelector('.red-ui-sidebar-tab-bar button[data-tab-id="rc-archive"]')
          ?.getAttribute('aria-label') ??
        document.querySelector('#menu-item-view-menu-rc-archive')?.textContent ??
        '',
    );
    assert.match(full, /RingCentral Archive/, `${what}: the full name is offered`);
  }

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'rc-archiver-sidebar-'));
    userDir = join(work, 'node-red');
    recordingDir = join(work, 'recordings');
    // The storage fault: a file where the recordings' folder should be, so every recording fails
    // to be written (as root, a folder without write permission would not stop the sink).
    writeFileSync(recordingDir, 'not a folder\n');
    sim = await startSimulator({
      seed: 5,
      days: 1,
      callsPerDay: 8,
      recordingFraction: 0.5,
      rateWindowSec: 4,
    });
    prepareUserDir(userDir, flows(join(work, 'call-log'), recordingDir));
    [red, browser] = await Promise.all([
      startNodeRed({
        userDir,
        env: {
          RC_SERVER: sim.platformUrl,
          RC_CLIENT_ID: sim.credentials.clientId,
          RC_CLIENT_SECRET: sim.credentials.clientSecret,
          RC_JWT: sim.credentials.jwt,
        },
      }),
      launchChromium(),
    ]);
    editor = await openEditor(browser, red.url, LAPTOP_WINDOWS[0]);
    page = editor.page;
  });

  after(async () => {
    await editor?.close().catch(() => undefined);
    await browser?.close();
    await red?.kill();
    await sim?.close();
    if (work) removeDir(work);
  });

  it('after a cycle against the simulator the sidebar lists every item', async () => {
    await showSidebarTab(page, 'rc-archive');
    await sidebar().waitFor();
    // Before the cycle: the log is empty, and says so.
    await waitForText(rc('total'), '0 of 0');

    // The user starts the cycle with the inject node's button.
    await page
      .locator(
        '#red-ui-workspace-chart g.red-ui-flow-node-group[id="inject"]  .red-ui-flow-node-button-button',
      )
      .click();
    await until(
      () => {
        const r = ledgerRows();
        return (
          r.length > 0 &&
          r.every((x) => x.status !== 'Pending') &&
          r.some((x) => x.status === 'Failed') &&
          r.some((x) => x.status === 'Archived')
        );
      },
      60_000,
      'the cycle to end with Archived and Failed items',
      red,
    );
    const inLedger = ledgerRows();
    const recordings = inLedger.filter((r) => r.item.kind === 'CallRecording');
    assert.ok(recordings.length >= 2, `the simulator has recordings (${recordings.length})`);
    assert.ok(
      recordings.every((r) => r.status === 'Failed'),
      'every recording failed: its folder is broken',
    );
    assert.ok(
      inLedger.filter((r) => r.item.kind === 'CallLog').every((r) => r.status === 'Archived'),
      'every call-log record archived',
    );

    // The rows arrive live; the sidebar's 25-row page shows the newest.
    const expected = [...inLedger]
      .sort((a, b) => b.item.createdAt.localeCompare(a.item.createdAt))
      .slice(0, 25)
      .map((r) => r.key);
    const shown = await waitForRows((s) => s.length === expected.length, `${expected.length} rows`);
    assert.deepEqual(new Set(shown.map((s) => s.key)), new Set(expected), 'the newest items of the ledger');
    // The total counts every item.
    await waitForText(rc('total'), `1–${expected.length} of ${inLedger.length}`);
    for (const s of shown) {
      const row = inLedger.find((r) => r.key === s.key)!;
      assert.equal(s.status, row.status, `${s.key}: status as in the ledger`);
      assert.equal(
        s.type,
        row.item.kind === 'CallRecording' ? 'Call Recording' : 'Call Log',
        `${s.key}: type`,
      );
    }
  });

  for (const [index, window] of LAPTOP_WINDOWS.entries()) {
    const name = `${window.width}x${window.height}`;
    it(`in a ${name} window, at the default sidebar width, each row shows type, File Created, status and Retry; the title fits`, async (t) => {
      if (index > 0) await page.setViewportSize(window);
      // Node-RED 5 hides a tab whose button is clicked while it is shown.
      if (!(await sidebar().isVisible())) await showSidebarTab(page, 'rc-archive');
      const seen = await assertCompactRows(name);
      t.diagnostic(
        `sidebar ${seen.frameWidth} px wide; the rows' visible area ${Math.round(seen.visible.right - seen.visible.left)} px`,
      );
      assert.ok(
        seen.frameWidth > 0 && seen.frameWidth <= 330,
        `the sidebar is at its default width (${seen.frameWidth} px)`,
      );
      await assertTitleFits(name);

      // A failed row's error is cut to its cell; a click shows all of it under the row, within
      // the sidebar.
      const failedRow = rows()
        .filter({ has: page.locator('[data-rc="retry"]') })
        .first();
      const failedKey = (await failedRow.getAttribute('data-key'))!;
      const error = failedRow.locator('[data-rc="error"]');
      const stored = ledgerRows().find((r) => r.key === failedKey)!;
      assert.ok(
        await error.evaluate((el) => el.scrollWidth > el.clientWidth),
        `${name}: the long error is cut to its cell`,
      );
      await error.click();
      const detail = rc('rows').locator(
        `[data-rc="row"][data-key="${failedKey}"] + [data-rc="error-detail"]`,
      );
      assert.equal(
        await detail.innerText(),
        stored.lastError,
        `${name}: after a click the whole error shows`,
      );
      const opened = await detail.evaluate((el) => {
        const r = el.getBoundingClientRect();
        return {
          left: r.left,
          right: r.right,
          top: r.top,
          bottom: r.bottom,
          hidden: el.scrollWidth - el.clientWidth,
        };
      });
      assert.ok(
        opened.hidden <= 0 && inside(opened, (await layout()).visible),
        `${name}: the whole error is within the sidebar`,
      );
      await screenshot(sidebar(), `sidebar-compact-${name}-error`);
      await error.click();
      await detail.waitFor({ state: 'detached' });
      // The click scrolled the rows to that error; back to the top for the next window.
      await sidebar()
        .locator('.rc-archive-scroll')
        .evaluate((el) => (el.scrollTop = 0));
      await screenshot(page, `sidebar-compact-${name}`);
      await screenshot(sidebar(), `sidebar-compact-${name}-tab`);
    });
  }

  it('the wide view shows every column with the same filters and actions', async () => {
    await rc('open-wide').click();
    const wide = page.locator('[data-rc="wide"]');
    await wide.waitFor();
    // The log moved into the wide view, which takes most of the window; the tab says where it is.
    assert.equal(await wide.locator('[data-rc="sidebar"]').count(), 1, 'the log is in the wide view');
    const panel = (await wide.locator('.rc-archive-wide').boundingBox())!;
    const window = page.viewportSize()!;
    assert.ok(
      panel.width >= 0.8 * window.width && panel.height >= 0.8 * window.height,
      `most of the window (${JSON.stringify(panel)})`,
    );
    assert.ok(
      await page.locator('[data-rc="wide-note"]').isVisible(),
      'the sidebar tab says the log is in the wide view',
    );
    await assertFullTable('the wide view');
    await screenshot(page, 'sidebar-wide-view');

    // The filters and Retry work there as in the sidebar.
    const failed = ledgerRows()
      .filter((r) => r.status === 'Failed')
      .map((r) => r.key);
    await filterStatus('Failed');
    const shown = await waitForRows(
      (s) => s.length === Math.min(25, failed.length) && s.every((r) => r.status === 'Failed'),
      'only Failed rows in the wide view',
    );
    assert.ok(
      shown.every((s) => s.retry),
      'every failed row offers Retry in the wide view',
    );
    const seen = await assertFullTable('the wide view, Failed');
    assert.ok(
      seen.rows.every((r) => inside(r.retry, seen.visible)),
      'Retry is in view in every row',
    );
    await page.keyboard.press('Escape');
    await wide.waitFor({ state: 'detached' });
    // Back in the sidebar, with the filter the user chose in the wide view.
    assert.equal(
      await page.locator('#red-ui-sidebar [data-rc="sidebar"], .red-ui-sidebar [data-rc="sidebar"]').count(),
      1,
      'the log is back in the sidebar',
    );
    assert.equal(await rc('filter-status').inputValue(), 'Failed', 'the filter is kept');
    assert.ok(!(await page.locator('[data-rc="wide-note"]').isVisible()), 'the note is gone');
    await assertCompactRows('back in the sidebar');

    // The close button, too, brings it back.
    await rc('open-wide').click();
    await wide.locator('[data-rc="close-wide"]').click();
    await wide.waitFor({ state: 'detached' });
    await filterStatus('all');
    await waitForRows((s) => s.length === Math.min(25, ledgerRows().length), 'every row again');
  });

  it('a sidebar dragged wide shows the full table', async () => {
    // Wide enough for every column, as a user would drag it.
    const separator = (await page.locator('#red-ui-sidebar-separator').boundingBox())!;
    await page.mouse.move(separator.x + separator.width / 2, separator.y + separator.height / 2);
    await page.mouse.down();
    await page.mouse.move(separator.x - 450, separator.y + separator.height / 2, { steps: 5 });
    await page.mouse.up();
    await assertFullTable('a wide sidebar');
    await screenshot(page, 'sidebar');
  });

  async function filterStatus(status: string) {
    await rc('filter-status').selectOption(status);
  }

  it('filtering by status shows only those rows; failed rows offer Retry', async () => {
    const inLedger = ledgerRows();
    const failed = inLedger.filter((r) => r.status === 'Failed').map((r) => r.key);
    const archived = inLedger.filter((r) => r.status === 'Archived').map((r) => r.key);
    assert.ok(failed.length > 0 && archived.length > 0, 'the cycle left Failed and Archived items');

    await filterStatus('Archived');
    let shown = await waitForRows(
      (s) => s.length === Math.min(25, archived.length) && s.every((r) => r.status === 'Archived'),
      'only Archived rows',
    );
    assert.ok(
      shown.every((s) => archived.includes(s.key)),
      'the Archived rows are the archived items',
    );
    assert.ok(
      shown.every((s) => !s.retry),
      'an archived row has no Retry',
    );
    assert.ok(
      shown.every((s) => s.storage === 'Folder'),
      'the storage service is the folder',
    );
    await waitForText(rc('total'), `1–${shown.length} of ${archived.length}`);

    await filterStatus('Failed');
    shown = await waitForRows(
      (s) => s.length === Math.min(25, failed.length) && s.every((r) => r.status === 'Failed'),
      'only Failed rows',
    );
    assert.deepEqual(new Set(shown.map((s) => s.key)), new Set(failed.slice(0, 25)), 'the failed items');
    assert.ok(
      shown.every((s) => s.retry && s.type === 'Call Recording'),
      'every failed row is a recording with Retry',
    );
    const error = await rows().first().locator('[data-rc="error"]').innerText();
    assert.match(error, /\S/, 'a failed row says why');
    await screenshot(page, 'sidebar-failed');
  });

  it('Download Logs returns exactly the filtered rows as CSV', async () => {
    const failed = ledgerRows().filter((r) => r.status === 'Failed');
    assert.ok(failed.length > 0, 'there are failed items to download');
    const [download] = await Promise.all([page.waitForEvent('download'), rc('download').click()]);
    assert.match(download.suggestedFilename(), /^rc-archive-log-\d{4}-\d{2}-\d{2}\.csv$/);
    const text = readFileSync(await download.path(), 'utf8').replace(/^\uFEFF/, '');
    const [header, ...records] = parseCsv(text).filter((r) => r.length > 1 || r[0] !== '');
    assert.deepEqual(header, [...LOG_CSV_COLUMNS], 'the Download Logs columns');
    const col = (name: (typeof LOG_CSV_COLUMNS)[number]) => header.indexOf(name);
    assert.deepEqual(
      new Set(records.map((r) => r[col('Key')])),
      new Set(failed.map((r) => r.key)),
      'one record per failed item, no other',
    );
    assert.equal(records.length, failed.length, 'no item twice');
    for (const r of records) {
      assert.equal(r[col('Status')], 'Failed');
      assert.equal(r[col('Type')], 'CallRecording');
      assert.match(r[col('Last Error')], /\S/, 'the reason is in the CSV');
    }
  });

  it('after the fault is cleared, Retry turns a failed row Archived; Retry selected the rest', async () => {
    rmSync(recordingDir);
    mkdirSync(recordingDir);
    await filterStatus('all');
    const failedRow = rows()
      .filter({ has: page.locator('[data-rc="retry"]') })
      .first();
    const key = (await failedRow.getAttribute('data-key'))!;
    const row = (): Locator => rc('rows').locator(`[data-rc="row"][data-key="${key}"]`);
    await row().locator('[data-rc="retry"]').click();
    await waitForRows(
      (s) => s.find((r) => r.key === key)?.status === 'Archived',
      `${key} Archived after Retry`,
    );
    assert.equal(
      await row().locator('[data-rc="retry"]').count(),
      0,
      'the archived row has no Retry any more',
    );
    assert.match(
      await row().locator('[data-rc="cell-archived"]').innerText(),
      /^\d{4}-\d{2}-\d{2} \d{2}:\d{2} \S+/,
      'File Archived is shown with its time zone',
    );
    const stored = readLedger(ledgerFile(), (l) => l.get(key)) as LedgerRow | undefined;
    assert.equal(stored?.status, 'Archived', 'the ledger says Archived');
    assert.ok(
      stored?.receipt && existsSync(join(recordingDir, stored.receipt.path)),
      'the recording is in its folder',
    );
    await screenshot(page, 'sidebar-retried');

    // Bulk: select every failed row of the page, Retry selected.
    await filterStatus('Failed');
    await waitForRows((s) => s.length > 0 && s.every((r) => r.status === 'Failed'), 'the failed rows');
    await rc('select-all').check();
    await rc('retry-selected').click();
    await waitForRows((s) => s.length === 0, 'no failed row left');
    await waitForText(rc('total'), '0 of 0');
    await until(
      () => ledgerRows().every((r) => r.status === 'Archived'),
      30_000,
      'every item Archived in the ledger',
      red,
    );
    const files = walk(recordingDir).filter((f) => /\.(mp3|wav)$/.test(f));
    assert.equal(
      files.length,
      ledgerRows().filter((r) => r.item.kind === 'CallRecording').length,
      'every recording is in its folder once',
    );
  });

  it('nothing in the editor tried to reach beyond 127.0.0.1, and no script failed', () => {
    assert.deepEqual(editor.external, [], 'no request left 127.0.0.1');
    assert.deepEqual(editor.pageErrors, [], 'no uncaught error in the editor');
  });
});
