// Pushing a Security Event Token to its receiver (RFC 8935), as the outbox's `security-event`
// channel: the SET's claims were written with the act (./observer.ts); here they are signed with
// Gatehouse's current signing key and POSTed to the receiver's events endpoint as it is registered
// now (an endpoint changed meanwhile gets what was waiting; one removed drops it).
//
// What the receiver's answer means (RFC 8935 §2.2, §2.3):
//   2xx (202 Accepted)           delivered
//   400 with a JSON `err`        refused for good (invalid_request, invalid_key, …): dropped, logged
//   anything else, or no answer  retried with backoff, in order, until SECURITY_EVENTS_DROP_AFTER
// A receiver whose endpoint is now the poll method (RFC 8936) has the SET moved to its poll queue.
// The `jti` stays the same across attempts, so a receiver that accepted a SET whose acceptance was
// lost recognises the copy.
import { importJWK, SignJWT, type JWK } from 'jose';
import { DeliveryRefused } from '../outbox/failures.js';
import { httpPost, HttpDeliveryFailed } from '../outbox/http-post.js';
import type { DeliveryChannel } from '../outbox/sender.js';
import { signingJwk, type KeySet, type KeyStore } from '../keys/signing-keys.js';
import { audienceOf, eventsEndpointProblem, isPollDelivery, type Receiver } from './receivers.js';
import { SET_MEDIA_TYPE, SET_TYPE, type SubjectIdentifier } from './vocabulary.js';

/** A SET's claims as written with the act; `aud` is the receiver's, added when it is signed. */
export interface SecurityEventClaims {
  iss: string;
  jti: string;
  iat: number;
  /** One value for every SET one act caused (SSF's `txn`), so a receiver can tell they belong together. */
  txn: string;
  sub_id: SubjectIdentifier;
  events: Record<string, Record<string, unknown>>;
}

/** What the outbox carries for one SET to one receiver. */
export interface SecurityEventDelivery {
  receiver: Receiver;
  claims: SecurityEventClaims;
}

export interface SecurityEventChannelOptions {
  keys: Pick<KeyStore, 'loadKeySet'>;
  /** The receivers' endpoints as registered now. */
  endpointOf(receiver: Receiver): Promise<string | null | undefined>;
  /**
   * Moves a SET to the poll queue (RFC 8936) of a receiver that took to polling after it was
   * queued for a push, as written at `writtenAt`.
   */
  toPollQueue(receiver: Receiver, claims: SecurityEventClaims, writtenAt: Date): Promise<void>;
  /** http:// endpoints are delivered to (outside production). */
  allowHttp: boolean;
  timeoutMs: number;
  /** How long a loaded key set is used before it is read again (KEY_REFRESH_INTERVAL). */
  keyRefreshMs: number;
  now?: () => number;
}

export class SecurityEventChannel implements DeliveryChannel {
  readonly #signer: SetSigner;

  constructor(private readonly options: SecurityEventChannelOptions) {
    this.#signer = new SetSigner(options);
  }

  async deliver(_id: string, payload: unknown): Promise<void> {
    const { receiver, claims } = payload as SecurityEventDelivery;
    const endpoint = await this.options.endpointOf(receiver);
    if (!endpoint) throw new DeliveryRefused('the receiver is no longer registered, or has no events endpoint any more');
    // Nothing is lost by the change: the receiver gets it at its next poll, as if it had been written there.
    if (isPollDelivery(endpoint)) return this.options.toPollQueue(receiver, claims, new Date(claims.iat * 1000));
    const problem = eventsEndpointProblem(endpoint, this.options.allowHttp);
    if (problem) throw new DeliveryRefused(problem);
    const set = await this.#signer.sign(receiver, claims);
    const answer = await httpPost(endpoint, set, { contentType: SET_MEDIA_TYPE, accept: 'application/json', timeoutMs: this.options.timeoutMs });
    if (answer.status >= 200 && answer.status < 300) return;
    const err = answer.status === 400 ? refusal(answer.body) : undefined;
    if (err) throw new DeliveryRefused(`the receiver refused the SET: ${err}`);
    throw new HttpDeliveryFailed(`the receiver answered ${answer.status}`, undefined, answer.status);
  }
}

/**
 * Signs SETs as they leave, pushed or polled: with the current signing key, re-read every
 * KEY_REFRESH_INTERVAL, so a receiver verifies them against the JWKS it already fetches.
 */
export class SetSigner {
  #keys: { set: Promise<KeySet>; loadedAt: number } | undefined;
  readonly #now: () => number;

  constructor(private readonly options: Pick<SecurityEventChannelOptions, 'keys' | 'keyRefreshMs' | 'now'>) {
    this.#now = options.now ?? Date.now;
  }

  /** The SET for `receiver`, signed with the current signing key (ES256 where there is one). */
  async sign(receiver: Receiver, claims: SecurityEventClaims): Promise<string> {
    const keySet = await this.#keySet();
    const jwk = signingJwk(keySet, 'ES256') ?? signingJwk(keySet, 'RS256');
    if (!jwk?.alg || !jwk.kid) throw new Error('no signing key to sign security events with');
    const key = await importJWK(jwk as JWK, jwk.alg);
    return new SignJWT({ ...claims, aud: audienceOf(receiver) } as never)
      .setProtectedHeader({ alg: jwk.alg, kid: jwk.kid, typ: SET_TYPE })
      .sign(key);
  }

  #keySet(): Promise<KeySet> {
    const now = this.#now();
    if (!this.#keys || now - this.#keys.loadedAt >= this.options.keyRefreshMs) {
      const set = this.options.keys.loadKeySet();
      this.#keys = { set, loadedAt: now };
      // A failed read is not kept: the next delivery reads again.
      set.catch(() => { if (this.#keys?.set === set) this.#keys = undefined; });
    }
    return this.#keys.set;
  }
}

/** The `err` of an RFC 8935 error answer, when the body is one; short and printable only. */
function refusal(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { err?: unknown; description?: unknown };
    if (typeof parsed.err !== 'string' || !/^[\x21-\x7e]{1,64}$/.test(parsed.err)) return undefined;
    return parsed.err;
  } catch {
    return undefined;
  }
}
