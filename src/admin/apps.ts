// Administration of apps (clients): registering, editing, a new secret, disabling, deleting.
import type { Actor } from '../audit/events.js';
import { type Client, type ClientChanges, type NewClient } from '../clients/store.js';
import { ACCOUNT_CLIENT_ID } from '../vocabulary.js';
import type { Database } from '../db/knex.js';
import type { Page, PageRequest } from '../db/pages.js';
import { found, GatehouseError } from '../errors.js';
import type { OperationDependencies } from './operations.js';
import { deliveryStatus, type DeliveryStatus } from '../security-events/status.js';

export interface RotatedSecret {
  /** Shown once: only its digest is kept. */
  clientSecret: string;
  /** Until when the replaced secret still works; null when it stopped at once. */
  previousSecretExpiresAt: Date | null;
}

export class AppOperations {
  constructor(private readonly deps: OperationDependencies) {}

  listClients(page: PageRequest = {}): Promise<Page<Client>> {
    return this.deps.clients.list(page);
  }

  async getClient(clientId: string, trx?: Database): Promise<Client> {
    return found(await this.deps.clients.find(clientId, trx), 'client');
  }

  /** How the app's security events stand: waiting, dropped, last delivered, last failure. */
  eventDeliveries(clientId: string): Promise<DeliveryStatus> {
    return deliveryStatus(this.deps.db, { type: 'app', clientId });
  }

  /** Registers an app or a machine client; the secret is returned only here. */
  async createClient(actor: Actor, input: NewClient): Promise<{ client: Client; clientSecret: string | undefined }> {
    if (input.introspectionOnly) {
      throw new GatehouseError('invalid_input', 'An API\'s introspection credentials are created with the API.', 'introspectionOnly');
    }
    return this.deps.audited(actor, async (trx) => {
      const created = await this.deps.clients.create(input, trx);
      const { client } = created;
      return { result: created, event: { type: 'client.created', clientId: client.clientId, details: describe(client) } };
    });
  }

  updateClient(actor: Actor, clientId: string, changes: ClientChanges): Promise<Client> {
    return this.deps.audited(actor, async (trx) => {
      managedHere(await this.getClient(clientId, trx));
      const client = found(await this.deps.clients.update(clientId, changes, trx), 'client');
      return { result: client, event: { type: 'client.updated', clientId, details: { changed: Object.keys(changes), ...describe(client) } } };
    });
  }

  rotateClientSecret(actor: Actor, clientId: string, options: { overlapSeconds?: number } = {}): Promise<RotatedSecret> {
    return this.deps.audited(actor, async (trx) => {
      managedHere(await this.getClient(clientId, trx));
      const rotated = found(await this.deps.clients.rotateSecret(clientId, options.overlapSeconds, trx), 'client');
      const details = { previousSecretExpiresAt: rotated.previousSecretExpiresAt?.toISOString() ?? null };
      return { result: rotated, event: { type: 'client.secret_rotated', clientId, details } };
    });
  }

  /** Disables the app: it can no longer authenticate, and every grant it held is revoked. */
  disableClient(actor: Actor, clientId: string): Promise<Client> {
    return this.deps.audited(actor, async (trx) => {
      managedHere(await this.getClient(clientId, trx));
      const client = found(await this.deps.clients.setDisabled(clientId, true, trx), 'client');
      const grantsRevoked = await this.deps.grants.revokeAllOfClient(clientId, trx);
      return { result: client, event: { type: 'client.disabled', clientId, details: { grantsRevoked } } };
    });
  }

  enableClient(actor: Actor, clientId: string): Promise<Client> {
    return this.deps.audited(actor, async (trx) => {
      managedHere(await this.getClient(clientId, trx));
      const client = found(await this.deps.clients.setDisabled(clientId, false, trx), 'client');
      return { result: client, event: { type: 'client.enabled', clientId } };
    });
  }

  deleteClient(actor: Actor, clientId: string): Promise<void> {
    return this.deps.audited(actor, async (trx) => {
      const client = managedHere(await this.getClient(clientId, trx));
      const grantsRevoked = await this.deps.grants.revokeAllOfClient(clientId, trx);
      if (!(await this.deps.clients.delete(clientId, trx))) found(undefined, 'client');
      return { result: undefined, event: { type: 'client.deleted', clientId, details: { name: client.name, grantsRevoked } } };
    });
  }
}

/** Audit detail of a registration: what it may do, never its secret or its digest. */
function describe(client: Client): Record<string, unknown> {
  return {
    name: client.name, grantTypes: client.grantTypes, scope: client.scope, admin: client.isAdmin, redirectUris: client.redirectUris, requireAcr: client.requireAcr,
    // Where logout tokens go is where a person's sign-outs are reported: who changed it matters.
    backchannelLogoutUri: client.backchannelLogoutUri, backchannelLogoutSessionRequired: client.backchannelLogoutSessionRequired,
    // What it is held to: weakening any of these is what an audit reader looks for.
    requireDpop: client.requireDpop, requirePar: client.requirePar, requireSignedRequestObject: client.requireSignedRequestObject,
  };
}

/** An API's introspection credentials change with the API; Gatehouse's own sign-in client not at all. */
function managedHere(client: Client): Client {
  if (client.resourceIdentifier) {
    throw new GatehouseError('conflict', `These are the introspection credentials of the API ${client.resourceIdentifier}: manage them through the API.`, undefined, {
      key: 'admin.problem.apiCredentials', values: { identifier: client.resourceIdentifier },
    });
  }
  if (client.clientId === ACCOUNT_CLIENT_ID) throw new GatehouseError('conflict', 'Gatehouse\'s own sign-in client cannot be changed.', undefined, { key: 'admin.problem.accountClient' });
  return client;
}
