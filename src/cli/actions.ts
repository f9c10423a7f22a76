// What the database commands do. Imported only when one of them runs (see commands.ts), and the
// admin operations (stores, argon2, the password dictionaries) only by the commands that act
// through them. Errors are GatehouseErrors for the operator, or UsageErrors when the command line
// is at fault.
import { readFileSync } from 'node:fs';
import type { AdminOperations } from '../admin/operations.js';
import { pageJson, registrationTokenJson, userJson } from '../admin/api/representations.js';
import type { Actor } from '../audit/events.js';
import type { Config } from '../config.js';
import type { Database } from '../db/knex.js';
import { migrateToLatest } from '../db/migrate.js';
import { keyStoreFor } from '../keys/signing-keys.js';
import { GatehouseError } from '../errors.js';
import { UsageError, type CommandContext, type Options } from './commands.js';
import type { NewClient } from '../clients/store.js';
import type { User } from '../people/users.js';

/** What the operator does from a shell is audited like any admin action, as the `cli`. */
const CLI_ACTOR: Actor = { type: 'system', id: 'cli' };

/** Scopes about the person (OpenID Connect) and Gatehouse's own, which no API defines. */
const PERSON_SCOPES = new Set(['openid', 'profile', 'email', 'address', 'phone', 'offline_access', 'gatehouse:admin']);

export async function operationsFor(config: Config, db: Database): Promise<AdminOperations> {
  const [{ PasswordHasher }, { UserStore }, { adminOperations }, { AuditLog }, { ClientStore }, { GrantStore }, { ResourceServerStore }, { SessionStore }, { OneTimeLinks }, { Outbox }, { AddressMail }, { Addresses }, { EnrolmentMail }, { AccountNotices }, { OidcRecords }, { BackchannelLogout }] = await Promise.all([
    import('../people/passwords.js'), import('../people/users.js'), import('../admin/operations.js'), import('../audit/log.js'),
    import('../clients/store.js'), import('../grants/store.js'), import('../resources/store.js'), import('../sessions/store.js'),
    import('../links/store.js'), import('../outbox/outbox.js'), import('../verification/address-mail.js'), import('../verification/addresses.js'),
    import('../enrolment/mail.js'), import('../notices/account-notices.js'), import('../records/index.js'), import('../logout/backchannel-logout.js'),
  ]);
  const [{ watchForSecurityEvents }, { SecurityEventPolls }, { FactorActs }, { FactorStore }, { PasskeyStore }, { auditedActs }] = await Promise.all([
    import('../security-events/observer.js'), import('../security-events/polls.js'), import('../factors/acts.js'), import('../factors/store.js'), import('../passkeys/store.js'), import('../audit/audited.js'),
  ]);
  const users = new UserStore(db, new PasswordHasher(config.argon2));
  const audit = new AuditLog(db);
  // An act done here is answered, as the server's are, once every running instance has heard of it.
  const changes = {
    async barrier() {
      const [{ barrierFrom }, { createLogger }] = await Promise.all([import('../db/notifications.js'), import('../logger.js')]);
      await barrierFrom(db, createLogger('warn', process.stderr));
    },
  };
  const links = new OneTimeLinks(db);
  // Mail is written to the outbox, which a running server's sender delivers (woken by the change feed).
  const outbox = new Outbox(config.secrets.keyEncryptionKey);
  const addresses = new Addresses({ db, users, links, audit, changes, enabled: config.emailVerification, mail: new AddressMail(links, outbox, config.issuer, config.defaultLocale) });
  // The server's rule for which sessions are live, so a command ends the sessions a person sees.
  const records = new OidcRecords(db, Date.now, undefined, { sessionMaxLifetimeSeconds: config.ttl.sessionMax });
  const clients = new ClientStore(db, records, { httpsOnly: config.env === 'production' });
  const resources = new ResourceServerStore(db, { httpsOnly: config.env === 'production', issuer: config.issuer });
  // Logout tokens of sessions a command ends go to the outbox too, for a running server to sign and send.
  const logout = new BackchannelLogout({ db, outbox, records, receivers: (ids, trx) => clients.logoutReceivers(ids, trx) });
  // An act done here pushes its security events as one done by the server does: written to the
  // outbox with the act, sent by a running server (or kept for the receivers that poll).
  watchForSecurityEvents({ records, audit, clients, resources, outbox, polls: new SecurityEventPolls(db, config.secrets.keyEncryptionKey), issuer: config.issuer });
  const sessions = new SessionStore(db, records, (trx, userId, signedOut, how) => logout.sessionsEnded(trx, userId, signedOut, how));
  const grants = new GrantStore(db, records);
  const notices = new AccountNotices({ db, outbox, issuer: config.issuer, enabled: config.emailNotifications, recoveryOffered: config.passwordRecovery, defaultLocale: config.defaultLocale });
  // An administrator who lost their second factor has nobody else to remove it but the CLI.
  const factors = new FactorActs({
    db, audit, notices, users, sessions, grants, passkeys: new PasskeyStore(db),
    store: new FactorStore(db, config.secrets.keyEncryptionKey),
    audited: auditedActs({ db, audit, changes }),
  });
  return adminOperations({
    db,
    changes,
    factors,
    addresses,
    links,
    users,
    clients,
    resources,
    sessions,
    grants,
    audit,
    keys: keyStoreFor(config, db),
    enrolment: new EnrolmentMail({ outbox, links, issuer: config.issuer, signup: config.signup, defaultLocale: config.defaultLocale }),
    notices,
  });
}

function text(options: Options, name: string): string | undefined {
  const value = options[name];
  return typeof value === 'string' && value.length ? value : undefined;
}

function list(options: Options, name: string): string[] {
  const value = options[name];
  return Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
}

/** What the app says about itself, as far as the options name it ("" removes a page on update). */
function informationOf(options: Options): Pick<NewClient, 'clientUri' | 'logoUri' | 'policyUri' | 'tosUri' | 'contacts'> {
  const uri = (name: string) => (typeof options[name] === 'string' ? (options[name] as string).trim() || null : undefined);
  const given = { clientUri: uri('client-uri'), logoUri: uri('logo-uri'), policyUri: uri('policy-uri'), tosUri: uri('tos-uri') };
  return {
    ...Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined)),
    // --contact "" alone empties the list.
    ...(options.contact !== undefined ? { contacts: list(options, 'contact').map((contact) => contact.trim()).filter(Boolean) } : {}),
  };
}

/** A password arrives on standard input so it never shows up in shell history or `ps`. */
async function passwordFromStdin(ctx: CommandContext): Promise<string> {
  const password = (await ctx.readStdin()).replace(/\r?\n$/, '');
  if (!password) throw new UsageError('no password came on standard input: pipe it in, e.g. `printf %s "$PASSWORD" | gatehouse user … --password-stdin`');
  return password;
}

/** A JWK Set of public keys, for private_key_jwt, read from a file. */
function jwksFrom(options: Options): { keys: Record<string, unknown>[] } | undefined {
  const file = text(options, 'jwks-file');
  if (!file) return undefined;
  let content: string;
  try {
    content = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read --jwks-file ${file}${code === 'ENOENT' ? ': no such file' : code ? ` (${code})` : ''}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(content);
  } catch {
    throw new UsageError(`--jwks-file ${file} is not JSON: it must hold a JWK Set, {"keys": [ … ]}`);
  }
  if (!parsed || typeof parsed !== 'object' || !Array.isArray((parsed as { keys?: unknown }).keys)) {
    throw new UsageError(`--jwks-file ${file} must hold a JWK Set: {"keys": [ … ]}`);
  }
  return parsed as { keys: Record<string, unknown>[] };
}

function descriptions(values: string[]): Record<string, string> {
  return Object.fromEntries(values.map((value) => [value.slice(0, value.indexOf('=')), value.slice(value.indexOf('=') + 1)]));
}

/** `de:docs:read=Words` values, by language: the language tag ends at the first colon. */
function localizedDescriptions(values: string[]): Record<string, Record<string, string>> {
  const byLocale: Record<string, Record<string, string>> = {};
  for (const value of values) {
    const colon = value.indexOf(':');
    Object.assign(byLocale[value.slice(0, colon)] ??= {}, descriptions([value.slice(colon + 1)]));
  }
  return byLocale;
}

export async function createUser(ctx: CommandContext, options: Options): Promise<unknown> {
  const password = await passwordFromStdin(ctx);
  return ctx.useDatabase(async (db) => {
    const user = await (await operationsFor(ctx.config, db)).people.createUser(CLI_ACTOR, {
      email: text(options, 'email')!,
      name: text(options, 'name')!,
      password,
      givenName: text(options, 'given-name'),
      familyName: text(options, 'family-name'),
      isAdmin: options.admin === true,
    });
    return { id: user.id, email: user.email };
  });
}

/** An invitation instead of a password: the person chooses theirs from the mailed link. */
export async function inviteUser(ctx: CommandContext, options: Options): Promise<unknown> {
  return ctx.useDatabase(async (db) => {
    const { user, expiresAt } = await (await operationsFor(ctx.config, db)).people.inviteUser(CLI_ACTOR, {
      email: text(options, 'email')!,
      name: text(options, 'name')!,
      givenName: text(options, 'given-name'),
      familyName: text(options, 'family-name'),
      isAdmin: options.admin === true,
    });
    return { id: user.id, email: user.email, status: 'invited', invitation_expires_at: expiresAt.toISOString() };
  });
}

/** The person who signs in with `--email`, found as sign-in finds them (case aside). */
async function personByEmail(ops: AdminOperations, email: string): Promise<User> {
  try {
    return await ops.people.findByEmail(email);
  } catch (error) {
    if (error instanceof GatehouseError && error.code === 'not_found') throw new GatehouseError('not_found', `No person has the email ${email}.`, 'email');
    throw error;
  }
}

/** Looks the person up by `--email` and runs `act` on them with the configured database's operations. */
function withPerson<T>(ctx: CommandContext, options: Options, act: (ops: AdminOperations, person: User) => Promise<T>): Promise<T> {
  return ctx.useDatabase(async (db) => {
    const ops = await operationsFor(ctx.config, db);
    return act(ops, await personByEmail(ops, text(options, 'email')!));
  });
}

/** Mails the person a verification link; the running server's outbox sender delivers it. */
export async function sendVerification(ctx: CommandContext, options: Options): Promise<unknown> {
  return withPerson(ctx, options, async (ops, person) => {
    await ops.people.sendVerification(CLI_ACTOR, person.id);
    return { id: person.id, email: person.email, verification_sent: true };
  });
}

/** A page of people as the admin API shows them (GET /users), with the cursor of the next. */
export async function listUsers(ctx: CommandContext, options: Options): Promise<unknown> {
  const query = {
    ...(text(options, 'search') ? { search: text(options, 'search') } : {}),
    ...(typeof options.limit === 'string' ? { limit: Number(options.limit) } : {}),
    ...(text(options, 'cursor') ? { cursor: text(options, 'cursor') } : {}),
  };
  return ctx.useDatabase(async (db) => pageJson(await (await operationsFor(ctx.config, db)).people.listUsers(query), userJson));
}

export async function renameUser(ctx: CommandContext, options: Options): Promise<unknown> {
  // "" removes a given or family name; an option not given leaves that name as it is.
  const optional = (name: string) => (typeof options[name] === 'string' ? (options[name] as string) || null : undefined);
  const changes = Object.fromEntries(Object.entries({ name: text(options, 'name'), givenName: optional('given-name'), familyName: optional('family-name') }).filter(([, value]) => value !== undefined));
  return withPerson(ctx, options, async (ops, person) => {
    const renamed = await ops.people.updateProfile(CLI_ACTOR, person.id, changes);
    return { id: renamed.id, email: renamed.email, name: renamed.name, given_name: renamed.givenName, family_name: renamed.familyName };
  });
}

export async function disableUser(ctx: CommandContext, options: Options): Promise<unknown> {
  return withPerson(ctx, options, async (ops, person) => {
    await ops.people.disableUser(CLI_ACTOR, person.id);
    return { id: person.id, email: person.email, disabled: true };
  });
}

export async function enableUser(ctx: CommandContext, options: Options): Promise<unknown> {
  return withPerson(ctx, options, async (ops, person) => {
    await ops.people.enableUser(CLI_ACTOR, person.id);
    return { id: person.id, email: person.email, disabled: false };
  });
}

export async function resetPassword(ctx: CommandContext, options: Options): Promise<unknown> {
  const password = await passwordFromStdin(ctx);
  const keep = options['keep-sessions'] === true;
  return withPerson(ctx, options, async (ops, person) => {
    const ended = await ops.people.resetPassword(CLI_ACTOR, person.id, password, { endSessions: !keep, revokeOfflineAccess: !keep });
    return { id: person.id, email: person.email, sessions_ended: ended.sessionsEnded, grants_revoked: ended.grantsRevoked };
  });
}

export async function resetFactors(ctx: CommandContext, options: Options): Promise<unknown> {
  return withPerson(ctx, options, async (ops, person) => {
    const { removed, sessionsEnded, grantsRevoked } = await ops.factors.reset(CLI_ACTOR, person.id);
    return { id: person.id, email: person.email, removed: removed.map(({ kind, name }) => ({ kind, name })), sessions_ended: sessionsEnded, grants_revoked: grantsRevoked };
  });
}

export async function deleteUser(ctx: CommandContext, options: Options): Promise<unknown> {
  return withPerson(ctx, options, async (ops, person) => {
    await ops.people.deleteUser(CLI_ACTOR, person.id);
    return { id: person.id, email: person.email, deleted: true };
  });
}

export async function createClient(ctx: CommandContext, options: Options): Promise<unknown> {
  const jwks = jwksFrom(options);
  const jwksUri = text(options, 'jwks-uri');
  // Keys alone mean private_key_jwt; with a secret method named, they only sign request objects.
  const namedMethod = text(options, 'auth-method') as 'client_secret_basic' | 'client_secret_post' | undefined;
  const authMethod = namedMethod ?? (jwks || jwksUri ? 'private_key_jwt' : undefined);
  return ctx.useDatabase(async (db) => {
    const { client, clientSecret } = await (await operationsFor(ctx.config, db)).apps.createClient(CLI_ACTOR, {
      name: text(options, 'name')!,
      redirectUris: list(options, 'redirect-uri'),
      postLogoutRedirectUris: list(options, 'post-logout-redirect-uri'),
      public: options.public === true,
      clientCredentials: options['client-credentials'] === true,
      admin: options.admin === true,
      deviceCode: options['device-flow'] === true,
      ...(authMethod ? { tokenEndpointAuthMethod: authMethod } : {}),
      ...(jwks ? { jwks: jwks as never } : {}),
      ...(jwksUri ? { jwksUri } : {}),
      requireDpop: options['require-dpop'] === true,
      requirePar: options['require-par'] === true,
      requireSignedRequestObject: options['require-signed-request-object'] === true,
      ...(typeof options.scope === 'string' ? { scope: options.scope } : {}),
      ...(typeof options['backchannel-logout-uri'] === 'string' ? { backchannelLogoutUri: options['backchannel-logout-uri'] } : {}),
      backchannelLogoutSessionRequired: options['backchannel-logout-session-required'] === true,
      ...(text(options, 'events-endpoint') ? { eventsEndpoint: text(options, 'events-endpoint') } : {}),
      ...(typeof options['require-acr'] === 'string' ? { requireAcr: options['require-acr'] as NewClient['requireAcr'] } : {}),
      ...informationOf(options),
    });
    for (const scope of await scopesNoApiDefines(db, client.scope)) {
      ctx.warn(`warning: no API defines the scope "${scope}", so the app can never get it; check the spelling, or register the API that defines it (gatehouse resource create).`);
    }
    return { client_id: client.clientId, ...(clientSecret ? { client_secret: clientSecret } : {}) };
  });
}

export async function updateClient(ctx: CommandContext, options: Options): Promise<unknown> {
  const raw = options['backchannel-logout-uri'];
  const uri = typeof raw === 'string' ? raw.trim() : undefined;
  const sessionRequired = options['backchannel-logout-session-required'] === true ? true : options['backchannel-logout-session-optional'] === true ? false : undefined;
  return ctx.useDatabase(async (db) => {
    const client = await (await operationsFor(ctx.config, db)).apps.updateClient(CLI_ACTOR, text(options, 'client-id')!, {
      ...(text(options, 'name') !== undefined ? { name: text(options, 'name')! } : {}),
      ...(uri !== undefined ? { backchannelLogoutUri: uri === '' ? null : uri } : {}),
      ...(sessionRequired !== undefined ? { backchannelLogoutSessionRequired: sessionRequired } : {}),
      ...(typeof options['events-endpoint'] === 'string' ? { eventsEndpoint: text(options, 'events-endpoint') ?? null } : {}),
      ...(options['no-events-endpoint'] === true ? { eventsEndpoint: null } : {}),
      ...informationOf(options),
    });
    return {
      client_id: client.clientId,
      name: client.name,
      backchannel_logout_uri: client.backchannelLogoutUri,
      backchannel_logout_session_required: client.backchannelLogoutSessionRequired,
      events_endpoint: client.eventsEndpoint,
      client_uri: client.clientUri,
      logo_uri: client.logoUri,
      policy_uri: client.policyUri,
      tos_uri: client.tosUri,
      contacts: client.contacts,
    };
  });
}

/** An initial access token: its value is printed only here. */
export async function createRegistrationToken(ctx: CommandContext, options: Options): Promise<unknown> {
  return ctx.useDatabase(async (db) => {
    const { token, registrationToken } = await (await operationsFor(ctx.config, db)).registration.create(CLI_ACTOR, {
      ...(typeof options.scope === 'string' ? { scope: options.scope } : {}),
      ...(typeof options.uses === 'string' ? { uses: Number(options.uses) } : {}),
      ...(typeof options['expires-in'] === 'string' ? { expiresIn: Number(options['expires-in']) } : {}),
      ...(typeof options.description === 'string' ? { description: options.description } : {}),
    });
    return { ...registrationTokenJson(registrationToken), token };
  });
}

export async function listRegistrationTokens(ctx: CommandContext): Promise<unknown> {
  return ctx.useDatabase(async (db) => ({ items: (await (await operationsFor(ctx.config, db)).registration.list()).map(registrationTokenJson) }));
}

export async function revokeRegistrationToken(ctx: CommandContext, options: Options): Promise<unknown> {
  return ctx.useDatabase(async (db) => registrationTokenJson(await (await operationsFor(ctx.config, db)).registration.revoke(CLI_ACTOR, text(options, 'id')!)));
}

/** An API scope is granted only if an API defines it: one nobody defines is usually a typo. */
async function scopesNoApiDefines(db: Database, scope: string): Promise<string[]> {
  const wanted = scope.split(' ').filter((s) => s && !PERSON_SCOPES.has(s));
  if (!wanted.length) return [];
  const rows: Array<{ scope: string }> = await db('resource_servers').select('scope');
  const defined = new Set(rows.flatMap((row) => row.scope.split(' ')));
  return wanted.filter((s) => !defined.has(s));
}

export async function createResource(ctx: CommandContext, options: Options): Promise<unknown> {
  const ttl = text(options, 'access-token-ttl');
  const jwks = jwksFrom(options);
  return ctx.useDatabase(async (db) => {
    const { resourceServer, clientId, clientSecret } = await (await operationsFor(ctx.config, db)).apis.createResource(CLI_ACTOR, {
      identifier: text(options, 'identifier')!,
      scope: text(options, 'scope')!,
      name: text(options, 'name'),
      scopeDescriptions: descriptions(list(options, 'describe')),
      localizedScopeDescriptions: localizedDescriptions(list(options, 'describe-in')),
      isDefault: options.default === true,
      jwtIntrospection: options['jwt-introspection'] === true,
      ...(ttl !== undefined ? { accessTokenTtl: Number(ttl) } : {}),
      ...(jwks ? { jwks } : {}),
      ...(text(options, 'events-endpoint') ? { eventsEndpoint: text(options, 'events-endpoint') } : {}),
    });
    return { identifier: resourceServer.identifier, client_id: clientId, ...(clientSecret ? { client_secret: clientSecret } : {}) };
  });
}

export async function updateResource(ctx: CommandContext, options: Options): Promise<unknown> {
  const mayExchangeFor = options['no-exchange'] === true ? [] : list(options, 'may-exchange-for');
  return ctx.useDatabase(async (db) => {
    const api = await (await operationsFor(ctx.config, db)).apis.updateResource(CLI_ACTOR, text(options, 'identifier')!, {
      ...(mayExchangeFor.length || options['no-exchange'] === true ? { mayExchangeFor } : {}),
      ...(typeof options['events-endpoint'] === 'string' ? { eventsEndpoint: text(options, 'events-endpoint') ?? null } : {}),
      ...(options['no-events-endpoint'] === true ? { eventsEndpoint: null } : {}),
    });
    return { identifier: api.identifier, may_exchange_for: api.mayExchangeFor, events_endpoint: api.eventsEndpoint };
  });
}

export function migrate(ctx: CommandContext): Promise<unknown> {
  return ctx.useDatabase(async (db) => ({ applied: await migrateToLatest(db) }));
}

export function rotateKeys(ctx: CommandContext): Promise<unknown> {
  return ctx.useDatabase(async (db) => {
    await keyStoreFor(ctx.config, db).ensureKeys();
    const added = await (await operationsFor(ctx.config, db)).keys.rotateKeys(CLI_ACTOR);
    return { added: added.map(({ kid, alg, activatesAt }) => ({ kid, alg, signs_from: activatesAt.toISOString() })) };
  });
}

export function listKeys(ctx: CommandContext): Promise<unknown> {
  return ctx.useDatabase(async (db) => {
    const keys = await keyStoreFor(ctx.config, db).listKeys();
    return {
      keys: keys.map((k) => ({
        kid: k.kid, alg: k.alg, state: k.state, published: k.published,
        created_at: k.createdAt.toISOString(), activates_at: k.activatesAt.toISOString(),
        unpublish_at: k.unpublishAt?.toISOString() ?? null,
      })),
    };
  });
}
