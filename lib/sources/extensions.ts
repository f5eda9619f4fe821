import type { ExtensionInfo } from './call-log';

export interface JsonRequester {
  request<T>(method: string, path: string, options?: { query?: Record<string, unknown> }): Promise<T>;
}

interface ExtensionPage {
  records?: Array<{
    id?: string | number;
    extensionNumber?: string;
    name?: string;
    contact?: { firstName?: string; lastName?: string };
  }>;
  navigation?: { nextPage?: { uri?: string } };
}

/** Names and numbers of the account's extensions, for folder names. One Light request per 1000. */
export async function loadExtensions(
  client: JsonRequester,
  maxPages = 20,
): Promise<Map<string, ExtensionInfo>> {
  const map = new Map<string, ExtensionInfo>();
  for (let page = 1; page <= maxPages; page++) {
    const answer = await client.request<ExtensionPage>('GET', '/restapi/v1.0/account/~/extension', {
      query: { perPage: 1000, page },
    });
    for (const ext of answer.records ?? []) {
      if (ext.id === undefined) continue;
      const contactName = [ext.contact?.firstName, ext.contact?.lastName].filter(Boolean).join(' ');
      map.set(String(ext.id), {
        name: ext.name || contactName || undefined,
        extensionNumber: ext.extensionNumber,
      });
    }
    if (!answer.navigation?.nextPage?.uri) break;
  }
  return map;
}

/** One extension of the account, as the message source needs it. */
export interface AccountExtension {
  id: string;
  extensionNumber?: string;
  name?: string;
  type?: string;
  status?: string;
}

export interface ExtensionLister {
  request<T>(
    method: string,
    path: string,
    options?: { query?: Record<string, unknown>; signal?: AbortSignal },
  ): Promise<T>;
}

interface ExtensionListPage {
  records?: Array<{
    id?: string | number;
    uri?: string;
    extensionNumber?: string;
    name?: string;
    type?: string;
    status?: string;
    contact?: { firstName?: string; lastName?: string };
  }>;
  navigation?: { nextPage?: { uri?: string } };
}

/**
 * Extension types that have no mailbox (no message store): IVR menus, park locations, paging
 * groups, sites, tie lines and the like. Every other type is read, unknown ones included.
 */
export const NO_MAILBOX_TYPES: ReadonlySet<string> = new Set([
  'IvrMenu',
  'ParkLocation',
  'PagingOnly',
  'Site',
  'TieLine',
  'ProxyAdmin',
  'RoomConnector',
  'Bot',
  'ApplicationExtension',
]);

/**
 * Every extension of the account, every type and status (disabled mailboxes keep their messages):
 * 1000 a page (listExtensions is Medium), following navigation.nextPage.uri until absent. The id
 * is taken from the record's uri when it has one (exact even beyond 2^53).
 */
export async function listAccountExtensions(
  client: ExtensionLister,
  options: { signal?: AbortSignal; maxPages?: number } = {},
): Promise<AccountExtension[]> {
  const out = new Map<string, AccountExtension>();
  const seen = new Set<string>();
  let url: string | undefined = '/restapi/v1.0/account/~/extension';
  let query: Record<string, unknown> | undefined = { perPage: 1000 };
  for (let page = 0; url && page < (options.maxPages ?? 1000); page++) {
    const answer: ExtensionListPage | undefined = await client.request<ExtensionListPage>('GET', url, {
      query,
      signal: options.signal,
    });
    for (const ext of answer?.records ?? []) {
      const fromUri = ext.uri ? /\/extension\/([^/?#]+)/.exec(ext.uri)?.[1] : undefined;
      const id =
        fromUri && fromUri !== '~'
          ? decodeURIComponent(fromUri)
          : typeof ext.id === 'string' || (typeof ext.id === 'number' && Number.isSafeInteger(ext.id))
            ? String(ext.id)
            : undefined;
      if (!id) continue;
      const contactName = [ext.contact?.firstName, ext.contact?.lastName].filter(Boolean).join(' ');
      out.set(id, {
        id,
        extensionNumber: ext.extensionNumber,
        name: ext.name || contactName || undefined,
        type: ext.type,
        status: ext.status,
      });
    }
    const next: string | undefined = answer?.navigation?.nextPage?.uri;
    if (!next || seen.has(next)) break;
    seen.add(next);
    url = next;
    query = undefined;
  }
  return [...out.values()];
}

/** The extensions whose message store the account-wide message source reads. */
export function mailboxExtensions(extensions: readonly AccountExtension[]): AccountExtension[] {
  return extensions.filter((e) => !e.type || !NO_MAILBOX_TYPES.has(e.type));
}
