// Types for the oidc-provider modules src/oidc/internals/sender-constraints.ts imports by path:
// @types/oidc-provider describes only the package's documented API. What each function is and does
// is said there; these are their 9.13.3 signatures (lib/helpers/validate_dpop.js,
// lib/helpers/sender_constraints.js).
declare module 'oidc-provider/lib/helpers/validate_dpop.js' {
  import type { KoaContextWithOIDC, Provider } from 'oidc-provider';

  interface ValidatedDpop { thumbprint: string; jti: string; iat: number }

  export default function validateDpop(provider: Provider, ctx: KoaContextWithOIDC, accessToken?: string): Promise<ValidatedDpop | undefined>;
  export function checkDpopReplay(
    provider: Provider, ctx: KoaContextWithOIDC, dPoP: ValidatedDpop | undefined, clientId: string,
    ErrorClass?: new (description: string) => Error,
  ): Promise<void>;
}

declare module 'oidc-provider/lib/helpers/sender_constraints.js' {
  import type { KoaContextWithOIDC, Provider } from 'oidc-provider';

  export function checkDpopRequired(
    provider: Provider, ctx: KoaContextWithOIDC, dPoP: unknown,
    ErrorClass?: new (description: string) => Error,
  ): void;
}
