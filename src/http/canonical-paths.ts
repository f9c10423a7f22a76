// oidc-provider's router matches a path whatever the letter case of its fixed parts, with or
// without one trailing slash: `/TOKEN`, `/token/` and `/Token/Introspection` all reach its routes
// (its routes and matching are reliances of src/oidc/internals.ts).
// Everything in front of it that looks at the path — the per-client limits, the JWT handles, the
// error and discovery rewrites, the resume guard, the caching policy — compares it exactly, so any
// other spelling walked past all of them. Here, before any of them, every spelling of a provider
// route but its own is answered 404: what follows sees the canonical path or nothing.
import type { Context, Middleware } from 'koa';
import type { Provider } from 'oidc-provider';
import { DISCOVERY_PATHS, PROVIDER_ROUTES, PROVIDER_ROUTES_WITH_A_PARAMETER, routerFold as fold } from '../oidc/internals.js';

const PLACEHOLDER = 'PARAMETER';

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
  for (const path of [...PROVIDER_ROUTES.map((name) => pathOf(provider, name)), ...DISCOVERY_PATHS]) {
    if (path) fixed.set(fold(path), path);
  }
  const templates = PROVIDER_ROUTES_WITH_A_PARAMETER
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
