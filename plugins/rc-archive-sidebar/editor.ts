declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const $: any; // eslint-disable-line @typescript-eslint/no-explicit-any

import type { LogPage, LogRow } from '../../lib/ledger/types';
import { ITEM_KINDS, ITEM_STATUSES, LIVE_TOPIC, PAGE_SIZES, ROUTES } from './constants';
import catalog from './locales/en-US/rc-archive-sidebar.json';

/**
 * The "RingCentral Archive" sidebar: the archive log of the ledger with filters, paging, Retry
 * (per row and bulk) and Download Logs. Every control carries a `data-rc` attribute so that browser
 * tests find it whatever the layout.
 */

const TAB_ID = 'rc-archive';
/** Live rows arrive often during a run; the page is read again at most this often. */
const RELOAD_DEBOUNCE_MS = 1000;
const SEARCH_DEBOUNCE_MS = 400;
const DAY_MS = 24 * 60 * 60 * 1000;

interface ManualRetryResult {
  retried: string[];
  refused: Array<{ key: string; reason: string }>;
}
interface Xhr {
  status?: number;
  statusText?: string;
  responseJSON?: { error?: string };
}

const definition: { _?: (key: string, values?: Record<string, unknown>) => string; [k: string]: unknown } = {
  onadd: () => setup(),
  onremove: () => teardown(),
};

/**
 * The plugin's messages: Node-RED's catalog (locales/…) through the definition's `_`, which knows
 * the plugin's namespace; the bundled en-US catalog when a key does not resolve.
 */
function t(key: string, values?: Record<string, unknown>): string {
  const full = `rc-archive-sidebar.${key}`;
  const resolved = definition._?.(full, values);
  if (resolved && resolved !== full) return resolved;
  let entry: unknown = catalog;
  for (const part of full.split('.')) entry = (entry as Record<string, unknown> | undefined)?.[part];
  if (typeof entry !== 'string') return key;
  return entry.replace(/__(\w+)__/g, (_m, name: string) => String(values?.[name] ?? ''));
}

// ---- Times and dates --------------------------------------------------------------------------

const timeFormat = new Intl.DateTimeFormat('en-US', {
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  hourCycle: 'h23',
  timeZoneName: 'short',
});

/** `2026-12-02 14:05 GMT+1`: the browser's time zone, always named, so nobody guesses UTC or local. */
export function formatTime(iso: string | undefined): string {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const p: Record<string, string> = {};
  for (const part of timeFormat.formatToParts(date)) p[part.type] = part.value;
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute} ${p.timeZoneName}`;
}

const pad = (n: number) => String(n).padStart(2, '0');
/** The value of an `<input type="date">` for this local day. */
function dateInputValue(date: Date): string {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}
/** Local midnight of an `<input type="date">` value, `days` later, as ISO 8601 UTC for the route. */
function localMidnight(value: string, days = 0): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!m) return undefined;
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + days).toISOString();
}

// ---- State ------------------------------------------------------------------------------------

interface Filters {
  kind: string;
  status: string;
  /** `<input type="date">` values, local days, both inclusive; empty: open. */
  since: string;
  until: string;
  text: string;
}

let content: any; // eslint-disable-line @typescript-eslint/no-explicit-any
/** What the sidebar tab holds: the log, or while the wide view shows it, a note that says so. */
let tabRoot: any; // eslint-disable-line @typescript-eslint/no-explicit-any
let wideView: any; // eslint-disable-line @typescript-eslint/no-explicit-any
let filters: Filters = defaultFilters();
let page = 1;
let pageSize: number = PAGE_SIZES[0];
let lastPage: LogPage | undefined;
const selected = new Set<string>();
/** Rows whose whole error the user opened; they stay open while the page is read again. */
const openErrors = new Set<string>();
let loadSeq = 0;
let stale = true;
let reloadTimer: ReturnType<typeof setTimeout> | undefined;
let searchTimer: ReturnType<typeof setTimeout> | undefined;
const onLive = () => scheduleReload();

function defaultFilters(): Filters {
  const today = new Date();
  return {
    kind: 'all',
    status: 'all',
    since: dateInputValue(new Date(today.getTime() - 7 * DAY_MS)),
    until: dateInputValue(today),
    text: '',
  };
}

/** The route's query of the current filters (the File Created range from local days). */
function filterQuery(): URLSearchParams {
  const q = new URLSearchParams();
  if (filters.kind !== 'all') q.set('kind', filters.kind);
  if (filters.status !== 'all') q.set('status', filters.status);
  const since = localMidnight(filters.since);
  // The "to" day is included: the range ends at the next local midnight.
  const until = localMidnight(filters.until, 1);
  if (since) q.set('since', since);
  if (until) q.set('until', until);
  if (filters.text) q.set('text', filters.text);
  return q;
}

const canWrite = () => !RED.user?.hasPermission || RED.user.hasPermission('rc-archiver.write');

function errorOf(xhr: Xhr): string {
  if (xhr.responseJSON?.error) return xhr.responseJSON.error;
  if (xhr.status === 401) return 'not permitted (401)';
  return xhr.statusText || `HTTP ${xhr.status ?? '?'}`;
}

function notifyError(key: string, error: string): void {
  RED.notify(t(`messages.${key}`, { error }), { type: 'error', timeout: 8000 });
}

/**
 * Columns a narrow sidebar leaves out (the CSS container query hides them): a row then keeps its
 * type, File Created, status and Retry in view; the wide view shows every column.
 */
const WIDE_ONLY = 'rc-archive-wide-only';
const WIDE_ONLY_COLUMNS = new Set(['from', 'to', 'archived', 'storage']);

// ---- Building the tab -------------------------------------------------------------------------

function option(value: string, label: string) {
  return $('<option>').val(value).text(label);
}

function button(rc: string, label: string, icon?: string) {
  const b = $('<button type="button" class="red-ui-sidebar-header-button">').attr('data-rc', rc);
  if (icon) $('<i>').addClass(`fa ${icon}`).appendTo(b);
  if (label)
    $('<span>')
      .text(icon ? ` ${label}` : label)
      .appendTo(b);
  return b;
}

function build() {
  content = $('<div class="rc-archive-sidebar" data-rc="sidebar">');

  const filterBar = $('<div class="red-ui-sidebar-header rc-archive-filters">').appendTo(content);
  const kind = $('<select data-rc="filter-kind">')
    .attr('title', t('filters.kind'))
    .append(option('all', t('filters.allKinds')))
    .appendTo(filterBar);
  for (const k of ITEM_KINDS) kind.append(option(k, t(`kinds.${k}`)));
  const status = $('<select data-rc="filter-status">')
    .attr('title', t('filters.status'))
    .append(option('all', t('filters.allStatuses')))
    .appendTo(filterBar);
  for (const s of ITEM_STATUSES) status.append(option(s, t(`statuses.${s}`)));

  const range = $('<span class="rc-archive-range">').appendTo(filterBar);
  $('<input type="date" data-rc="filter-since">').attr('title', t('filters.since')).appendTo(range);
  $('<span>')
    .text(` ${t('filters.until')} `)
    .appendTo(range);
  $('<input type="date" data-rc="filter-until">').attr('title', t('filters.until')).appendTo(range);
  $('<input type="search" data-rc="filter-text">')
    .attr({ placeholder: t('filters.text'), title: t('filters.text'), maxlength: 200 })
    .appendTo(filterBar);

  $('<span class="rc-archive-info" data-rc="help"><i class="fa fa-info-circle"></i></span>')
    .attr('title', t('help'))
    .appendTo(filterBar);

  const actions = $('<div class="red-ui-sidebar-header rc-archive-actions">').appendTo(content);
  $('<span class="button-group">')
    .append(button('refresh', '', 'fa-refresh').attr('title', t('actions.refresh')))
    .appendTo(actions);
  $('<span class="button-group">')
    .append(button('retry-selected', t('actions.retrySelected'), 'fa-repeat'))
    .appendTo(actions);
  $('<span class="button-group">')
    .append(button('download', t('actions.download'), 'fa-download'))
    .appendTo(actions);
  $('<span class="button-group rc-archive-open-wide">')
    .append(button('open-wide', '', 'fa-expand').attr('title', t('actions.openWide')))
    .appendTo(actions);

  const scroll = $('<div class="rc-archive-scroll">').appendTo(content);
  const table = $('<table class="rc-archive-table" data-rc="table">').appendTo(scroll);
  const head = $('<tr>').appendTo($('<thead>').appendTo(table));
  $('<th class="rc-archive-select">')
    .append($('<input type="checkbox" data-rc="select-all">').attr('title', t('columns.select')))
    .appendTo(head);
  for (const col of ['type', 'from', 'to', 'created', 'archived', 'storage', 'status', 'action'])
    $('<th>')
      .attr('data-rc', `col-${col}`)
      .toggleClass(WIDE_ONLY, WIDE_ONLY_COLUMNS.has(col))
      .text(t(`columns.${col}`))
      .appendTo(head);
  $('<tbody data-rc="rows">').appendTo(table);
  $('<div class="rc-archive-empty" data-rc="empty">').text(t('messages.empty')).hide().appendTo(scroll);

  const footer = $('<div class="red-ui-sidebar-header rc-archive-footer">').appendTo(content);
  const size = $('<select data-rc="page-size">').attr('title', t('paging.pageSize')).appendTo(footer);
  for (const n of PAGE_SIZES) size.append(option(String(n), String(n)));
  $('<span class="rc-archive-total" data-rc="total">').appendTo(footer);
  $('<span class="button-group">')
    .append(button('prev', '', 'fa-chevron-left').attr('title', t('paging.prev')))
    .append(button('next', '', 'fa-chevron-right').attr('title', t('paging.next')))
    .appendTo(footer);

  wire();
  showFilters();
  return content;
}

const $rc = (name: string) => content.find(`[data-rc="${name}"]`);

function showFilters() {
  $rc('filter-kind').val(filters.kind);
  $rc('filter-status').val(filters.status);
  $rc('filter-since').val(filters.since);
  $rc('filter-until').val(filters.until);
  $rc('filter-text').val(filters.text);
  $rc('page-size').val(String(pageSize));
}

function wire() {
  const changed = () => {
    page = 1;
    selected.clear();
    load();
  };
  $rc('filter-kind').on('change', function (this: HTMLSelectElement) {
    filters = { ...filters, kind: this.value };
    changed();
  });
  $rc('filter-status').on('change', function (this: HTMLSelectElement) {
    filters = { ...filters, status: this.value };
    changed();
  });
  $rc('filter-since').on('change', function (this: HTMLInputElement) {
    filters = { ...filters, since: this.value };
    changed();
  });
  $rc('filter-until').on('change', function (this: HTMLInputElement) {
    filters = { ...filters, until: this.value };
    changed();
  });
  $rc('filter-text').on('input', function (this: HTMLInputElement) {
    const text = this.value.trim();
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      if (text === filters.text) return;
      filters = { ...filters, text };
      changed();
    }, SEARCH_DEBOUNCE_MS);
  });
  $rc('page-size').on('change', function (this: HTMLSelectElement) {
    pageSize = Number(this.value);
    changed();
  });
  $rc('prev').on('click', () => {
    if (page > 1) {
      page--;
      load();
    }
  });
  $rc('next').on('click', () => {
    if (lastPage && page * pageSize < lastPage.total) {
      page++;
      load();
    }
  });
  $rc('refresh').on('click', () => load());
  $rc('retry-selected').on('click', () => retry([...selected]));
  $rc('download').on('click', () => void download());
  $rc('open-wide').on('click', () => openWide());
  $rc('select-all').on('change', function (this: HTMLInputElement) {
    const on = this.checked;
    $rc('row-select').each(function (this: HTMLInputElement) {
      if (this.disabled) return;
      this.checked = on;
      const key = $(this).closest('tr').attr('data-key') as string;
      if (on) selected.add(key);
      else selected.delete(key);
    });
    showSelection();
  });
  content.on('change', '[data-rc="row-select"]', function (this: HTMLInputElement) {
    const key = $(this).closest('tr').attr('data-key') as string;
    if (this.checked) selected.add(key);
    else selected.delete(key);
    showSelection();
  });
  content.on('click', '[data-rc="retry"]', function (this: HTMLElement) {
    retry([$(this).closest('tr').attr('data-key') as string]);
  });
  // A long error is cut to the cell's width; a click shows all of it under the row, across the
  // table (a second click hides it).
  content.on('click', '[data-rc="error"]', function (this: HTMLElement) {
    const tr = $(this).closest('tr');
    const key = tr.attr('data-key') as string;
    if (openErrors.delete(key)) tr.next('[data-rc="error-detail"]').remove();
    else {
      openErrors.add(key);
      tr.after(errorDetail($(this).text()));
    }
  });
}

// ---- Loading and rendering --------------------------------------------------------------------

function load() {
  stale = false;
  clearTimeout(reloadTimer);
  reloadTimer = undefined;
  const seq = ++loadSeq;
  const q = filterQuery();
  q.set('page', String(page));
  q.set('pageSize', String(pageSize));
  content?.addClass('rc-archive-loading');
  $.ajax({ url: `${ROUTES.page}?${q}`, dataType: 'json', cache: false })
    .done((result: LogPage) => {
      if (seq !== loadSeq) return;
      // A live update or a filter can leave the page past the end: show the last one instead.
      const pages = Math.max(1, Math.ceil(result.total / result.pageSize));
      if (result.rows.length === 0 && result.total > 0 && page > pages) {
        page = pages;
        load();
        return;
      }
      render(result);
    })
    .fail((xhr: Xhr) => {
      if (seq !== loadSeq) return;
      notifyError('loadFailed', errorOf(xhr));
    })
    .always(() => {
      if (seq === loadSeq) content?.removeClass('rc-archive-loading');
    });
}

function visible(): boolean {
  return !!content && content.is(':visible');
}

/** A live row changed: read the page again soon if the tab is shown, else when it is next shown. */
function scheduleReload() {
  if (!visible()) {
    stale = true;
    return;
  }
  if (reloadTimer) return;
  reloadTimer = setTimeout(() => {
    reloadTimer = undefined;
    load();
  }, RELOAD_DEBOUNCE_MS);
}

const STORAGE_NAMES: Record<string, string> = {
  sftp: 'SFTP',
  folder: 'Folder',
  dropbox: 'Dropbox',
  box: 'Box',
  gdrive: 'Google Drive',
  s3: 'Amazon S3',
  smarsh: 'Smarsh',
  flow: 'Flow',
};

function cell(rc: string, text: string | undefined, title?: string) {
  const td = $('<td>')
    .attr('data-rc', rc)
    .text(text ?? '');
  if (title) td.attr('title', title);
  return td;
}

/** A time cell whose day and time may go on two lines in a narrow sidebar, each kept whole. */
function timeCell(rc: string, iso: string | undefined) {
  const td = $('<td>').attr('data-rc', rc);
  if (iso) td.attr('title', iso);
  const text = formatTime(iso);
  const space = text.indexOf(' ');
  if (space < 0) return td.text(text);
  $('<span class="rc-archive-nowrap">').text(text.slice(0, space)).appendTo(td);
  td.append(document.createTextNode(' '));
  $('<span class="rc-archive-nowrap">')
    .text(text.slice(space + 1))
    .appendTo(td);
  return td;
}

function renderRow(row: LogRow, writable: boolean) {
  const tr = $('<tr data-rc="row">').attr({ 'data-key': row.key, 'data-status': row.status, title: row.key });
  const failed = row.status === 'Failed';
  const box = $('<input type="checkbox" data-rc="row-select">')
    .prop('disabled', !failed || !writable)
    .prop('checked', failed && selected.has(row.key));
  $('<td class="rc-archive-select">').append(box).appendTo(tr);
  tr.append(cell('cell-type', t(`kinds.${row.kind}`)));
  tr.append(cell('cell-from', row.from, row.owner).addClass(WIDE_ONLY));
  tr.append(cell('cell-to', row.to).addClass(WIDE_ONLY));
  tr.append(timeCell('cell-created', row.createdAt));
  tr.append(timeCell('cell-archived', row.archivedAt).addClass(WIDE_ONLY));
  tr.append(
    cell('cell-storage', row.storage ? (STORAGE_NAMES[row.storage] ?? row.storage) : '', row.path).addClass(
      WIDE_ONLY,
    ),
  );
  const status = $('<td data-rc="cell-status">');
  const badge = $('<span class="rc-archive-status">')
    .addClass(`rc-archive-status-${row.status}`)
    .attr('data-rc', 'status')
    .text(t(`statuses.${row.status}`))
    .appendTo(status);
  if (row.lastError && (failed || row.status === 'Lost')) {
    badge.attr('title', row.lastError);
    $('<div class="rc-archive-error" data-rc="error">')
      .text(row.lastError)
      .attr('title', row.lastError)
      .appendTo(status);
  }
  tr.append(status);
  const action = $('<td data-rc="cell-action">').appendTo(tr);
  if (failed) {
    $('<button type="button" class="red-ui-button red-ui-button-small" data-rc="retry">')
      .text(t('actions.retry'))
      .prop('disabled', !writable)
      .appendTo(action);
  }
  return tr;
}

function errorDetail(error: string) {
  const tr = $('<tr class="rc-archive-detail" data-rc="error-detail">');
  $('<td>').attr('colspan', 9).text(error).appendTo(tr);
  return tr;
}

function render(result: LogPage) {
  lastPage = result;
  const writable = canWrite();
  const keys = new Set(result.rows.map((r) => r.key));
  // A selection is of rows the user sees; rows that left the page (or were archived) drop out.
  for (const key of [...selected]) {
    const row = result.rows.find((r) => r.key === key);
    if (!keys.has(key) || row?.status !== 'Failed') selected.delete(key);
  }
  const body = $rc('rows').empty();
  for (const key of [...openErrors]) if (!keys.has(key)) openErrors.delete(key);
  for (const row of result.rows) {
    const tr = renderRow(row, writable);
    body.append(tr);
    const error = tr.find('[data-rc="error"]');
    if (openErrors.has(row.key) && error.length) body.append(errorDetail(error.text()));
  }
  $rc('empty').toggle(result.rows.length === 0);
  const first = result.total === 0 ? 0 : (result.page - 1) * result.pageSize + 1;
  const last = Math.min(result.total, (result.page - 1) * result.pageSize + result.rows.length);
  const nf = new Intl.NumberFormat();
  $rc('total').text(
    result.total === 0
      ? t('paging.empty')
      : t('paging.range', { first: nf.format(first), last: nf.format(last), total: nf.format(result.total) }),
  );
  $rc('prev').prop('disabled', result.page <= 1);
  $rc('next').prop('disabled', result.page * result.pageSize >= result.total);
  showSelection();
}

function showSelection() {
  const writable = canWrite();
  $rc('retry-selected').prop('disabled', !writable || selected.size === 0);
  $rc('retry-selected')
    .find('span')
    .text(` ${t('actions.retrySelected')}${selected.size ? ` (${selected.size})` : ''}`);
  const boxes = $rc('row-select').filter(':not(:disabled)');
  const all = boxes.length > 0 && boxes.filter(':checked').length === boxes.length;
  $rc('select-all')
    .prop('checked', all)
    .prop('disabled', !writable || boxes.length === 0);
}

// ---- Actions ----------------------------------------------------------------------------------

function retry(keys: string[]) {
  if (!keys.length) return;
  $.ajax({
    url: ROUTES.retry,
    type: 'POST',
    contentType: 'application/json',
    dataType: 'json',
    data: JSON.stringify({ keys }),
  })
    .done((result: ManualRetryResult) => {
      for (const key of result.retried) selected.delete(key);
      if (result.retried.length)
        RED.notify(t('messages.retried', { count: result.retried.length }), { type: 'success' });
      if (result.refused.length) {
        const reasons = [...new Set(result.refused.map((r) => r.reason))].slice(0, 3).join('; ');
        RED.notify(t('messages.refused', { count: result.refused.length, reasons }), {
          type: 'warning',
          timeout: 8000,
        });
      }
      load();
    })
    .fail((xhr: Xhr) => notifyError('retryFailed', errorOf(xhr)));
}

/** The editor's bearer token, as Node-RED's own ajax setup sends it (absent without adminAuth). */
function authHeaders(): Record<string, string> {
  const tokens = RED.settings.get?.('auth-tokens') as { access_token?: string } | undefined;
  const headers: Record<string, string> = { 'Node-RED-API-Version': 'v2' };
  if (tokens?.access_token) headers.Authorization = `Bearer ${tokens.access_token}`;
  return headers;
}

/**
 * Download Logs: a link cannot carry the bearer token, so the CSV is fetched with it and saved from
 * a Blob under the name the route gives.
 */
async function download() {
  const buttonEl = $rc('download').prop('disabled', true);
  try {
    const url = `${RED.settings.apiRootUrl || ''}${ROUTES.csv}?${filterQuery()}`;
    const res = await fetch(url, { headers: authHeaders(), credentials: 'same-origin' });
    if (!res.ok) {
      let error = res.status === 401 ? 'not permitted (401)' : `HTTP ${res.status}`;
      try {
        error = ((await res.json()) as { error?: string }).error || error;
      } catch {
        // not JSON: keep the status
      }
      throw new Error(error);
    }
    const blob = await res.blob();
    const name =
      /filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') ?? '')?.[1] ?? 'rc-archive-log.csv';
    const href = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = href;
    a.download = name;
    a.setAttribute('data-rc', 'download-link');
    a.style.display = 'none';
    document.body.appendChild(a);
    a.click();
    a.remove();
    // Some browsers read the URL after click() returns.
    setTimeout(() => URL.revokeObjectURL(href), 60_000);
  } catch (err) {
    notifyError('downloadFailed', err instanceof Error ? err.message : String(err));
  } finally {
    buttonEl.prop('disabled', false);
  }
}

// ---- The wide view ----------------------------------------------------------------------------

/**
 * The log in a view that takes most of the window: the same element moves there, so filters, page,
 * selection and live rows stay as they are; the sidebar tab meanwhile says where the log is.
 */
function openWide() {
  if (wideView || !content) return;
  wideView = $('<div class="rc-archive-wide-backdrop" data-rc="wide">').appendTo(document.body);
  const panel = $('<div class="rc-archive-wide" role="dialog" aria-modal="true">')
    .attr('aria-label', t('name'))
    .appendTo(wideView);
  const header = $('<div class="rc-archive-wide-header">').appendTo(panel);
  $('<span class="rc-archive-wide-title">')
    .append($('<i class="fa fa-archive"></i>'))
    .append($('<span>').text(` ${t('name')}`))
    .appendTo(header);
  $('<button type="button" class="red-ui-button red-ui-button-small" data-rc="close-wide">')
    .attr('title', t('actions.closeWide'))
    .append($('<i class="fa fa-compress"></i>'))
    .append($('<span>').text(` ${t('actions.closeWide')}`))
    .on('click', () => closeWide())
    .appendTo(header);
  const body = $('<div class="rc-archive-wide-body">').appendTo(panel);
  content.appendTo(body);
  tabRoot.find('[data-rc="wide-note"]').show();
  // A click beside the panel or Escape closes it, as Node-RED's dialogs do.
  wideView.on('mousedown', (event: MouseEvent) => {
    if (event.target === wideView[0]) closeWide();
  });
  $(document).on('keydown.rc-archive-wide', (event: KeyboardEvent) => {
    if (event.key !== 'Escape') return;
    // The key was for the wide view: the editor's own shortcuts would find its target detached.
    event.stopPropagation();
    closeWide();
  });
  panel.find('[data-rc="close-wide"]').trigger('focus');
}

function closeWide() {
  if (!wideView) return;
  $(document).off('keydown.rc-archive-wide');
  tabRoot.find('[data-rc="wide-note"]').hide();
  if (content) content.appendTo(tabRoot);
  wideView.remove();
  wideView = undefined;
  // Focus goes back where the wide view was opened, if the sidebar shows it.
  if (content) $rc('open-wide').filter(':visible').trigger('focus');
}

function buildTab() {
  tabRoot = $('<div class="rc-archive-tab">');
  const note = $('<div class="rc-archive-wide-note" data-rc="wide-note">').hide().appendTo(tabRoot);
  $('<p>').text(t('messages.openWide')).appendTo(note);
  $('<button type="button" class="red-ui-button" data-rc="back-to-sidebar">')
    .text(t('actions.backToSidebar'))
    .on('click', () => closeWide())
    .appendTo(note);
  tabRoot.append(build());
  return tabRoot;
}

// ---- Plugin life ------------------------------------------------------------------------------

function setup() {
  RED.sidebar.addTab({
    id: TAB_ID,
    // The tab bar has room for a short label only; the full name is the tooltip and the title.
    label: t('label'),
    name: t('name'),
    iconClass: 'fa fa-archive',
    content: buildTab(),
    enableOnEdit: true,
    // Shown: read the page if it was never read or rows changed while hidden.
    onchange: () => {
      if (stale) load();
    },
  });
  RED.comms.subscribe(LIVE_TOPIC, onLive);
  // The tab may be the one the editor shows at start; then no onchange follows.
  setTimeout(() => {
    if (visible() && stale) load();
  }, 0);
}

function teardown() {
  closeWide();
  RED.comms.unsubscribe?.(LIVE_TOPIC, onLive);
  RED.sidebar.removeTab(TAB_ID);
  content = undefined;
  tabRoot = undefined;
}

RED.plugins.registerPlugin('rc-archive-sidebar', definition);
