// What turns acts into security events: it observes the revocations of grants (src/records/, told
// inside the revocation's transaction) and the audit entries of acts (src/audit/log.ts, appended
// inside the act's transaction), and writes one SET per receiver concerned into the outbox in that
// same transaction. No act calls it: an act that revokes a grant, ends a session, disables a
// person or changes a credential or an address is observed whoever does it (admin API, console,
// CLI, the person).
//
//   a grant revoked (by the person, an admin, the app disabled or deleted, a session ended, a
//   person disabled or deleted, a password changed; or by oidc-provider: a replayed refresh token
//   or code, a sign-out, the app revoking its refresh token)
//                             → CAEP session-revoked about the grant, to its app and its APIs
//   an act about the person   → what ./account-news.ts says it means (account-disabled,
//                               credential-change, token-claims-change), about the person,
//     to the apps and APIs of the person's grants: those revoked by the act and those left; a
//     changed claim only to the apps whose live grants release it.
//
// Each receiver gets only the events about grants it is the app or an API of: in the outbox for a
// push, in its poll queue (./polls.ts) when it polls.
import { randomUUID } from 'node:crypto';
import type { Actor, NewAuditEvent } from '../audit/events.js';
import { actorIn } from '../audit/audited.js';
import type { Database } from '../db/knex.js';
import type { Outbox } from '../outbox/outbox.js';
import { claimsOfScope } from '../presentation/scopes.js';
import type { LiveGrant, RevocationCause, RevokedGrant } from '../records/index.js';
import { ACCOUNT_CLIENT_ID } from '../vocabulary.js';
import { newsOf, type AccountNews } from './account-news.js';
import type { SecurityEventClaims } from './delivery.js';
import type { SecurityEventPolls } from './polls.js';
import { isPollDelivery, queueOf, type Receiver } from './receivers.js';
import { CAEP_SESSION_REVOKED, grantSubject, personSubject, type InitiatingEntity, type SubjectIdentifier } from './vocabulary.js';

export interface SecurityEventSources {
  /** The records repository: tells of revoked grants, and reads what a person's grants reach. */
  records: {
    observeRevocations(observer: (trx: Database, grants: RevokedGrant[], cause?: RevocationCause) => Promise<void>): void;
    liveGrantsOf(accountId: string, trx: Database): Promise<LiveGrant[]>;
  };
  audit: { observe(observer: (event: NewAuditEvent, trx: Database) => Promise<void>): void };
  /** The events endpoints of apps and APIs (clients and resource_servers own them). */
  clients: { eventsEndpoints(clientIds: readonly string[], trx: Database): Promise<Map<string, string>> };
  resources: { eventsEndpoints(identifiers: readonly string[], trx: Database): Promise<Map<string, string>> };
  outbox: Pick<Outbox, 'enqueue'>;
  /** Where the SETs of receivers that poll for them (RFC 8936) wait. */
  polls: Pick<SecurityEventPolls, 'enqueue'>;
  issuer: string;
  now?: () => number;
}

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
  // One `txn` for every SET one act's transaction writes (SSF: the same underlying event), across
  // both observers: a disabled person's session-revoked and account-disabled share it.
  const txns = new WeakMap<object, string>();
  const txnOf = (trx: Database): string => {
    const txn = txns.get(trx) ?? randomUUID();
    txns.set(trx, txn);
    return txn;
  };

  async function receiversOf(trx: Database, grants: readonly RevokedGrant[]): Promise<Map<string, { receiver: Receiver; grants: RevokedGrant[]; polled: boolean }>> {
    const reached = grants.filter((grant) => grant.clientId !== ACCOUNT_CLIENT_ID);
    const [apps, apis] = await Promise.all([
      sources.clients.eventsEndpoints(reached.map((grant) => grant.clientId), trx),
      sources.resources.eventsEndpoints(reached.flatMap((grant) => grant.resources), trx),
    ]);
    const receivers = new Map<string, { receiver: Receiver; grants: RevokedGrant[]; polled: boolean }>();
    const add = (receiver: Receiver, grant: RevokedGrant, endpoint: string | undefined) => {
      const queue = queueOf(receiver);
      const entry = receivers.get(queue) ?? { receiver, grants: [], polled: isPollDelivery(endpoint) };
      if (!entry.grants.includes(grant)) entry.grants.push(grant);
      receivers.set(queue, entry);
    };
    for (const grant of reached) {
      if (apps.has(grant.clientId)) add({ type: 'app', clientId: grant.clientId }, grant, apps.get(grant.clientId));
      for (const identifier of grant.resources) if (apis.has(identifier)) add({ type: 'api', identifier }, grant, apis.get(identifier));
    }
    return receivers;
  }

  async function send(trx: Database, { receiver, polled }: { receiver: Receiver; polled: boolean }, claims: SecurityEventClaims): Promise<void> {
    if (polled) await sources.polls.enqueue(trx, receiver, claims);
    else await sources.outbox.enqueue(trx as never, { kind: 'security-event', queue: queueOf(receiver), payload: { receiver, claims } });
  }

  function claims(txn: string, subject: SubjectIdentifier, type: string, event: Record<string, unknown>): SecurityEventClaims {
    const iat = Math.floor(now() / 1000);
    return { iss: sources.issuer, jti: randomUUID(), iat, txn, sub_id: subject, events: { [type]: { event_timestamp: iat, ...event } } };
  }

  sources.records.observeRevocations(async (trx, grants, cause) => {
    reachedIn.set(trx, [...(reachedIn.get(trx) ?? []), ...grants]);
    const actor = actorIn(trx);
    const txn = txnOf(trx);
    for (const entry of (await receiversOf(trx, grants)).values()) {
      for (const grant of entry.grants) {
        const initiating = cause ? CAUSES[cause].initiating : initiatingEntity(actor, grant.accountId);
        await send(trx, entry, claims(txn, grantSubject(sources.issuer, grant), CAEP_SESSION_REVOKED, {
          initiating_entity: initiating,
          reason_admin: { en: cause ? CAUSES[cause].reason : 'The grant was revoked.' },
        }));
      }
    }
  });

  sources.audit.observe(async (event, trx) => {
    const accountId = event.userId;
    if (!accountId) return;
    const news = newsOf(event);
    if (!news.length) return;
    const live = await sources.records.liveGrantsOf(accountId, trx);
    const grants = [...(reachedIn.get(trx) ?? []).filter((grant) => grant.accountId === accountId), ...live];
    const txn = txnOf(trx);
    const subject = personSubject(sources.issuer, accountId);
    const initiating = initiatingEntity(event.actor, accountId);
    const receivers = await receiversOf(trx, grants);
    for (const item of news) {
      for (const entry of receivers.values()) {
        const members = item.claims ? releasedTo(entry.receiver, item.claims, live) : {};
        if (item.claims && !members.claims) continue;
        await send(trx, entry, claims(txn, subject, item.type, { ...item.event, ...members, initiating_entity: initiating }));
      }
    }
  });
}

/**
 * Of the claims that changed, those the receiver's live grants release: an app is told of the
 * claims its grants' scopes or claims requests release; an API of none (its access tokens carry
 * no claim about the person that changes). `{ claims }` when any, `{}` when none.
 */
function releasedTo(receiver: Receiver, changed: AccountNews['claims'] & object, live: readonly LiveGrant[]): { claims?: Record<string, unknown> } {
  if (receiver.type !== 'app') return {};
  const released = new Set(live
    .filter((grant) => grant.clientId === receiver.clientId)
    .flatMap((grant) => [...grant.openid.scopes.flatMap((scope) => claimsOfScope(scope)), ...grant.openid.claims]));
  const claims = Object.fromEntries(Object.entries(changed).filter(([name]) => released.has(name)));
  return Object.keys(claims).length ? { claims } : {};
}

/** The person themselves, an administrator (a person or an automation client), or Gatehouse. */
function initiatingEntity(actor: Actor | undefined, accountId: string): InitiatingEntity {
  if (!actor || actor.type === 'system' || actor.type === 'anonymous') return 'system';
  return actor.type === 'user' && actor.id === accountId ? 'user' : 'admin';
}
