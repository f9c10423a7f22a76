// What a registered redirect URI may be (RFC 9700 §4.1): absolute, no fragment, https unless it
// points at this machine (native and development apps on loopback), matched exactly later.
import { LOOPBACK_HOSTS } from '../paths.js';

export function redirectUriProblem(value: string): string | undefined {
  // Control characters and spaces have no place in a URI (RFC 3986) and would not survive storage.
  if (/[\u0000-\u0020\u007f]/.test(value)) return `"${value.replace(/[\u0000-\u001f\u007f]/g, '?')}" contains spaces or control characters`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `"${value}" is not an absolute URL`;
  }
  if (url.hash || value.includes('#')) return `"${value}" must not contain a fragment`;
  if (url.username || url.password) return `"${value}" must not contain credentials`;
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') {
    return LOOPBACK_HOSTS.has(url.hostname) ? undefined : `"${value}" must use https (http is allowed only for localhost)`;
  }
  // Private-use schemes for native apps (RFC 8252 §7.1) need a reverse-domain name with a dot.
  if (/^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(url.protocol)) return undefined;
  return `"${value}" must use https, http on localhost, or a reverse-domain private-use scheme`;
}

/**
 * What a back-channel logout URI may be (OpenID Connect Back-Channel Logout 1.0 §2.2): absolute,
 * http or https, no fragment; https in production, where a logout token must not cross the network
 * in the clear (`httpsOnly`). Outside production plain http is allowed anywhere, for apps and
 * receivers on a developer's network.
 */
export function backchannelLogoutUriProblem(value: string, options: { httpsOnly: boolean }): string | undefined {
  if (/[\u0000-\u0020\u007f]/.test(value)) return `"${value.replace(/[\u0000-\u001f\u007f]/g, '?')}" contains spaces or control characters`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `"${value}" is not an absolute URL`;
  }
  if (url.hash || value.includes('#')) return `"${value}" must not contain a fragment`;
  if (url.username || url.password) return `"${value}" must not contain credentials`;
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') return options.httpsOnly ? `"${value}" must use https in production` : undefined;
  return `"${value}" must be an http or https URL`;
}
