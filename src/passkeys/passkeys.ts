// Passkeys (WebAuthn, issue #14 point 1): registering one, signing in with one (without an email:
// discoverable credentials), confirming who you are with one, and the person's list of them.
// @simplewebauthn/server does the WebAuthn verification; this module decides what it checks:
//   - origin: exactly the issuer's origin (from the configuration, never from request headers);
//   - RP ID: the issuer's host;
//   - challenge: issued here, single-use, short-lived, bound to the browser (challenges.ts);
//   - user verification: required, at registration and at every assertion;
//   - signature counter: an assertion whose counter does not exceed the stored one (when either
//     is non-zero) is refused and audited, as the sign of a cloned authenticator;
//   - the credential: only public keys are stored; at sign-in the credential names the person,
//     and the user handle the authenticator returns must be that person's.
// A verified assertion says how the person signed in, in RFC 8176's words: `swk` for a synced
// (backed-up) passkey, `hwk` for one bound to its device, and `user` for the verification.
//
// Public contract, for the sign-in pages and the account pages:
//   listFor(userId)                           → Factor[] ({ id, kind: 'passkey', name, createdAt, lastUsedAt })
//   registrationOptions(person, binding)      → options for navigator.credentials.create (JSON),
//                                               or PasskeyRefused 'too_many' at MAX_PASSKEYS_PER_PERSON
//   register(actor, person, binding, json, n) → the new Factor, or a PasskeyRefusal
//   authenticationOptions(purpose, binding, userId?) → options for navigator.credentials.get (JSON)
//   authenticate(purpose, binding, json, userId?)    → AssertionOutcome (or read(json), then verify(…))
//   rename(actor, id, name), remove(actor, person, id)
import type { AuthenticationResponseJSON, PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { generateAuthenticationOptions, generateRegistrationOptions, verifyAuthenticationResponse, verifyRegistrationResponse } from '@simplewebauthn/server';
import { isIP } from 'node:net';
import type { Actor } from '../audit/events.js';
import { auditedActs, type Audited, type AuditedDependencies } from '../audit/audited.js';
import type { AuditLog } from '../audit/log.js';
import { isUniqueViolation } from '../db/errors.js';
import type { Database } from '../db/knex.js';
import { isStorableText } from '../db/text.js';
import type { AccountNotices } from '../notices/account-notices.js';
import { lockPerson, type User } from '../people/users.js';
import { Challenges, CHALLENGE_TTL_SECONDS, type ChallengeBinding, type ChallengePurpose } from './challenges.js';
import { MAX_NAME_LENGTH, MAX_PASSKEYS_PER_PERSON, PasskeyStore, type Factor, type StoredPasskey } from './store.js';

export type { Factor } from './store.js';
export type { ChallengeBinding } from './challenges.js';

/** RFC 8176 method values a passkey sign-in proves. */
export type PasskeyAmr = ['hwk' | 'swk', 'user'];

/**
 * Why an assertion was refused (kept in the server's log and the audit log; the person reads one
 * message): `malformed` not a WebAuthn response at all; `unknown_passkey` no such credential
 * here; `not_yours` a credential of someone other than the person confirming; `invalid` the
 * library refused it (origin, RP ID, challenge, user verification, signature, …);
 * `counter_regressed` a valid signature from a credential whose counter went back.
 */
export type AssertionRefusal = 'malformed' | 'unknown_passkey' | 'not_yours' | 'invalid' | 'counter_regressed';

export type AssertionOutcome =
  | { ok: true; userId: string; passkey: Factor; amr: PasskeyAmr }
  | { ok: false; reason: AssertionRefusal; userId?: string };

/** A browser's answer as read: undefined response when it is not one, undefined passkey when it names none here. */
export interface PresentedAssertion {
  response: AuthenticationResponseJSON | undefined;
  passkey: StoredPasskey | undefined;
}

/**
 * Why a registration was refused: `malformed`, `invalid` (not verified), `duplicate` (registered
 * already), `too_many` (the person has MAX_PASSKEYS_PER_PERSON already).
 */
export type PasskeyRefusal = 'malformed' | 'invalid' | 'duplicate' | 'too_many';

export class PasskeyRefused extends Error {
  constructor(readonly reason: PasskeyRefusal) {
    super(`passkey registration refused: ${reason}`);
  }
}

export interface PasskeysDependencies extends AuditedDependencies {
  db: Database;
  audit: AuditLog;
  notices: AccountNotices;
  /** ISSUER: its origin is the only one accepted, its host the RP ID. */
  issuer: string;
  now?: (() => number) | undefined;
  /**
   * Called in the removal's transaction when the person's last passkey went: their recovery codes
   * go too unless an authenticator app is left (src/factors/store.ts). What else it removed.
   */
  lastPasskeyRemoved?: ((trx: Database, userId: string) => Promise<Array<{ id: string; kind: string }>>) | undefined;
}

/** Largest WebAuthn response we read (a passkey's attestation "none" is well under 2 KB). */
export const MAX_RESPONSE_LENGTH = 8192;

export class Passkeys {
  readonly store: PasskeyStore;
  readonly #challenges: Challenges;
  readonly #audited: Audited;
  readonly #origin: string;
  readonly #rpId: string;
  readonly #now: () => number;

  constructor(private readonly deps: PasskeysDependencies) {
    this.store = new PasskeyStore(deps.db);
    this.#now = deps.now ?? Date.now;
    this.#challenges = new Challenges(deps.db, this.#now);
    this.#audited = auditedActs(deps);
    const issuer = new URL(deps.issuer);
    this.#origin = issuer.origin;
    this.#rpId = issuer.hostname;
  }

  /**
   * Whether browsers can use passkeys here at all: an RP ID must be a domain name (or
   * localhost), so an issuer at an IP address cannot offer them, and the pages do not.
   */
  get available(): boolean {
    return isIP(this.#rpId.replace(/^\[|\]$/g, '')) === 0;
  }

  listFor(userId: string): Promise<Factor[]> {
    return this.store.listFor(userId);
  }

  /** Refused (`too_many`) to a person who has as many passkeys as they may: their authenticator would keep one that works nowhere. */
  async registrationOptions(person: User, binding: ChallengeBinding): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const existing = await this.store.credentialsOf(person.id);
    if (existing.length >= MAX_PASSKEYS_PER_PERSON) throw new PasskeyRefused('too_many');
    const challenge = await this.#challenges.issue('registration', binding, person.id);
    return generateRegistrationOptions({
      rpName: 'Gatehouse',
      rpID: this.#rpId,
      userName: person.email,
      userDisplayName: person.name,
      userID: userHandleOf(person.id),
      challenge: challengeBytes(challenge),
      timeout: CHALLENGE_TTL_SECONDS * 1000,
      attestationType: 'none',
      // The same authenticator twice would be one passkey listed twice.
      excludeCredentials: existing.map((passkey) => ({ id: passkey.credentialId, transports: passkey.transports })),
      authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' },
    });
  }

  /** Verifies a registration answered in this browser for this person, and stores the passkey under `name`. */
  async register(actor: Actor, person: User, binding: ChallengeBinding, responseText: string, name: string): Promise<Factor> {
    const response = parseResponse<RegistrationResponseJSON>(responseText);
    if (!response) throw new PasskeyRefused('malformed');
    let verified;
    try {
      verified = await verifyRegistrationResponse({
        response,
        expectedChallenge: (challenge) => this.#challenges.spend(challenge, 'registration', binding, person.id),
        expectedOrigin: this.#origin,
        expectedRPID: this.#rpId,
        requireUserVerification: true,
      });
    } catch {
      throw new PasskeyRefused('invalid');
    }
    if (!verified.verified) throw new PasskeyRefused('invalid');
    const info = verified.registrationInfo;
    const { credential } = info;
    if (await this.store.exists(credential.id)) throw new PasskeyRefused('duplicate');
    const shownName = passkeyName(name);
    return this.#audited(actor, async (trx) => {
      // Counted under the person's row (src/people/users.ts, lockPerson): of two registrations at
      // once, the second counts after the first has committed, so both cannot take the last place.
      if (!(await lockPerson(trx, person.id))) throw new PasskeyRefused('invalid');
      if (await this.store.countFor(person.id, trx) >= MAX_PASSKEYS_PER_PERSON) throw new PasskeyRefused('too_many');
      const added = await this.store.add({
        userId: person.id,
        credentialId: credential.id,
        publicKey: Buffer.from(credential.publicKey).toString('base64url'),
        counter: credential.counter,
        // What the browser said, passed through by the library unchecked: a list of short names, or none.
        transports: (Array.isArray(credential.transports) ? credential.transports as unknown[] : []).filter((t): t is NonNullable<typeof credential.transports>[number] => typeof t === 'string' && /^[a-z-]{1,32}$/.test(t)),
        backedUp: info.credentialBackedUp,
        aaguid: info.aaguid,
        name: shownName,
      }, trx);
      await this.deps.notices.send(trx, person, { kind: 'passkey-added', passkey: added.name });
      return {
        result: { id: added.id, kind: 'passkey' as const, name: added.name, createdAt: added.createdAt, lastUsedAt: added.lastUsedAt },
        event: { type: 'passkey.added', userId: person.id, details: { passkeyId: added.id, name: added.name, backedUp: info.credentialBackedUp, aaguid: info.aaguid, transports: added.transports } },
      };
    }).catch((error: unknown) => {
      // The same credential registered by a request racing this one.
      if (isUniqueViolation(error)) throw new PasskeyRefused('duplicate');
      throw error;
    });
  }

  /**
   * Options for an assertion: for sign-in, any passkey of this site (the browser offers the
   * discoverable ones, so no email is typed); for a confirmation, only the person's own.
   */
  async authenticationOptions(purpose: Exclude<ChallengePurpose, 'registration'>, binding: ChallengeBinding, userId?: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const own = userId === undefined ? [] : await this.store.credentialsOf(userId);
    const challenge = await this.#challenges.issue(purpose, binding, userId);
    return generateAuthenticationOptions({
      rpID: this.#rpId,
      challenge: challengeBytes(challenge),
      timeout: CHALLENGE_TTL_SECONDS * 1000,
      userVerification: 'required',
      allowCredentials: own.map((passkey) => ({ id: passkey.credentialId, transports: passkey.transports })),
    });
  }

  /**
   * Reads a browser's answer and finds the passkey it names, before anything is verified: whose
   * it claims to be decides which sign-in throttle counts the attempt. Hand it to verify().
   */
  async read(responseText: string): Promise<PresentedAssertion> {
    const response = parseResponse<AuthenticationResponseJSON>(responseText);
    if (!response) return { response: undefined, passkey: undefined };
    return { response, passkey: await this.store.findByCredentialId(response.id) };
  }

  /**
   * Verifies an assertion answered in this browser for `purpose`. With `userId` (a confirmation,
   * or a second step after a password) the passkey must be that person's.
   */
  async authenticate(purpose: Exclude<ChallengePurpose, 'registration'>, binding: ChallengeBinding, responseText: string, userId?: string): Promise<AssertionOutcome> {
    return this.verify(purpose, binding, await this.read(responseText), userId);
  }

  /** authenticate(), for an answer read() already. */
  async verify(purpose: Exclude<ChallengePurpose, 'registration'>, binding: ChallengeBinding, presented: PresentedAssertion, userId?: string): Promise<AssertionOutcome> {
    const { response, passkey } = presented;
    if (!response) return { ok: false, reason: 'malformed' };
    if (!passkey) return { ok: false, reason: 'unknown_passkey' };
    const owner = passkey.userId;
    if (userId !== undefined && owner !== userId) return { ok: false, reason: 'not_yours', userId };
    // The user handle, when the authenticator returns one, names the person the credential was made for.
    const handle = response.response.userHandle;
    if (handle !== undefined && handle !== Buffer.from(userHandleOf(owner)).toString('base64url')) {
      return { ok: false, reason: 'invalid', userId: owner };
    }
    let verified;
    try {
      verified = await verifyAuthenticationResponse({
        response,
        expectedChallenge: (challenge) => this.#challenges.spend(challenge, purpose, binding, userId),
        expectedOrigin: this.#origin,
        expectedRPID: this.#rpId,
        requireUserVerification: true,
        // The counter is compared below, after the signature is known to be good: only then does
        // a counter that went back say the credential was copied.
        credential: { id: passkey.credentialId, publicKey: Buffer.from(passkey.publicKey, 'base64url'), counter: 0, transports: passkey.transports as never },
      });
    } catch {
      return { ok: false, reason: 'invalid', userId: owner };
    }
    if (!verified.verified) return { ok: false, reason: 'invalid', userId: owner };
    const { newCounter, credentialBackedUp } = verified.authenticationInfo;
    const regressed = (newCounter > 0 || passkey.counter > 0) && newCounter <= passkey.counter;
    if (regressed || !(await this.store.recordUse(passkey, { counter: newCounter, backedUp: credentialBackedUp, at: new Date(this.#now()) }))) {
      await this.deps.audit.append({
        type: 'passkey.counter_regressed',
        actor: { type: 'anonymous', id: null },
        userId: owner,
        details: { passkeyId: passkey.id, storedCounter: passkey.counter, presentedCounter: newCounter, purpose },
      });
      return { ok: false, reason: 'counter_regressed', userId: owner };
    }
    return {
      ok: true,
      userId: owner,
      passkey: { id: passkey.id, kind: 'passkey', name: passkey.name, createdAt: passkey.createdAt, lastUsedAt: new Date(this.#now()) },
      amr: [credentialBackedUp ? 'swk' : 'hwk', 'user'],
    };
  }

  /** Audits an assertion refused outside sign-in (which records its own sign_in.failed). */
  async recordRefusal(actor: Actor, userId: string, purpose: Exclude<ChallengePurpose, 'registration' | 'sign_in'>, reason: AssertionRefusal): Promise<void> {
    await this.deps.audit.append({ type: 'passkey.assertion_refused', actor, userId, details: { reason, purpose } });
  }

  /** Renames one of the person's passkeys; false when the id names none of theirs. */
  async rename(actor: Actor & { id: string }, id: string, name: string): Promise<boolean> {
    const shownName = passkeyName(name);
    return this.#audited(actor, async (trx) => {
      const renamed = await this.store.rename(actor.id, id, shownName, trx);
      if (!renamed) throw new PasskeyNotFound();
      return { result: true, event: { type: 'passkey.renamed', userId: actor.id, details: { passkeyId: id, name: shownName } } };
    }).catch((error: unknown) => {
      if (error instanceof PasskeyNotFound) return false;
      throw error;
    });
  }

  /**
   * Removes one of the person's passkeys (the caller has had them confirm who they are), and
   * mails them that it was removed. The removed passkey, or undefined when it was none of theirs.
   */
  async remove(actor: Actor, person: User, id: string): Promise<Factor | undefined> {
    return this.#audited(actor, async (trx) => {
      const removed = await this.store.remove(person.id, id, trx);
      if (!removed) throw new PasskeyNotFound();
      const alsoRemoved = this.deps.lastPasskeyRemoved && !(await this.store.hasAny(person.id, trx))
        ? await this.deps.lastPasskeyRemoved(trx, person.id)
        : [];
      await this.deps.notices.send(trx, person, { kind: 'passkey-removed', passkey: removed.name });
      return {
        result: { id: removed.id, kind: 'passkey' as const, name: removed.name, createdAt: removed.createdAt, lastUsedAt: removed.lastUsedAt },
        event: {
          type: 'passkey.removed', userId: person.id,
          details: { passkeyId: removed.id, name: removed.name, transports: removed.transports, ...(alsoRemoved.length ? { alsoRemoved: alsoRemoved.map(({ id: factorId, kind }) => ({ id: factorId, kind })) } : {}) },
        },
      };
    }).catch((error: unknown) => {
      if (error instanceof PasskeyNotFound) return undefined;
      throw error;
    });
  }
}

class PasskeyNotFound extends Error {}

/**
 * The challenge as the options carry it: its bytes, so the browser signs (and the verifier is
 * handed) the very base64url string that was issued and stored as a digest.
 */
function challengeBytes(challenge: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(challenge, 'base64url'));
}

/** The WebAuthn user handle of a person: their id's 16 bytes (opaque, no personal data). */
function userHandleOf(userId: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(userId.replace(/-/g, ''), 'hex'));
}

/** A name to store: what was typed, trimmed and cut to length, or "Passkey". */
export function passkeyName(typed: string): string {
  // Cut between characters, not inside one: half an emoji at the end is not text.
  const name = typed.trim().slice(0, MAX_NAME_LENGTH).replace(/[\uD800-\uDBFF]$/, '');
  return name && isStorableText(name) ? name : 'Passkey';
}

/** A browser's JSON answer, shaped enough for the library to look at; undefined when it is not one. */
function parseResponse<T extends { id: string; response: object }>(text: string): T | undefined {
  if (text.length === 0 || text.length > MAX_RESPONSE_LENGTH) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const value = parsed as { id?: unknown; rawId?: unknown; type?: unknown; response?: unknown };
  if (!value || typeof value !== 'object' || typeof value.id !== 'string' || !/^[A-Za-z0-9_-]{1,1400}$/.test(value.id)) return undefined;
  if (typeof value.response !== 'object' || value.response === null) return undefined;
  const handle = (value.response as { userHandle?: unknown }).userHandle;
  if (handle !== undefined && typeof handle !== 'string') return undefined;
  return parsed as T;
}
