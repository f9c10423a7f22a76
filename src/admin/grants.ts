// Administration of the access people gave apps (grants): listing, revoking one, revoking every
// grant of one person for one app, or of one app for everyone.
import type { Actor } from '../audit/events.js';
import type { Database } from '../db/knex.js';
import type { Page, PageRequest } from '../db/pages.js';
import { found, GatehouseError } from '../errors.js';
import type { GrantInfo } from '../grants/store.js';
import type { AppOperations } from './apps.js';
import type { OperationDependencies } from './operations.js';
import type { PeopleOperations } from './people.js';

export type GrantFilter = { userId: string; clientId?: undefined } | { clientId: string; userId?: undefined };

export class GrantOperations {
  constructor(
    private readonly deps: OperationDependencies,
    private readonly people: PeopleOperations,
    private readonly apps: AppOperations,
  ) {}

  /** A person's grants or an app's, newest first. */
  async listGrants(filter: GrantFilter, page: PageRequest = {}): Promise<Page<GrantInfo>> {
    if (typeof filter.userId === 'string' && filter.clientId === undefined) {
      await this.people.getUser(filter.userId);
      return this.deps.grants.listByUser(filter.userId, page);
    }
    if (typeof filter.clientId === 'string' && filter.userId === undefined) {
      await this.apps.getClient(filter.clientId);
      return this.deps.grants.listByClient(filter.clientId, page);
    }
    throw new GatehouseError('invalid_input', 'List the grants of one person or of one app.', 'userId');
  }

  async getGrant(grantId: string, trx?: Database): Promise<GrantInfo> {
    return found(await this.deps.grants.find(grantId, trx), 'grant');
  }

  revokeGrant(actor: Actor, grantId: string): Promise<void> {
    return this.deps.audited(actor, async (trx) => {
      const grant = await this.getGrant(grantId, trx);
      await this.deps.grants.revoke([grantId], trx);
      return { result: undefined, event: { type: 'grant.revoked', userId: grant.userId, clientId: grant.clientId, details: { grantId, scopes: grant.scopes } } };
    });
  }

  /** Every grant one person gave one app: the app must ask them again. */
  async revokeUserClientGrants(actor: Actor, userId: string, clientId: string): Promise<{ grantsRevoked: number }> {
    await this.people.getUser(userId);
    return this.deps.audited(actor, async (trx) => {
      const grantsRevoked = await this.deps.grants.revokeForUserAndClient(userId, clientId, trx);
      if (grantsRevoked === 0) found(undefined, 'grant of this person for this app');
      return { result: { grantsRevoked }, event: { type: 'grant.revoked', userId, clientId, details: { grantsRevoked } } };
    });
  }

  /** Every grant anyone gave the app. */
  async revokeClientGrants(actor: Actor, clientId: string): Promise<{ grantsRevoked: number }> {
    await this.apps.getClient(clientId);
    return this.deps.audited(actor, async (trx) => {
      const grantsRevoked = await this.deps.grants.revokeAllOfClient(clientId, trx);
      return { result: { grantsRevoked }, event: { type: 'grant.revoked', clientId, details: { grantsRevoked } } };
    });
  }
}
