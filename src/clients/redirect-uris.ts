// What a registered redirect URI may be (RFC 9700 §4.1): absolute, no fragment, https unless it
// points at this machine (native and development apps on loopback), matched exactly later.
// Each problem is said twice: in English (the CLI, the admin API, a registration's error) and in
// catalog words with the URI as a value (the console, in the admin's language).
import { isStorableText } from '../db/text.js';
import type { Refusal } from '../errors.js';
import { LOOPBACK_HOSTS } from '../paths.js';

/** Spaces and control characters: no place in a URI (RFC 3986), and a NUL would not survive storage. */
const SPACE_OR_CONTROL = /[\u0000-\u0020\u007f]/;

/**
 * Whether a URI holds what none Gatehouse keeps may (a space, a control character, an unpaired
 * surrogate): redirect URIs, events endpoints and API identifiers alike.
 */
export function hasUnusableCharacters(value: string): boolean {
  return SPACE_OR_CONTROL.test(value) || !isStorableText(value);
}

function uriRefusal(uri: string, message: string, key: string): Refusal {
  return { message: `"${uri}" ${message}`, words: { key, values: { uri } } };
}

/** What is wrong with the URI before its scheme is looked at, shared by both kinds. */
function malformed(value: string): Refusal | undefined {
  // hasUnusableCharacters, said in two parts: the console never tells someone who typed a space
  // about surrogates, which only JSON can carry (a form decodes to text).
  if (SPACE_OR_CONTROL.test(value)) return uriRefusal(value.replace(/[\u0000-\u001f\u007f]/g, '?'), 'contains spaces or control characters', 'problem.uri.controlCharacters');
  if (!isStorableText(value)) return uriRefusal(value.replace(/\p{Cs}/gu, '?'), 'contains an unpaired surrogate, which is not text', 'problem.uri.unpairedSurrogate');
  if (!URL.canParse(value)) return uriRefusal(value, 'is not an absolute URL', 'problem.uri.notAbsolute');
  const url = new URL(value);
  if (url.hash || value.includes('#')) return uriRefusal(value, 'must not contain a fragment', 'problem.uri.fragment');
  if (url.username || url.password) return uriRefusal(value, 'must not contain credentials', 'problem.uri.credentials');
  return undefined;
}

export function redirectUriRefusal(value: string): Refusal | undefined {
  const problem = malformed(value);
  if (problem) return problem;
  const url = new URL(value);
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') {
    return LOOPBACK_HOSTS.has(url.hostname) ? undefined : uriRefusal(value, 'must use https (http is allowed only for localhost)', 'problem.uri.httpsOrLocalhost');
  }
  // Private-use schemes for native apps (RFC 8252 §7.1) need a reverse-domain name with a dot.
  if (/^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(url.protocol)) return undefined;
  return uriRefusal(value, 'must use https, http on localhost, or a reverse-domain private-use scheme', 'problem.uri.redirectScheme');
}

export function redirectUriProblem(value: string): string | undefined {
  return redirectUriRefusal(value)?.message;
}

/**
 * What a back-channel logout URI may be (OpenID Connect Back-Channel Logout 1.0 §2.2): absolute,
 * http or https, no fragment; https in production, where a logout token must not cross the network
 * in the clear (`httpsOnly`). Outside production plain http is allowed anywhere, for apps and
 * receivers on a developer's network.
 */
export function backchannelLogoutUriRefusal(value: string, options: { httpsOnly: boolean }): Refusal | undefined {
  const problem = malformed(value);
  if (problem) return problem;
  const url = new URL(value);
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') return options.httpsOnly ? uriRefusal(value, 'must use https in production', 'problem.uri.httpsInProduction') : undefined;
  return uriRefusal(value, 'must be an http or https URL', 'problem.uri.httpOrHttps');
}

