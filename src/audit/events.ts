// Every kind of event the audit log records, in one typed union: what a person, an app or an
// admin did that an operator may have to account for later.
export const AUDIT_EVENT_TYPES = [
  // Sign-in and consent (src/interaction)
  'sign_in.succeeded',
  'sign_in.failed',
  'consent.given',
  'consent.revoked',
  // Tokens (oidc-provider's events, src/oidc/events.ts)
  'refresh_token.reuse_detected',
  'refresh_token.retry_forgiven',
  'token.revoked',
  // An API exchanged a person's token for one aimed at another API (src/oidc/grants/token-exchange.ts)
  'token.exchanged',
  'grant.revoked',
  'session.ended',
  // People
  'user.created',
  'user.disabled',
  'user.enabled',
  'user.password_reset',
  'user.password_changed',
  // Links by mail (src/recovery): asked for (sent or not: the details say), and used
  'user.password_recovery_requested',
  'user.password_recovered',
  'user.sign_in_link_requested',
  'user.sign_in_link_used',
  'user.deleted',
  // Invitations and sign-up (src/enrolment)
  'user.invited',
  'user.invitation_accepted',
  'user.signed_up',
  'user.sign_up_verified',
  'user.sign_up_refused',
  // Addresses (src/verification): a link mailed, an address proven, a change asked for and made
  'user.email_verification_sent',
  'user.email_verified',
  'user.email_change_requested',
  'user.email_changed',
  // Names (src/people/renaming.ts): the person's own change, or an admin's; the details say which claims changed, never their values
  'user.profile_updated',
  // Second factors (src/factors): added, removed (by the person, or every one by an admin), a
  // recovery code spent, a new set of codes, and a code refused at sign-in (wrong or replayed)
  'factor.added',
  'factor.removed',
  'factor.reset',
  'factor.recovery_code_used',
  'factor.recovery_codes_regenerated',
  'sign_in.second_factor_failed',
  // Passkeys (src/passkeys): added, renamed, removed; an assertion refused outside sign-in (which
  // has sign_in.failed); a verified assertion whose signature counter went back (a cloned key)
  'passkey.added',
  'passkey.renamed',
  'passkey.removed',
  'passkey.assertion_refused',
  'passkey.counter_regressed',
  // Apps and APIs
  'client.created',
  'client.updated',
  'client.secret_rotated',
  'client.disabled',
  'client.enabled',
  'client.deleted',
  // Dynamic registration (src/registration): an app registering itself, and the operator's tokens for it
  'client.registered',
  'registration_token.created',
  'registration_token.revoked',
  'api.created',
  'api.updated',
  'api.secret_rotated',
  'api.disabled',
  'api.enabled',
  'api.deleted',
  // Signing keys
  'keys.rotated',
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

export type ActorType = 'user' | 'client' | 'system' | 'anonymous';

/** Who did something: a person (by user id), an automation client (by client_id), Gatehouse itself. */
export interface Actor {
  type: ActorType;
  id: string | null;
  /** The address the request came from, when it came over HTTP. */
  ip?: string | null;
}

export interface NewAuditEvent {
  type: AuditEventType;
  actor: Actor;
  /** The person the event is about. */
  userId?: string | null;
  /** The app or API client the event is about. */
  clientId?: string | null;
  /** Server-side detail: reasons, scopes, counts. Never a secret, token or password. */
  details?: Record<string, unknown>;
  /**
   * Told to the log's observers with the entry (src/audit/log.ts), never stored: what an observer
   * needs that the log must not keep, such as a person's new names, which the apps given them are
   * sent (src/security-events/) while the append-only log records only which names changed.
   */
  observed?: Record<string, unknown>;
}

export interface AuditEvent {
  id: string;
  occurredAt: Date;
  type: AuditEventType;
  actor: { type: ActorType; id: string | null };
  userId: string | null;
  clientId: string | null;
  ip: string | null;
  details: Record<string, unknown>;
}
