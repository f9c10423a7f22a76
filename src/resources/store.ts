// APIs (RFC 8707 resource servers) that accept Gatehouse's JWT access tokens. Each comes with its
// own confidential client, the credentials it uses to introspect tokens.
import { z } from 'zod';
import { ClientStore, firstIssue, scopeSchema } from '../clients/store.js';
import type { Database } from '../db/knex.js';
import { isUniqueViolation } from '../db/errors.js';
import { isStorableText, NUL_MESSAGE } from '../db/text.js';
import { GatehouseError } from '../errors.js';

/** The longest access-token lifetime an API may set for itself. */
export const MAX_API_ACCESS_TOKEN_TTL_SECONDS = 86_400;

export interface ResourceServer {
  identifier: string;
  name: string;
  /** Scopes this API defines, e.g. ["read", "write"]. */
  scopes: string[];
  /** Plain-words descriptions for the consent page, by scope. */
  scopeDescriptions: Record<string, string>;
  /** Overrides the default access-token lifetime for this API, in seconds. */
  accessTokenTtl: number | null;
  isDefault: boolean;
  clientId: string | null;
  createdAt: Date;
}

export interface ResourceServerRow {
  identifier: string;
  name: string;
  scope: string;
  scope_descriptions: Record<string, string>;
  access_token_ttl: number | null;
  is_default: boolean;
  client_id: string | null;
  created_at: Date;
}

export function resourceServerFromRow(row: ResourceServerRow): ResourceServer {
  return {
    identifier: row.identifier,
    name: row.name,
    scopes: row.scope.split(' ').filter(Boolean),
    scopeDescriptions: row.scope_descriptions ?? {},
    accessTokenTtl: row.access_token_ttl,
    isDefault: row.is_default,
    clientId: row.client_id,
    createdAt: new Date(row.created_at),
  };
}

/** OIDC scopes are about the person, not an API; an API may not redefine them. */
const RESERVED_SCOPES = new Set(['openid', 'profile', 'email', 'address', 'phone', 'offline_access']);

const identifierSchema = z
  .string()
  .trim()
  .max(500)
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'https:' || url.protocol === 'http:') && !url.hash && !value.includes('#') && !/[\u0000-\u0020\u007f]/.test(value);
    } catch {
      return false;
    }
  }, 'The identifier must be an absolute http(s) URI without a fragment (RFC 8707), e.g. https://api.example.com');

const newResourceSchema = z.object({
  identifier: identifierSchema,
  name: z.string().trim().min(1).max(200).refine(isStorableText, NUL_MESSAGE).optional(),
  scope: scopeSchema.refine((s) => s.length > 0, 'An API needs at least one scope, e.g. --scope "read write".')
    .refine((s) => s.every((t) => !RESERVED_SCOPES.has(t)), 'openid, profile, email, address, phone and offline_access are OpenID Connect scopes, not API scopes.'),
  scopeDescriptions: z.record(z.string(), z.string().trim().min(1).max(200).refine(isStorableText, NUL_MESSAGE)).default({}),
  accessTokenTtl: z.number().int().min(30).max(MAX_API_ACCESS_TOKEN_TTL_SECONDS).optional(),
  isDefault: z.boolean().default(false),
  /** RFC 9701: the API may ask for introspection responses as signed JWTs. */
  jwtIntrospection: z.boolean().default(false),
  /** The API authenticates to introspect with private_key_jwt and these public keys, not a secret. */
  jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).optional(),
}).superRefine((r, ctx) => {
  for (const scope of Object.keys(r.scopeDescriptions)) {
    if (!r.scope.includes(scope)) ctx.addIssue({ code: 'custom', path: ['scopeDescriptions'], message: `"${scope}" is described but is not one of the API's scopes.` });
  }
});

export type NewResourceServer = z.input<typeof newResourceSchema>;

/**
 * An app's API scopes are one list matched against every API, so two APIs sharing a scope name
 * would let an app registered for one get that scope on the other. Names are unique across APIs
 * (prefix them, e.g. notes:read).
 */
async function refuseScopesOfOtherApis(db: Database, scopes: string[]): Promise<void> {
  const taken = await db<ResourceServerRow>('resource_servers').select('identifier', 'scope');
  for (const row of taken) {
    const clash = row.scope.split(' ').find((scope) => scopes.includes(scope));
    if (clash) {
      throw new GatehouseError('conflict', `The scope "${clash}" already belongs to ${row.identifier}; give each API its own scope names, e.g. "notes:read".`, 'scope');
    }
  }
}

export class ResourceServerStore {
  constructor(private readonly db: Database) {}

  async create(input: NewResourceServer): Promise<{ resourceServer: ResourceServer; clientId: string; clientSecret: string | undefined }> {
    const parsed = newResourceSchema.safeParse(input);
    if (!parsed.success) throw firstIssue(parsed.error);
    const r = parsed.data;
    return this.db.transaction(async (trx) => {
      const { client, clientSecret } = await new ClientStore(trx).create(
        {
          name: `${r.name ?? r.identifier} (introspection)`,
          introspectionOnly: true,
          ...(r.jwtIntrospection ? { introspectionSignedResponseAlg: 'ES256' as const } : {}),
          ...(r.jwks ? { tokenEndpointAuthMethod: 'private_key_jwt' as const, jwks: r.jwks as never } : {}),
        },
        trx,
      );
      if (await trx('resource_servers').where({ identifier: r.identifier }).first()) {
        throw new GatehouseError('conflict', `An API with the identifier ${r.identifier} already exists.`, 'identifier');
      }
      await refuseScopesOfOtherApis(trx, r.scope);
      if (r.isDefault) await trx('resource_servers').where({ is_default: true }).update({ is_default: false });
      const [row] = await trx<ResourceServerRow>('resource_servers')
        .insert({
          identifier: r.identifier,
          name: r.name ?? r.identifier,
          scope: r.scope.join(' '),
          scope_descriptions: JSON.stringify(r.scopeDescriptions) as unknown as Record<string, string>,
          access_token_ttl: r.accessTokenTtl ?? null,
          is_default: r.isDefault,
          client_id: client.clientId,
        })
        .returning('*')
        .catch((error: unknown) => {
          if (isUniqueViolation(error)) throw new GatehouseError('conflict', `An API with the identifier ${r.identifier} already exists.`, 'identifier');
          throw error;
        });
      return { resourceServer: resourceServerFromRow(row!), clientId: client.clientId, clientSecret };
    });
  }

  async find(identifier: string): Promise<ResourceServer | undefined> {
    if (typeof identifier !== 'string' || identifier.length > 500 || !isStorableText(identifier)) return undefined;
    const row = await this.db<ResourceServerRow>('resource_servers').where({ identifier }).first();
    return row ? resourceServerFromRow(row) : undefined;
  }

  async findDefault(): Promise<ResourceServer | undefined> {
    const row = await this.db<ResourceServerRow>('resource_servers').where({ is_default: true }).first();
    return row ? resourceServerFromRow(row) : undefined;
  }
}
