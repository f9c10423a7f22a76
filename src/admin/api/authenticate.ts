// Who is calling the admin API: the bearer of one of Gatehouse's own JWT access tokens (RFC 6750),
// issued for the admin API to an admin, or its holder when the token is DPoP-bound (RFC 9449): then
// `Authorization: DPoP <token>` and a `DPoP` proof signed by the key in the token's cnf.jkt, for
// this method and URL (src/dpop/proofs.ts). A stolen bound token is useless without that key.
// Cookies are never read here, so a browser signed in to the console cannot be made to call the API
// by another site: there is no CSRF surface.
import type { Context, Next } from 'koa';
import type { JWTPayload } from 'jose';
import type { Actor } from '../../audit/events.js';
import { ADMIN_SCOPE } from '../../vocabulary.js';
import type { SurfaceDependencies } from '../../http/surfaces.js';
import { adminApiAudience } from '../../vocabulary.js';
import { DPOP_ALGORITHMS, DpopProofError } from '../../dpop/proofs.js';
import { ApiError } from './errors.js';
import { ACR_TWO_FACTORS, satisfies } from '../../factors/levels.js';

const REALM = 'gatehouse';

/** RFC 6750 §2.1 b64token, after `Bearer` or (RFC 9449 §7.1) `DPoP`. */
const CREDENTIALS = /^(Bearer|DPoP)[ ]+([A-Za-z0-9\-._~+/]+=*)[ ]*$/i;

function noToken(): ApiError {
  // §3.1: a request without credentials gets no error attribute.
  return new ApiError(401, 'unauthorized', 'Send an admin API access token: Authorization: Bearer <token> (or DPoP <token> with a DPoP proof).', undefined, {
    'WWW-Authenticate': `Bearer realm="${REALM}", DPoP realm="${REALM}", algs="${DPOP_ALGORITHMS.join(' ')}"`,
  });
}

function invalidToken(description: string, scheme: 'Bearer' | 'DPoP' = 'Bearer'): ApiError {
  return new ApiError(401, 'invalid_token', description, undefined, {
    'WWW-Authenticate': `${scheme} realm="${REALM}", error="invalid_token", error_description="${description}"`,
  });
}

function refusedProof(error: DpopProofError, nonce: string): ApiError {
  return new ApiError(401, error.code, error.description, undefined, {
    'WWW-Authenticate': `DPoP realm="${REALM}", error="${error.code}", error_description="${error.description}", algs="${DPOP_ALGORITHMS.join(' ')}"`,
    ...(error.code === 'use_dpop_nonce' ? { 'DPoP-Nonce': nonce } : {}),
  });
}

function insufficientScope(description: string): ApiError {
  return new ApiError(403, 'insufficient_scope', description, undefined, {
    'WWW-Authenticate': `Bearer realm="${REALM}", error="insufficient_scope", scope="${ADMIN_SCOPE}", error_description="${description}"`,
  });
}

function audiences(claims: JWTPayload): string[] {
  return Array.isArray(claims.aud) ? claims.aud : typeof claims.aud === 'string' ? [claims.aud] : [];
}

function scopes(claims: JWTPayload): string[] {
  return typeof claims.scope === 'string' ? claims.scope.split(' ') : [];
}

/** The token's person, when it was issued for one (a client_credentials token's sub is the client). */
function personOf(claims: JWTPayload): string | undefined {
  return typeof claims.sub === 'string' && claims.sub !== claims.client_id ? claims.sub : undefined;
}

/** The key thumbprint a DPoP-bound token names (RFC 9449 §6.1), if it is bound. */
function boundKeyOf(claims: JWTPayload): string | undefined {
  const jkt = (claims.cnf as { jkt?: unknown } | undefined)?.jkt;
  return typeof jkt === 'string' ? jkt : undefined;
}

export function authenticateAdmin(deps: Pick<SurfaceDependencies, 'config' | 'clients' | 'users' | 'verifyAccessToken' | 'dpop'>) {
  const audience = adminApiAudience(deps.config.issuer);

  /**
   * The holder of a DPoP-bound token proves it with the key; a proof is checked only when one is
   * sent or the token is bound, so a plain bearer call costs nothing more.
   */
  async function checkPossession(ctx: Context, scheme: 'Bearer' | 'DPoP', token: string, claims: JWTPayload): Promise<void> {
    const jkt = boundKeyOf(claims);
    const proof = ctx.get('dpop');
    if (!jkt) {
      if (scheme === 'DPoP' || proof) throw invalidToken('The access token is not DPoP-bound: send it as Authorization: Bearer, without a DPoP proof.');
      return;
    }
    if (scheme !== 'DPoP') throw invalidToken('The access token is DPoP-bound: send it as Authorization: DPoP <token> with a DPoP proof.', 'DPoP');
    if (!proof) throw refusedProof(new DpopProofError('invalid_dpop_proof', 'Send a DPoP proof for this request in the DPoP header.'), deps.dpop.nonce());
    // The URL is ISSUER's origin and this path: what the caller was told to call, never Host.
    const url = new URL(ctx.path, `${new URL(deps.config.issuer).origin}/`).href;
    try {
      const verified = await deps.dpop.verify(proof, { method: ctx.method, url, accessToken: token });
      if (verified.thumbprint !== jkt) throw invalidToken('The DPoP proof is signed by another key than the one the access token is bound to.', 'DPoP');
    } catch (error) {
      if (error instanceof DpopProofError) throw refusedProof(error, deps.dpop.nonce());
      throw error;
    }
  }

  /** Sets ctx.state.actor to the admin behind the token, or answers 401/403. */
  return async function requireAdminToken(ctx: Context, next: Next) {
    const header = ctx.get('authorization');
    if (!header || !/^(Bearer|DPoP)(\s|$)/i.test(header)) throw noToken();
    const match = CREDENTIALS.exec(header);
    const scheme = match?.[1]?.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer';
    const token = match?.[2];
    // Signature, issuer, expiry, and that its grant, app and person still stand.
    const claims = token ? await deps.verifyAccessToken(token) : undefined;
    if (!token || !claims || typeof claims.client_id !== 'string') throw invalidToken('The access token is invalid, expired or revoked.', scheme);
    await checkPossession(ctx, scheme, token, claims);

    if (!audiences(claims).includes(audience) || !scopes(claims).includes(ADMIN_SCOPE)) {
      throw insufficientScope(`The token is not for the admin API: it needs the audience ${audience} and the ${ADMIN_SCOPE} scope.`);
    }
    // The token was minted for an admin; the admin must still be one now.
    const client = await deps.clients.find(claims.client_id);
    if (!client || client.disabledAt) throw invalidToken('The client this token was issued to is disabled or gone.');
    if (!client.isAdmin) throw insufficientScope('The client this token was issued to is no longer an admin client.');
    const personId = personOf(claims);
    if (personId !== undefined) {
      const person = await deps.users.findById(personId);
      if (!person || person.disabledAt) throw invalidToken('The person this token was issued to is disabled or gone.');
      if (!person.isAdmin) throw insufficientScope('The person this token was issued to is not an admin.');
      // ADMIN_REQUIRE_SECOND_FACTOR: a token an admin got by signing in must come from a
      // two-factor sign-in; RFC 9470 tells the app what to ask Gatehouse for.
      if (deps.config.adminSecondFactor && !satisfies(claims.acr, ACR_TWO_FACTORS)) {
        throw new ApiError(401, 'insufficient_user_authentication', 'An admin\'s token must come from a sign-in with a second factor.', undefined, {
          'WWW-Authenticate': `Bearer realm="${REALM}", error="insufficient_user_authentication", error_description="An admin's token must come from a sign-in with a second factor.", acr_values="${ACR_TWO_FACTORS}"`,
        });
      }
    }

    ctx.state.actor = (personId === undefined
      ? { type: 'client', id: claims.client_id, ip: ctx.ip }
      : { type: 'user', id: personId, ip: ctx.ip }) satisfies Actor;
    await next();
  };
}

export function actorOf(ctx: Context): Actor {
  const actor = ctx.state.actor as Actor | undefined;
  if (!actor) throw new TypeError('The admin API route ran without authentication.');
  return actor;
}
