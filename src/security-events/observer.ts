// What turns acts into security events: it observes the revocations of grants (src/records/, told
// inside the revocation's transaction) and the audit entries of acts (src/audit/log.ts, appended
// inside the act's transaction), and writes one SET per receiver concerned into the outbox in that
// same transaction. No act calls it: an act that revokes a grant, ends a session, disables a
// person or changes a password is observed whoever does it (admin API, console, CLI, the person).
//
//   a grant revoked (by the person, an admin, the app disabled or deleted, a session ended, a
//   person disabled or deleted, a password changed; or by oidc-provider: a replayed refresh token
//   or code, a sign-out, the app revoking its refresh token)
//                             → CAEP session-revoked about the grant, to its app and its APIs
//   a person disabled         → RISC account-disabled about the person
//   a password changed/reset  → CAEP credential-change about the person
//     each to the apps and APIs of the person's grants: those revoked by the act and those left.
//
// Each receiver gets only the events about grants it is the app or an API of.
import { randomUUID } from 'node:crypto';
import type { Actor, NewAuditEvent } from '../audit/events.js';
import { actorIn } from '../audit/audited.js';
import type { Database } from '../db/knex.js';
import type { Outbox } from '../outbox/outbox.js';
import type { RevocationCause, RevokedGrant } from '../records/index.js';
import { ACCOUNT_CLIENT_ID } from '../vocabulary.js';
import type { SecurityEventClaims } from './delivery.js';
import { queueOf, type Receiver } from './receivers.js';
import {
  CAEP_CREDENTIAL_CHANGE, CAEP_SESSION_REVOKED, grantSubject, personSubject, RISC_ACCOUNT_DISABLED,
  type InitiatingEntity, type SubjectIdentifier,
} from './vocabulary.js';

export interface SecurityEventSources {
  /** The records repository: tells of revoked grants, and reads what a person's grants reach. */
  records: {
    observeRevocations(observer: (trx: Database, grants: RevokedGrant[], cause?: RevocationCause) => Promise<void>): void;
    liveGrantsOf(accountId: string, trx: Database): Promise<RevokedGrant[]>;
  };
  audit: { observe(observer: (event: NewAuditEvent, trx: Database) => Promise<void>): void };
  /** The events endpoints of apps and APIs (clients and resource_servers own them). */
  clients: { eventsEndpoints(clientIds: readonly string[], trx: Database): Promise<Map<string, string>> };
  resources: { eventsEndpoints(identifiers: readonly string[], trx: Database): Promise<Map<string, string>> };
  outbox: Pick<Outbox, 'enqueue'>;
  issuer: string;
  now?: () => number;
}

/** Why a password changed, by the audit entry that says so. */
const CREDENTIAL_CHANGES: Partial<Record<NewAuditEvent['type'], string>> = {
  'user.password_changed': 'The person changed their password.',
  'user.password_reset': 'An administrator set a new password.',
  'user.password_recovered': 'The person chose a new password through a recovery link.',
};

/** Revocations oidc-provider makes on its own, with no audited act (and actor) behind them. */
const CAUSES: Record<RevocationCause, { initiating: InitiatingEntity; reason: string }> = {
  replay: { initiating: 'policy', reason: 'A code or refresh token was presented again after it had been used: the grant was revoked.' },
  sign_out: { initiating: 'user', reason: 'The person signed out of the app.' },
  token_revoked: { initiating: 'system', reason: 'The app revoked its token, and the grant with it.' },
};

/** Installs the observers; from then on every act is observed. */
export function watchForSecurityEvents(sources: SecurityEventSources): void {
  const now = sources.now ?? Date.now;
  // What each transaction's revocations reached, so the act's own event (a person disabled) also
  // goes to the receivers of the grants the act has just revoked.
  const reachedIn = new WeakMap<object, RevokedGrant[]>();

  async function receiversOf(trx: Database, grants: readonly RevokedGrant[]): Promise<Map<string, { receiver: Receiver; grants: RevokedGrant[] }>> {
    const reached = grants.filter((grant) => grant.clientId !== ACCOUNT_CLIENT_ID);
    const [apps, apis] = await Promise.all([
      sources.clients.eventsEndpoints(reached.map((grant) => grant.clientId), trx),
      sources.resources.eventsEndpoints(reached.flatMap((grant) => grant.resources), trx),
    ]);
    const receivers = new Map<string, { receiver: Receiver; grants: RevokedGrant[] }>();
    const add = (receiver: Receiver, grant: RevokedGrant) => {
      const queue = queueOf(receiver);
      const entry = receivers.get(queue) ?? { receiver, grants: [] };
      if (!entry.grants.includes(grant)) entry.grants.push(grant);
      receivers.set(queue, entry);
    };
    for (const grant of reached) {
      if (apps.has(grant.clientId)) add({ type: 'app', clientId: grant.clientId }, grant);
      for (const identifier of grant.resources) if (apis.has(identifier)) add({ type: 'api', identifier }, grant);
    }
    return receivers;
  }

  async function send(trx: Database, receiver: Receiver, claims: SecurityEventClaims): Promise<void> {
    await sources.outbox.enqueue(trx as never, { kind: 'security-event', queue: queueOf(receiver), payload: { receiver, claims } });
  }

  function claims(txn: string, subject: SubjectIdentifier, type: string, event: Record<string, unknown>): SecurityEventClaims {
    const iat = Math.floor(now() / 1000);
    return { iss: sources.issuer, jti: randomUUID(), iat, txn, sub_id: subject, events: { [type]: { event_timestamp: iat, ...event } } };
  }

  sources.records.observeRevocations(async (trx, grants, cause) => {
    reachedIn.set(trx, [...(reachedIn.get(trx) ?? []), ...grants]);
    const actor = actorIn(trx);
    const txn = randomUUID();
    for (const { receiver, grants: theirs } of (await receiversOf(trx, grants)).values()) {
      for (const grant of theirs) {
        const initiating = cause ? CAUSES[cause].initiating : initiatingEntity(actor, grant.accountId);
        await send(trx, receiver, claims(txn, grantSubject(sources.issuer, grant), CAEP_SESSION_REVOKED, {
          initiating_entity: initiating,
          reason_admin: { en: cause ? CAUSES[cause].reason : 'The grant was revoked.' },
        }));
      }
    }
  });

  sources.audit.observe(async (event, trx) => {
    const accountId = event.userId;
    if (!accountId) return;
    const credentialChange = CREDENTIAL_CHANGES[event.type];
    if (event.type !== 'user.disabled' && !credentialChange) return;
    const grants = [...(reachedIn.get(trx) ?? []).filter((grant) => grant.accountId === accountId), ...(await sources.records.liveGrantsOf(accountId, trx))];
    const txn = randomUUID();
    const subject = personSubject(sources.issuer, accountId);
    const initiating = initiatingEntity(event.actor, accountId);
    for (const { receiver } of (await receiversOf(trx, grants)).values()) {
      await send(trx, receiver, event.type === 'user.disabled'
        ? claims(txn, subject, RISC_ACCOUNT_DISABLED, { initiating_entity: initiating })
        : claims(txn, subject, CAEP_CREDENTIAL_CHANGE, {
          credential_type: 'password',
          change_type: 'update',
          initiating_entity: initiating,
          reason_admin: { en: credentialChange },
        }));
    }
  });
}

/** The person themselves, an administrator (a person or an automation client), or Gatehouse. */
function initiatingEntity(actor: Actor | undefined, accountId: string): InitiatingEntity {
  if (!actor || actor.type === 'system' || actor.type === 'anonymous') return 'system';
  return actor.type === 'user' && actor.id === accountId ? 'user' : 'admin';
}
