// The `gatehouse` commands: what each is called, takes and says about itself. This module is all
// `--help` and option parsing load, so it imports nothing heavy: each command's work lives in
// actions.ts or demo.ts and is imported only when that command runs.
import type { Config } from '../config.js';
import type { Database } from '../db/knex.js';
import { MAX_ACCESS_TOKEN_LIFETIME_SECONDS, MIN_API_ACCESS_TOKEN_TTL_SECONDS } from '../lifetimes.js';
import { ACR_VALUES } from '../factors/levels.js';

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

/** Refuses an option given as anything but a whole number (within `range`, when there is one). */
function wholeNumber(options: Options, name: string, noun = 'a whole number', range?: { min: number; max: number }): void {
  const value = options[name];
  if (typeof value !== 'string') return;
  if (/^\d+$/.test(value) && (!range || (Number(value) >= range.min && Number(value) <= range.max))) return;
  throw new UsageError(`--${name} takes ${noun}${range ? ` from ${range.min} to ${range.max}` : ''} (got "${value}")`);
}

function oneOf(options: Options, name: string, allowed: string[]): void {
  const value = options[name];
  if (typeof value === 'string' && !allowed.includes(value)) throw new UsageError(`--${name} must be ${allowed.join(' or ')} (got "${value}")`);
}

/** What an app says about itself (client_uri, logo_uri, policy_uri, tos_uri, contacts): the consent page links the pages. */
const APP_INFORMATION: Record<string, OptionSpec> = {
  'client-uri': { type: 'string', value: 'URL', description: 'the app\'s home page, linked on the consent page; "" removes it' },
  'logo-uri': { type: 'string', value: 'URL', description: 'the app\'s logo (kept and returned by its registration; "" removes it)' },
  'policy-uri': { type: 'string', value: 'URL', description: 'the app\'s privacy policy, linked on the consent page; "" removes it' },
  'tos-uri': { type: 'string', value: 'URL', description: 'the app\'s terms of service, linked on the consent page; "" removes it' },
  contact: { type: 'string', multiple: true, value: 'EMAIL', description: 'who is responsible for the app (repeat for several; on update, the list replaces the old one, and --contact "" empties it)' },
};

/** The person a command acts on, found as sign-in finds them (case aside). */
const PERSON_BY_EMAIL: OptionSpec = { type: 'string', required: true, value: 'E', description: 'the address of the person, as they sign in with it' };

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
    name: 'user list',
    summary: 'List people, oldest first, a page at a time: their status, whether they are administrators',
    usage: ['gatehouse user list [--search S] [--limit N] [--cursor C]'],
    options: {
      search: { type: 'string', value: 'S', description: 'only those whose email or name begins with S, in any case (as the console searches)' },
      limit: { type: 'string', value: 'N', description: 'how many on this page: 1 to 200, 50 by default' },
      cursor: { type: 'string', value: 'C', description: 'the next_cursor of the page before, for the page after it' },
    },
    check(options) {
      wholeNumber(options, 'limit', 'a whole number', { min: 1, max: 200 });
    },
    run: async (ctx, options) => (await actions()).listUsers(ctx, options),
  },
  {
    name: 'user verify-email',
    summary: 'Mail a person a link to verify their address (only following it verifies the address)',
    usage: ['gatehouse user verify-email --email E --send'],
    options: {
      email: PERSON_BY_EMAIL,
      send: { type: 'boolean', required: true, description: 'mail the link (delivered by a running server; it works once, for 24 hours)' },
    },
    run: async (ctx, options) => (await actions()).sendVerification(ctx, options),
  },
  {
    name: 'user rename',
    summary: 'Change a person\'s name; apps their grants give it to are told (token-claims-change)',
    usage: ['gatehouse user rename --email E [--name N] [--given-name G] [--family-name F]'],
    options: {
      email: PERSON_BY_EMAIL,
      name: { type: 'string', value: 'N', description: 'their full name' },
      'given-name': { type: 'string', value: 'G', description: 'given name; "" removes it' },
      'family-name': { type: 'string', value: 'F', description: 'family name; "" removes it' },
    },
    check(options) {
      if (options.name === '') throw new UsageError('--name cannot be empty: everyone has a name');
      if (options.name === undefined && options['given-name'] === undefined && options['family-name'] === undefined) throw new UsageError('name a change: --name, --given-name or --family-name');
    },
    run: async (ctx, options) => (await actions()).renameUser(ctx, options),
  },
  {
    name: 'user disable',
    summary: 'Stop a person from signing in: every session ended, every grant revoked, apps told',
    usage: ['gatehouse user disable --email E'],
    options: { email: PERSON_BY_EMAIL },
    run: async (ctx, options) => (await actions()).disableUser(ctx, options),
  },
  {
    name: 'user enable',
    summary: 'Let a disabled person sign in again (nothing that disabling ended comes back)',
    usage: ['gatehouse user enable --email E'],
    options: { email: PERSON_BY_EMAIL },
    run: async (ctx, options) => (await actions()).enableUser(ctx, options),
  },
  {
    name: 'user reset-password',
    summary: 'Set a person\'s password, e.g. for an administrator who can no longer sign in; ends their sessions',
    usage: ['gatehouse user reset-password --email E --password-stdin [--keep-sessions]'],
    options: {
      email: PERSON_BY_EMAIL,
      'password-stdin': { type: 'boolean', required: true, description: 'read the new password from standard input (never from the command line)' },
      'keep-sessions': { type: 'boolean', description: 'leave their sessions and apps\' offline access in place (by default both end)' },
    },
    run: async (ctx, options) => (await actions()).resetPassword(ctx, options),
  },
  {
    name: 'user reset-factors',
    summary: 'Remove every second factor and passkey of a person who lost them; ends their sessions and tells them',
    usage: ['gatehouse user reset-factors --email E --yes'],
    options: {
      email: PERSON_BY_EMAIL,
      yes: { type: 'boolean', required: true, description: 'confirm: every factor and passkey goes, and the person is signed out everywhere' },
    },
    run: async (ctx, options) => (await actions()).resetFactors(ctx, options),
  },
  {
    name: 'user delete',
    summary: 'Delete a person: sessions ended, grants revoked, records forgotten, apps told (account-purged)',
    usage: ['gatehouse user delete --email E --yes'],
    options: {
      email: PERSON_BY_EMAIL,
      yes: { type: 'boolean', required: true, description: 'confirm: a deletion cannot be undone' },
    },
    run: async (ctx, options) => (await actions()).deleteUser(ctx, options),
  },
  {
    name: 'client create',
    summary: 'Register an app (authorization code + PKCE) or a machine client (client_credentials)',
    usage: [
      'gatehouse client create --name N --redirect-uri U [--redirect-uri U2 …] [options]',
      'gatehouse client create --name N --client-credentials --scope "read write" [--admin]',
      'gatehouse client create --name N --redirect-uri U --admin',
      'gatehouse client create --name N --redirect-uri U --jwks-file keys.json --require-par --require-signed-request-object --require-dpop',
    ],
    options: {
      name: { type: 'string', required: true, value: 'N', description: 'the name people see on the consent page' },
      'redirect-uri': { type: 'string', multiple: true, value: 'U', description: 'where Gatehouse may send people back (repeat for several)' },
      'post-logout-redirect-uri': { type: 'string', multiple: true, value: 'U', description: 'where Gatehouse may send people after signing out' },
      public: { type: 'boolean', description: 'a browser or native app without a secret' },
      scope: { type: 'string', value: '"S …"', description: 'what it may ask for (default "openid profile email offline_access"); API scopes must be defined by an API' },
      'client-credentials': { type: 'boolean', description: 'a machine client: client_credentials only, no people' },
      admin: { type: 'boolean', description: 'may use the admin API (gatehouse:admin): a machine client as itself, an app for the admins who sign in through it' },
      'auth-method': { type: 'string', value: 'M', description: 'client_secret_basic (default) or client_secret_post' },
      'jwks-file': { type: 'string', value: 'FILE', description: 'the app\'s public keys (a JWK Set file): it authenticates with private_key_jwt, unless --auth-method names a secret method, and signs request objects with them' },
      'jwks-uri': { type: 'string', value: 'URL', description: 'as --jwks-file, with the keys published at this https URL' },
      'require-dpop': { type: 'boolean', description: 'every token request must carry a DPoP proof: its tokens are bound to the app\'s key (RFC 9449)' },
      'require-par': { type: 'boolean', description: 'authorization requests only through the PAR endpoint (RFC 9126)' },
      'require-signed-request-object': { type: 'boolean', description: 'authorization requests only as request objects signed by the app\'s keys (RFC 9101); needs --jwks-file or --jwks-uri' },
      'backchannel-logout-uri': { type: 'string', value: 'URL', description: 'where Gatehouse POSTs a logout token when a sign-in to the app ends (https in production)' },
      'backchannel-logout-session-required': { type: 'boolean', description: 'the app needs every logout token to name the session (sid)' },
      'events-endpoint': { type: 'string', value: 'URL', description: 'where the app receives security events: a URL to push them to (RFC 8935; https in production), or urn:ietf:rfc:8936 for the app to poll POST /ssf/poll (RFC 8936)' },
      'device-flow': { type: 'boolean', description: 'may also use the device flow (RFC 8628: urn:ietf:params:oauth:grant-type:device_code), for a TV or command-line app' },
      'require-acr': { type: 'string', value: 'LEVEL', description: `the weakest sign-in the app accepts: ${ACR_VALUES.join(', ')}` },
      ...APP_INFORMATION,
    },
    check(options) {
      oneOf(options, 'auth-method', ['client_secret_basic', 'client_secret_post']);
      oneOf(options, 'require-acr', [...ACR_VALUES]);
    },
    run: async (ctx, options) => (await actions()).createClient(ctx, options),
  },
  {
    name: 'client update',
    summary: 'Change an app\'s name, back-channel logout, where it receives security events, or the pages it links people to',
    usage: ['gatehouse client update --client-id ID [--name N] [--backchannel-logout-uri URL] [--backchannel-logout-session-required | --backchannel-logout-session-optional] [--events-endpoint URL | --no-events-endpoint] [--client-uri URL] [--logo-uri URL] [--policy-uri URL] [--tos-uri URL] [--contact EMAIL …]'],
    options: {
      'client-id': { type: 'string', required: true, value: 'ID', description: 'the app to change' },
      name: { type: 'string', value: 'N', description: 'the name people see on the consent page' },
      'backchannel-logout-uri': { type: 'string', value: 'URL', description: 'where logout tokens go; "" stops them' },
      'backchannel-logout-session-required': { type: 'boolean', description: 'every logout token must name the session (sid)' },
      'backchannel-logout-session-optional': { type: 'boolean', description: 'logout tokens may name the person alone (the default)' },
      'events-endpoint': { type: 'string', value: 'URL', description: 'where the app receives security events: a URL to push them to (RFC 8935; https in production), or urn:ietf:rfc:8936 for the app to poll POST /ssf/poll (RFC 8936)' },
      'no-events-endpoint': { type: 'boolean', description: 'send the app no more security events' },
      ...APP_INFORMATION,
    },
    check(options) {
      if (options['backchannel-logout-session-required'] && options['backchannel-logout-session-optional']) {
        throw new UsageError('--backchannel-logout-session-required and --backchannel-logout-session-optional contradict each other: give one');
      }
      if (typeof options['events-endpoint'] === 'string' && options['no-events-endpoint'] === true) {
        throw new UsageError('--events-endpoint and --no-events-endpoint contradict each other: give one');
      }
      const changes = ['name', 'backchannel-logout-uri', 'backchannel-logout-session-required', 'backchannel-logout-session-optional', 'events-endpoint', 'no-events-endpoint', ...Object.keys(APP_INFORMATION)];
      if (!changes.some((option) => options[option] !== undefined && options[option] !== false)) {
        throw new UsageError('Name what changes: --name, --backchannel-logout-uri, --backchannel-logout-session-required or -optional, --events-endpoint URL or --no-events-endpoint, --client-uri, --logo-uri, --policy-uri, --tos-uri or --contact');
      }
    },
    run: async (ctx, options) => (await actions()).updateClient(ctx, options),
  },
  {
    name: 'registration-token create',
    summary: 'Issue an initial access token with which a developer\'s app registers itself (RFC 7591, POST /reg)',
    usage: ['gatehouse registration-token create [--scope "S …"] [--uses N] [--expires-in SECONDS] [--description D]'],
    options: {
      scope: { type: 'string', value: '"S …"', description: 'the scopes an app registered with it may hold at most (default "openid profile email offline_access"; never gatehouse:admin)' },
      uses: { type: 'string', value: 'N', description: 'how many apps it may register (default: any number)' },
      'expires-in': { type: 'string', value: 'SECONDS', description: 'how long it works (default and at most a year)' },
      description: { type: 'string', value: 'D', description: 'who it is for, as the console shows it' },
    },
    check(options) {
      wholeNumber(options, 'expires-in', 'a whole number of seconds');
      wholeNumber(options, 'uses');
    },
    run: async (ctx, options) => (await actions()).createRegistrationToken(ctx, options),
  },
  {
    name: 'registration-token list',
    summary: 'List initial access tokens (never their values): scope, uses, expiry',
    usage: ['gatehouse registration-token list'],
    options: {},
    run: async (ctx) => (await actions()).listRegistrationTokens(ctx),
  },
  {
    name: 'registration-token revoke',
    summary: 'Stop an initial access token registering more apps (the apps it registered stay)',
    usage: ['gatehouse registration-token revoke --id ID'],
    options: { id: { type: 'string', required: true, value: 'ID', description: 'the token\'s id, as create and list print it' } },
    run: async (ctx, options) => (await actions()).revokeRegistrationToken(ctx, options),
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
      'events-endpoint': { type: 'string', value: 'URL', description: 'where the API receives security events: a URL to push them to (RFC 8935; https in production), or urn:ietf:rfc:8936 for the API to poll POST /ssf/poll (RFC 8936)' },
    },
    check(options) {
      wholeNumber(options, 'access-token-ttl', 'a whole number of seconds');
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
    name: 'resource update',
    summary: 'Change which APIs an API may exchange a person\'s access token for (RFC 8693), or where it receives security events',
    usage: [
      'gatehouse resource update --identifier URL [--may-exchange-for URL2 …| --no-exchange] [--events-endpoint URL | --no-events-endpoint]',
    ],
    options: {
      identifier: { type: 'string', required: true, value: 'URL', description: 'the API to change' },
      'may-exchange-for': { type: 'string', multiple: true, value: 'URL', description: 'a registered API it may exchange tokens for (repeat for several; replaces the list)' },
      'no-exchange': { type: 'boolean', description: 'it may exchange tokens for no API' },
      'events-endpoint': { type: 'string', value: 'URL', description: 'where the API receives security events: a URL to push them to (RFC 8935; https in production), or urn:ietf:rfc:8936 for the API to poll POST /ssf/poll (RFC 8936)' },
      'no-events-endpoint': { type: 'boolean', description: 'send the API no more security events' },
    },
    check(options) {
      const list = options['may-exchange-for'] as string[] | undefined;
      const exchange = !!list?.length || options['no-exchange'] === true;
      const events = typeof options['events-endpoint'] === 'string' || options['no-events-endpoint'] === true;
      if (!exchange && !events) throw new UsageError('Name what changes: --may-exchange-for URL (repeatable) or --no-exchange, --events-endpoint URL or --no-events-endpoint');
      if (list?.length && options['no-exchange'] === true) throw new UsageError('--may-exchange-for and --no-exchange contradict each other');
      if (typeof options['events-endpoint'] === 'string' && options['no-events-endpoint'] === true) throw new UsageError('--events-endpoint and --no-events-endpoint contradict each other');
    },
    run: async (ctx, options) => (await actions()).updateResource(ctx, options),
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
    usage: ['gatehouse demo [--port N] [--issuer URL] [--api URL]'],
    options: {
      port: { type: 'string', value: 'N', description: 'where the demo app listens (default 3001); a new port is registered for the demo app' },
      issuer: { type: 'string', value: 'URL', description: 'where Gatehouse runs (default ISSUER, or http://localhost:$PORT)' },
      api: { type: 'string', value: 'URL', description: 'an API call to try with the access token (GET), stepping up when it asks (RFC 9470)' },
    },
    check(options) {
      wholeNumber(options, 'port', 'a port number', { min: 1, max: 65535 });
      const issuer = options.issuer;
      if (typeof issuer === 'string' && !/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(issuer)) {
        throw new UsageError(`--issuer takes Gatehouse's http(s) URL, e.g. http://localhost:3000 (got "${issuer}")`);
      }
      const api = options.api;
      if (typeof api === 'string' && !/^https?:\/\/[^\s/?#]+(\/[^\s#]*)?$/.test(api)) {
        throw new UsageError(`--api takes an http(s) URL, e.g. http://localhost:4000/notes/export (got "${api}")`);
      }
    },
    run: async (ctx, options) => (await import('./demo.js')).runDemo(ctx, options),
  },
];

/** An update says exactly one thing about the events endpoint: a new one, or none. */
/** Words that start commands: `gatehouse keys --help` lists the keys commands. */
export function commandsUnder(word: string): Command[] {
  return COMMANDS.filter((command) => command.name.split(' ')[0] === word);
}
