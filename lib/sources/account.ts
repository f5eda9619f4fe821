import type { RcClient } from '../ringcentral';
import type { RetentionSettings } from '../retention';

/** What a source needs of its rc-config node: the login's client and the account's retention figures. */
export interface RcAccount {
  id: string;
  getClient(): RcClient;
  retention(): RetentionSettings;
}
