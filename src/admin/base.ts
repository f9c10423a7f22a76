// What every administration and self-service action shares: the stores, one transaction per action
// holding both the change and its audit entry, and the not-found answer.
import type { UserStore } from '../accounts/users.js';
import type { Actor, NewAuditEvent } from '../audit/events.js';
import type { AuditLog } from '../audit/log.js';
import type { ClientStore } from '../clients/store.js';
import type { Database } from '../db/knex.js';
import type { ChangeFeed } from '../db/notifications.js';
import { GatehouseError } from '../errors.js';
import type { GrantStore } from '../grants/store.js';
import type { KeyStore } from '../oidc/keys.js';
import type { ResourceServerStore } from '../resources/store.js';
import type { SessionStore } from '../sessions/store.js';

export interface AdminDependencies {
  db: Database;
  users: UserStore;
  clients: ClientStore;
  resources: ResourceServerStore;
  sessions: SessionStore;
  grants: GrantStore;
  audit: AuditLog;
  keys: KeyStore;
  /** This instance's change feed: an act is answered only once its caches have heard of it. */
  changes?: Pick<ChangeFeed, 'caughtUp'>;
}

/** What ending sessions did: sessions ended and the grants of the apps signed in through them. */
export interface EndedSessionsResult {
  sessionsEnded: number;
  grantsRevoked: number;
}

export function found<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new GatehouseError('not_found', `No such ${what}.`);
  return value;
}

/**
 * The base of AdminOperations. The actions are split by area into a chain of subclasses
 * (people, apps, APIs, self-service) only to keep each file readable; callers see one class.
 */
export class OperationsBase {
  constructor(protected readonly deps: AdminDependencies) {}

  /** Runs a change and appends its audit entry in one transaction: both happen, or neither. */
  protected async audited<T>(actor: Actor, work: (trx: Database) => Promise<{ result: T; event: Omit<NewAuditEvent, 'actor'> }>): Promise<T> {
    const result = await this.deps.db.transaction(async (trx) => {
      const { result, event } = await work(trx);
      await this.deps.audit.append({ ...event, actor }, trx);
      return result;
    });
    // The next request to this instance must not be answered from a cache the act made stale
    // (a revoked grant's token still "active" for the milliseconds the notification takes).
    await this.deps.changes?.caughtUp?.();
    return result;
  }
}
