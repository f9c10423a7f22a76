// Administration of people and their sessions.
import { type NewUser, type User, type UserQuery } from '../accounts/users.js';
import type { Actor } from '../audit/events.js';
import type { Database } from '../db/knex.js';
import type { Page, PageRequest } from '../db/pages.js';
import type { EndedSessions, SessionInfo } from '../sessions/store.js';
import { found, OperationsBase, type EndedSessionsResult } from './base.js';

export function endedResult(ended: EndedSessions, moreGrants = 0): EndedSessionsResult {
  return { sessionsEnded: ended.sessions, grantsRevoked: ended.grants + moreGrants };
}

export class PeopleOperations extends OperationsBase {
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

  createUser(actor: Actor, input: NewUser): Promise<User> {
    return this.audited(actor, async (trx) => {
      const user = await this.deps.users.create(input, trx);
      return { result: user, event: { type: 'user.created', userId: user.id, details: { isAdmin: user.isAdmin } } };
    });
  }

  /** Disables the person and signs them out everywhere: every session ended, every grant revoked. */
  disableUser(actor: Actor, id: string): Promise<User> {
    return this.audited(actor, async (trx) => {
      const user = found(await this.deps.users.setDisabled(id, true, trx), 'person');
      const ended = endedResult(await this.deps.sessions.endAll(id, {}, trx), await this.deps.grants.revokeAllOfUser(id, trx));
      return { result: user, event: { type: 'user.disabled', userId: id, details: { ...ended } } };
    });
  }

  /** Lets the person sign in again; nothing ended by disabling comes back. */
  enableUser(actor: Actor, id: string): Promise<User> {
    return this.audited(actor, async (trx) => {
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
    return this.audited(actor, async (trx) => {
      found(await this.deps.users.setPassword(id, password, trx), 'person');
      const ended = options.endSessions === false ? { sessionsEnded: 0, grantsRevoked: 0 } : endedResult(await this.deps.sessions.endAll(id, {}, trx));
      const offlineAccessRevoked = options.revokeOfflineAccess !== false;
      const result = offlineAccessRevoked ? { ...ended, grantsRevoked: ended.grantsRevoked + (await this.endOfflineAccess(trx, id)) } : ended;
      return { result, event: { type: 'user.password_reset', userId: id, details: { ...result, offlineAccessRevoked } } };
    });
  }

  /** Deletes the person, after revoking everything they hold and every record naming them. */
  deleteUser(actor: Actor, id: string): Promise<void> {
    return this.audited(actor, async (trx) => {
      found(await this.deps.users.findById(id, trx), 'person');
      const ended = endedResult(await this.deps.sessions.endAll(id, {}, trx), await this.deps.grants.revokeAllOfUser(id, trx));
      await this.deps.grants.forgetUser(id, trx);
      if (!(await this.deps.users.delete(id, trx))) found(undefined, 'person');
      return { result: undefined, event: { type: 'user.deleted', userId: id, details: { ...ended } } };
    });
  }

  async listSessions(userId: string, page: PageRequest = {}): Promise<Page<SessionInfo>> {
    await this.getUser(userId);
    return this.deps.sessions.listByUser(userId, page);
  }

  /** Ends one session of a person, and the grants of the apps signed in to through it. */
  endSession(actor: Actor, userId: string, handle: string): Promise<EndedSessionsResult> {
    return this.audited(actor, (trx) => this.endOne(trx, userId, handle));
  }

  async endAllSessions(actor: Actor, userId: string, options: { except?: string } = {}): Promise<EndedSessionsResult> {
    await this.getUser(userId);
    return this.audited(actor, (trx) => this.endAllBut(trx, userId, options.except));
  }

  /**
   * Revokes every grant of the person that holds (or may be given) a refresh token: the access an
   * app keeps after every sign-in has ended, where a thief's copy would be. The grants of the apps
   * signed in through `keepSession` (the person's own browser) are spared.
   */
  protected async endOfflineAccess(trx: Database, userId: string, keepSession?: string): Promise<number> {
    const keep = keepSession === undefined ? [] : await this.deps.sessions.grantIdsOf(userId, keepSession, trx);
    return this.deps.grants.revokeOfflineOfUser(userId, keep, trx);
  }

  protected async endOne(trx: Database, userId: string, handle: string) {
    const ended = endedResult(found(await this.deps.sessions.end(userId, handle, trx), 'session'));
    return { result: ended, event: { type: 'session.ended' as const, userId, details: { session: handle, how: 'ended', ...ended } } };
  }

  protected async endAllBut(trx: Database, userId: string, except: string | undefined) {
    const ended = endedResult(await this.deps.sessions.endAll(userId, except === undefined ? {} : { except }, trx));
    return { result: ended, event: { type: 'session.ended' as const, userId, details: { how: except === undefined ? 'ended_all' : 'ended_others', ...ended } } };
  }
}
