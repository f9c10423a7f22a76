// The `gatehouse` commands: what each is called, takes and says about itself. This module is all
// `--help` and option parsing load, so it imports nothing heavy: each command's work lives in
// actions.ts or demo.ts and is imported only when that command runs.
import type { Config } from '../config.js';
import type { Database } from '../db/knex.js';
import { MAX_ACCESS_TOKEN_LIFETIME_SECONDS, MIN_API_ACCESS_TOKEN_TTL_SECONDS } from '../lifetimes.js';

/** The command line itself is wrong (unknown command or option, missing or malformed value): exit 2. */
export class UsageError extends Error {
  constructor(message: string, readonly command?: Command) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  required?: boolean;
  /** What the value looks like in help, e.g. URL. */
  value?: string;
  description: string;
}

export type Options = Record<string, string | boolean | string[] | undefined>;

export interface CommandContext {
  config: Config;
  /** Opens the configured database (migrated, unless the command is `migrate`), runs `work`, closes it. */
  useDatabase<T>(work: (db: Database) => Promise<T>): Promise<T>;
  readStdin(): Promise<string>;
  /** A line on stderr that does not fail the command. */
  warn(message: string): void;
}

export interface Command {
  /** e.g. "user create" */
  name: string;
  summary: string;
  usage: string[];
  options: Record<string, OptionSpec>;
  /** Only `migrate` works on a database that is not migrated yet. */
  migrates?: boolean;
  /** Checks of the options' form that need no configuration or database; throw UsageError. */
  check?(options: Options): void;
  run(ctx: CommandContext, options: Options): Promise<unknown>;
}

const actions = () => import('./actions.js');

function positiveInteger(options: Options, name: string): void {
  const value = options[name];
  if (typeof value === 'string' && !/^\d+$/.test(value)) throw new UsageError(`--${name} takes a whole number of seconds (got "${value}")`);
}

function oneOf(options: Options, name: string, allowed: string[]): void {
  const value = options[name];
  if (typeof value === 'string' && !allowed.includes(value)) throw new UsageError(`--${name} must be ${allowed.join(' or ')} (got "${value}")`);
}

export const COMMANDS: Command[] = [
  {
    name: 'user create',
    summary: 'Create a person who can sign in',
    usage: ['gatehouse user create --email E --name N --password-stdin [options]'],
    options: {
      email: { type: 'string', required: true, value: 'E', description: 'their email address, which they sign in with' },
      name: { type: 'string', required: true, value: 'N', description: 'their full name' },
      'password-stdin': { type: 'boolean', required: true, description: 'read the password from standard input (never from the command line)' },
      'given-name': { type: 'string', value: 'G', description: 'given name' },
      'family-name': { type: 'string', value: 'F', description: 'family name' },
      admin: { type: 'boolean', description: 'may use the admin console at /admin' },
    },
    run: async (ctx, options) => (await actions()).createUser(ctx, options),
  },
  {
    name: 'user invite',
    summary: 'Invite a person by mail: the link lets them choose their password (SIGNUP=invite or open)',
    usage: ['gatehouse user invite --email E --name N [options]'],
    options: {
      email: { type: 'string', required: true, value: 'E', description: 'their email address: the invitation goes there, and they sign in with it' },
      name: { type: 'string', required: true, value: 'N', description: 'their full name' },
      'given-name': { type: 'string', value: 'G', description: 'given name' },
      'family-name': { type: 'string', value: 'F', description: 'family name' },
      admin: { type: 'boolean', description: 'may use the admin console at /admin once they accept' },
    },
    run: async (ctx, options) => (await actions()).inviteUser(ctx, options),
  },
  {
    name: 'user verify-email',
    summary: 'Mail a person a link to verify their address (only following it verifies the address)',
    usage: ['gatehouse user verify-email --email E --send'],
    options: {
      email: { type: 'string', required: true, value: 'E', description: 'the address of the person, as they sign in with it' },
      send: { type: 'boolean', required: true, description: 'mail the link (delivered by a running server; it works once, for 24 hours)' },
    },
    run: async (ctx, options) => (await actions()).sendVerification(ctx, options),
  },
  {
    name: 'client create',
    summary: 'Register an app (authorization code + PKCE) or a machine client (client_credentials)',
    usage: [
      'gatehouse client create --name N --redirect-uri U [--redirect-uri U2 …] [options]',
      'gatehouse client create --name N --client-credentials --scope "read write" [--admin]',
    ],
    options: {
      name: { type: 'string', required: true, value: 'N', description: 'the name people see on the consent page' },
      'redirect-uri': { type: 'string', multiple: true, value: 'U', description: 'where Gatehouse may send people back (repeat for several)' },
      'post-logout-redirect-uri': { type: 'string', multiple: true, value: 'U', description: 'where Gatehouse may send people after signing out' },
      public: { type: 'boolean', description: 'a browser or native app without a secret' },
      scope: { type: 'string', value: '"S …"', description: 'what it may ask for (default "openid profile email offline_access"); API scopes must be defined by an API' },
      'client-credentials': { type: 'boolean', description: 'a machine client: client_credentials only, no people' },
      admin: { type: 'boolean', description: 'with --client-credentials: may use the admin API (gatehouse:admin)' },
      'auth-method': { type: 'string', value: 'M', description: 'client_secret_basic (default) or client_secret_post' },
      'jwks-file': { type: 'string', value: 'FILE', description: 'authenticate with private_key_jwt and the public keys in this JWK Set file' },
    },
    check: (options) => oneOf(options, 'auth-method', ['client_secret_basic', 'client_secret_post']),
    run: async (ctx, options) => (await actions()).createClient(ctx, options),
  },
  {
    name: 'resource create',
    summary: 'Register an API that receives JWT access tokens, with credentials to introspect them',
    usage: ['gatehouse resource create --identifier URL --scope "S …" [options]'],
    options: {
      identifier: { type: 'string', required: true, value: 'URL', description: 'the API\'s identifier (the tokens\' aud), e.g. https://api.example.com' },
      scope: { type: 'string', required: true, value: '"S …"', description: 'its scopes, unique across APIs: prefix them, e.g. "docs:read docs:write"' },
      name: { type: 'string', value: 'N', description: 'the name people see on the consent page' },
      describe: { type: 'string', multiple: true, value: 'S=WORDS', description: 'what a scope lets an app do, in plain words, in the default language (repeat per scope)' },
      'describe-in': { type: 'string', multiple: true, value: 'LANG:S=WORDS', description: 'the same in another language, e.g. "de:docs:read=Ihre Dokumente lesen" (repeat per language and scope)' },
      default: { type: 'boolean', description: 'the API apps get a token for when they name none' },
      'access-token-ttl': { type: 'string', value: 'SECONDS', description: `its access tokens' lifetime (${MIN_API_ACCESS_TOKEN_TTL_SECONDS} to ${MAX_ACCESS_TOKEN_LIFETIME_SECONDS})` },
      'jwt-introspection': { type: 'boolean', description: 'may ask for signed introspection responses (RFC 9701)' },
      'jwks-file': { type: 'string', value: 'FILE', description: 'introspect with private_key_jwt and the public keys in this JWK Set file' },
    },
    check(options) {
      positiveInteger(options, 'access-token-ttl');
      for (const value of (options.describe as string[] | undefined) ?? []) {
        if (value.indexOf('=') < 1) throw new UsageError(`--describe takes scope=words, e.g. --describe "docs:read=Read your documents" (got "${value}")`);
      }
      for (const value of (options['describe-in'] as string[] | undefined) ?? []) {
        // A language tag has no colon, so the first one ends it; scope names may have more.
        const colon = value.indexOf(':');
        if (colon < 1 || value.indexOf('=', colon) < colon + 2) throw new UsageError(`--describe-in takes language:scope=words, e.g. --describe-in "de:docs:read=Ihre Dokumente lesen" (got "${value}")`);
      }
    },
    run: async (ctx, options) => (await actions()).createResource(ctx, options),
  },
  {
    name: 'migrate',
    summary: 'Apply pending database migrations',
    usage: ['gatehouse migrate'],
    options: {},
    migrates: true,
    run: async (ctx) => (await actions()).migrate(ctx),
  },
  {
    name: 'keys rotate',
    summary: 'Add new signing keys: published now, signing after the publication delay',
    usage: ['gatehouse keys rotate'],
    options: {},
    run: async (ctx) => (await actions()).rotateKeys(ctx),
  },
  {
    name: 'keys list',
    summary: 'List signing keys and their state (no key material)',
    usage: ['gatehouse keys list'],
    options: {},
    run: async (ctx) => (await actions()).listKeys(ctx),
  },
  {
    name: 'demo',
    summary: 'Development only: a demo app to try the sign-in flow in a browser',
    usage: ['gatehouse demo [--port N] [--issuer URL]'],
    options: {
      port: { type: 'string', value: 'N', description: 'where the demo app listens (default 3001); a new port is registered for the demo app' },
      issuer: { type: 'string', value: 'URL', description: 'where Gatehouse runs (default ISSUER, or http://localhost:$PORT)' },
    },
    check(options) {
      const port = options.port;
      if (typeof port === 'string' && (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535)) {
        throw new UsageError(`--port takes a port number from 1 to 65535 (got "${port}")`);
      }
      const issuer = options.issuer;
      if (typeof issuer === 'string' && !/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(issuer)) {
        throw new UsageError(`--issuer takes Gatehouse's http(s) URL, e.g. http://localhost:3000 (got "${issuer}")`);
      }
    },
    run: async (ctx, options) => (await import('./demo.js')).runDemo(ctx, options),
  },
];

/** Words that start commands: `gatehouse keys --help` lists the keys commands. */
export function commandsUnder(word: string): Command[] {
  return COMMANDS.filter((command) => command.name.split(' ')[0] === word);
}
