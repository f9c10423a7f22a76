// What each scope and claim means, in the words shown to the person deciding whether to allow it,
// and to everyone looking later at what was allowed (the account pages, the admin console), in the
// reader's language: OpenID Connect's scopes and claims from the catalogs (`scope.*`, `claim.*`),
// an API's own from its registration, in that language when it gave one.
import { lookup, translator } from '../i18n/catalogs.js';
import { OIDC_CLAIMS } from '../oidc/configuration.js';
import { ADMIN_SCOPE } from '../vocabulary.js';

export interface DescribedScope {
  name: string;
  text: string;
}

/** The OpenID Connect scopes people are asked about; their words are `scope.<name>` in the catalogs. */
const DESCRIBED_OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access']);

export function describeOidcScopes(scopes: string[], locale: string): DescribedScope[] {
  return scopes
    .filter((name) => DESCRIBED_OIDC_SCOPES.has(name))
    .map((name) => ({ name, text: lookup(locale, `scope.${name}`) }));
}

/** What an API says about its scopes: in the default language, and in others it was given. */
export interface ApiScopeWords {
  scopeDescriptions: Record<string, string>;
  localizedScopeDescriptions?: Record<string, Record<string, string>>;
}

/** Each scope in the reader's language if the API gave it, else in its default words, else generically. */
export function describeApiScopes(scopes: string[], api: ApiScopeWords | undefined, locale: string): DescribedScope[] {
  const { t } = translator(locale);
  return scopes.map((name) => ({
    name,
    text: api?.localizedScopeDescriptions?.[locale]?.[name] ?? api?.scopeDescriptions[name]
      // The admin API is Gatehouse's own, registered by no one: its one scope has words of ours.
      ?? (name === ADMIN_SCOPE ? t('scope.gatehouseAdmin') : t('scope.generic', { scope: name })),
  }));
}

/** The claims people are asked about one by one; their words are `claim.<name>` in the catalogs. */
const DESCRIBED_CLAIMS = new Set(['name', 'given_name', 'family_name', 'updated_at', 'email', 'email_verified']);

export interface DescribedClaim extends DescribedScope {
  /** The app marked it essential (OIDC Core §5.5.1): it says it needs it to work. */
  essential: boolean;
}

/**
 * Claims asked for one by one through the claims parameter (OIDC Core §5.5), with those the app
 * marked essential in either place (userinfo or the ID token) flagged.
 */
export function describeClaims(names: string[], claimsParameter: unknown, locale: string): DescribedClaim[] {
  const requested = parseClaimsParameter(claimsParameter);
  const essential = (name: string) => [requested.userinfo, requested.id_token].some((where) => isEssential(where?.[name]));
  return [...new Set(names)]
    .filter((name) => DESCRIBED_CLAIMS.has(name))
    .map((name) => ({ name, text: lookup(locale, `claim.${name}`), essential: essential(name) }));
}

/** The claims a scope releases (OIDC Core §5.4). */
export function claimsOfScope(scope: string): readonly string[] {
  return (OIDC_CLAIMS as Record<string, readonly string[]>)[scope] ?? [];
}

/** Every claim the claims parameter names, in userinfo or the ID token. */
export function claimsNamedIn(claimsParameter: unknown): string[] {
  const requested = parseClaimsParameter(claimsParameter);
  return [...Object.keys(requested.userinfo ?? {}), ...Object.keys(requested.id_token ?? {})];
}

type ClaimRequests = Record<string, unknown>;

function parseClaimsParameter(value: unknown): { userinfo?: ClaimRequests; id_token?: ClaimRequests } {
  if (typeof value !== 'string') return {};
  try {
    const parsed = JSON.parse(value) as Record<string, unknown>;
    const part = (where: unknown) => (where && typeof where === 'object' && !Array.isArray(where) ? (where as ClaimRequests) : undefined);
    return { userinfo: part(parsed?.userinfo), id_token: part(parsed?.id_token) };
  } catch {
    return {}; // the provider refused it before any page was shown
  }
}

function isEssential(request: unknown): boolean {
  return !!request && typeof request === 'object' && (request as { essential?: unknown }).essential === true;
}

/** The scopes OpenID Connect defines: about the person, never an API's permission. */
const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'address', 'phone', 'offline_access']);

/** What one grant (or one app's grants together) lets an app do, in the words a person reads. */
export interface GrantInWords {
  /** What the person allowed about themselves: one line per OpenID Connect scope. */
  scopes: DescribedScope[];
  /** Each API the app may call, with what it may do there in that API's own words. */
  apis: Array<{ name: string; scopes: DescribedScope[] }>;
}

/**
 * Puts granted scopes into words, each API's in its own descriptions (`known`, by identifier); an
 * API since removed keeps only the scope names. OpenID Connect scopes ride along with every API
 * (for userinfo), so they are listed once, about the person, and never under an API.
 */
export function grantInWords(
  granted: { scopes: string[]; apis: ReadonlyArray<{ identifier: string; name: string | null; scopes: string[] }> },
  known: ReadonlyMap<string, ({ scopes: string[] } & ApiScopeWords) | undefined>,
  locale: string,
): GrantInWords {
  return {
    scopes: describeOidcScopes(granted.scopes, locale),
    apis: granted.apis
      .map((api) => {
        const found = known.get(api.identifier);
        const own = api.scopes.filter((scope) => (found ? found.scopes.includes(scope) : !OIDC_SCOPES.has(scope)));
        return { name: api.name ?? api.identifier, scopes: describeApiScopes(own, found, locale) };
      })
      .filter((api) => api.scopes.length > 0),
  };
}
