// Administration of apps (clients) and of the grants people gave them.
import type { Database } from '../db/knex.js';
import type { Actor } from '../audit/events.js';
import { ACCOUNT_CLIENT_ID, type Client, type ClientChanges, type NewClient } from '../clients/store.js';
import type { Page, PageRequest } from '../db/pages.js';
import { GatehouseError } from '../errors.js';
import type { GrantInfo } from '../grants/store.js';
import { found } from './base.js';
import { PeopleOperations } from './people.js';

export type GrantFilter = { userId: string; clientId?: undefined } | { clientId: string; userId?: undefined };

export interface RotatedSecret {
  /** Shown once: only its digest is kept. */
  clientSecret: string;
  /** Until when the replaced secret still works; null when it stopped at once. */
  previousSecretExpiresAt: Date | null;
}

export class AppOperations extends PeopleOperations {
  /** A person's grants or an app's, newest first. */
  async listGrants(filter: GrantFilter, page: PageRequest = {}): Promise<Page<GrantInfo>> {
    if (typeof filter.userId === 'string' && filter.clientId === undefined) {
      await this.getUser(filter.userId);
      return this.deps.grants.listByUser(filter.userId, page);
    }
    if (typeof filter.clientId === 'string' && filter.userId === undefined) {
      await this.getClient(filter.clientId);
      return this.deps.grants.listByClient(filter.clientId, page);
    }
    throw new GatehouseError('invalid_input', 'List the grants of one person or of one app.', 'userId');
  }

  async getGrant(grantId: string, trx?: Database): Promise<GrantInfo> {
    return found(await this.deps.grants.find(grantId, trx), 'grant');
  }

  revokeGrant(actor: Actor, grantId: string): Promise<void> {
    return this.audited(actor, async (trx) => {
      const grant = await this.getGrant(grantId, trx);
      await this.deps.grants.revoke([grantId], trx);
      return { result: undefined, event: { type: 'grant.revoked', userId: grant.userId, clientId: grant.clientId, details: { grantId, scopes: grant.scopes } } };
    });
  }

  /** Every grant one person gave one app: the app must ask them again. */
  async revokeUserClientGrants(actor: Actor, userId: string, clientId: string): Promise<{ grantsRevoked: number }> {
    await this.getUser(userId);
    return this.audited(actor, async (trx) => {
      const grantsRevoked = await this.deps.grants.revokeForUserAndClient(userId, clientId, trx);
      if (grantsRevoked === 0) found(undefined, 'grant of this person for this app');
      return { result: { grantsRevoked }, event: { type: 'grant.revoked', userId, clientId, details: { grantsRevoked } } };
    });
  }

  /** Every grant anyone gave the app. */
  async revokeClientGrants(actor: Actor, clientId: string): Promise<{ grantsRevoked: number }> {
    await this.getClient(clientId);
    return this.audited(actor, async (trx) => {
      const grantsRevoked = await this.deps.grants.revokeAllOfClient(clientId, trx);
      return { result: { grantsRevoked }, event: { type: 'grant.revoked', clientId, details: { grantsRevoked } } };
    });
  }

  listClients(page: PageRequest = {}): Promise<Page<Client>> {
    return this.deps.clients.list(page);
  }

  async getClient(clientId: string, trx?: Database): Promise<Client> {
    return found(await this.deps.clients.find(clientId, trx), 'client');
  }

  /** Registers an app or a machine client; the secret is returned only here. */
  async createClient(actor: Actor, input: NewClient): Promise<{ client: Client; clientSecret: string | undefined }> {
    if (input.introspectionOnly) {
      throw new GatehouseError('invalid_input', 'An API\'s introspection credentials are created with the API.', 'introspectionOnly');
    }
    return this.audited(actor, async (trx) => {
      const created = await this.deps.clients.create(input, trx);
      const { client } = created;
      return { result: created, event: { type: 'client.created', clientId: client.clientId, details: describe(client) } };
    });
  }

  updateClient(actor: Actor, clientId: string, changes: ClientChanges): Promise<Client> {
    return this.audited(actor, async (trx) => {
      managedHere(await this.getClient(clientId, trx));
      const client = found(await this.deps.clients.update(clientId, changes, trx), 'client');
      return { result: client, event: { type: 'client.updated', clientId, details: { changed: Object.keys(changes), ...describe(client) } } };
    });
  }

  rotateClientSecret(actor: Actor, clientId: string, options: { overlapSeconds?: number } = {}): Promise<RotatedSecret> {
    return this.audited(actor, async (trx) => {
      managedHere(await this.getClient(clientId, trx));
      const rotated = found(await this.deps.clients.rotateSecret(clientId, options.overlapSeconds, trx), 'client');
      const details = { previousSecretExpiresAt: rotated.previousSecretExpiresAt?.toISOString() ?? null };
      return { result: rotated, event: { type: 'client.secret_rotated', clientId, details } };
    });
  }

  /** Disables the app: it can no longer authenticate, and every grant it held is revoked. */
  disableClient(actor: Actor, clientId: string): Promise<Client> {
    return this.audited(actor, async (trx) => {
      managedHere(await this.getClient(clientId, trx));
      const client = found(await this.deps.clients.setDisabled(clientId, true, trx), 'client');
      const grantsRevoked = await this.deps.grants.revokeAllOfClient(clientId, trx);
      return { result: client, event: { type: 'client.disabled', clientId, details: { grantsRevoked } } };
    });
  }

  enableClient(actor: Actor, clientId: string): Promise<Client> {
    return this.audited(actor, async (trx) => {
      managedHere(await this.getClient(clientId, trx));
      const client = found(await this.deps.clients.setDisabled(clientId, false, trx), 'client');
      return { result: client, event: { type: 'client.enabled', clientId } };
    });
  }

  deleteClient(actor: Actor, clientId: string): Promise<void> {
    return this.audited(actor, async (trx) => {
      const client = managedHere(await this.getClient(clientId, trx));
      const grantsRevoked = await this.deps.grants.revokeAllOfClient(clientId, trx);
      if (!(await this.deps.clients.delete(clientId, trx))) found(undefined, 'client');
      return { result: undefined, event: { type: 'client.deleted', clientId, details: { name: client.name, grantsRevoked } } };
    });
  }
}

/** Audit detail of a registration: what it may do, never its secret or its digest. */
function describe(client: Client): Record<string, unknown> {
  return { name: client.name, grantTypes: client.grantTypes, scope: client.scope, admin: client.isAdmin, redirectUris: client.redirectUris };
}

/** An API's introspection credentials change with the API; Gatehouse's own sign-in client not at all. */
function managedHere(client: Client): Client {
  if (client.resourceIdentifier) {
    throw new GatehouseError('conflict', `These are the introspection credentials of the API ${client.resourceIdentifier}: manage them through the API.`);
  }
  if (client.clientId === ACCOUNT_CLIENT_ID) throw new GatehouseError('conflict', 'Gatehouse\'s own sign-in client cannot be changed.');
  return client;
}
