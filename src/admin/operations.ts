// The actions behind the admin API, the admin console and the self-service account pages, each
// one method: checked, done in one transaction with its audit entry, answered in domain terms.
// Administration is in the classes this extends (people, apps, APIs); the self-service actions
// below act only on the signed-in person, named by the actor.
import type { Actor } from '../audit/events.js';
import { ACCOUNT_CLIENT_ID } from '../clients/store.js';
import type { Page, PageRequest } from '../db/pages.js';
import { GatehouseError } from '../errors.js';
import { listConnectedApps, type ConnectedApp } from '../grants/connected-apps.js';
import { ApiOperations } from './apis.js';
import { found, type EndedSessionsResult } from './base.js';
import { endedResult } from './people.js';

export type { GrantFilter, RotatedSecret } from './apps.js';
export type { AdminDependencies, EndedSessionsResult } from './base.js';
export type { ConnectedApp } from '../grants/connected-apps.js';

/** The person a self-service action is for: only ever the one signed in. */
function personOf(actor: Actor): string {
  if (actor.type !== 'user' || !actor.id) throw new TypeError('Self-service actions act for a signed-in person.');
  return actor.id;
}

export class AdminOperations extends ApiOperations {
  /** The apps a person has allowed, one entry per app however many sessions hold a grant for it. */
  listConnectedApps(userId: string, page: PageRequest = {}): Promise<Page<ConnectedApp>> {
    return listConnectedApps(this.deps.db, userId, page);
  }

  /** The person withdraws their consent from an app: every grant they gave it is revoked. */
  async revokeConnectedApp(actor: Actor, clientId: string): Promise<{ grantsRevoked: number }> {
    const userId = personOf(actor);
    return this.audited(actor, async (trx) => {
      const grantsRevoked = clientId === ACCOUNT_CLIENT_ID ? 0 : await this.deps.grants.revokeForUserAndClient(userId, clientId, trx);
      if (grantsRevoked === 0) found(undefined, 'connected app');
      return { result: { grantsRevoked }, event: { type: 'consent.revoked', userId, clientId, details: { grantsRevoked } } };
    });
  }

  /** Signs the person out of one of their own sessions (another device, or this one). */
  async endOwnSession(actor: Actor, handle: string): Promise<EndedSessionsResult> {
    const userId = personOf(actor);
    return this.audited(actor, (trx) => this.endOne(trx, userId, handle));
  }

  /** Signs the person out everywhere but the session they are using. */
  async endOtherSessions(actor: Actor, currentHandle: string): Promise<EndedSessionsResult> {
    const userId = personOf(actor);
    return this.audited(actor, (trx) => this.endAllBut(trx, userId, currentHandle));
  }

  /**
   * Changes the person's password after checking the current one. With endOtherSessions, every
   * other session ends too (all of them when currentHandle is not given); with revokeOfflineAccess,
   * every app's offline access but that of the apps signed in through the current session. Both
   * are the person's explicit choice: nothing ends unless asked.
   */
  async changeOwnPassword(
    actor: Actor,
    currentPassword: string,
    newPassword: string,
    options: { endOtherSessions?: boolean; revokeOfflineAccess?: boolean; currentHandle?: string } = {},
  ): Promise<EndedSessionsResult> {
    const userId = personOf(actor);
    if (!(await this.deps.users.verifyPassword(userId, currentPassword))) {
      throw new GatehouseError('invalid_input', 'That is not your current password.', 'currentPassword');
    }
    return this.audited(actor, async (trx) => {
      found(await this.deps.users.setPassword(userId, newPassword, trx), 'person');
      const except = options.currentHandle === undefined ? {} : { except: options.currentHandle };
      const ended = options.endOtherSessions ? endedResult(await this.deps.sessions.endAll(userId, except, trx)) : { sessionsEnded: 0, grantsRevoked: 0 };
      const offlineAccessRevoked = options.revokeOfflineAccess === true;
      const result = offlineAccessRevoked
        ? { ...ended, grantsRevoked: ended.grantsRevoked + (await this.endOfflineAccess(trx, userId, options.currentHandle)) }
        : ended;
      return { result, event: { type: 'user.password_changed', userId, details: { ...result, offlineAccessRevoked } } };
    });
  }
}
