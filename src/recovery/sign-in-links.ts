// The way out of SECURITY.md's residual risk: while someone fails sign-ins for an account, new
// browsers are refused for it (src/security/sign-in-throttle.ts), the real person's too. The
// refusal page offers a sign-in link by mail; following it in a browser makes that browser known
// to the account (src/security/known-devices.ts), and known browsers are throttled only on their
// own failures. The person then signs in with their password as usual.
//
// Why the link does not sign the person in by itself: it proves control of the mailbox, which a
// recovery link already trusts with the whole account, so it would be no weaker. But the password
// is what an attacker at the account lacks; making the link the one thing that lets a browser
// *try* the password keeps every sign-in at "mailbox and password" rather than "mailbox alone",
// and a link opened by a mail scanner, or forwarded, signs nobody in.
import type { Actor } from '../audit/events.js';
import { auditedActs, type Audited, type AuditedDependencies } from '../audit/audited.js';
import type { Database } from '../db/knex.js';
import type { OneTimeLinks } from '../links/store.js';
import type { User, UserStore } from '../people/users.js';
import { linkStillActs } from './link-requests.js';

export interface SignInLinkDependencies extends AuditedDependencies {
  db: Database;
  users: UserStore;
  links: OneTimeLinks;
}

class LinkNoLongerWorks extends Error {}

export class SignInLinks {
  readonly #audited: Audited;

  constructor(private readonly deps: SignInLinkDependencies) {
    this.#audited = auditedActs(deps);
  }

  /** The person a sign-in link is for, while it still works; spends nothing. */
  async personFor(token: unknown): Promise<User | undefined> {
    const link = await this.deps.links.find(token, 'sign_in');
    if (!link) return undefined;
    const person = await this.deps.users.findById(link.userId);
    return linkStillActs(link, person) ? person : undefined;
  }

  /**
   * Spends the link; the person it was for, whose address the caller then remembers in the
   * browser that followed it. Undefined when the link no longer works.
   */
  async use(token: unknown, ip: string): Promise<User | undefined> {
    const person = await this.personFor(token);
    if (!person) return undefined;
    const actor: Actor = { type: 'user', id: person.id, ip };
    try {
      return await this.#audited(actor, async (trx) => {
        const spent = await this.deps.links.consume(trx, token, 'sign_in');
        const current = await this.deps.users.findById(person.id, trx);
        if (!spent || spent.userId !== person.id || !linkStillActs(spent, current)) throw new LinkNoLongerWorks();
        return { result: current, event: { type: 'user.sign_in_link_used', userId: person.id, details: { linkId: spent.id } } };
      });
    } catch (error) {
      if (error instanceof LinkNoLongerWorks) return undefined;
      throw error;
    }
  }
}
