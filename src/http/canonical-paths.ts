// oidc-provider's router matches a path whatever the letter case of its fixed parts, with or
// without one trailing slash: `/TOKEN`, `/token/` and `/Token/Introspection` all reach its routes.
// Everything in front of it that looks at the path — the per-client limits, the JWT handles, the
// error and discovery rewrites, the resume guard, the caching policy — compares it exactly, so any
// other spelling walked past all of them. Here, before any of them, every spelling of a provider
// route but its own is answered 404: what follows sees the canonical path or nothing.
import type { Context, Middleware } from 'koa';
import type { Provider } from 'oidc-provider';

/** The routes oidc-provider may register; pathFor refuses those a disabled feature left out. */
const FIXED_ROUTES = [
  'authorization', 'token', 'introspection', 'revocation', 'userinfo', 'jwks', 'end_session',
  'end_session_confirm', 'end_session_success', 'pushed_authorization_request', 'registration',
  'code_verification', 'device_authorization', 'backchannel_authentication', 'challenge', 'credential',
];
const ROUTES_WITH_A_PARAMETER: Array<[string, string]> = [['resume', 'uid'], ['device_resume', 'uid'], ['client', 'clientId']];
const DISCOVERY = ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server'];
const PLACEHOLDER = 'PARAMETER';

/** What oidc-provider's router compares: ASCII letters in one case. */
function fold(path: string): string {
  return path.replace(/[a-z]/g, (letter) => letter.toUpperCase());
}

function pathOf(provider: Provider, name: string, params?: Record<string, string>): string | undefined {
  try {
    return provider.pathFor(name, params as never);
  } catch {
    return undefined; // not registered: its feature is off
  }
}

/** A path template as a test: its fixed segments folded, its parameter any one segment. */
function template(path: string): { folded: RegExp; exact: RegExp } {
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const [before, after] = path.split(PLACEHOLDER) as [string, string];
  return {
    folded: new RegExp(`^${escape(fold(before))}[^/]+${escape(fold(after))}$`),
    exact: new RegExp(`^${escape(before)}[^/]+${escape(after)}$`),
  };
}

export function canonicalProviderPaths(provider: Provider, answerNotFound: (ctx: Context) => unknown): Middleware {
  const fixed = new Map<string, string>();
  for (const path of [...FIXED_ROUTES.map((name) => pathOf(provider, name)), ...DISCOVERY]) {
    if (path) fixed.set(fold(path), path);
  }
  const templates = ROUTES_WITH_A_PARAMETER
    .map(([name, parameter]) => pathOf(provider, name, { [parameter]: PLACEHOLDER }))
    .filter((path): path is string => path !== undefined)
    .map(template);

  return function onlyCanonicalPaths(ctx, next) {
    const path = ctx.path;
    const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
    const folded = fold(trimmed);
    const canonical = fixed.get(folded);
    const variant = canonical !== undefined
      ? path !== canonical
      : templates.some((t) => t.folded.test(folded) && !t.exact.test(path));
    if (variant) return answerNotFound(ctx);
    return next();
  };
}
