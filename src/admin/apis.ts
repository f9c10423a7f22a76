// Administration of APIs (RFC 8707 resource servers), signing keys, and the audit log itself.
import type { Database } from '../db/knex.js';
import type { Actor } from '../audit/events.js';
import type { AuditFilter, AuditPage } from '../audit/log.js';
import type { Page, PageRequest } from '../db/pages.js';
import { GatehouseError } from '../errors.js';
import type { SigningKeyInfo } from '../oidc/keys.js';
import type { NewResourceServer, ResourceChanges, ResourceServer } from '../resources/store.js';
import { AppOperations, type RotatedSecret } from './apps.js';
import { found } from './base.js';

export class ApiOperations extends AppOperations {
  listResources(page: PageRequest = {}): Promise<Page<ResourceServer>> {
    return this.deps.resources.list(page);
  }

  async getResource(identifier: string, trx?: Database): Promise<ResourceServer> {
    return found(await this.deps.resources.find(identifier, trx), 'API');
  }

  /** Registers an API with its introspection credentials; the secret is returned only here. */
  createResource(actor: Actor, input: NewResourceServer): Promise<{ resourceServer: ResourceServer; clientId: string; clientSecret: string | undefined }> {
    return this.audited(actor, async (trx) => {
      const created = await this.deps.resources.create(input, trx);
      const { resourceServer } = created;
      return { result: created, event: { type: 'api.created', clientId: created.clientId, details: describe(resourceServer) } };
    });
  }

  updateResource(actor: Actor, identifier: string, changes: ResourceChanges): Promise<ResourceServer> {
    return this.audited(actor, async (trx) => {
      const api = found(await this.deps.resources.update(identifier, changes, trx), 'API');
      return { result: api, event: { type: 'api.updated', clientId: api.clientId, details: { changed: Object.keys(changes), ...describe(api) } } };
    });
  }

  /** A new secret for the API's introspection client, with the old one honoured for the overlap. */
  rotateResourceSecret(actor: Actor, identifier: string, options: { overlapSeconds?: number } = {}): Promise<RotatedSecret> {
    return this.audited(actor, async (trx) => {
      const api = await this.getResource(identifier, trx);
      if (!api.clientId) throw new GatehouseError('conflict', 'This API has no introspection client.');
      const rotated = found(await this.deps.clients.rotateSecret(api.clientId, options.overlapSeconds, trx), 'API client');
      const details = { identifier, previousSecretExpiresAt: rotated.previousSecretExpiresAt?.toISOString() ?? null };
      return { result: rotated, event: { type: 'api.secret_rotated', clientId: api.clientId, details } };
    });
  }

  /** The API gets no new tokens and can no longer introspect. */
  disableResource(actor: Actor, identifier: string): Promise<ResourceServer> {
    return this.audited(actor, async (trx) => {
      const api = found(await this.deps.resources.setDisabled(identifier, true, trx), 'API');
      return { result: api, event: { type: 'api.disabled', clientId: api.clientId, details: { identifier } } };
    });
  }

  enableResource(actor: Actor, identifier: string): Promise<ResourceServer> {
    return this.audited(actor, async (trx) => {
      const api = found(await this.deps.resources.setDisabled(identifier, false, trx), 'API');
      return { result: api, event: { type: 'api.enabled', clientId: api.clientId, details: { identifier } } };
    });
  }

  deleteResource(actor: Actor, identifier: string): Promise<void> {
    return this.audited(actor, async (trx) => {
      const api = await this.getResource(identifier, trx);
      if (!(await this.deps.resources.delete(identifier, trx))) found(undefined, 'API');
      return { result: undefined, event: { type: 'api.deleted', clientId: api.clientId, details: { identifier, name: api.name } } };
    });
  }

  listKeys(): Promise<SigningKeyInfo[]> {
    return this.deps.keys.listKeys();
  }

  /**
   * Adds the next signing key of every algorithm. The key store serialises rotations in a
   * transaction of its own; the audit entry is written inside it, so a rotation is never without one.
   */
  rotateKeys(actor: Actor): Promise<SigningKeyInfo[]> {
    return this.deps.keys.rotate((trx, added) => this.deps.audit.append({
      type: 'keys.rotated',
      actor,
      details: { added: added.map((key) => ({ kid: key.kid, alg: key.alg, activatesAt: key.activatesAt.toISOString() })) },
    }, trx));
  }

  listAudit(filter: AuditFilter = {}, page: PageRequest = {}): Promise<AuditPage> {
    return this.deps.audit.list(filter, page);
  }
}

function describe(api: ResourceServer): Record<string, unknown> {
  return { identifier: api.identifier, name: api.name, scopes: api.scopes, accessTokenTtl: api.accessTokenTtl };
}
