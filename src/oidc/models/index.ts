// oidc-provider's storage (its `adapter` setting): one strategy per model, and this the one table
// of who does what. Every strategy reads and writes through the records repository (src/records/),
// which owns the table, the statements and the clock.
//
//   Client                          the clients table, cached (client.ts)
//   AccessToken, ClientCredentials  JWTs verified in place, opaque ones through the one-query
//                                   lookup (access-token.ts, token-lookup.ts)
//   RefreshToken                    the one-query lookup; a held-back consume sent with the save
//                                   of its successor (and of an opaque access token) as one
//                                   rotation once the response is ready; retries forgiven
//                                   (refresh-token.ts, held-issuance.ts)
//   Grant                           from that lookup when it just read the grant, else cached
//                                   (grant.ts)
//   AuthorizationCode, Session      the code through that lookup, which reads the session it
//                                   ends with too; Session.findByUid answered from it that tick
//                                   (authorization-code.ts, session.ts); its exchange's consume
//                                   held back and written with the tokens it issues, as one
//                                   statement (code-redemption.ts)
//   DeviceCode                      the records, its exchange's consume held back as a code's
//   ReplayDetection                 one atomic insert per client assertion (replay-detection.ts)
//   InitialAccessToken              the operator's registration_tokens (src/registration/)
//   RegistrationAccessToken         the records, with a destroy that refuses a token already gone,
//                                   so a rotation cannot fork (registration-access-token.ts)
//   every other model               the repository's records of that model as they are
//                                   (Interaction, PushedAuthorizationRequest, DeviceCode, …)
//
// A replayed code or refresh token revokes its grant inside the repository; this process drops
// what it cached of that grant at once (forgetGrant) rather than when the database's notification
// (migration 003) comes back to it.
//
import type { Adapter } from 'oidc-provider';
import type { OidcRecords, RequestFacts } from '../../records/index.js';
import type { JwtAccessTokens } from '../../tokens/jwt-access-tokens.js';
import { grantTag, type TruthCache } from '../../tokens/jwt-truth.js';
import { RefreshRetries } from '../../tokens/refresh-retry.js';
import { AccessTokenModel } from './access-token.js';
import { AuthorizationCodeModel, DeviceCodeModel } from './authorization-code.js';
import type { CodeRedemptions } from './code-redemption.js';
import type { HeldIssuance } from './held-issuance.js';
import type { ClientAdapter } from './client.js';
import { GrantModel, type GrantCache } from './grant.js';
import { RefreshTokenModel, type HeldConsumeFailure } from './refresh-token.js';
import { RegistrationAccessTokenModel } from './registration-access-token.js';
import { ReplayDetectionModel } from './replay-detection.js';
import { SessionModel } from './session.js';
import { TokenLookup } from './token-lookup.js';
import { currentRequest } from '../internals.js';

export { grantCache, type GrantCache } from './grant.js';
export type { HeldConsumeFailure } from './refresh-token.js';
export { CodeRedemptions } from './code-redemption.js';
export { HeldIssuance } from './held-issuance.js';

/**
 * The request oidc-provider is handling (currentRequest, src/oidc/internals/requests.ts):
 * sessions are saved by the provider's own middleware, where no hook of ours sees the request.
 */
function currentRequestFacts(): RequestFacts | undefined {
  const ctx = currentRequest();
  return ctx ? { userAgent: ctx.get('user-agent') || undefined, ip: ctx.ip || undefined } : undefined;
}

export interface StorageParts {
  clients: ClientAdapter;
  jwts: JwtAccessTokens;
  truth?: TruthCache;
  grants?: GrantCache;
  /** REFRESH_TOKEN_RETRY_WINDOW; 0 (the default here) forgives no retry. */
  refreshRetryWindowSeconds?: number;
  /** Initial access tokens for dynamic registration (src/registration/initial-access-tokens.ts). */
  initialAccessTokens?: Adapter;
  /** Told of a held-back refresh-token consume that failed when written for a refused refresh (refresh-token.ts). */
  onHeldConsumeFailure: (failure: HeldConsumeFailure) => void;
  /** Code exchanges' held writes (code-redemption.ts). */
  codes: CodeRedemptions;
  /** Every token request's held writes; its middleware writes what is still held (held-issuance.ts). */
  held: HeldIssuance;
}

/** oidc-provider's `adapter` setting: one strategy per model name. */
export function storageFor(records: OidcRecords, parts: StorageParts): (model: string) => Adapter {
  const forgetGrant = (grantId: string) => {
    parts.truth?.invalidate(grantTag(grantId));
    parts.grants?.invalidate(grantTag(grantId));
  };
  const stored = (model: string) => records.of(model, { requestFacts: currentRequestFacts, onGrantRevoked: forgetGrant });
  const lookup = new TokenLookup(records);
  const retries = new RefreshRetries(records, { windowSeconds: parts.refreshRetryWindowSeconds ?? 0 });
  return (model) => {
    switch (model) {
      case 'Client': return parts.clients;
      case 'InitialAccessToken': if (parts.initialAccessTokens) return parts.initialAccessTokens; return stored(model);
      case 'AccessToken':
      case 'ClientCredentials': return new AccessTokenModel(model, stored(model), lookup, parts.jwts, parts.held);
      case 'RefreshToken': return new RefreshTokenModel(stored(model), lookup, retries, parts.onHeldConsumeFailure, parts.codes, parts.held);
      case 'AuthorizationCode': return new AuthorizationCodeModel(stored(model), lookup, parts.codes);
      case 'DeviceCode': return new DeviceCodeModel(stored(model), parts.codes);
      case 'Session': return new SessionModel(stored(model), lookup, (payload) => records.sessionOutlived(payload));
      case 'Grant': return new GrantModel(stored(model), lookup, parts.grants, forgetGrant);
      case 'ReplayDetection': return new ReplayDetectionModel(stored(model));
      case 'RegistrationAccessToken': return new RegistrationAccessTokenModel(stored(model));
      default: return stored(model);
    }
  };
}
