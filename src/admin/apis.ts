// Administration of APIs (RFC 8707 resource servers) and their introspection credentials.
import type { Actor } from '../audit/events.js';
import type { Database } from '../db/knex.js';
import type { Page, PageRequest } from '../db/pages.js';
import { found, GatehouseError } from '../errors.js';
import type { NewResourceServer, ResourceChanges, ResourceServer } from '../resources/store.js';
import type { RotatedSecret } from './apps.js';
import type { OperationDependencies } from './operations.js';
import { deliveryStatus, type DeliveryStatus } from '../security-events/status.js';

export class ApiOperations {
  constructor(private readonly deps: OperationDependencies) {}

  /** How the API's security events stand: waiting, dropped, last delivered, last failure. */
  eventDeliveries(identifier: string): Promise<DeliveryStatus> {
    return deliveryStatus(this.deps.db, { type: 'api', identifier });
  }

  listResources(page: PageRequest = {}): Promise<Page<ResourceServer>> {
    return this.deps.resources.list(page);
  }

  async getResource(identifier: string, trx?: Database): Promise<ResourceServer> {
    return found(await this.deps.resources.find(identifier, trx), 'API');
  }

  /** Registers an API with its introspection credentials; the secret is returned only here. */
  createResource(actor: Actor, input: NewResourceServer): Promise<{ resourceServer: ResourceServer; clientId: string; clientSecret: string | undefined }> {
    return this.deps.audited(actor, async (trx) => {
      const created = await this.deps.resources.create(input, trx);
      const { resourceServer } = created;
      return { result: created, event: { type: 'api.created', clientId: created.clientId, details: describe(resourceServer) } };
    });
  }

  updateResource(actor: Actor, identifier: string, changes: ResourceChanges): Promise<ResourceServer> {
    return this.deps.audited(actor, async (trx) => {
      const api = found(await this.deps.resources.update(identifier, changes, trx), 'API');
      return { result: api, event: { type: 'api.updated', clientId: api.clientId, details: { changed: Object.keys(changes), ...describe(api) } } };
    });
  }

  /** A new secret for the API's introspection client, with the old one honoured for the overlap. */
  rotateResourceSecret(actor: Actor, identifier: string, options: { overlapSeconds?: number } = {}): Promise<RotatedSecret> {
    return this.deps.audited(actor, async (trx) => {
      const api = await this.getResource(identifier, trx);
      if (!api.clientId) throw new GatehouseError('conflict', 'This API has no introspection client.', undefined, { key: 'admin.problem.noIntrospectionClient' });
      const rotated = found(await this.deps.clients.rotateSecret(api.clientId, options.overlapSeconds, trx), 'API client');
      const details = { identifier, previousSecretExpiresAt: rotated.previousSecretExpiresAt?.toISOString() ?? null };
      return { result: rotated, event: { type: 'api.secret_rotated', clientId: api.clientId, details } };
    });
  }

  /** The API gets no new tokens and can no longer introspect. */
  disableResource(actor: Actor, identifier: string): Promise<ResourceServer> {
    return this.deps.audited(actor, async (trx) => {
      const api = found(await this.deps.resources.setDisabled(identifier, true, trx), 'API');
      return { result: api, event: { type: 'api.disabled', clientId: api.clientId, details: { identifier } } };
    });
  }

  enableResource(actor: Actor, identifier: string): Promise<ResourceServer> {
    return this.deps.audited(actor, async (trx) => {
      const api = found(await this.deps.resources.setDisabled(identifier, false, trx), 'API');
      return { result: api, event: { type: 'api.enabled', clientId: api.clientId, details: { identifier } } };
    });
  }

  deleteResource(actor: Actor, identifier: string): Promise<void> {
    return this.deps.audited(actor, async (trx) => {
      const api = await this.getResource(identifier, trx);
      if (!(await this.deps.resources.delete(identifier, trx))) found(undefined, 'API');
      return { result: undefined, event: { type: 'api.deleted', clientId: api.clientId, details: { identifier, name: api.name } } };
    });
  }
}

function describe(api: ResourceServer): Record<string, unknown> {
  return { identifier: api.identifier, name: api.name, scopes: api.scopes, accessTokenTtl: api.accessTokenTtl, mayExchangeFor: api.mayExchangeFor };
}
