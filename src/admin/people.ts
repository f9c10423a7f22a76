// Administration of people: finding them, adding or inviting, new names, disabling, enabling, a new
// password, a new address (unverified until the person follows a mailed link), a verification link, deleting.
// No act here marks an address verified: only a followed link does (src/verification/, src/enrolment/).
import { accountState, type NewUser, type ProfileChanges, type User, type UserQuery, type UserStore } from '../people/users.js';
import { eraseAccount } from '../people/erasure.js';
import { rename } from '../people/renaming.js';
import type { Actor } from '../audit/events.js';
import type { Database } from '../db/knex.js';
import type { Page } from '../db/pages.js';
import { found, GatehouseError } from '../errors.js';
import type { EnrolmentMail } from '../enrolment/mail.js';
import { endedResult, endOfflineAccess, type EndedSessionsResult } from '../sessions/ending.js';
import type { OperationDependencies } from './operations.js';
import { abandonAddressChange, forgetPendingChange } from '../verification/pending-changes.js';

export class PeopleOperations {
  constructor(private readonly deps: OperationDependencies) {}

  listUsers(query: UserQuery = {}): Promise<Page<User>> {
    return this.deps.users.list(query);
  }

  /** The person who signs in with this address (case aside), as sign-in finds them. */
  async findByEmail(email: string): Promise<User> {
    return found(await this.deps.users.findByEmail(email.trim()), 'person');
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

  /**
   * Creates a person without a password and mails them an invitation whose link lets them choose
   * one (SIGNUP=invite or open). They cannot sign in until they accept.
   */
  inviteUser(actor: Actor, input: Omit<NewUser, 'password' | 'emailVerified'>): Promise<{ user: User; expiresAt: Date }> {
    const enrolment = this.#invitations();
    return this.deps.audited(actor, async (trx) => {
      const user = await this.deps.users.create(input, trx, 'invited');
      const { expiresAt } = await enrolment.invite(trx, user, await this.#inviterName(actor, trx));
      return { result: { user, expiresAt }, event: { type: 'user.invited', userId: user.id, details: { isAdmin: user.isAdmin, expiresAt: expiresAt.toISOString() } } };
    });
  }

  /** Sends a person who has not accepted yet a new invitation; the links of earlier ones stop working. */
  reinviteUser(actor: Actor, id: string): Promise<{ user: User; expiresAt: Date }> {
    const enrolment = this.#invitations();
    return this.deps.audited(actor, async (trx) => {
      const current = found(await this.deps.users.findById(id, trx), 'person');
      if (accountState(current) !== 'invited') throw new GatehouseError('conflict', 'Only a person who has not accepted an invitation yet can be invited again.', undefined, { key: 'admin.problem.reinviteOnlyInvited' });
      const user = found(await this.deps.users.markInvited(id, trx), 'person');
      const { expiresAt } = await enrolment.invite(trx, user, await this.#inviterName(actor, trx));
      return { result: { user, expiresAt }, event: { type: 'user.invited', userId: id, details: { again: true, expiresAt: expiresAt.toISOString() } } };
    });
  }

  /** Whether invitations can be sent (the CLI, the API and the console offer them only then). */
  get invitationsOn(): boolean {
    return this.deps.enrolment?.invitationsOn === true;
  }

  #invitations(): EnrolmentMail {
    const enrolment = this.deps.enrolment;
    if (!enrolment?.invitationsOn) {
      throw new GatehouseError('conflict', 'Invitations are off: Gatehouse sends them only with SIGNUP=invite or SIGNUP=open (and mail set up).', undefined, { key: 'admin.problem.invitationsOff' });
    }
    return enrolment;
  }

  /** The inviting admin's name for the mail; the CLI and automation clients stay unnamed. */
  async #inviterName(actor: Actor, trx: Database): Promise<string | undefined> {
    if (actor.type !== 'user' || !actor.id) return undefined;
    return (await this.deps.users.findById(actor.id, trx))?.name;
  }

  /** Whether verification links can be mailed (EMAIL_VERIFICATION); the console offers them only then. */
  get verificationOn(): boolean {
    return this.deps.addresses.on;
  }

  /** Mails the person a link to verify their current address. */
  sendVerification(actor: Actor, id: string): Promise<User> {
    return this.deps.addresses.sendVerification(actor, id);
  }

  /** New names for the person, checked as at creation; the apps given the profile are told. */
  async updateProfile(actor: Actor, id: string, changes: ProfileChanges): Promise<User> {
    return (await rename(this.deps, actor, id, changes)).user;
  }

  /** Gives the person a new address, unverified; their old address is told, and a link may go to the new one. */
  changeEmail(actor: Actor, id: string, email: string, options: { sendVerification?: boolean } = {}): Promise<User> {
    return this.deps.addresses.changeByAdministrator(actor, id, email, options);
  }

  /** Disables the person and signs them out everywhere: every session ended, every grant revoked. */
  disableUser(actor: Actor, id: string): Promise<User> {
    return this.deps.audited(actor, async (trx) => {
      notOwnAccount(actor, id, 'lockout');
      await keepAnAdmin(this.deps.users, id, trx);
      const user = found(await this.deps.users.setDisabled(id, true, trx), 'person');
      const ended = endedResult(await this.deps.sessions.endAll(id, { everyApp: true }, trx), await this.deps.grants.revokeAllOfUser(id, trx));
      // Every mailed link dies with the account's use: none comes back to life if it is enabled again.
      await forgetPendingChange(trx, id);
      await this.deps.links.revokeAll(trx, id);
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
      notOwnAccount(actor, id, 'signIn');
      // A pending person's first password is theirs to choose, through their invitation or sign-up link.
      if (accountState(found(await this.deps.users.findById(id, trx), 'person')) !== 'active') {
        throw new GatehouseError('conflict', 'This person has not accepted their invitation or verified their sign-up yet: invite them again instead.', undefined, { key: 'admin.problem.notYetActive' });
      }
      const person = found(await this.deps.users.setPassword(id, password, trx), 'person');
      await this.deps.notices.send(trx, person, { kind: 'password-changed', how: 'admin' });
      await abandonAddressChange(trx, this.deps.links, id);
      const ended = options.endSessions === false ? { sessionsEnded: 0, grantsRevoked: 0 } : endedResult(await this.deps.sessions.endAll(id, { everyApp: options.revokeOfflineAccess !== false }, trx));
      const offlineAccessRevoked = options.revokeOfflineAccess !== false;
      const result = offlineAccessRevoked ? { ...ended, grantsRevoked: ended.grantsRevoked + (await endOfflineAccess(this.deps, trx, id)) } : ended;
      return { result, event: { type: 'user.password_reset', userId: id, details: { ...result, offlineAccessRevoked } } };
    });
  }

  /** Deletes the person, after revoking everything they hold and every record naming them (src/people/erasure.ts). */
  deleteUser(actor: Actor, id: string): Promise<void> {
    return this.deps.audited(actor, async (trx) => {
      notOwnAccount(actor, id, 'lockout');
      await keepAnAdmin(this.deps.users, id, trx);
      found(await this.deps.users.findById(id, trx), 'person');
      const ended = found(await eraseAccount(this.deps, trx, id), 'person');
      return { result: undefined, event: { type: 'user.deleted', userId: id, details: { ...ended } } };
    });
  }
}

/** Refuses an act that would leave no active administrator (UserStore.isLastAdmin). */
async function keepAnAdmin(users: Pick<UserStore, 'isLastAdmin'>, id: string, trx: Database): Promise<void> {
  if (!(await users.isLastAdmin(id, trx))) return;
  throw new GatehouseError('conflict', 'This is the last active administrator: Gatehouse would have no one left to administer it. Make another administrator first (gatehouse user create --admin).', undefined, { key: 'admin.problem.lastAdmin' });
}

/**
 * Refuses an administrator's act on their own account, whichever surface they use (the console,
 * the admin API with their own token). Disabling or deleting oneself locks oneself out, by a slip
 * or by whoever holds a console left open or a token: another administrator has to. A new
 * password or the removal of one's sign-in methods belongs to the account pages, which ask for the
 * current password or a second factor first; here a session or a token would be enough. The CLI
 * (the operator on the host) and admin clients act as no person, so they are not refused.
 */
export function notOwnAccount(actor: Actor, id: string, act: 'lockout' | 'signIn'): void {
  if (actor.type !== 'user' || actor.id !== id) return;
  if (act === 'lockout') {
    throw new GatehouseError('conflict', 'An administrator cannot disable or delete their own account: another administrator has to.', undefined, { key: 'admin.people.notSelf' });
  }
  throw new GatehouseError('conflict', 'An administrator changes their own password and sign-in methods on their account pages, which ask for proof that it is them.', undefined, { key: 'admin.people.ownSignIn' });
}
