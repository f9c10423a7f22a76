// The `gatehouse` commands. Each takes parsed options and the opened stores and returns the JSON
// it prints. Errors are GatehouseErrors with a message for the operator.
import { readFileSync } from 'node:fs';
import { PasswordHasher } from '../accounts/passwords.js';
import { UserStore } from '../accounts/users.js';
import { AdminOperations } from '../admin/operations.js';
import type { Actor } from '../audit/events.js';
import { AuditLog } from '../audit/log.js';
import { ClientStore } from '../clients/store.js';
import type { Config } from '../config.js';
import type { Database } from '../db/knex.js';
import { migrateToLatest } from '../db/migrate.js';
import { GatehouseError } from '../errors.js';
import { GrantStore } from '../grants/store.js';
import { keyStoreFor } from '../oidc/keys.js';
import { ResourceServerStore } from '../resources/store.js';
import { SessionStore } from '../sessions/store.js';

export interface CommandContext {
  config: Config;
  db: Database;
  readStdin(): Promise<string>;
}

export type Options = Record<string, string | boolean | string[] | undefined>;

export interface Command {
  /** e.g. "user create" */
  name: string;
  summary: string;
  usage: string;
  options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;
  /** Commands that need no migrated schema run before migrations (only `migrate` itself). */
  migrates?: boolean;
  run(ctx: CommandContext, options: Options): Promise<unknown>;
}

/** What the operator does from a shell is audited like any admin action, as the `cli`. */
const CLI_ACTOR: Actor = { type: 'system', id: 'cli' };

function operationsFor(ctx: CommandContext): AdminOperations {
  const { db, config } = ctx;
  return new AdminOperations({
    db,
    users: new UserStore(db, new PasswordHasher(config.argon2)),
    clients: new ClientStore(db),
    resources: new ResourceServerStore(db),
    sessions: new SessionStore(db),
    grants: new GrantStore(db),
    audit: new AuditLog(db),
    keys: keyStoreFor(config, db),
  });
}

function text(options: Options, name: string, required = true): string | undefined {
  const value = options[name];
  if (typeof value === 'string' && value.length) return value;
  if (required) throw new GatehouseError('invalid_input', `--${name} is required`, name);
  return undefined;
}

function list(options: Options, name: string): string[] {
  const value = options[name];
  return Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
}

/** A password arrives on standard input so it never shows up in shell history or `ps`. */
async function passwordFromStdin(ctx: CommandContext, options: Options): Promise<string> {
  if (!options['password-stdin']) {
    throw new GatehouseError('invalid_input', '--password-stdin is required: pipe the password in, e.g. `printf %s "$PASSWORD" | gatehouse user create …`', 'password');
  }
  const password = (await ctx.readStdin()).replace(/\r?\n$/, '');
  if (!password) throw new GatehouseError('invalid_input', 'No password was given on standard input.', 'password');
  return password;
}

/** A JWK Set of the client's public keys, for private_key_jwt, read from a file. */
function jwksFrom(options: Options): { keys: Record<string, unknown>[] } | undefined {
  const file = text(options, 'jwks-file', false);
  if (!file) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new GatehouseError('invalid_input', `--jwks-file ${file}: ${(error as Error).message}`, 'jwks-file');
  }
  if (!parsed || typeof parsed !== 'object' || !Array.isArray((parsed as { keys?: unknown }).keys)) {
    throw new GatehouseError('invalid_input', `--jwks-file ${file} must hold a JWK Set: {"keys": [ … ]}`, 'jwks-file');
  }
  return parsed as { keys: Record<string, unknown>[] };
}

function parseDescriptions(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const value of values) {
    const at = value.indexOf('=');
    if (at < 1) throw new GatehouseError('invalid_input', `--describe takes scope=words, e.g. --describe "read=Read your notes" (got "${value}")`, 'describe');
    out[value.slice(0, at)] = value.slice(at + 1);
  }
  return out;
}

export const COMMANDS: Command[] = [
  {
    name: 'user create',
    summary: 'Create a person who can sign in',
    usage: 'gatehouse user create --email E --name N --password-stdin [--given-name G] [--family-name F] [--email-verified] [--admin]',
    options: {
      email: { type: 'string' }, name: { type: 'string' }, 'password-stdin': { type: 'boolean' },
      'given-name': { type: 'string' }, 'family-name': { type: 'string' }, 'email-verified': { type: 'boolean' }, admin: { type: 'boolean' },
    },
    async run(ctx, options) {
      const email = text(options, 'email')!;
      const name = text(options, 'name')!;
      const password = await passwordFromStdin(ctx, options);
      const user = await operationsFor(ctx).createUser(CLI_ACTOR, {
        email,
        name,
        password,
        givenName: text(options, 'given-name', false),
        familyName: text(options, 'family-name', false),
        emailVerified: options['email-verified'] === true,
        isAdmin: options.admin === true,
      });
      return { id: user.id, email: user.email };
    },
  },
  {
    name: 'client create',
    summary: 'Register an app (authorization code + PKCE) or a machine client (client_credentials)',
    usage: 'gatehouse client create --name N --redirect-uri U [--redirect-uri U2] [--post-logout-redirect-uri U] [--public] [--scope "openid profile email offline_access …"] [--auth-method client_secret_basic|client_secret_post] [--jwks-file public-keys.json]\n'
      + '       gatehouse client create --name N --client-credentials --scope "read write" [--admin]',
    options: {
      name: { type: 'string' }, 'redirect-uri': { type: 'string', multiple: true }, 'post-logout-redirect-uri': { type: 'string', multiple: true },
      public: { type: 'boolean' }, scope: { type: 'string' }, 'client-credentials': { type: 'boolean' }, admin: { type: 'boolean' },
      'auth-method': { type: 'string' }, 'jwks-file': { type: 'string' },
    },
    async run(ctx, options) {
      const jwks = jwksFrom(options);
      const authMethod = jwks ? 'private_key_jwt' : text(options, 'auth-method', false);
      if (authMethod && !['client_secret_basic', 'client_secret_post', 'private_key_jwt'].includes(authMethod)) {
        throw new GatehouseError('invalid_input', '--auth-method must be client_secret_basic or client_secret_post (or give --jwks-file for private_key_jwt)', 'auth-method');
      }
      const { client, clientSecret } = await operationsFor(ctx).createClient(CLI_ACTOR, {
        name: text(options, 'name')!,
        redirectUris: list(options, 'redirect-uri'),
        postLogoutRedirectUris: list(options, 'post-logout-redirect-uri'),
        public: options.public === true,
        clientCredentials: options['client-credentials'] === true,
        admin: options.admin === true,
        ...(authMethod ? { tokenEndpointAuthMethod: authMethod as 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' } : {}),
        ...(jwks ? { jwks: jwks as never } : {}),
        ...(typeof options.scope === 'string' ? { scope: options.scope } : {}),
      });
      return { client_id: client.clientId, ...(clientSecret ? { client_secret: clientSecret } : {}) };
    },
  },
  {
    name: 'resource create',
    summary: 'Register an API that receives JWT access tokens, with credentials to introspect them',
    usage: 'gatehouse resource create --identifier https://api.example.com --scope "read write" [--name N] [--describe "read=Read your notes"]… [--default] [--access-token-ttl SECONDS] [--jwt-introspection] [--jwks-file public-keys.json]',
    options: {
      identifier: { type: 'string' }, scope: { type: 'string' }, name: { type: 'string' }, describe: { type: 'string', multiple: true },
      default: { type: 'boolean' }, 'access-token-ttl': { type: 'string' },
      'jwt-introspection': { type: 'boolean' }, 'jwks-file': { type: 'string' },
    },
    async run(ctx, options) {
      const ttlText = text(options, 'access-token-ttl', false);
      const ttl = ttlText === undefined ? undefined : Number(ttlText);
      if (ttl !== undefined && !Number.isInteger(ttl)) throw new GatehouseError('invalid_input', '--access-token-ttl must be a whole number of seconds', 'access-token-ttl');
      const jwks = jwksFrom(options);
      const { resourceServer, clientId, clientSecret } = await operationsFor(ctx).createResource(CLI_ACTOR, {
        identifier: text(options, 'identifier')!,
        scope: text(options, 'scope')!,
        name: text(options, 'name', false),
        scopeDescriptions: parseDescriptions(list(options, 'describe')),
        isDefault: options.default === true,
        jwtIntrospection: options['jwt-introspection'] === true,
        ...(ttl !== undefined ? { accessTokenTtl: ttl } : {}),
        ...(jwks ? { jwks } : {}),
      });
      return { identifier: resourceServer.identifier, client_id: clientId, ...(clientSecret ? { client_secret: clientSecret } : {}) };
    },
  },
  {
    name: 'migrate',
    summary: 'Apply pending database migrations',
    usage: 'gatehouse migrate',
    options: {},
    migrates: true,
    async run(ctx) {
      return { applied: await migrateToLatest(ctx.db) };
    },
  },
  {
    name: 'keys rotate',
    summary: 'Add new signing keys: published now, signing after the publication delay',
    usage: 'gatehouse keys rotate',
    options: {},
    async run(ctx) {
      await keyStoreFor(ctx.config, ctx.db).ensureKeys();
      const added = await operationsFor(ctx).rotateKeys(CLI_ACTOR);
      return { added: added.map(({ kid, alg, activatesAt }) => ({ kid, alg, signs_from: activatesAt.toISOString() })) };
    },
  },
  {
    name: 'keys list',
    summary: 'List signing keys and their state (no key material)',
    usage: 'gatehouse keys list',
    options: {},
    async run(ctx) {
      const keys = await keyStoreFor(ctx.config, ctx.db).listKeys();
      return {
        keys: keys.map((k) => ({
          kid: k.kid, alg: k.alg, state: k.state, published: k.published,
          created_at: k.createdAt.toISOString(), activates_at: k.activatesAt.toISOString(),
          unpublish_at: k.unpublishAt?.toISOString() ?? null,
        })),
      };
    },
  },
];
