// The names a page shows instead of bare ids: apps by name, and what each granted scope lets an
// app do, looked up once per page for the ids it mentions.
import { undefinedIfMissing } from '../../errors.js';
import { ACCOUNT_CLIENT_ID } from '../../vocabulary.js';
import type { GrantInfo } from '../../grants/store.js';
import { translator } from '../../i18n/catalogs.js';
import { grantInWords } from '../../presentation/scopes.js';
import type { AdminOperations } from '../operations.js';

/** Names by client id; Gatehouse's own sign-in client is named in the page's language. */
export async function appNames(ops: AdminOperations, clientIds: Array<string | null>, locale: string): Promise<Map<string, string>> {
  const names = new Map<string, string>([[ACCOUNT_CLIENT_ID, translator(locale).t('admin.accountClient')]]);
  const wanted = [...new Set(clientIds)].filter((id): id is string => id !== null && !names.has(id));
  await Promise.all(wanted.map(async (id) => {
    const client = await ops.apps.getClient(id).catch(undefinedIfMissing);
    if (client) names.set(id, client.name);
  }));
  return names;
}

export interface GrantWords {
  /** What the person allowed, in their words: one line per OpenID Connect scope. */
  scopes: string[];
  apis: Array<{ name: string; scopes: string[] }>;
}

/** A function putting each grant of a page into words, with its APIs' own scope descriptions. */
export async function grantWords(ops: AdminOperations, grants: GrantInfo[], locale: string): Promise<(grant: GrantInfo) => GrantWords> {
  const identifiers = [...new Set(grants.flatMap((grant) => grant.apis.map((api) => api.identifier)))];
  const found = await Promise.all(identifiers.map((id) => ops.apis.getResource(id).catch(undefinedIfMissing)));
  const apis = new Map(identifiers.map((id, i) => [id, found[i]]));
  return (grant) => {
    // In the admin's language, like the rest of the page.
    const words = grantInWords(grant, apis, locale);
    return { scopes: words.scopes.map((scope) => scope.text), apis: words.apis.map((api) => ({ name: api.name, scopes: api.scopes.map((scope) => scope.text) })) };
  };
}
