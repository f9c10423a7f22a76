// A code exchange (the authorization_code and device_code grants) consumes its code and then
// issues: it saves an opaque access token, saves the refresh token, signs the ID token
// (CODE_GRANT_ADAPTER_CALLS, src/oidc/internals/). Consumed at once, a code whose exchange failed
// after that (the refresh token's insert timing out) was spent: the retry the 503 asks for
// presented a consumed code, which is what a replay looks like, and oidc-provider revoked the
// grant, and with it the tokens the person's earlier sign-in to the same app in the same browser
// holds (loadExistingGrant reuses the session's grant). A database hiccup signed the person out.
//
// So the consume is held back, and so is an opaque access token's save, and both go with the
// refresh token's save as one statement (ModelRecords.redeem): the code is consumed only if the
// tokens are stored, and they are stored only if this exchange is the one that consumed the code.
// Of concurrent exchanges of one code exactly one wins; the others are refused as replays and
// revoke the grant, as before (RFC 6749 §4.1.2: a second use is a replay however close in time).
// An exchange that saves no refresh token has what it held written by the middleware once its
// response is ready, before the body goes out; should that fail, the error goes out instead of the
// tokens. An exchange that fails for the server (5xx) spends nothing, so its retry can succeed;
// one refused after the consume (4xx: its person disabled, a DPoP proof that does not match) has
// its code consumed, as before, and no token leaves either way.
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { IssuedRecord, ModelRecords } from '../../records/index.js';
import { codeExchangeRequest } from '../internals.js';
import type { HeldConsumeFailure } from './refresh-token.js';

interface HeldExchange {
  code: ModelRecords;
  codeId: string;
  accessToken?: IssuedRecord;
}

/** Where oidc-provider's events go (the provider itself): the middleware reports as its grants do. */
interface ProviderEvents {
  emit(event: 'grant.error' | 'server_error', ctx: KoaContextWithOIDC, error: unknown): unknown;
}

export class CodeRedemptions {
  /** Requests exchanging a code → what they hold back. */
  readonly #held = new WeakMap<object, HeldExchange>();

  /** A code's consume under its exchange: held back (true), or false when it is to be written now. */
  holdConsume(code: ModelRecords, codeId: string): boolean {
    const request = codeExchangeRequest();
    if (!request || this.#held.has(request)) return false;
    this.#held.set(request, { code, codeId });
    return true;
  }

  /** An access token's save in an exchange holding its code: held back too (true). */
  holdAccessToken(token: IssuedRecord): boolean {
    const request = codeExchangeRequest();
    const held = request ? this.#held.get(request) : undefined;
    if (!held || held.accessToken) return false;
    held.accessToken = token;
    return true;
  }

  /**
   * A refresh token's save in an exchange holding its code: sent with what it holds as one
   * statement. Undefined when nothing is held (the save is the caller's).
   */
  redeemWith(token: IssuedRecord): Promise<void> | undefined {
    const request = codeExchangeRequest();
    const held = request ? this.#held.get(request) : undefined;
    if (!request || !held) return undefined;
    this.#held.delete(request);
    return held.code.redeem(held.codeId, [...(held.accessToken ? [held.accessToken] : []), token]);
  }

  /**
   * Middleware for provider.use: writes what an exchange still holds once its response is ready.
   * A refusal or failure of that write is answered, and reported, as oidc-provider answers one met
   * inside the grant: `grant.error` with invalid_grant, `server_error` with a 500 that the error
   * boundary turns into a 503 when the database was the cause (src/http/provider-errors.ts).
   */
  middleware(events: ProviderEvents, onConsumeFailure: (failure: HeldConsumeFailure) => void) {
    const heldFor = (ctx: object): HeldExchange | undefined => {
      const held = this.#held.get(ctx);
      this.#held.delete(ctx);
      return held;
    };
    return async function redeemHeldCodes(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
      try {
        await next();
      } catch (error) {
        // Nothing was answered: nothing issued, nothing spent.
        heldFor(ctx);
        throw error;
      }
      const held = heldFor(ctx);
      // Failed for the server (the 503s among them): nothing issued, so nothing spent; the retry
      // the answer asks for finds the code as it was.
      if (!held || ctx.status >= 500) return;
      // Refused after the consume (the person disabled, a DPoP proof that does not match): the code
      // is spent, as it was before consumes were held, though no token left.
      if (ctx.status !== 200) {
        await held.code.consume(held.codeId).catch((error: unknown) => onConsumeFailure({
          grantId: undefined,
          clientId: ctx.oidc?.client?.clientId,
          requestId: (ctx.state as { requestId?: string } | undefined)?.requestId,
          error,
        }));
        return;
      }
      try {
        await held.code.redeem(held.codeId, held.accessToken ? [held.accessToken] : []);
      } catch (error) {
        // A lost race is refused as a replay (invalid_grant, its grant revoked by the repository).
        const refused = error instanceof errors.OIDCProviderError && error.statusCode < 500;
        ctx.status = refused ? error.statusCode : 500;
        ctx.body = refused
          ? { error: error.error, error_description: error.error_description }
          : { error: 'server_error', error_description: 'oops! something went wrong' };
        events.emit(refused ? 'grant.error' : 'server_error', ctx, error);
      }
    };
  }
}
