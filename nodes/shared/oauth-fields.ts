/**
 * Credentials of an OAuth account node, shared by its runtime and its dialog: all `password`, so
 * Node-RED never sends them back to the editor. The runtime fills in the tokens on Connect.
 */
export const oauthCredentialFields = {
  clientSecret: { type: 'password' },
  accessToken: { type: 'password' },
  refreshToken: { type: 'password' },
  expiresAt: { type: 'password' },
  connection: { type: 'password' },
} as const;
