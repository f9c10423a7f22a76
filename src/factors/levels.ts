// Authentication levels: what `acr` (OIDC Core §2) says about a sign-in, derived from the methods
// it used (`amr`, RFC 8176). One function, `acrOf`, maps methods to a level, so every way of
// signing in (password, authenticator app, recovery code, and passkeys once they join) lands on
// the same scale. Discovery lists ACR_VALUES as acr_values_supported; README explains each.
//
// The levels are ordered: a sign-in at a level satisfies a request for any level below it.

/** One factor: a password (or a mailed sign-in link) alone. */
export const ACR_ONE_FACTOR = 'urn:gatehouse:acr:1fa';
/** Two factors: a password and an authenticator app's code or a recovery code, or a passkey. */
export const ACR_TWO_FACTORS = 'urn:gatehouse:acr:2fa';
/** Phishing-resistant: a passkey (origin-bound, user-verified). */
export const ACR_PHISHING_RESISTANT = 'urn:gatehouse:acr:phr';

/** Every level, weakest first: the order `satisfies` compares by. */
export const ACR_VALUES = [ACR_ONE_FACTOR, ACR_TWO_FACTORS, ACR_PHISHING_RESISTANT] as const;
export type Acr = (typeof ACR_VALUES)[number];

/** RFC 8176 method values Gatehouse reports. */
export type Amr = 'pwd' | 'otp' | 'hwk' | 'swk' | 'mfa' | 'user' | 'pin';

export function isAcr(value: unknown): value is Acr {
  return typeof value === 'string' && (ACR_VALUES as readonly string[]).includes(value);
}

function rank(acr: Acr): number {
  return ACR_VALUES.indexOf(acr);
}

/** Whether a sign-in at `achieved` meets a requirement of `required`. */
export function satisfies(achieved: unknown, required: Acr | undefined): boolean {
  if (required === undefined) return true;
  return isAcr(achieved) && rank(achieved) >= rank(required);
}

/** The stronger of two levels. */
export function stronger(a: Acr | undefined, b: Acr | undefined): Acr | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return rank(a) >= rank(b) ? a : b;
}

/**
 * The level a sign-in reached, from its methods. A passkey (hwk or swk with user verification)
 * is phishing-resistant and counts as two factors by itself; a password with a one-time code is
 * two factors; anything else is one.
 */
export function acrOf(amr: readonly string[]): Acr {
  const key = amr.includes('hwk') || amr.includes('swk');
  if (key && amr.includes('user')) return ACR_PHISHING_RESISTANT;
  const factors = new Set(amr.filter((method) => method === 'pwd' || method === 'otp' || method === 'hwk' || method === 'swk'));
  return factors.size >= 2 ? ACR_TWO_FACTORS : ACR_ONE_FACTOR;
}

/**
 * The methods of a sign-in made of `methods` (in the order used), with `mfa` added when more than
 * one factor took part (RFC 8176 §2). Duplicates are dropped.
 */
export function amrOf(methods: readonly Amr[]): Amr[] {
  const unique = [...new Set(methods.filter((method) => method !== 'mfa'))];
  const factors = unique.filter((method) => method === 'pwd' || method === 'otp' || method === 'hwk' || method === 'swk');
  return factors.length >= 2 ? [...unique, 'mfa'] : unique;
}

/**
 * The weakest level an authorization request asks for, as a requirement: from `acr_values`, or
 * the `acr` member of the claims parameter's id_token (its value or values), whichever asks for
 * less. Values Gatehouse does not define are ignored; none left means no requirement. Gatehouse
 * treats plain acr_values as a requirement too (README: an app asking for a level and getting a
 * weaker sign-in would only be turned away by its API).
 */
export function requestedLevel(params: Record<string, unknown>): Acr | undefined {
  const asked: string[] = [];
  if (typeof params.acr_values === 'string') asked.push(...params.acr_values.split(' '));
  const acr = claimsAcr(params.claims);
  if (acr) {
    if (typeof acr.value === 'string') asked.push(acr.value);
    if (Array.isArray(acr.values)) asked.push(...acr.values.filter((v): v is string => typeof v === 'string'));
  }
  const known = asked.filter(isAcr);
  if (known.length === 0) return undefined;
  return known.reduce((weakest, value) => (rank(value) < rank(weakest) ? value : weakest));
}

function claimsAcr(claims: unknown): { value?: unknown; values?: unknown } | undefined {
  let parsed = claims;
  if (typeof claims === 'string') {
    try {
      parsed = JSON.parse(claims);
    } catch {
      return undefined;
    }
  }
  const acr = (parsed as { id_token?: { acr?: unknown } } | undefined)?.id_token?.acr;
  return acr && typeof acr === 'object' ? (acr as { value?: unknown; values?: unknown }) : undefined;
}
