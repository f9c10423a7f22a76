// What an API (RFC 8707 resource server) registration may say, checked at creation and at every update.
import { z } from 'zod';
import { hasUnusableCharacters } from '../clients/redirect-uris.js';
import { CLIENT_NAME_MAX_LENGTH, issueWords, said, scopeSchema, type FieldLabels } from '../clients/schema.js';
import type { Database } from '../db/knex.js';
import { isStorableJson, isStorableText, NUL_REFUSAL } from '../db/text.js';
import { GatehouseError } from '../errors.js';
import { CATALOGS, LOCALES } from '../i18n/catalogs.js';
import { MAX_ACCESS_TOKEN_LIFETIME_SECONDS, MIN_API_ACCESS_TOKEN_TTL_SECONDS } from '../lifetimes.js';

/** OIDC scopes are about the person, not an API; an API may not redefine them. */
const RESERVED_SCOPES = new Set(['openid', 'profile', 'email', 'address', 'phone', 'offline_access']);

/** Gatehouse's own scopes (the admin API's gatehouse:admin) live under this prefix. */
const RESERVED_PREFIX = 'gatehouse:';

const identifierSchema = z
  .string()
  .trim()
  .max(500)
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'https:' || url.protocol === 'http:') && !url.hash && !value.includes('#') && !hasUnusableCharacters(value);
    } catch {
      return false;
    }
  }, said('The identifier must be an absolute http(s) URI without a fragment (RFC 8707), e.g. https://api.example.com', 'problem.api.identifier'));

const apiScopes = scopeSchema
  .refine((s) => s.length > 0, said('An API needs at least one scope, e.g. --scope "read write".', 'problem.api.scopeRequired'))
  .refine((s) => s.every((t) => !RESERVED_SCOPES.has(t)), said('openid, profile, email, address, phone and offline_access are OpenID Connect scopes, not API scopes.', 'problem.api.oidcScopes'))
  .refine((s) => s.every((t) => !t.startsWith(RESERVED_PREFIX)), said(`Scopes starting with "${RESERVED_PREFIX}" are Gatehouse's own.`, 'problem.api.gatehouseScopes', { prefix: RESERVED_PREFIX }));

/** What an API's introspection client's name adds to the API's (store.ts clientNameFor). */
export const INTROSPECTION_SUFFIX = ' (introspection)';
/** An API's name, so that its introspection client's still fits in a client's name (184). */
export const API_NAME_MAX_LENGTH = CLIENT_NAME_MAX_LENGTH - INTROSPECTION_SUFFIX.length;
const apiName = z.string().trim().min(1).max(API_NAME_MAX_LENGTH).refine(isStorableText, NUL_REFUSAL);
const scopeDescriptions = z.record(z.string(), z.string().trim().min(1).max(200).refine(isStorableText, NUL_REFUSAL));
/**
 * The same descriptions in other languages, by language tag: {"de": {"read": "..."}}. The consent
 * page shows the person's language, else scopeDescriptions (the default language's).
 */
const localizedScopeDescriptions = z.record(
  z.string().refine((tag) => CATALOGS.has(tag), { error: `Descriptions can be given in the languages Gatehouse has: ${LOCALES.join(', ')}.` }),
  scopeDescriptions,
);
export type LocalizedScopeDescriptions = Record<string, Record<string, string>>;
const accessTokenTtl = z.number().int().min(MIN_API_ACCESS_TOKEN_TTL_SECONDS).max(MAX_ACCESS_TOKEN_LIFETIME_SECONDS);
/**
 * Token exchange (RFC 8693): the downstream APIs this API may exchange a person's access token for,
 * by identifier. Each must be another registered API (refuseUnknownDownstreams checks, with the database).
 */
const mayExchangeFor = z.array(identifierSchema).max(50).transform((list) => [...new Set(list)]);

function describedScopesExist(scopes: string[], descriptions: Record<string, string>, ctx: z.RefinementCtx, path = 'scopeDescriptions'): void {
  for (const scope of Object.keys(descriptions)) {
    if (!scopes.includes(scope)) ctx.addIssue({ code: 'custom', path: [path], ...said(`"${scope}" is described but is not one of the API's scopes.`, 'problem.api.describedNotScope', { scope }) });
  }
}

function localizedScopesExist(scopes: string[], localized: LocalizedScopeDescriptions, ctx: z.RefinementCtx): void {
  for (const descriptions of Object.values(localized)) describedScopesExist(scopes, descriptions, ctx, 'localizedScopeDescriptions');
}

export const newResourceSchema = z.object({
  identifier: identifierSchema,
  name: apiName.optional(),
  scope: apiScopes,
  scopeDescriptions: scopeDescriptions.default({}),
  localizedScopeDescriptions: localizedScopeDescriptions.default({}),
  accessTokenTtl: accessTokenTtl.optional(),
  isDefault: z.boolean().default(false),
  /** RFC 9701: the API may ask for introspection responses as signed JWTs. */
  jwtIntrospection: z.boolean().default(false),
  /** The API authenticates to introspect with private_key_jwt and these public keys, not a secret. */
  jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).refine(isStorableJson, NUL_REFUSAL).optional(),
  /** Where the API receives security events (src/security-events/); checked by the store, which knows the environment. */
  eventsEndpoint: z.string().trim().max(2000).optional(),
  mayExchangeFor: mayExchangeFor.default([]),
}).superRefine((r, ctx) => {
  describedScopesExist(r.scope, r.scopeDescriptions, ctx);
  localizedScopesExist(r.scope, r.localizedScopeDescriptions, ctx);
});

export type NewResourceServer = z.input<typeof newResourceSchema>;

/** The console's label of each field an API has: a refusal names the field so. */
export const API_FIELDS: FieldLabels = {
  identifier: 'admin.api.identifier',
  name: 'admin.app.name',
  scope: 'admin.api.scopesField',
  scopes: 'admin.api.scopesField',
  scopeDescriptions: 'admin.api.scopesField',
  localizedScopeDescriptions: 'admin.api.descriptionsField',
  accessTokenTtl: 'admin.api.ttlField',
  eventsEndpoint: 'admin.events.endpoint',
  mayExchangeFor: 'admin.api.exchangeField',
};

/** What an admin may change about an API. A null accessTokenTtl returns it to the default lifetime. */
export const resourceChangesSchema = z.strictObject({
  name: apiName.optional(),
  scopes: z.array(z.string()).transform((s) => s.join(' ')).pipe(apiScopes).optional(),
  scopeDescriptions: scopeDescriptions.optional(),
  localizedScopeDescriptions: localizedScopeDescriptions.optional(),
  accessTokenTtl: accessTokenTtl.nullable().optional(),
  /** null stops the API's security events. */
  eventsEndpoint: z.string().trim().max(2000).nullable().optional(),
  /** Replaces the whole list; [] ends every exchange this API may make. */
  mayExchangeFor: mayExchangeFor.optional(),
});

export type ResourceChanges = z.input<typeof resourceChangesSchema>;

/** The scopes and descriptions an update leaves: descriptions of dropped scopes go with them. */
export function changedScopes(
  current: { scopes: string[]; scopeDescriptions: Record<string, string>; localizedScopeDescriptions: LocalizedScopeDescriptions },
  changes: z.output<typeof resourceChangesSchema>,
): { scopes: string[]; scopeDescriptions: Record<string, string>; localizedScopeDescriptions: LocalizedScopeDescriptions } {
  const scopes = changes.scopes ?? current.scopes;
  const kept = (described: Record<string, string>) => Object.fromEntries(Object.entries(described).filter(([scope]) => scopes.includes(scope)));
  const descriptions = changes.scopeDescriptions ?? kept(current.scopeDescriptions);
  const localized = changes.localizedScopeDescriptions
    ?? Object.fromEntries(Object.entries(current.localizedScopeDescriptions).map(([locale, described]) => [locale, kept(described)]));
  const checked = z.record(z.string(), z.string()).superRefine((d, ctx) => describedScopesExist(scopes, d, ctx)).safeParse(descriptions);
  if (!checked.success) throw new GatehouseError('invalid_input', checked.error.issues[0]!.message, 'scopeDescriptions', issueWords(checked.error.issues[0]!, API_FIELDS));
  for (const described of Object.values(localized)) {
    const each = z.record(z.string(), z.string()).superRefine((d, ctx) => describedScopesExist(scopes, d, ctx, 'localizedScopeDescriptions')).safeParse(described);
    if (!each.success) throw new GatehouseError('invalid_input', each.error.issues[0]!.message, 'localizedScopeDescriptions', issueWords(each.error.issues[0]!, API_FIELDS));
  }
  return { scopes, scopeDescriptions: descriptions, localizedScopeDescriptions: localized };
}

/**
 * An app's API scopes are one list matched against every API, so two APIs sharing a scope name
 * would let an app registered for one get that scope on the other. Names are unique across APIs
 * (prefix them with the API's name).
 */
export async function refuseScopesOfOtherApis(db: Database, scopes: string[], except?: string): Promise<void> {
  const query = db('resource_servers').select('identifier', 'scope');
  if (except !== undefined) query.whereNot('identifier', except);
  const taken: Array<{ identifier: string; scope: string }> = await query;
  for (const row of taken) {
    const clash = row.scope.split(' ').find((scope) => scopes.includes(scope));
    if (clash) {
      // No example name here: any fixed one could be the very name just refused.
      throw new GatehouseError('conflict', `The scope "${clash}" already belongs to ${row.identifier}, and scope names are unique across APIs: give this API scope names of its own, e.g. prefixed with its name.`, 'scope', {
        key: 'problem.api.scopeTaken', values: { scope: clash, identifier: row.identifier },
      });
    }
  }
}

/**
 * An API may exchange tokens only for other APIs registered here: a name that is no API (a typo)
 * would allow nothing today and something unintended the day an API by that name is registered.
 */
export async function refuseUnknownDownstreams(db: Database, downstreams: string[], self: string): Promise<void> {
  if (downstreams.includes(self)) {
    throw new GatehouseError('invalid_input', 'An API exchanges tokens for other APIs; it already accepts its own.', 'mayExchangeFor', { key: 'problem.api.exchangeSelf' });
  }
  if (downstreams.length === 0) return;
  const rows: Array<{ identifier: string }> = await db('resource_servers').select('identifier').whereIn('identifier', downstreams);
  const known = new Set(rows.map((row) => row.identifier));
  const unknown = downstreams.find((identifier) => !known.has(identifier));
  if (unknown) {
    throw new GatehouseError('invalid_input', `${unknown} is not a registered API: register it first (gatehouse resource create).`, 'mayExchangeFor', { key: 'problem.api.exchangeUnknown', values: { identifier: unknown } });
  }
}
