// Administration of people: finding them, adding, disabling, enabling, a new password, a new
// address (unverified until the person follows a mailed link), a verification link, deleting.
// No act here marks an address verified: only a followed link does (src/verification/).
import type { NewUser, User, UserQuery } from '../people/users.js';
import type { Actor } from '../audit/events.js';
import type { Database } from '../db/knex.js';
import type { Page } from '../db/pages.js';
import { found } from '../errors.js';
import { endedResult, endOfflineAccess, type EndedSessionsResult } from '../sessions/ending.js';
import type { OperationDependencies } from './operations.js';

export class PeopleOperations {
  constructor(private readonly deps: OperationDependencies) {}

  listUsers(query: UserQuery = {}): Promise<Page<User>> {
    return this.deps.users.list(query);
  }

  // Inside an audited() transaction, reads go through its `trx`: on the embedded PGlite the
  // transaction holds the only connection, and a read on another would wait for ever.
  async getUser(id: string, trx?: Database): Promise<User> {
    return found(await this.deps.users.findById(id, trx), 'person');
  }

  /** The email and name of each person a page names (an app's grants, audit entries), in one query. */
  async describePeople(ids: readonly string[]): Promise<Map<string, { email: string; name: string }>> {
    return this.deps.users.namesOf(ids);
  }

  /** A new person's address is unverified, whatever the caller says: only a followed link verifies it. */
  createUser(actor: Actor, input: Omit<NewUser, 'emailVerified'>): Promise<User> {
    return this.deps.audited(actor, async (trx) => {
      const user = await this.deps.users.create({ ...input, emailVerified: false }, trx);
      return { result: user, event: { type: 'user.created', userId: user.id, details: { isAdmin: user.isAdmin } } };
    });
  }

  /** Mails the person a link to verify their current address. */
  sendVerification(actor: Actor, id: string): Promise<User> {
    return this.deps.addresses.sendVerification(actor, id);
  }

  /** Gives the person a new address, unverified; their old address is told, and a link may go to the new one. */
  changeEmail(actor: Actor, id: string, email: string, options: { sendVerification?: boolean } = {}): Promise<User> {
    return this.deps.addresses.changeByAdministrator(actor, id, email, options);
  }

  /** Disables the person and signs them out everywhere: every session ended, every grant revoked. */
  disableUser(actor: Actor, id: string): Promise<User> {
    return this.deps.audited(actor, async (trx) => {
      const user = found(await this.deps.users.setDisabled(id, true, trx), 'person');
      const ended = endedResult(await this.deps.sessions.endAll(id, {}, trx), await this.deps.grants.revokeAllOfUser(id, trx));
      return { result: user, event: { type: 'user.disabled', userId: id, details: { ...ended } } };
    });
  }

  /** Lets the person sign in again; nothing ended by disabling comes back. */
  enableUser(actor: Actor, id: string): Promise<User> {
    return this.deps.audited(actor, async (trx) => {
      const user = found(await this.deps.users.setDisabled(id, false, trx), 'person');
      return { result: user, event: { type: 'user.enabled', userId: id } };
    });
  }

  /**
   * Sets a new password (checked as at creation) and, unless told otherwise, ends every session of
   * the person and every app's offline access (the grants holding refresh tokens).
   */
  resetPassword(
    actor: Actor,
    id: string,
    password: string,
    options: { endSessions?: boolean; revokeOfflineAccess?: boolean } = {},
  ): Promise<EndedSessionsResult> {
    return this.deps.audited(actor, async (trx) => {
      found(await this.deps.users.setPassword(id, password, trx), 'person');
      const ended = options.endSessions === false ? { sessionsEnded: 0, grantsRevoked: 0 } : endedResult(await this.deps.sessions.endAll(id, {}, trx));
      const offlineAccessRevoked = options.revokeOfflineAccess !== false;
      const result = offlineAccessRevoked ? { ...ended, grantsRevoked: ended.grantsRevoked + (await endOfflineAccess(this.deps, trx, id)) } : ended;
      return { result, event: { type: 'user.password_reset', userId: id, details: { ...result, offlineAccessRevoked } } };
    });
  }

  /** Deletes the person, after revoking everything they hold and every record naming them. */
  deleteUser(actor: Actor, id: string): Promise<void> {
    return this.deps.audited(actor, async (trx) => {
      found(await this.deps.users.findById(id, trx), 'person');
      const ended = endedResult(await this.deps.sessions.endAll(id, {}, trx), await this.deps.grants.revokeAllOfUser(id, trx));
      await this.deps.grants.forgetUser(id, trx);
      if (!(await this.deps.users.delete(id, trx))) found(undefined, 'person');
      return { result: undefined, event: { type: 'user.deleted', userId: id, details: { ...ended } } };
    });
  }
}
