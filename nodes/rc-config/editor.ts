import { RC_CONFIG } from '../../lib/node-defaults';
import { showMissingDefaults } from '../shared/defaults-editor';

declare const RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const $: any; // eslint-disable-line @typescript-eslint/no-explicit-any

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
  credentials: {
    clientId: { type: 'text' },
    clientSecret: { type: 'password' },
    jwt: { type: 'password' },
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
    $('#rc-config-test').on('click', () => {
      const out = $('#rc-config-test-result').removeClass('rc-ok rc-error').text(t('rc-config.test.running'));
      const body = {
        id,
        server: $('#node-config-input-server').val(),
        serverUrl: $('#node-config-input-serverUrl').val(),
        clientId: $('#node-config-input-clientId').val(),
        clientSecret: $('#node-config-input-clientSecret').val(),
        jwt: $('#node-config-input-jwt').val(),
      };
      $.ajax({
        url: 'rc-archiver/rc-config/test',
        type: 'POST',
        contentType: 'application/json',
        data: JSON.stringify(body),
      })
        .done((r: Record<string, unknown>) => {
          if (!r.ok) {
            out.addClass('rc-error').text(String(r.error));
            return;
          }
          const missing = (r.missingPermissions as string[]) || [];
          const lines = [
            `${t('rc-config.test.account')}: ${r.accountName || ''} (${r.accountId})`,
            `${t('rc-config.test.extension')}: ${r.name || ''} ${r.extensionNumber ? '#' + r.extensionNumber : ''} (${r.extensionId})`,
            missing.length
              ? `${t('rc-config.test.missing')}: ${missing.join(', ')}`
              : t('rc-config.test.permissionsOk'),
          ];
          out.addClass(missing.length ? 'rc-error' : 'rc-ok').text(lines.join('\n'));
        })
        .fail((xhr: { status: number; responseText?: string }) => {
          out.addClass('rc-error').text(`${xhr.status}: ${xhr.responseText || ''}`);
        });
    });
  },
});
