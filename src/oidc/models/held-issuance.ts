// What a token request spends and stores, held back until its answer is ready. A grant that
// spends something (a code exchange consumes its code, a refresh consumes the presented token) used
// to write that at once and then go on to issue: a write or read failing after it (an access
// token's insert, the API's lookup) answered 503 with the code or token already spent, and the
// retry the 503 asks for was refused as a replay and revoked the grant. A database hiccup signed
// the person out.
//
// So each request's spend and stores are held here, per request (the ctx oidc-provider keeps in
// Provider.ctx, which is the one provider.use middleware gets: src/oidc/internals.ts), and written
// as one statement: by the grant itself when its last adapter call can carry them (a code
// exchange's refresh token, code-redemption.ts), else by the middleware once the response is ready
// and before its body goes out (a refresh's rotation, refresh-token.ts; an exchange without a
// refresh token). A request that fails for the server (5xx, or an error thrown past the provider)
// writes nothing: nothing was issued, so nothing is spent, and its retry finds the code or token as
// it was. One refused after the spend (4xx) spends as it did before anything was held, and no
// token leaves either way. A write that fails or loses its race after the response was built sends
// the error instead of the tokens.
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { IssuedRecord } from '../../records/index.js';

/** One request's held writes: what it spends, and the tokens it stores with that. */
export interface HeldIssue {
  /** An opaque access token's save, carried by the held write; undefined until the grant saves one. */
  accessToken?: IssuedRecord;
  /**
   * Writes everything held, as one statement, for a response about to go out with the tokens.
   * Throws what the write met: an OIDCProviderError (a lost race: invalid_grant) or a failure.
   */
  issue(): Promise<void>;
  /** For a response refused after the spend: writes what it spends, and reports a failure itself. */
  refused(ctx: KoaContextWithOIDC): Promise<void>;
}

/** Where oidc-provider's events go (the provider itself): the middleware reports as its grants do. */
export interface ProviderEvents {
  emit(event: 'grant.error' | 'server_error', ctx: KoaContextWithOIDC, error: unknown): unknown;
}

export class HeldIssuance {
  /** Requests → what they hold back. */
  readonly #held = new WeakMap<object, HeldIssue>();

  /** Holds `issue` for `request`: false (nothing held) when the request already holds something. */
  hold(request: object, issue: HeldIssue): boolean {
    if (this.#held.has(request)) return false;
    this.#held.set(request, issue);
    return true;
  }

  /** What `request` holds, still held. */
  heldBy(request: object | undefined): HeldIssue | undefined {
    return request ? this.#held.get(request) : undefined;
  }

  /** What `request` holds, no longer held: its caller writes it. */
  take(request: object | undefined): HeldIssue | undefined {
    const held = this.heldBy(request);
    if (held) this.#held.delete(request!);
    return held;
  }

  /** An access token's save in a request holding a spend: carried with it (true). */
  holdAccessToken(request: object | undefined, token: IssuedRecord): boolean {
    const held = this.heldBy(request);
    if (!held || held.accessToken) return false;
    held.accessToken = token;
    return true;
  }

  /**
   * Middleware for provider.use: writes what a request still holds once its response is ready. A
   * refusal or failure of that write is answered, and reported, as oidc-provider answers one met
   * inside the grant: `grant.error` with invalid_grant, `server_error` with a 500 that the error
   * boundary turns into a 503 when the database was the cause (src/http/provider-errors.ts).
   */
  middleware(events: ProviderEvents) {
    const take = (ctx: object) => this.take(ctx);
    return async function writeHeldIssues(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
      try {
        await next();
      } catch (error) {
        // Nothing was answered: nothing issued, nothing spent.
        take(ctx);
        throw error;
      }
      const held = take(ctx);
      // Failed for the server (the 503s among them): nothing issued, so nothing spent; the retry
      // the answer asks for finds the code or token as it was.
      if (!held || ctx.status >= 500) return;
      if (ctx.status !== 200) {
        await held.refused(ctx);
        return;
      }
      try {
        await held.issue();
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
