// How every act that changes something is done, whoever asks (admin API, console, CLI, a person on
// their own account pages): the change and its audit entry in one transaction, then the answer
// only once every instance's caches have heard of the change.
import type { Database } from '../db/knex.js';
import { inTransaction } from '../db/transactions.js';
import type { ChangeFeed } from '../db/notifications.js';
import { revocations } from '../observability/metrics.js';
import type { Actor, NewAuditEvent } from './events.js';
import type { AuditLog } from './log.js';

/**
 * An act's work inside the transaction: what to answer, and the audit entry that says what
 * happened, or null when the act, worked out under its locks, changes nothing (and so says nothing).
 */
export type AuditedWork<T> = (trx: Database) => Promise<{ result: T; event: Omit<NewAuditEvent, 'actor'> | null }>;

/** Runs an act for `actor`: both the change and its audit entry happen, or neither. */
export type Audited = <T>(actor: Actor, work: AuditedWork<T>) => Promise<T>;

export interface AuditedDependencies {
  db: Database;
  audit: AuditLog;
  /** This instance's change feed: an act is answered only once every instance's caches have heard of it. */
  changes?: Pick<ChangeFeed, 'barrier'> | undefined;
}

/** Who is acting in each audited act's transaction, for what observes the act from within it. */
const actors = new WeakMap<object, Actor>();

/**
 * The actor of the audited act `trx` belongs to; undefined outside one. For observers told of a
 * change mid-act (a revoked grant, src/records/) that must say who caused it.
 */
export function actorIn(trx: Database): Actor | undefined {
  return actors.get(trx);
}

export function auditedActs(deps: AuditedDependencies): Audited {
  return async function audited<T>(actor: Actor, work: AuditedWork<T>): Promise<T> {
    // Run again if PostgreSQL fails it for a conflict with another act (src/db/transactions.ts).
    const { result, event } = await inTransaction(deps.db, async (trx) => {
      actors.set(trx, actor);
      const done = await work(trx);
      if (done.event) await deps.audit.append({ ...done.event, actor }, trx);
      return done;
    });
    // The next request, to this instance or any other, must not be answered from a cache the act
    // made stale (a revoked grant's token still "active" for the milliseconds the notification
    // takes to reach each instance): src/db/notifications.ts, barrier().
    await deps.changes?.barrier?.();
    if (event) countRevokedGrants(actor, event);
    return result;
  };
}

/**
 * Grants an act revoked, for the metrics: by the person they belonged to (their account pages) or
 * by an admin. Read off the audit entry, which says how many for every act that revokes.
 */
function countRevokedGrants(actor: Actor, event: Omit<NewAuditEvent, 'actor'>): void {
  const counted = event.details?.grantsRevoked;
  const grants = typeof counted === 'number' ? counted : event.type === 'grant.revoked' ? 1 : 0;
  if (grants <= 0) return;
  const own = actor.type === 'user' && actor.id !== null && actor.id === event.userId;
  revocations.inc({ cause: own ? 'user' : 'admin' }, grants);
}
