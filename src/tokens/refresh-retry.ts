// A refresh whose response never reached its client — a timeout, a dropped connection, a redeploy
// — has still rotated the token. The client's retry presents the consumed token again, which is
// what a stolen token looks like, and oidc-provider revokes the grant: the person is signed out
// for a network fault. This forgives exactly that retry and nothing else:
//
//   within the window (REFRESH_TOKEN_RETRY_WINDOW) after the rotation, the same client presenting
//   the same token, while its successor is still unused, gets that same successor back.
//
// Anything else stays reuse and revokes the grant: another client, the successor already used (or
// rotated on), the window passed. Handing back the *same* successor keeps reuse detection whole:
// a thief who retries in the window holds the very token the client will use, and whichever of
// them uses it second revokes the grant (Hydra's grace period instead issues a fresh token and
// loses that).
//
// The successor is kept on the consumed token's row (migration 007; src/records/ reads it, and its
// janitor clears it past the window), sealed with AES-256-GCM under a key derived (HKDF) from the
// consumed token's value, which the database holds only as a digest: a reader of the database
// cannot open it, only someone presenting the old token can. The rotation writes it in the
// statement it already sends; only a retry costs a query.
//
// How a retry is answered, through oidc-provider's refresh_token grant
// (lib/actions/grants/refresh_token.js; test/tokens/refresh-retry.test.ts pins each step):
//   1. RefreshToken.find: the consumed token is returned without `consumed`, so the grant does not
//      take the reuse branch;
//   2. rotateRefreshToken (configuration.ts) answers false for this request: nothing is consumed
//      or saved, and a fresh access token (and ID token) is issued under the same grant;
//   3. the response's refresh_token — the presented value, since nothing rotated — is replaced by
//      the kept successor (answerForgivenRetries, through the public provider.use).
// A duplicate that arrives while the first request is still being answered finds the token unused
// and loses the rotation statement to it (src/oidc/models/refresh-token.ts); it is forgiven by the
// same rule (forgiveLostRace), keeps the successor it generated unsaved, and gets the winner's in
// its response instead.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { AdapterPayload, KoaContextWithOIDC } from 'oidc-provider';
import { digest } from '../crypto/digest.js';
import type { OidcRecords } from '../records/index.js';

/** A retry answered with the successor it lost. Identifiers only: never a token. */
export interface ForgivenRetry {
  clientId: string;
  accountId: string | undefined;
  grantId: string | undefined;
  /** How long after the rotation the retry came. */
  secondsSinceRotation: number;
  /** Which retry of this rotation it is: 1 for the first (the one the audit log records). */
  retry: number;
}

interface Forgiven extends ForgivenRetry {
  /** The refresh_token the response would carry, to be replaced. */
  answered: string;
  successor: string;
}

/** Requests of the refresh_token grant being answered as a forgiven retry. */
const forgiven = new WeakMap<object, Forgiven>();

const KEY_INFO = Buffer.from('gatehouse refresh-token successor v1');
const IV_BYTES = 12;
const TAG_BYTES = 16;

// The presented token carries at least 128 random bits (oidc-provider's default: 256), so HKDF
// needs no salt. The key is not SHA-256(token), which is what the database holds.
function keyFor(presented: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(presented, 'utf8'), Buffer.alloc(0), KEY_INFO, 32));
}

/** The successor's value, openable only with the token it succeeds. Bound to that token's row by its digest. */
export function sealSuccessor(presented: string, successor: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keyFor(presented), iv);
  cipher.setAAD(Buffer.from(digest(presented)));
  const sealed = Buffer.concat([cipher.update(successor, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64url');
}

/** The successor sealed for `presented`, or undefined when `presented` is not the token it was sealed for. */
export function openSuccessor(presented: string, sealed: string): string | undefined {
  const bytes = Buffer.from(sealed, 'base64url');
  if (bytes.length <= IV_BYTES + TAG_BYTES) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', keyFor(presented), bytes.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(digest(presented)));
    decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}

export interface RefreshRetryOptions {
  /** 0: nothing is kept and every retry is reuse. */
  windowSeconds: number;
}

export class RefreshRetries {
  constructor(
    /** Where rotations keep their successors; its clock wrote the rotation's consumed_at. */
    private readonly records: OidcRecords,
    private readonly options: RefreshRetryOptions,
  ) {}

  /** What a rotation keeps of its successor: nothing when forgiveness is off. */
  seal(presented: string, successor: string): string | undefined {
    return this.options.windowSeconds > 0 ? sealSuccessor(presented, successor) : undefined;
  }

  /**
   * RefreshToken.find's answer for the token a refresh_token grant presents. A consumed token is
   * answered as unconsumed when this request is a retry to forgive; otherwise as found, and the
   * grant refuses it as reuse. `refuseReplay` revokes as a reuse (used for another client's retry,
   * which oidc-provider would refuse as a mere client mismatch, leaving the grant standing).
   */
  async review(
    request: KoaContextWithOIDC,
    presented: string,
    found: AdapterPayload,
    refuseReplay: (id: string) => Promise<never>,
  ): Promise<AdapterPayload> {
    if (!found.consumed) return found;
    const clientId = request.oidc.client?.clientId;
    if (clientId === undefined || clientId !== found.clientId) return refuseReplay(presented);
    // Nothing rotates in a forgiven retry, so the response carries the presented token until replaced.
    if (!(await this.#forgive(request, presented, presented, found))) return found;
    const { consumed: _consumed, ...unconsumed } = found;
    return unconsumed;
  }

  /**
   * A request that found the token unused but lost the rotation to another: a duplicate sent
   * while the first was still being answered (a client's timeout and retry under load). Forgiven
   * like a retry; its response, which would carry `answered` (a successor never stored), gets
   * the winner's. False when it is not to be forgiven: reuse.
   */
  forgiveLostRace(request: KoaContextWithOIDC, presented: string, answered: string, saving: AdapterPayload): Promise<boolean> {
    return this.#forgive(request, presented, answered, saving);
  }

  async #forgive(request: KoaContextWithOIDC, presented: string, answered: string, token: AdapterPayload): Promise<boolean> {
    const clientId = request.oidc.client?.clientId;
    if (this.options.windowSeconds <= 0 || clientId === undefined || clientId !== token.clientId) return false;
    const kept = await this.#kept(presented);
    if (!kept) return false;
    forgiven.set(request, {
      answered,
      successor: kept.successor,
      clientId,
      accountId: token.accountId,
      grantId: token.grantId,
      secondsSinceRotation: Math.max(0, Math.round((this.records.now() - kept.rotatedAt) / 1000)),
      retry: kept.retry,
    });
    return true;
  }

  async #kept(presented: string): Promise<{ successor: string; rotatedAt: number; retry: number } | undefined> {
    const row = await this.records.keptSuccessor(presented, this.options.windowSeconds);
    if (!row?.successor_unused) return undefined;
    const successor = openSuccessor(presented, row.successor_sealed);
    // The digest check stops a row edited to point at some other live token.
    if (successor === undefined || digest(successor) !== row.successor_digest) return undefined;
    return { successor, rotatedAt: new Date(row.consumed_at).getTime(), retry: Number(row.successor_retries) };
  }
}

/** For configuration.ts's rotateRefreshToken: a forgiven retry rotates nothing. */
export function isForgivenRetry(ctx: KoaContextWithOIDC): boolean {
  return forgiven.has(ctx);
}

type TokenResponse = Record<string, unknown> & { refresh_token?: unknown };

/**
 * Middleware for provider.use: a forgiven retry's successful response carries the kept successor
 * instead of the presented token, and is reported to `onForgiven` (the audit log).
 */
export function answerForgivenRetries(onForgiven: (ctx: KoaContextWithOIDC, retry: ForgivenRetry) => void) {
  return async function forgivenRetryAnswer(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
    await next();
    const retry = forgiven.get(ctx);
    if (!retry) return;
    forgiven.delete(ctx);
    const body = ctx.body as TokenResponse | undefined;
    // Anything but the un-rotated answer is left alone: a refusal stands, and a token oidc-provider
    // rotated anyway failed at the rotation (the presented token is consumed) and revoked the grant.
    if (ctx.status !== 200 || !body || body.refresh_token !== retry.answered) return;
    body.refresh_token = retry.successor;
    const { answered: _answered, successor: _successor, ...facts } = retry;
    onForgiven(ctx, facts);
  };
}
