declare const $: any; // eslint-disable-line @typescript-eslint/no-explicit-any

export { oauthCredentialFields as oauthCredentialDefs } from './oauth-fields';

/**
 * The node as the editor hands it to oneditprepare. Its `_` looks messages up in the node's own
 * catalog; a bare `RED._` does not know the pack's namespace and shows the key instead.
 */
export interface EditorNode {
  id: string;
  _(key: string, substitutions?: Record<string, string>): string;
}

/** The admin route the provider sends the browser back to (lib/oauth/connect.ts CALLBACK_PATH). */
function redirectUri(): string {
  return new URL('rc-archiver/oauth/callback', window.location.origin + window.location.pathname).href;
}

/**
 * Wires the Connect button of an account config dialog (shared/connect-fields.html): asks the
 * runtime to start the provider's OAuth flow, opens the provider's page in a popup, and polls until
 * the runtime has the tokens; then shows the connected account, which is saved with the node.
 * Polling stops by itself when the dialog is closed.
 */
export function setupConnect(
  node: EditorNode & { endpoint?: string; account?: string },
  type: string,
  provider: string,
): void {
  const status = $('#node-config-connect-status');
  const show = (key: string, values?: Record<string, string>) =>
    status.text(node._(`${type}.connect.${key}`, values));
  $('#node-config-connect-redirect').text(redirectUri());
  if (node.account) show('connected', { account: node.account });
  else show('notConnected');

  let poll: ReturnType<typeof setInterval> | undefined;
  $('#node-config-connect').on('click', () => {
    if (poll) clearInterval(poll);
    const body = {
      id: node.id,
      clientId: String($('#node-config-input-clientId').val() ?? '').trim(),
      clientSecret: String($('#node-config-input-clientSecret').val() ?? ''),
      endpoint: node.endpoint || '',
      redirectUri: redirectUri(),
    };
    $.ajax({
      url: `rc-archiver/oauth/${provider}/start`,
      type: 'POST',
      contentType: 'application/json',
      data: JSON.stringify(body),
    })
      .done((res: { authorizeUrl: string; state: string }) => {
        window.open(res.authorizeUrl, 'rc-archiver-connect', 'width=640,height=760');
        show('waiting');
        const started = Date.now();
        poll = setInterval(() => {
          if (!$('#node-config-connect').length) {
            clearInterval(poll);
            return;
          }
          if (Date.now() - started > 10 * 60_000) {
            clearInterval(poll);
            show('failed', { error: 'timed out' });
            return;
          }
          $.getJSON(`rc-archiver/oauth/${provider}/status/${encodeURIComponent(res.state)}`)
            .done((r: { status: string; account?: string; error?: string }) => {
              if (r.status === 'pending') return;
              clearInterval(poll);
              if (r.status === 'done') {
                $('#node-config-input-account')
                  .val(r.account ?? '')
                  .trigger('change');
                show('connected', { account: r.account ?? '' });
              } else show('failed', { error: r.error ?? '' });
            })
            .fail(() => {
              clearInterval(poll);
              show('failed', { error: 'the state expired' });
            });
        }, 1000);
      })
      .fail((xhr: { responseJSON?: { error?: string }; statusText?: string }) =>
        show('failed', { error: xhr.responseJSON?.error ?? xhr.statusText ?? '' }),
      );
  });
}
