// What an audited act about a person tells the apps and APIs of their grants (./observer.ts writes
// it to them), read from the act's audit entry alone (with what the entry tells observers without
// storing it: a rename's new values):
//
//   a person disabled                      → RISC account-disabled
//   a person deleted                       → RISC account-purged, to the apps and APIs of the
//                                            grants the deletion revoked
//   a password changed, reset or recovered → CAEP credential-change: password, update
//   an authenticator app added or removed  → credential-change: app, create or delete
//   a passkey added or removed             → credential-change: fido2-platform or fido2-roaming
//   every second factor reset by an admin  → credential-change: delete, one per credential removed
//   an email address changed or verified   → CAEP token-claims-change: the new email and
//                                            email_verified, to the apps whose grants release them
//   a name changed                         → token-claims-change: the new name, given_name or
//                                            family_name (null: gone), the same way
//
// Recovery codes have no credential type in CAEP, and nothing is said of them.
import type { NewAuditEvent } from '../audit/events.js';
import {
  CAEP_CREDENTIAL_CHANGE, CAEP_TOKEN_CLAIMS_CHANGE, passkeyCredentialType, RISC_ACCOUNT_DISABLED, RISC_ACCOUNT_PURGED, type CredentialType,
} from './vocabulary.js';

/** One event about the person, before it is addressed to a receiver. */
export interface AccountNews {
  /** The event type (its URI). */
  type: string;
  /** The event's members besides `event_timestamp` and `initiating_entity`. */
  event: Record<string, unknown>;
  /**
   * For token-claims-change: the claims that changed, with their new values. Each receiver is sent
   * only the ones its grants release (OIDC Core §5.4), and nothing when that is none.
   */
  claims?: Record<string, unknown>;
}

const PASSWORD_CHANGES: Partial<Record<NewAuditEvent['type'], string>> = {
  'user.password_changed': 'The person changed their password.',
  'user.password_reset': 'An administrator set a new password.',
  'user.password_recovered': 'The person chose a new password through a recovery link.',
};

/** The CAEP events an audited act means for the apps and APIs of the person's grants; none for most acts. */
export function newsOf(audited: NewAuditEvent): AccountNews[] {
  const details = audited.details ?? {};
  const passwordChange = PASSWORD_CHANGES[audited.type];
  if (passwordChange) return [credentialChange('password', 'update', passwordChange)];
  switch (audited.type) {
    case 'user.disabled':
      return [{ type: RISC_ACCOUNT_DISABLED, event: {} }];
    case 'user.deleted':
      return [{ type: RISC_ACCOUNT_PURGED, event: {} }];
    case 'factor.added':
      return details.kind === 'totp' ? [credentialChange('app', 'create', 'An authenticator app was added.')] : [];
    case 'factor.removed':
      return removedCredentials(details.removed, 'An authenticator app was removed.');
    case 'factor.reset':
      return removedCredentials(details.removed, 'An administrator removed every second factor.');
    case 'passkey.added':
      // Not CAEP's optional fido2_aaguid: it names the person's authenticator model, which they never agreed to tell apps.
      return [credentialChange(passkeyCredentialType(details.transports), 'create', 'A passkey was added.')];
    case 'passkey.removed':
      return [credentialChange(passkeyCredentialType(details.transports), 'delete', 'A passkey was removed.')];
    case 'user.email_changed':
      return typeof details.to === 'string'
        ? [claimsChange({ email: details.to, email_verified: details.verified === true }, 'The email address changed.')]
        : [];
    case 'user.email_verified':
      return [claimsChange({ email_verified: true }, 'The email address was verified.')];
    case 'user.profile_updated': {
      const names = namesIn(audited.observed?.names);
      return Object.keys(names).length ? [claimsChange(names, 'The name changed.')] : [];
    }
    default:
      return [];
  }
}

function credentialChange(credentialType: CredentialType, changeType: 'create' | 'update' | 'delete', reason: string): AccountNews {
  return {
    type: CAEP_CREDENTIAL_CHANGE,
    event: { credential_type: credentialType, change_type: changeType, reason_admin: { en: reason } },
  };
}

function claimsChange(claims: Record<string, unknown>, reason: string): AccountNews {
  return { type: CAEP_TOKEN_CLAIMS_CHANGE, event: { reason_admin: { en: reason } }, claims };
}

/** One credential-change (delete) per authenticator app or passkey in an audit entry's `removed` list. */
function removedCredentials(removed: unknown, reason: string): AccountNews[] {
  if (!Array.isArray(removed)) return [];
  return removed.flatMap((factor: { kind?: unknown; transports?: unknown }) => {
    if (factor?.kind === 'totp') return [credentialChange('app', 'delete', reason)];
    if (factor?.kind === 'passkey') return [credentialChange(passkeyCredentialType(factor.transports), 'delete', reason)];
    return [];
  });
}

/** The name claims of an audited profile change, with their new values (null: the claim is gone). */
function namesIn(changed: unknown): Record<string, string | null> {
  if (!changed || typeof changed !== 'object') return {};
  return Object.fromEntries(Object.entries(changed).filter(([claim, value]) =>
    ['name', 'given_name', 'family_name'].includes(claim) && (typeof value === 'string' || value === null)));
}

