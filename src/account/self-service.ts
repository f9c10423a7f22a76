// What a signed-in person does about their own account: withdraw an app's access, sign out of
// their sessions, change their password. Each act names the person only through the actor (the
// one signed in), and is done like every admin act: with its audit entry in one transaction, then
// answered once every instance's caches heard of it (src/audit/audited.ts).
import type { ChangedNames, ProfileChanges, UserStore } from '../people/users.js';
import { rename } from '../people/renaming.js';
import type { Actor } from '../audit/events.js';
import { auditedActs, type Audited, type AuditedDependencies } from '../audit/audited.js';
import { ACCOUNT_CLIENT_ID } from '../vocabulary.js';
import type { Database } from '../db/knex.js';
import type { Page, PageRequest } from '../db/pages.js';
import { found, GatehouseError } from '../errors.js';
import type { ConnectedApp } from '../grants/connected-apps.js';
import type { GrantStore } from '../grants/store.js';
import type { ResourceServer, ResourceServerStore } from '../resources/store.js';
import { endedResult, endOfflineAccess, endOneSession, endSessionsBut, type EndedSessionsResult } from '../sessions/ending.js';
import type { SessionInfo, SessionStore } from '../sessions/store.js';
import type { AccountNotices } from '../notices/account-notices.js';
import type { OneTimeLinks } from '../links/store.js';
import { abandonAddressChange } from '../verification/pending-changes.js';
import { eraseAccount } from '../people/erasure.js';

export type { ConnectedApp } from '../grants/connected-apps.js';
export type { EndedSessionsResult } from '../sessions/ending.js';

export interface SelfServiceDependencies extends AuditedDependencies {
  db: Database;
  users: UserStore;
  resources: ResourceServerStore;
  sessions: SessionStore;
  grants: GrantStore;
  /** The "your password was changed" mail goes with the change. */
  notices: AccountNotices;
  /** A new password drops a pending address change and its links (abandonAddressChange). */
  links: OneTimeLinks;
}

/** The person a self-service act is for: only ever the one signed in. */
function personOf(actor: Actor): string {
  if (actor.type !== 'user' || !actor.id) throw new TypeError('Self-service actions act for a signed-in person.');
  return actor.id;
}

export class SelfService {
  readonly #audited: Audited;

  constructor(private readonly deps: SelfServiceDependencies) {
    this.#audited = auditedActs(deps);
  }

  /** The apps a person has allowed, one entry per app however many sessions hold a grant for it. */
  listConnectedApps(userId: string, page: PageRequest = {}): Promise<Page<ConnectedApp>> {
    return this.deps.grants.listConnectedApps(userId, page);
  }

  /** The browsers the person is signed in on, newest first. */
  listSessions(userId: string, page: PageRequest = {}): Promise<Page<SessionInfo>> {
    return this.deps.sessions.listByUser(userId, page);
  }

  /** An API a grant names, for its own words about its scopes; undefined once it is removed. */
  findApi(identifier: string): Promise<ResourceServer | undefined> {
    return this.deps.resources.find(identifier);
  }

  /** The person withdraws their consent from an app: every grant they gave it is revoked. */
  async revokeConnectedApp(actor: Actor, clientId: string): Promise<{ grantsRevoked: number }> {
    const userId = personOf(actor);
    return this.#audited(actor, async (trx) => {
      const grantsRevoked = clientId === ACCOUNT_CLIENT_ID ? 0 : await this.deps.grants.revokeForUserAndClient(userId, clientId, trx);
      if (grantsRevoked === 0) found(undefined, 'connected app');
      return { result: { grantsRevoked }, event: { type: 'consent.revoked', userId, clientId, details: { grantsRevoked } } };
    });
  }

  /**
   * The person gives themselves new names (the `name`, `given_name` and `family_name` their apps
   * see). Audited with the claims that changed and their new values, which the apps given the
   * profile then hear of (src/security-events/). Nothing is done or audited when nothing changed.
   */
  async updateOwnProfile(actor: Actor, changes: ProfileChanges): Promise<ChangedNames> {
    return (await rename({ audited: this.#audited, users: this.deps.users }, actor, personOf(actor), changes)).changed;
  }

  /**
   * The person deletes their own account (ACCOUNT_SELF_DELETION; the page has checked a recent
   * sign-in and their password): erased as an administrator's deletion erases it, told by mail,
   * and audited as their own request. Nothing of it can be restored.
   */
  async deleteOwnAccount(actor: Actor): Promise<EndedSessionsResult> {
    const userId = personOf(actor);
    return this.#audited(actor, async (trx) => {
      const person = found(await this.deps.users.findById(userId, trx), 'person');
      // Another administrator deletes an administrator, in the console: the last one must not lock everyone out.
      if (person.isAdmin) throw new GatehouseError('conflict', 'An administrator\'s account is deleted by another administrator, in the console.', undefined, { key: 'account.delete.administrator' });
      const ended = found(await eraseAccount(this.deps, trx, userId), 'person');
      await this.deps.notices.send(trx, person, { kind: 'account-deleted' });
      return { result: ended, event: { type: 'user.deleted', userId, details: { reason: 'own_request', ...ended } } };
    });
  }

  /** Signs the person out of one of their own sessions (another device, or this one). */
  async endOwnSession(actor: Actor, handle: string): Promise<EndedSessionsResult> {
    const userId = personOf(actor);
    return this.#audited(actor, (trx) => endOneSession(this.deps, trx, userId, handle));
  }

  /** Signs the person out everywhere but the session they are using. */
  async endOtherSessions(actor: Actor, currentHandle: string): Promise<EndedSessionsResult> {
    const userId = personOf(actor);
    return this.#audited(actor, (trx) => endSessionsBut(this.deps, trx, userId, currentHandle));
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
    return this.#audited(actor, async (trx) => {
      const person = found(await this.deps.users.setPassword(userId, newPassword, trx), 'person');
      await this.deps.notices.send(trx, person, { kind: 'password-changed', how: 'own' });
      await abandonAddressChange(trx, this.deps.links, userId);
      const except = options.currentHandle === undefined ? {} : { except: options.currentHandle };
      const ended = options.endOtherSessions ? endedResult(await this.deps.sessions.endAll(userId, except, trx)) : { sessionsEnded: 0, grantsRevoked: 0 };
      const offlineAccessRevoked = options.revokeOfflineAccess === true;
      const result = offlineAccessRevoked
        ? { ...ended, grantsRevoked: ended.grantsRevoked + (await endOfflineAccess(this.deps, trx, userId, options.currentHandle)) }
        : ended;
      return { result, event: { type: 'user.password_changed', userId, details: { ...result, offlineAccessRevoked } } };
    });
  }
}
