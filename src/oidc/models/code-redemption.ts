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
// its code consumed, as before, and no token leaves either way. How a request's writes are held,
// and the middleware, are held-issuance.ts's, shared with the refresh's rotation.
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { IssuedRecord, ModelRecords } from '../../records/index.js';
import { codeExchangeRequest } from '../internals.js';
import type { HeldIssuance, HeldIssue } from './held-issuance.js';
import type { HeldConsumeFailure } from './refresh-token.js';

/** A code's consume under its exchange, and the opaque access token it issues. */
class HeldCode implements HeldIssue {
  accessToken?: IssuedRecord;

  constructor(
    private readonly code: ModelRecords,
    private readonly codeId: string,
    private readonly onConsumeFailure: (failure: HeldConsumeFailure) => void,
  ) {}

  /** With a refresh token, the statement that stores it; without, the consume (and access token) alone. */
  redeem(refreshToken?: IssuedRecord): Promise<void> {
    return this.code.redeem(this.codeId, [...(this.accessToken ? [this.accessToken] : []), ...(refreshToken ? [refreshToken] : [])]);
  }

  issue(): Promise<void> {
    return this.redeem();
  }

  // Refused after the consume (the person disabled, a DPoP proof that does not match): the code is
  // spent, as it was before consumes were held, though no token left.
  async refused(ctx: KoaContextWithOIDC): Promise<void> {
    await this.code.consume(this.codeId).catch((error: unknown) => this.onConsumeFailure({
      grantId: undefined,
      clientId: ctx.oidc?.client?.clientId,
      requestId: (ctx.state as { requestId?: string } | undefined)?.requestId,
      error,
    }));
  }
}

export class CodeRedemptions {
  constructor(
    private readonly held: HeldIssuance,
    /** Told of a refused exchange's consume that did not go through (events.ts, heldConsumeFailureRecorder). */
    private readonly onConsumeFailure: (failure: HeldConsumeFailure) => void,
  ) {}

  /** A code's consume under its exchange: held back (true), or false when it is to be written now. */
  holdConsume(code: ModelRecords, codeId: string): boolean {
    const request = codeExchangeRequest();
    return request ? this.held.hold(request, new HeldCode(code, codeId, this.onConsumeFailure)) : false;
  }

  /**
   * A refresh token's save in an exchange holding its code: sent with what it holds as one
   * statement. Undefined when nothing is held (the save is the caller's).
   */
  redeemWith(token: IssuedRecord): Promise<void> | undefined {
    const request = codeExchangeRequest();
    const held = request ? this.held.heldBy(request) : undefined;
    if (!(held instanceof HeldCode)) return undefined;
    this.held.take(request);
    return held.redeem(token);
  }
}
