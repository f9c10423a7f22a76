// What a client registration may say, checked the same way at creation and at every update.
import { z } from 'zod';
import { isOneLine, isStorableJson, isStorableText, NUL_REFUSAL, ONE_LINE_REFUSAL } from '../db/text.js';
import { GatehouseError } from '../errors.js';
import { isMessage, type Message, type Values, type Words } from '../i18n/catalogs.js';
import { backchannelLogoutUriRefusal, redirectUriRefusal } from './redirect-uris.js';

import { ADMIN_SCOPE } from '../vocabulary.js';
import { ACR_VALUES } from '../factors/levels.js';

export const DEFAULT_APP_SCOPE = 'openid profile email offline_access';

/**
 * A custom zod issue's English (the CLI and the admin API say it) with the same refusal in catalog
 * words (a console page says them, in the admin's language): for `.refine` and `ctx.addIssue`.
 * firstIssue makes the words the refusal's, with the field's label as `{field}`.
 */
export function said(message: string, key: string, values?: Values): { message: string; params: { words: Message } } {
  return { message, params: { words: values ? { key, values } : { key } } };
}

const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/; // RFC 6749 §3.3 scope-token

export const scopeSchema = z
  .string()
  .trim()
  .max(2000)
  .transform((s) => [...new Set(s.split(/\s+/).filter(Boolean))])
  .refine((tokens) => tokens.every((t) => SCOPE_TOKEN.test(t)), said('Scopes are space-separated words without quotes or backslashes.', 'problem.scope.words'));

/** A JWK Set of public signing keys (RFC 7517 §5): never a private member. */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];
const jwksSchema = z
  .object({
    keys: z.array(z.looseObject({ kty: z.enum(['RSA', 'EC', 'OKP']), kid: z.string().max(200).optional() })).min(1).max(10),
  })
  .refine((set) => set.keys.every((key) => PRIVATE_JWK_MEMBERS.every((m) => !(m in key))), said('The JWK Set must hold public keys only: it contains private key material.', 'problem.client.privateKeys'))
  .refine(isStorableJson, NUL_REFUSAL);

const jwksUriSchema = z
  .string()
  .max(2000)
  .refine(isStorableText, NUL_REFUSAL)
  .refine((value) => URL.canParse(value) && new URL(value).protocol === 'https:' && !new URL(value).hash, said('The JWK Set URI must be an https URL without a fragment.', 'problem.client.jwksUri'));

const uriList = z
  .array(z.string().max(2000))
  .max(20)
  .superRefine((uris, ctx) => {
    for (const uri of uris) {
      const problem = redirectUriRefusal(uri);
      if (problem) ctx.addIssue({ code: 'custom', message: problem.message, params: { words: problem.words } });
    }
  });

/**
 * The app's back-channel logout URI, or null for none. Its scheme is checked for production where
 * the store knows the environment (ClientStore, httpsOnly): here, everything else.
 */
const backchannelLogoutUri = z
  .string()
  .trim()
  .max(2000)
  .nullable()
  .transform((value) => (value === '' ? null : value))
  .superRefine((value, ctx) => {
    const problem = value === null ? undefined : backchannelLogoutUriRefusal(value, { httpsOnly: false });
    if (problem) ctx.addIssue({ code: 'custom', message: problem.message, params: { words: problem.words } });
  });

const CLIENT_NAME_REQUIRED = 'A client name is required.';
/** How long a client's name may be (an API's introspection client's included: src/resources/schema.ts). */
export const CLIENT_NAME_MAX_LENGTH = 200;
// Shown on the consent page and in the mail that tells a person an app was connected.
const clientName = z.string().trim().min(1, CLIENT_NAME_REQUIRED).max(CLIENT_NAME_MAX_LENGTH).refine(isStorableText, NUL_REFUSAL).refine(isOneLine, ONE_LINE_REFUSAL);

/**
 * A page the app links people to (its home page, logo, privacy policy, terms): an http or https
 * URL without credentials in it, or null for none. The consent page links to the policy and terms,
 * so nothing else (no javascript:, no data:) may get there.
 */
const informationUri = (what: string, key: string) => z
  .string()
  .trim()
  .max(2000)
  .nullable()
  .transform((value) => (value === '' ? null : value))
  .refine((value) => value === null || isStorableText(value), NUL_REFUSAL)
  .refine((value) => value === null || isWebUrl(value), said(`The ${what} must be an http or https URL, without a user name or password.`, key));

function isWebUrl(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  return (url.protocol === 'https:' || url.protocol === 'http:') && !url.username && !url.password;
}

/**
 * An address as HTML's <input type=email> takes one, which is also what oidc-provider holds every
 * stored client's `contacts` to whenever it loads the client: one it would refuse must never be
 * stored, or the app would stop working at its next request.
 */
const CONTACT = /^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*$/;

/** Who to write to about the app (email addresses; OpenID Connect Dynamic Client Registration §2). */
const contactsSchema = z
  .array(z.string().trim().max(254).refine((value) => CONTACT.test(value), said('A contact is an email address, such as ops@example.com.', 'problem.client.contact')))
  .max(10);

/** What an app says about itself (migration 021), in the registration's words. */
const information = {
  clientUri: informationUri('home page (client_uri)', 'problem.client.clientUri'),
  logoUri: informationUri('logo (logo_uri)', 'problem.client.logoUri'),
  policyUri: informationUri('privacy policy (policy_uri)', 'problem.client.policyUri'),
  tosUri: informationUri('terms of service (tos_uri)', 'problem.client.tosUri'),
};

const ACR_LEVEL_MESSAGE = `The level is one of ${ACR_VALUES.join(', ')}.`;

export const newClientSchema = z
  .object({
    name: clientName,
    redirectUris: uriList.default([]),
    postLogoutRedirectUris: uriList.default([]),
    public: z.boolean().default(false),
    clientCredentials: z.boolean().default(false),
    /** Introspection-only credentials for an API: no grant at all. */
    introspectionOnly: z.boolean().default(false),
    /** RFC 8628: the app may also use the device authorization grant (an opt-in per app). */
    deviceCode: z.boolean().default(false),
    /**
     * A client of the admin API: holds the gatehouse:admin scope. A machine client calls it as
     * itself; a confidential app, for the admins who sign in through it (each call checks the
     * person is still an admin, who signed in with two factors under ADMIN_REQUIRE_SECOND_FACTOR).
     */
    admin: z.boolean().default(false),
    tokenEndpointAuthMethod: z.enum(['client_secret_basic', 'client_secret_post', 'private_key_jwt']).default('client_secret_basic'),
    /** The app's public keys, for private_key_jwt and for signed request objects (RFC 9101). */
    jwks: jwksSchema.optional(),
    /** Where the app publishes those keys instead (https; fetched and cached by oidc-provider). */
    jwksUri: jwksUriSchema.optional(),
    /** Every token request must carry a DPoP proof (RFC 9449 §5.2, `dpop_bound_access_tokens`). */
    requireDpop: z.boolean().default(false),
    /** Authorization requests only through the PAR endpoint (RFC 9126 §6). */
    requirePar: z.boolean().default(false),
    /** Authorization requests only as request objects signed by the app's keys (RFC 9101 §10.5). */
    requireSignedRequestObject: z.boolean().default(false),
    scope: scopeSchema.optional(),
    introspectionSignedResponseAlg: z.enum(['ES256', 'RS256']).optional(),
    /** OpenID Connect Back-Channel Logout 1.0: where logout tokens go. */
    backchannelLogoutUri: backchannelLogoutUri.default(null),
    /** The app needs `sid` in every logout token (and gets only those that can name a session). */
    backchannelLogoutSessionRequired: z.boolean().default(false),
    /** Where the app receives security events (src/security-events/); checked by the store, which knows the environment. */
    eventsEndpoint: z.string().trim().max(2000).optional(),
    /** The weakest sign-in this app accepts (src/factors/levels.ts); null: any. */
    requireAcr: z.enum(ACR_VALUES, { message: ACR_LEVEL_MESSAGE }).nullable().optional(),
    clientUri: information.clientUri.default(null),
    logoUri: information.logoUri.default(null),
    policyUri: information.policyUri.default(null),
    tosUri: information.tosUri.default(null),
    contacts: contactsSchema.default([]),
  })
  .superRefine((c, ctx) => {
    const userFacing = !c.clientCredentials && !c.introspectionOnly;
    if (userFacing && c.redirectUris.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['redirectUris'], ...said('At least one redirect URI is required for an app that signs users in.', 'problem.client.redirectUriRequired') });
    }
    if (!userFacing && c.redirectUris.length) {
      ctx.addIssue({ code: 'custom', path: ['redirectUris'], ...said('A machine client has no redirect URIs.', 'problem.client.machineRedirectUris') });
    }
    if (c.public && !userFacing) {
      ctx.addIssue({ code: 'custom', path: ['public'], ...said('A machine client must be confidential.', 'problem.client.machinePublic') });
    }
    if (userFacing && c.scope && !c.scope.includes('openid')) {
      // oidc-provider treats an app without OIDC scopes as allowed all of them.
      ctx.addIssue({ code: 'custom', path: ['scope'], ...said('An app that signs people in needs the openid scope, e.g. --scope "openid profile email".', 'problem.client.openidScope') });
    }
    // An admin client needs nothing else: the admin scope is added for it.
    if (c.clientCredentials && !c.admin && !c.scope?.length) {
      ctx.addIssue({ code: 'custom', path: ['scope'], ...said('A machine client needs --scope naming what it may ask for.', 'problem.client.machineScope') });
    }
    if (!c.admin && c.scope?.includes(ADMIN_SCOPE)) {
      ctx.addIssue({ code: 'custom', path: ['scope'], ...said(`Only an admin client may hold the ${ADMIN_SCOPE} scope (create it with --admin).`, 'problem.client.adminScope', { scope: ADMIN_SCOPE }) });
    }
    const hasKeys = c.jwks !== undefined || c.jwksUri !== undefined;
    if (c.jwks !== undefined && c.jwksUri !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['jwksUri'], ...said('Register the public keys either as a JWK Set or as a JWK Set URI, not both.', 'problem.client.keysTwice') });
    }
    if (c.tokenEndpointAuthMethod === 'private_key_jwt' && !hasKeys) {
      ctx.addIssue({ code: 'custom', path: ['jwks'], ...said('private_key_jwt needs the client\'s public keys (a JWK Set or its URI).', 'problem.client.privateKeyJwtKeys') });
    }
    if (hasKeys && c.tokenEndpointAuthMethod !== 'private_key_jwt' && !userFacing) {
      ctx.addIssue({ code: 'custom', path: ['jwks'], ...said('Public keys are only used with private_key_jwt or to sign request objects.', 'problem.client.unusedKeys') });
    }
    if (c.requireSignedRequestObject && !hasKeys) {
      ctx.addIssue({ code: 'custom', path: ['requireSignedRequestObject'], ...said('Signed request objects need the app\'s public keys (a JWK Set or its URI) to check them with.', 'problem.client.signedNeedsKeys') });
    }
    if ((c.requirePar || c.requireSignedRequestObject) && !userFacing) {
      ctx.addIssue({ code: 'custom', path: [c.requirePar ? 'requirePar' : 'requireSignedRequestObject'], ...said('Only an app that signs people in makes authorization requests.', 'problem.client.machineRequests') });
    }
    if (c.public && c.tokenEndpointAuthMethod === 'private_key_jwt') {
      ctx.addIssue({ code: 'custom', path: ['public'], ...said('A public client has no keys to authenticate with.', 'problem.client.publicKeys') });
    }
    if (!userFacing && c.backchannelLogoutUri) {
      ctx.addIssue({ code: 'custom', path: ['backchannelLogoutUri'], ...said('Only an app that signs people in can be signed out: a machine client has no back-channel logout URI.', 'problem.client.machineBackchannel') });
    }
    if (c.deviceCode && !userFacing) {
      ctx.addIssue({ code: 'custom', path: ['deviceCode'], ...said('Only an app that signs people in can use the device flow.', 'problem.client.machineDeviceFlow') });
    }
    if (c.requireAcr && !userFacing) {
      ctx.addIssue({ code: 'custom', path: ['requireAcr'], ...said('Only an app that signs people in can require a sign-in level.', 'problem.client.machineAcr') });
    }
    if (c.admin && (c.public || c.introspectionOnly || c.deviceCode)) {
      ctx.addIssue({ code: 'custom', path: ['admin'], ...said('An admin client is confidential: a machine client (--client-credentials) or an app with a secret or keys, without the device flow.', 'problem.client.adminConfidential') });
    }
  });

export type NewClient = z.input<typeof newClientSchema>;
export type ValidClient = z.output<typeof newClientSchema>;

/** What an admin may change about a registered client; the rest is what kind of client it is. */
export const clientChangesSchema = z.strictObject({
  name: clientName.optional(),
  redirectUris: z.array(z.string()).optional(),
  postLogoutRedirectUris: z.array(z.string()).optional(),
  scope: z.string().optional(),
  backchannelLogoutUri: z.string().nullable().optional(),
  backchannelLogoutSessionRequired: z.boolean().optional(),
  /** null stops the app's security events. */
  eventsEndpoint: z.string().trim().max(2000).nullable().optional(),
  requireDpop: z.boolean().optional(),
  requirePar: z.boolean().optional(),
  requireSignedRequestObject: z.boolean().optional(),
  /** How the app's signed introspection responses are signed (an app re-registering through RFC 7592). */
  introspectionSignedResponseAlg: z.enum(['ES256', 'RS256']).optional(),
  /** RFC 8628's device flow, on or off for an app. */
  deviceCode: z.boolean().optional(),
  /** New public keys for private_key_jwt (an app rotating its keys through RFC 7592). */
  jwks: z.unknown().optional(),
  requireAcr: z.string().nullable().optional(),
  /** What the app says about itself; null removes one. */
  clientUri: z.string().nullable().optional(),
  logoUri: z.string().nullable().optional(),
  policyUri: z.string().nullable().optional(),
  tosUri: z.string().nullable().optional(),
  contacts: z.array(z.string()).optional(),
});

export type ClientChanges = z.input<typeof clientChangesSchema>;

/** The scopes a valid registration stores: the default for apps, and the admin scope for admin clients. */
export function storedScope(c: ValidClient): string {
  const scopes = c.scope ?? (c.clientCredentials || c.introspectionOnly ? [] : DEFAULT_APP_SCOPE.split(' '));
  return (c.admin && !scopes.includes(ADMIN_SCOPE) ? [...scopes, ADMIN_SCOPE] : scopes).join(' ');
}

/** The console's label of each field a registration has, by field name: a refusal names the field so. */
export type FieldLabels = Readonly<Record<string, string>>;

export const CLIENT_FIELDS: FieldLabels = {
  name: 'admin.app.name',
  redirectUris: 'admin.app.redirectUris',
  scope: 'admin.app.scopes',
  backchannelLogoutUri: 'admin.app.backchannelField',
  eventsEndpoint: 'admin.events.endpoint',
  requireAcr: 'admin.app.requireAcr',
  clientUri: 'admin.app.clientUri',
  logoUri: 'admin.app.logoUri',
  policyUri: 'admin.app.policyUri',
  tosUri: 'admin.app.tosUri',
  contacts: 'admin.app.contacts',
};

/** Words for messages given to zod's own checks, which keep no params: by the English message. */
const WORDS_OF_MESSAGE: ReadonlyMap<string, Message> = new Map([
  [CLIENT_NAME_REQUIRED, { key: 'problem.nameRequired' }],
  [ACR_LEVEL_MESSAGE, { key: 'problem.client.acrLevel', values: { levels: ACR_VALUES.join(', ') } }],
]);

/**
 * A zod issue in catalog words. Ours carry theirs (`said`); zod's own English ("Too big: expected
 * string to have <=200 characters") becomes a few generic sentences naming the field by its label
 * in `labels`, or by its name where the console has no such field. `at` names the field of a
 * schema that checks one value (its issues have no path).
 */
export function issueWords(issue: z.core.$ZodIssue, labels: FieldLabels, at?: string): Message {
  const path = [...(at === undefined ? [] : [at]), ...issue.path.map(String)];
  const name = issue.code === 'unrecognized_keys' ? issue.keys[0] : path[0];
  const label = name !== undefined && Object.hasOwn(labels, name) ? labels[name] : undefined;
  const field: Words = label !== undefined ? { key: label } : name ?? '';
  const own = (issue.code === 'custom' && isMessage(issue.params?.words) ? issue.params.words : undefined) ?? WORDS_OF_MESSAGE.get(issue.message);
  if (own) return { key: own.key, values: { field, ...own.values } };
  // One entry of a list or of a map (a redirect URI, a scope's description), not the whole field.
  const entry = path.length > 1;
  switch (issue.code) {
    case 'too_small':
      if (issue.origin === 'number') return { key: 'problem.input.atLeast', values: { field, min: Number(issue.minimum) } };
      return Number(issue.minimum) <= 1 ? { key: 'problem.input.required', values: { field } } : { key: 'problem.input.invalid', values: { field } };
    case 'too_big':
      if (issue.origin === 'number') return { key: 'problem.input.atMost', values: { field, max: Number(issue.maximum) } };
      if (issue.origin === 'array') return { key: 'problem.input.tooMany', values: { field, max: Number(issue.maximum) } };
      return { key: entry ? 'problem.input.entryTooLong' : 'problem.input.tooLong', values: { field, max: Number(issue.maximum) } };
    case 'invalid_type':
      if (issue.expected === 'int') return { key: 'problem.input.wholeNumber', values: { field } };
      if (issue.expected === 'number') return { key: 'problem.input.number', values: { field } };
      return { key: 'problem.input.invalid', values: { field } };
    default:
      return { key: 'problem.input.invalid', values: { field } };
  }
}

/** The first thing zod found wrong, as the refusal: its English for the CLI and API, its words for a page. */
export function firstIssue(error: z.ZodError, labels: FieldLabels = CLIENT_FIELDS): GatehouseError {
  const issue = error.issues[0]!;
  return new GatehouseError('invalid_input', issue.message, issue.path.map(String).join('.') || undefined, issueWords(issue, labels));
}
