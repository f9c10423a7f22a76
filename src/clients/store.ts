// Applications registered with Gatehouse: third-party apps using the authorization-code flow,
// machine clients using client_credentials, and the credentials APIs introspect with.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { digest, randomSecret } from '../crypto/digest.js';
import type { Database } from '../db/knex.js';
import { isStorableText, NUL_MESSAGE } from '../db/text.js';
import { GatehouseError } from '../errors.js';
import { redirectUriProblem } from './redirect-uris.js';

export type TokenEndpointAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none';
export type GrantType = 'authorization_code' | 'refresh_token' | 'client_credentials';

export interface Client {
  clientId: string;
  name: string;
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  /** Digest of the client secret; undefined for public clients. */
  secretDigest: string | undefined;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  grantTypes: GrantType[];
  scope: string;
  isAdmin: boolean;
  /** RFC 9701: sign introspection responses with this alg when the caller asks for a JWT. */
  introspectionSignedResponseAlg: string | null;
  /** Public keys for private_key_jwt client authentication. */
  jwks: { keys: Record<string, unknown>[] } | null;
  /** The API (resource server) these are the introspection credentials of, if any. */
  resourceIdentifier: string | null;
  disabledAt: Date | null;
  createdAt: Date;
}

export interface ClientRow {
  client_id: string;
  name: string;
  secret_digest: string | null;
  token_endpoint_auth_method: TokenEndpointAuthMethod;
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  grant_types: GrantType[];
  scope: string;
  is_admin: boolean;
  introspection_signed_response_alg: string | null;
  jwks: { keys: Record<string, unknown>[] } | null;
  disabled_at: Date | null;
  created_at: Date;
  /** Joined from resource_servers. */
  resource_identifier?: string | null;
}

export function clientFromRow(row: ClientRow): Client {
  return {
    clientId: row.client_id,
    name: row.name,
    tokenEndpointAuthMethod: row.token_endpoint_auth_method,
    secretDigest: row.secret_digest ?? undefined,
    redirectUris: row.redirect_uris,
    postLogoutRedirectUris: row.post_logout_redirect_uris,
    grantTypes: row.grant_types,
    scope: row.scope,
    isAdmin: row.is_admin,
    introspectionSignedResponseAlg: row.introspection_signed_response_alg,
    jwks: row.jwks ?? null,
    resourceIdentifier: row.resource_identifier ?? null,
    disabledAt: row.disabled_at ? new Date(row.disabled_at) : null,
    createdAt: new Date(row.created_at),
  };
}

const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/; // RFC 6749 §3.3 scope-token

export const scopeSchema = z
  .string()
  .trim()
  .max(2000)
  .transform((s) => [...new Set(s.split(/\s+/).filter(Boolean))])
  .refine((tokens) => tokens.every((t) => SCOPE_TOKEN.test(t)), 'Scopes are space-separated words without quotes or backslashes.');

/** A JWK Set of public signing keys (RFC 7517 §5): never a private member. */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];
const jwksSchema = z
  .object({
    keys: z.array(z.looseObject({ kty: z.enum(['RSA', 'EC', 'OKP']), kid: z.string().max(200).optional() })).min(1).max(10),
  })
  .refine((set) => set.keys.every((key) => PRIVATE_JWK_MEMBERS.every((m) => !(m in key))), 'The JWK Set must hold public keys only: it contains private key material.');

const uriList = z
  .array(z.string().max(2000))
  .max(20)
  .superRefine((uris, ctx) => {
    for (const uri of uris) {
      const problem = redirectUriProblem(uri);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }
  });

const newClientSchema = z
  .object({
    name: z.string().trim().min(1, 'A client name is required.').max(200).refine(isStorableText, NUL_MESSAGE),
    redirectUris: uriList.default([]),
    postLogoutRedirectUris: uriList.default([]),
    public: z.boolean().default(false),
    clientCredentials: z.boolean().default(false),
    /** Introspection-only credentials for an API: no grant at all. */
    introspectionOnly: z.boolean().default(false),
    admin: z.boolean().default(false),
    tokenEndpointAuthMethod: z.enum(['client_secret_basic', 'client_secret_post', 'private_key_jwt']).default('client_secret_basic'),
    /** Required for (and only for) private_key_jwt. */
    jwks: jwksSchema.optional(),
    scope: scopeSchema.optional(),
    introspectionSignedResponseAlg: z.enum(['ES256', 'RS256']).optional(),
  })
  .superRefine((c, ctx) => {
    const userFacing = !c.clientCredentials && !c.introspectionOnly;
    if (userFacing && c.redirectUris.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['redirectUris'], message: 'At least one redirect URI is required for an app that signs users in.' });
    }
    if (!userFacing && c.redirectUris.length) {
      ctx.addIssue({ code: 'custom', path: ['redirectUris'], message: 'A machine client has no redirect URIs.' });
    }
    if (c.public && !userFacing) {
      ctx.addIssue({ code: 'custom', path: ['public'], message: 'A machine client must be confidential.' });
    }
    if (userFacing && c.scope && !c.scope.includes('openid')) {
      // oidc-provider treats an app without OIDC scopes as allowed all of them.
      ctx.addIssue({ code: 'custom', path: ['scope'], message: 'An app that signs people in needs the openid scope, e.g. --scope "openid profile email".' });
    }
    if (c.clientCredentials && !c.scope?.length) {
      ctx.addIssue({ code: 'custom', path: ['scope'], message: 'A machine client needs --scope naming what it may ask for.' });
    }
    if ((c.tokenEndpointAuthMethod === 'private_key_jwt') !== (c.jwks !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['jwks'], message: 'private_key_jwt needs the client\'s public keys (a JWK Set), and public keys are only used with private_key_jwt.' });
    }
    if (c.public && c.tokenEndpointAuthMethod === 'private_key_jwt') {
      ctx.addIssue({ code: 'custom', path: ['public'], message: 'A public client has no keys to authenticate with.' });
    }
    if (c.admin && !c.clientCredentials) {
      ctx.addIssue({ code: 'custom', path: ['admin'], message: 'Only a client_credentials client can be an admin client.' });
    }
  });

export type NewClient = z.input<typeof newClientSchema>;

export const DEFAULT_APP_SCOPE = 'openid profile email offline_access';

export function firstIssue(error: z.ZodError): GatehouseError {
  const issue = error.issues[0]!;
  return new GatehouseError('invalid_input', issue.message, issue.path.map(String).join('.') || undefined);
}

export class ClientStore {
  constructor(private readonly db: Database) {}

  /** Registers a client. The secret is returned only here; the database keeps its digest. */
  async create(input: NewClient, trx: Database = this.db): Promise<{ client: Client; clientSecret: string | undefined }> {
    const parsed = newClientSchema.safeParse(input);
    if (!parsed.success) throw firstIssue(parsed.error);
    const c = parsed.data;

    // A private_key_jwt client proves itself with its keys; it gets no secret.
    const clientSecret = c.public || c.tokenEndpointAuthMethod === 'private_key_jwt' ? undefined : randomSecret();
    const grantTypes: GrantType[] = c.clientCredentials
      ? ['client_credentials']
      : c.introspectionOnly
        ? []
        : ['authorization_code', 'refresh_token'];
    const scope = (c.scope ?? (c.clientCredentials || c.introspectionOnly ? [] : DEFAULT_APP_SCOPE.split(' '))).join(' ');
    const row = {
      client_id: newClientId(),
      name: c.name,
      secret_digest: clientSecret ? digest(clientSecret) : null,
      token_endpoint_auth_method: c.public ? 'none' : c.tokenEndpointAuthMethod,
      redirect_uris: JSON.stringify(c.redirectUris),
      post_logout_redirect_uris: JSON.stringify(c.postLogoutRedirectUris),
      grant_types: JSON.stringify(grantTypes),
      scope,
      is_admin: c.admin,
      introspection_signed_response_alg: c.introspectionSignedResponseAlg ?? null,
      jwks: c.jwks ? JSON.stringify(c.jwks) : null,
    };
    const [created] = await trx<ClientRow>('clients').insert(row as never).returning('*');
    return { client: clientFromRow(created as ClientRow), clientSecret };
  }

  async find(clientId: string): Promise<Client | undefined> {
    if (typeof clientId !== 'string' || clientId.length === 0 || clientId.length > 200 || !isStorableText(clientId)) return undefined;
    const row = await this.db<ClientRow>('clients')
      .leftJoin('resource_servers', 'resource_servers.client_id', 'clients.client_id')
      .select('clients.*', 'resource_servers.identifier as resource_identifier')
      .where('clients.client_id', clientId)
      .first();
    return row ? clientFromRow(row) : undefined;
  }
}

/** Client identifiers are public, but unguessable ids keep enumeration pointless. */
function newClientId(): string {
  return randomBytes(16).toString('base64url');
}
