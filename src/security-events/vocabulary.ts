// The words of the Shared Signals Framework that Gatehouse speaks, in one place: the event types it
// sends, how it names their subjects (RFC 9493), the token type (RFC 8417) and the delivery methods
// (RFC 8935 push, RFC 8936 poll). docs/security-events.md says when each is sent and to whom.

/** RFC 8417 §2.3: the `typ` header of a Security Event Token. */
export const SET_TYPE = 'secevent+jwt';
/** RFC 8935: the media type a SET is pushed as. */
export const SET_MEDIA_TYPE = 'application/secevent+jwt';
/** RFC 8935 push delivery: Gatehouse POSTs each SET to the receiver's events endpoint. */
export const PUSH_DELIVERY = 'urn:ietf:rfc:8935';
/**
 * RFC 8936 poll delivery: the receiver asks Gatehouse for its SETs (src/security-events/poll-endpoint.ts).
 * An app or API registers it as its events endpoint, as SSF names a stream's delivery method.
 */
export const POLL_DELIVERY = 'urn:ietf:rfc:8936';
/** Where receivers that poll ask for their SETs (src/security-events/poll-endpoint.ts). */
export const SSF_POLL_PATH = '/ssf/poll';

/** The SSF specification version the transmitter metadata follows. */
export const SSF_SPEC_VERSION = '1_0';

export const CAEP_SESSION_REVOKED = 'https://schemas.openid.net/secevent/caep/event-type/session-revoked';
export const CAEP_CREDENTIAL_CHANGE = 'https://schemas.openid.net/secevent/caep/event-type/credential-change';
export const CAEP_TOKEN_CLAIMS_CHANGE = 'https://schemas.openid.net/secevent/caep/event-type/token-claims-change';
export const RISC_ACCOUNT_DISABLED = 'https://schemas.openid.net/secevent/risc/event-type/account-disabled';
export const RISC_ACCOUNT_PURGED = 'https://schemas.openid.net/secevent/risc/event-type/account-purged';

/** Every event type Gatehouse sends (the metadata's events_supported): exactly those, no more. */
export const EVENTS_SUPPORTED = [CAEP_SESSION_REVOKED, CAEP_CREDENTIAL_CHANGE, CAEP_TOKEN_CLAIMS_CHANGE, RISC_ACCOUNT_DISABLED, RISC_ACCOUNT_PURGED] as const;

/** CAEP credential-change's `credential_type` for the credentials Gatehouse keeps. */
export type CredentialType = 'password' | 'app' | 'fido2-platform' | 'fido2-roaming';

/**
 * A passkey's credential type, by the transports its authenticator reported: `internal` is the
 * device's own (a platform authenticator); anything else, or nothing said, a roaming one.
 */
export function passkeyCredentialType(transports: unknown): CredentialType {
  return Array.isArray(transports) && transports.includes('internal') ? 'fido2-platform' : 'fido2-roaming';
}

/** CAEP's `initiating_entity`: who caused the event. */
export type InitiatingEntity = 'admin' | 'user' | 'policy' | 'system';

/** An RFC 9493 subject identifier. */
export type SubjectIdentifier =
  | { format: 'iss_sub'; iss: string; sub: string }
  | { format: 'opaque'; id: string }
  | { format: 'complex'; user: SubjectIdentifier; session?: SubjectIdentifier; application?: SubjectIdentifier };

/** A person, as their ID tokens and access tokens name them: Gatehouse's issuer and their `sub`. */
export function personSubject(issuer: string, accountId: string): SubjectIdentifier {
  return { format: 'iss_sub', iss: issuer, sub: accountId };
}

/**
 * A grant: the person, the app (its client_id) and the grant itself as the session — its id is the
 * `grant_id` claim of every JWT access token issued under it, so an API can deny those at once.
 */
export function grantSubject(issuer: string, grant: { accountId: string; clientId: string; grantId: string }): SubjectIdentifier {
  return {
    format: 'complex',
    user: personSubject(issuer, grant.accountId),
    session: { format: 'opaque', id: grant.grantId },
    application: { format: 'opaque', id: grant.clientId },
  };
}
