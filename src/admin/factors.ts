// An administrator and a person's second factors: seeing which they have (names and dates, never
// a secret) and removing them all when the person lost them. Removing signs the person out
// everywhere and tells them (src/factors/acts.ts); the audit entry is written in the same transaction.
import type { Actor } from '../audit/events.js';
import { GatehouseError, found } from '../errors.js';
import type { FactorActs } from '../factors/acts.js';
import type { Factor } from '../factors/store.js';
import type { OperationDependencies } from './operations.js';
import { notOwnAccount } from './people.js';

export class FactorOperations {
  constructor(private readonly deps: OperationDependencies, private readonly acts: FactorActs | undefined) {}

  #acts(): FactorActs {
    if (!this.acts) throw new GatehouseError('conflict', 'Second factors are not available here.', undefined, { key: 'admin.problem.factorsUnavailable' });
    return this.acts;
  }

  /** The person's second factors and passkeys, as their own security page lists them (never a secret or a public key). */
  async list(userId: string): Promise<Factor[]> {
    found(await this.deps.users.findById(userId), 'person');
    return this.acts ? this.acts.list(userId) : [];
  }

  /** Removes every second factor of the person, ends their sessions, tells them. */
  async reset(actor: Actor, userId: string): ReturnType<FactorActs['resetByAdministrator']> {
    notOwnAccount(actor, userId, 'signIn');
    return this.#acts().resetByAdministrator(actor, userId);
  }
}
