// The second half of "Forgot password?": the person followed the mailed link and chose a new
// password. Everything the reset does happens in one transaction with its audit entry — the new
// password (the same rules and argon2id as every other change, src/people/users.ts), the link
// spent (and with it every other recovery link of the account), outstanding sign-in links spent,
// the sessions and offline access ended, the "password changed" notice written — so a failure
// leaves the old password, the link still usable, and nothing sent.
//
// What the person may keep: a recovery is what someone does when they lost the password, and
// often when they fear someone else has it. Every grant that holds a refresh token (an app's
// offline access, where a thief's copy lives on after every sign-out) is always revoked. Signing
// out every browser is the person's choice, ticked by default: someone who only forgot the
// password may keep the browsers they are still signed in on (their phone, say).
import type { Actor } from '../audit/events.js';
import { auditedActs, type Audited, type AuditedDependencies } from '../audit/audited.js';
import type { Database } from '../db/knex.js';
import type { GrantStore } from '../grants/store.js';
import type { OneTimeLinks } from '../links/store.js';
import type { AccountNotices } from '../notices/account-notices.js';
import type { User, UserStore } from '../people/users.js';
import { endedResult, endOfflineAccess } from '../sessions/ending.js';
import type { SessionStore } from '../sessions/store.js';
import { linkStillActs } from './link-requests.js';
import { abandonAddressChange } from '../verification/pending-changes.js';

export interface PasswordRecoveryDependencies extends AuditedDependencies {
  db: Database;
  users: UserStore;
  links: OneTimeLinks;
  sessions: SessionStore;
  grants: GrantStore;
  notices: AccountNotices;
}

export interface RecoveryResult {
  person: User;
  sessionsEnded: number;
  grantsRevoked: number;
}

/** Thrown inside the transaction when the link was spent meanwhile, so the new password rolls back. */
class LinkNoLongerWorks extends Error {}

export class PasswordRecovery {
  readonly #audited: Audited;

  constructor(private readonly deps: PasswordRecoveryDependencies) {
    this.#audited = auditedActs(deps);
  }

  /** The person a recovery link is for, while it still works; spends nothing (mail scanners follow links). */
  async personFor(token: unknown): Promise<User | undefined> {
    const link = await this.deps.links.find(token, 'recovery');
    if (!link) return undefined;
    const person = await this.deps.users.findById(link.userId);
    return linkStillActs(link, person) ? person : undefined;
  }

  /**
   * Sets the new password and spends the link; undefined when the link no longer works (nothing
   * changed). Throws the password's problem (GatehouseError weak_password) or HashingBusy, leaving
   * the link usable.
   */
  async complete(token: unknown, newPassword: string, options: { signOutEverywhere: boolean; ip: string }): Promise<RecoveryResult | undefined> {
    const person = await this.personFor(token);
    if (!person) return undefined;
    const actor: Actor = { type: 'user', id: person.id, ip: options.ip };
    try {
      return await this.#audited(actor, async (trx) => {
        // Hashed before anything in this transaction takes a lock (setPassword hashes first).
        const withPassword = await this.deps.users.setPassword(person.id, newPassword, trx);
        const spent = await this.deps.links.consume(trx, token, 'recovery');
        if (!spent || spent.userId !== person.id || !linkStillActs(spent, withPassword)) throw new LinkNoLongerWorks();
        // An invited person or a waiting sign-up who recovers instead has proved the address as
        // their invitation or verification link would: the account opens, or its new password
        // would be one nobody can sign in with. Its invitation or verification link dies with it.
        const activated = withPassword.activatedAt ? undefined : await this.deps.users.activate(person.id, { email: spent.email }, trx);
        const changed = activated ?? withPassword;
        if (activated) {
          await this.deps.links.revokeAll(trx, person.id, 'invitation');
          await this.deps.links.revokeAll(trx, person.id, 'verification');
        }
        await this.deps.links.revokeAll(trx, person.id, 'sign_in');
        await abandonAddressChange(trx, this.deps.links, person.id);
        const ended = options.signOutEverywhere ? endedResult(await this.deps.sessions.endAll(person.id, { everyApp: true }, trx)) : { sessionsEnded: 0, grantsRevoked: 0 };
        const grantsRevoked = ended.grantsRevoked + (await endOfflineAccess(this.deps, trx, person.id));
        await this.deps.notices.send(trx, changed, { kind: 'password-changed', how: 'recovery' });
        const result = { person: changed, sessionsEnded: ended.sessionsEnded, grantsRevoked };
        return {
          result,
          event: { type: 'user.password_recovered', userId: person.id, details: { linkId: spent.id, sessionsEnded: ended.sessionsEnded, grantsRevoked, signedOutEverywhere: options.signOutEverywhere, ...(activated ? { activated: true } : {}) } },
        };
      });
    } catch (error) {
      if (error instanceof LinkNoLongerWorks) return undefined;
      throw error;
    }
  }
}
