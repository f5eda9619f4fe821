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
