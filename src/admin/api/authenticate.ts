// Who is calling the admin API: the bearer of one of Gatehouse's own JWT access tokens (RFC 6750),
// issued for the admin API to an admin. Cookies are never read here, so a browser signed in to the
// console cannot be made to call the API by another site: there is no CSRF surface.
import type { Context, Next } from 'koa';
import type { JWTPayload } from 'jose';
import type { Actor } from '../../audit/events.js';
import { ADMIN_SCOPE } from '../../vocabulary.js';
import type { SurfaceDependencies } from '../../http/surfaces.js';
import { adminApiAudience } from '../../vocabulary.js';
import { ApiError } from './errors.js';
import { ACR_TWO_FACTORS, satisfies } from '../../factors/levels.js';

const REALM = 'gatehouse';

/** RFC 6750 §2.1 b64token. */
const BEARER = /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)[ ]*$/i;

function noToken(): ApiError {
  // §3.1: a request without credentials gets no error attribute.
  return new ApiError(401, 'unauthorized', 'Send an admin API access token: Authorization: Bearer <token>.', undefined, {
    'WWW-Authenticate': `Bearer realm="${REALM}"`,
  });
}

function invalidToken(description: string): ApiError {
  return new ApiError(401, 'invalid_token', description, undefined, {
    'WWW-Authenticate': `Bearer realm="${REALM}", error="invalid_token", error_description="${description}"`,
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

export function authenticateAdmin(deps: Pick<SurfaceDependencies, 'config' | 'clients' | 'users' | 'verifyAccessToken'>) {
  const audience = adminApiAudience(deps.config.issuer);

  /** Sets ctx.state.actor to the admin behind the token, or answers 401/403. */
  return async function requireAdminToken(ctx: Context, next: Next) {
    const header = ctx.get('authorization');
    if (!header || !/^Bearer(\s|$)/i.test(header)) throw noToken();
    const token = BEARER.exec(header)?.[1];
    // Signature, issuer, expiry, and that its grant, app and person still stand.
    const claims = token ? await deps.verifyAccessToken(token) : undefined;
    if (!claims || typeof claims.client_id !== 'string') throw invalidToken('The access token is invalid, expired or revoked.');

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
