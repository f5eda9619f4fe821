import { RC_CONFIG } from '../../lib/node-defaults';
import { showMissingDefaults } from '../shared/defaults-editor';

declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const $: any; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Logins one config can hold (lib/ringcentral/pool.ts MAX_LOGINS): credentials are declared up front. */
const MAX_LOGINS = 10;
const suffix = (n: number) => (n === 1 ? '' : String(n));

interface LoginResult {
  number: number;
  ok: boolean;
  error?: string;
  accountId?: string;
  accountName?: string;
  extensionId?: string;
  extensionNumber?: string;
  name?: string;
  missingPermissions?: string[];
}

RED.nodes.registerType('rc-config', {
  category: 'config',
  defaults: {
    name: { value: '' },
    server: { value: RC_CONFIG.value.server },
    serverUrl: {
      value: RC_CONFIG.value.serverUrl,
      validate: function (this: { server: string }, v: string) {
        return this.server !== 'custom' || /^https?:\/\/[^\s]+$/.test(v);
      },
    },
    retentionRecordingDays: {
      value: RC_CONFIG.value.retentionRecordingDays,
      validate: RED.validators.number(true),
    },
    retentionRecordingCount: {
      value: RC_CONFIG.value.retentionRecordingCount,
      validate: RED.validators.number(true),
    },
    retentionMessageDays: {
      value: RC_CONFIG.value.retentionMessageDays,
      validate: RED.validators.number(true),
    },
    retentionCallLogDays: {
      value: RC_CONFIG.value.retentionCallLogDays,
      validate: RED.validators.number(true),
    },
    retentionTextDays: { value: RC_CONFIG.value.retentionTextDays, validate: RED.validators.number(true) },
  },
  // Written out: the Flow Library reads the registration statically. One set per login slot.
  credentials: {
    clientId: { type: 'text' },
    clientSecret: { type: 'password' },
    jwt: { type: 'password' },
    clientId2: { type: 'text' },
    clientSecret2: { type: 'password' },
    jwt2: { type: 'password' },
    clientId3: { type: 'text' },
    clientSecret3: { type: 'password' },
    jwt3: { type: 'password' },
    clientId4: { type: 'text' },
    clientSecret4: { type: 'password' },
    jwt4: { type: 'password' },
    clientId5: { type: 'text' },
    clientSecret5: { type: 'password' },
    jwt5: { type: 'password' },
    clientId6: { type: 'text' },
    clientSecret6: { type: 'password' },
    jwt6: { type: 'password' },
    clientId7: { type: 'text' },
    clientSecret7: { type: 'password' },
    jwt7: { type: 'password' },
    clientId8: { type: 'text' },
    clientSecret8: { type: 'password' },
    jwt8: { type: 'password' },
    clientId9: { type: 'text' },
    clientSecret9: { type: 'password' },
    jwt9: { type: 'password' },
    clientId10: { type: 'text' },
    clientSecret10: { type: 'password' },
    jwt10: { type: 'password' },
  },
  label: function (this: { name?: string; server?: string; serverUrl?: string }) {
    if (this.name) return this.name;
    if (this.server === 'custom') return this.serverUrl || 'RingCentral';
    return this.server ? `RingCentral ${this.server}` : 'RingCentral (env)';
  },
  oneditprepare: function (this: { id: string; _(key: string): string }) {
    showMissingDefaults(this, RC_CONFIG, 'node-config-input');
    const id = this.id;
    const t = (key: string) => this._(key);
    const toggle = () => $('.rc-config-custom-url').toggle($('#node-config-input-server').val() === 'custom');
    $('#node-config-input-server').on('change', toggle);
    toggle();
    // Extra logins: only the filled slots are shown; "Add login" shows the next empty one.
    const input = (name: string, n: number) => $(`#node-config-input-${name}${suffix(n)}`);
    const row = (n: number) => $(`.rc-config-login[data-login="${n}"]`);
    const filled = (n: number) => ['jwt', 'clientId', 'clientSecret'].some((name) => input(name, n).val());
    const updateAdd = () => {
      const hidden = $('.rc-config-login').filter(function (this: HTMLElement) {
        return $(this).css('display') === 'none';
      });
      $('#rc-config-add-login').toggle(hidden.length > 0);
    };
    for (let n = 2; n <= MAX_LOGINS; n++) row(n).toggle(filled(n));
    $('#rc-config-add-login').on('click', () => {
      for (let n = 2; n <= MAX_LOGINS; n++) {
        if (row(n).css('display') === 'none') {
          row(n).show();
          input('jwt', n).trigger('focus');
          break;
        }
      }
      updateAdd();
    });
    $('.rc-config-remove-login').on('click', function (this: HTMLElement) {
      const n = Number($(this).closest('.rc-config-login').attr('data-login'));
      // Emptied, the slot's credentials are deleted at the next deploy.
      for (const name of ['jwt', 'clientId', 'clientSecret']) input(name, n).val('').trigger('change');
      row(n).hide();
      updateAdd();
    });
    updateAdd();

    $('#rc-config-test').on('click', () => {
      const out = $('#rc-config-test-result').removeClass('rc-ok rc-error').text(t('rc-config.test.running'));
      const body: Record<string, unknown> = {
        id,
        server: $('#node-config-input-server').val(),
        serverUrl: $('#node-config-input-serverUrl').val(),
      };
      for (let n = 1; n <= MAX_LOGINS; n++) {
        for (const name of ['clientId', 'clientSecret', 'jwt'])
          body[`${name}${suffix(n)}`] = input(name, n).val() || '';
      }
      const describe = (r: LoginResult): string[] => {
        const missing = r.missingPermissions || [];
        return [
          `${t('rc-config.test.account')}: ${r.accountName || ''} (${r.accountId})`,
          `${t('rc-config.test.extension')}: ${r.name || ''} ${r.extensionNumber ? '#' + r.extensionNumber : ''} (${r.extensionId})`,
          missing.length
            ? `${t('rc-config.test.missing')}: ${missing.join(', ')}`
            : t('rc-config.test.permissionsOk'),
        ];
      };
      $.ajax({
        url: 'rc-archiver/rc-config/test',
        type: 'POST',
        contentType: 'application/json',
        data: JSON.stringify(body),
      })
        .done((r: Record<string, unknown>) => {
          const logins = (r.logins as LoginResult[] | undefined) || [];
          if (logins.length <= 1) {
            if (!r.ok) {
              out.addClass('rc-error').text(String(r.error));
              return;
            }
            const lines = describe(r as unknown as LoginResult);
            out
              .addClass((r.missingPermissions as string[])?.length ? 'rc-error' : 'rc-ok')
              .text(lines.join('\n'));
            return;
          }
          // One line per login: its result, or why it failed.
          const lines = logins.map((login) => {
            const head = `${t('rc-config.label.login')} ${login.number}: `;
            if (!login.ok) return head + String(login.error);
            return head + `${t('rc-config.test.ok')}. ` + describe(login).join('; ');
          });
          const bad = logins.some((login) => !login.ok || (login.missingPermissions || []).length);
          out.addClass(bad ? 'rc-error' : 'rc-ok').text(lines.join('\n'));
        })
        .fail((xhr: { status: number; responseText?: string }) => {
          out.addClass('rc-error').text(`${xhr.status}: ${xhr.responseText || ''}`);
        });
    });
  },
});
