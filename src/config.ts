// The only module that reads process.env. Everything else receives a validated Config.
//
// Layers, later wins: config/default.json, config/<NODE_ENV>.json, environment variables.
// Validation happens once, here, and a bad value fails fast naming the setting to fix.
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { CONFIG_DIR, LOOPBACK_HOSTS } from './paths.js';
import { isMailFrom } from './email/message.js';
import { CATALOGS, LOCALES } from './i18n/catalogs.js';
import { DAY, MAX_ACCESS_TOKEN_LIFETIME_SECONDS, MAX_ID_TOKEN_LIFETIME_SECONDS, YEAR } from './lifetimes.js';

export const ENVIRONMENTS = ['development', 'test', 'production'] as const;
export type Environment = (typeof ENVIRONMENTS)[number];


export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const seconds = z.coerce.number().int().positive();

/** A comma-separated list of words in a setting, as a list (an empty string is an empty list). */
function wordList<T extends string>(word: z.ZodType<T>) {
  return z.string().transform((value, ctx) => {
    const words = value.split(',').map((w) => w.trim().toLowerCase()).filter(Boolean);
    const parsed: T[] = [];
    for (const w of words) {
      const result = word.safeParse(w);
      if (result.success) parsed.push(result.data);
      else ctx.addIssue({ code: 'custom', message: `"${w}" is not allowed here` });
    }
    return [...new Set(parsed)];
  });
}

/**
 * Every setting, declared once: its path in config/*.json is its place here, `meta({ env })` names
 * the environment variable that overrides it, and the rules are the schema's. The type, the
 * variables Gatehouse reads and the names in error messages are all derived from this.
 */
const settingsSchema = z.object({
  port: z.coerce.number().int().min(0).max(65535).meta({ env: 'PORT' }),
  host: z.string().min(1).meta({ env: 'HOST' }),
  issuer: z.string().optional().meta({ env: 'ISSUER' }),
  dataDir: z.string().min(1).meta({ env: 'DATA_DIR' }),
  /**
   * Server processes sharing the port (src/cluster/): "auto" is one per core the process may run
   * on. More than one needs PostgreSQL: the embedded database belongs to one process.
   */
  workers: z.union([z.literal('auto'), z.coerce.number().int().min(1).max(256)], { error: 'must be "auto" (one per core) or a whole number from 1 to 256' }).meta({ env: 'WORKERS' }),
  /** Trust X-Forwarded-* from a TLS-terminating proxy (Koa's app.proxy). */
  trustProxy: z.boolean().meta({ env: 'TRUST_PROXY' }),
  /**
   * PostgreSQL only: how long a statement may run and a pooled connection may take to get, in ms.
   * Long enough for any statement a request sends (milliseconds at most), short enough that a hung
   * database fails requests quickly; migrations run without it.
   */
  database: z.object({
    statementTimeoutMs: z.coerce.number().int().min(100).max(600_000).meta({ env: 'DATABASE_STATEMENT_TIMEOUT' }),
    acquireTimeoutMs: z.coerce.number().int().min(100).max(600_000).meta({ env: 'DATABASE_ACQUIRE_TIMEOUT' }),
  }),
  /**
   * With trustProxy: how many trusted proxies append to X-Forwarded-For (Koa's maxIpsCount). The
   * client address is the entry that many places from the right; entries further left were
   * written by the client and would let it choose the address rate limits are keyed on.
   */
  proxyHops: z.coerce.number().int().min(1).max(10).meta({ env: 'TRUST_PROXY_HOPS' }),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).meta({ env: 'LOG_LEVEL' }),
  // Upper bounds keep a typo from minting week-long bearer tokens (RFC 9700: short-lived tokens).
  ttl: z.object({
    accessToken: seconds.max(MAX_ACCESS_TOKEN_LIFETIME_SECONDS).meta({ env: 'ACCESS_TOKEN_TTL' }),
    clientCredentials: seconds.max(MAX_ACCESS_TOKEN_LIFETIME_SECONDS).meta({ env: 'CLIENT_CREDENTIALS_TTL' }),
    idToken: seconds.max(MAX_ID_TOKEN_LIFETIME_SECONDS).meta({ env: 'ID_TOKEN_TTL' }),
    authorizationCode: seconds.max(600).meta({ env: 'AUTHORIZATION_CODE_TTL' }),
    refreshToken: seconds.max(YEAR).meta({ env: 'REFRESH_TOKEN_TTL' }),
    /** How long a sign-in session lasts unused: every use starts the count again. */
    session: seconds.max(YEAR).meta({ env: 'SESSION_TTL' }),
    /**
     * How long a sign-in session lasts at most, however often it is used, counted from its first
     * sign-in (a re-authentication does not move it): a session cookie someone copied dies with
     * it even if they keep using it. At least SESSION_TTL, or the idle lifetime would mean nothing.
     */
    sessionMax: seconds.max(YEAR).meta({ env: 'SESSION_MAX_LIFETIME' }),
    interaction: seconds.max(DAY).meta({ env: 'INTERACTION_TTL' }),
    grant: seconds.max(2 * YEAR).meta({ env: 'GRANT_TTL' }),
  }),
  keys: z.object({
    /** A rotated-in key is published this long before it signs, so caches of the JWKS pick it up first. */
    publishBeforeSigningSeconds: z.coerce.number().int().min(0).max(7 * DAY).meta({ env: 'KEY_PUBLISH_BEFORE_SIGNING' }),
    /**
     * How often an instance re-reads the key set, so instances sharing a database agree. At most a
     * day, as CLEANUP_INTERVAL: Node runs a timer longer than about 24.8 days after 1 ms, which
     * would turn either into a busy loop.
     */
    refreshIntervalSeconds: seconds.max(DAY).meta({ env: 'KEY_REFRESH_INTERVAL' }),
  }),
  argon2: z.object({
    // OWASP's floor for argon2id: m=19 MiB, t=2, p=1.
    memoryKiB: z.coerce.number().int().min(19456).meta({ env: 'ARGON2_MEMORY_KIB' }),
    timeCost: z.coerce.number().int().min(2).meta({ env: 'ARGON2_TIME_COST' }),
    parallelism: z.coerce.number().int().min(1).meta({ env: 'ARGON2_PARALLELISM' }),
  }),
  cleanupIntervalSeconds: seconds.max(DAY).meta({ env: 'CLEANUP_INTERVAL' }),
  /**
   * Sign-in throttling (src/security/sign-in-throttle.ts, which explains the defaults), shared by
   * all instances through the database.
   */
  signIn: z.object({
    /** Failed sign-ins for one email from one address (or one known browser) before delays start. */
    maxConsecutiveFailures: z.coerce.number().int().min(1).max(100).meta({ env: 'SIGNIN_MAX_CONSECUTIVE_FAILURES' }),
    /**
     * The longest any sign-in block lasts; also the window of the per-account limit. Never a
     * lockout: a block longer than an hour is one in all but name.
     */
    maxBlockSeconds: seconds.max(3600).meta({ env: 'SIGNIN_MAX_BLOCK_SECONDS' }),
    /** Failed sign-ins for one email, from anywhere, per maxBlockSeconds. */
    accountMaxFailures: z.coerce.number().int().min(1).meta({ env: 'SIGNIN_ACCOUNT_MAX_FAILURES' }),
    /** Failed sign-ins from one address, across all emails, per day. */
    ipMaxFailures: z.coerce.number().int().min(1).meta({ env: 'SIGNIN_IP_MAX_FAILURES' }),
  }),
  /** Requests per minute per client, per instance, at the token endpoints (0 turns a limit off). */
  rateLimits: z.object({
    token: z.coerce.number().int().min(0).meta({ env: 'TOKEN_RATE_LIMIT' }),
    introspection: z.coerce.number().int().min(0).meta({ env: 'INTROSPECTION_RATE_LIMIT' }),
    revocation: z.coerce.number().int().min(0).meta({ env: 'REVOCATION_RATE_LIMIT' }),
  }),
  /**
   * Client assertions (private_key_jwt) must name the issuer identifier alone as `aud`. Opting in
   * also accepts the token endpoint's or the called endpoint's URL, built from ISSUER, for clients
   * written before OpenID Connect Core's 2025 errata (src/oidc/policies/client-assertions.ts).
   */
  clientAssertionEndpointAudience: z.boolean().meta({ env: 'CLIENT_ASSERTION_ENDPOINT_AUDIENCE' }),
  /**
   * How long after a refresh-token rotation the same client presenting the same token again gets
   * the same successor back instead of having its grant revoked as a reuse (src/tokens/refresh-retry.ts).
   * 0 turns the forgiveness off. Long enough for a client's timeout and retry; every second of it
   * is a second in which someone holding an old token could take the successor (and be caught
   * when both use it).
   */
  refreshRetryWindowSeconds: z.coerce.number().int().min(0).max(300).meta({ env: 'REFRESH_TOKEN_RETRY_WINDOW' }),
  /**
   * Every app must push its authorization request first (RFC 9126), so nothing of it travels in a
   * URL the browser, its history or a proxy log sees. Per app: `client create --require-par`.
   */
  requirePar: z.boolean().meta({ env: 'REQUIRE_PAR' }),
  /**
   * DPoP proofs (RFC 9449) must carry a nonce Gatehouse handed out (`use_dpop_nonce`), so a proof
   * made in advance on a device an attacker briefly held is useless later. Off: proofs need only be
   * fresh (iat within five minutes) and used once.
   */
  dpopRequireNonce: z.boolean().meta({ env: 'DPOP_REQUIRE_NONCE' }),
  /** Overload: what one instance takes on at once before it answers 503 (src/http/load-shedding.ts). */
  load: z.object({
    /** Requests in progress at once; one more is answered 503 at once rather than queued. */
    maxConcurrentRequests: z.coerce.number().int().min(1).meta({ env: 'MAX_CONCURRENT_REQUESTS' }),
    /** argon2 computations at once (each holds a libuv thread and ARGON2_MEMORY_KIB). */
    argon2Concurrency: z.coerce.number().int().min(1).meta({ env: 'ARGON2_CONCURRENCY' }),
    /** Sign-ins (and other argon2 work) waiting for a slot; one more is told "busy, try again". */
    argon2Queue: z.coerce.number().int().min(0).meta({ env: 'ARGON2_QUEUE' }),
  }),
  /** SIGTERM (src/http/connection-drain.ts): how long /readyz says 503 before the listener closes, and the whole budget. */
  shutdown: z.object({
    drainDelaySeconds: z.coerce.number().min(0).max(300).meta({ env: 'SHUTDOWN_DRAIN_DELAY' }),
    timeoutSeconds: z.coerce.number().positive().max(3600).meta({ env: 'SHUTDOWN_TIMEOUT' }),
  }),
  /**
   * Who may create an account (src/enrolment/), each level adding to the one before:
   *   closed  only an admin, who sets the first password (no mail is sent: works without SMTP);
   *   invite  an admin may also invite: a mailed link lets the person choose their own password;
   *   open    anyone may also sign up on the sign-in page; the account is usable once its address is verified.
   * Invitations and sign-up send mail, so in production `invite` and `open` require SMTP_URL.
   */
  signup: z.enum(['closed', 'invite', 'open']).meta({ env: 'SIGNUP' }),
  /**
   * How many days a sign-up nobody verified is kept (src/enrolment/acts.ts deleteAbandoned), or
   * until the last link sent to it expires if that is later: whoever typed the address may not own it.
   */
  signupAbandonedAfterDays: z.coerce.number().int().min(1).max(365).meta({ env: 'SIGNUP_ABANDONED_DAYS' }),
  /**
   * The language of pages and mails when neither the app (ui_locales) nor the browser
   * (Accept-Language) asks for one Gatehouse has, and of mails to someone who never signed in:
   * one of the catalogs in locales/ (src/i18n/).
   */
  defaultLocale: z.string().refine((tag) => CATALOGS.has(tag), { error: `must be one of the languages in locales/: ${LOCALES.join(', ')}` }).meta({ env: 'DEFAULT_LOCALE' }),
  /** The development demo (seeded demo user, client and API; `gatehouse demo`). Never in production. */
  demo: z.boolean().meta({ env: 'DEMO' }),
  /**
   * Outgoing mail (src/email/). Without smtpUrl, mail goes to the development mailbox (/dev/mail),
   * which production never has: there SMTP_URL is required once a feature sends mail.
   */
  mail: z.object({
    /** smtp:// or smtps://, with the relay's credentials if it wants them. */
    smtpUrl: z.string().optional().meta({ env: 'SMTP_URL' }),
    /** The From of every mail: an address, optionally `Name <address>`. */
    from: z.string().optional().meta({ env: 'MAIL_FROM' }),
  }),
  /**
   * Links by mail that get a person back into their own account (src/recovery/): "Forgot
   * password?" on the sign-in page, and the sign-in link offered when a new browser is refused
   * during an attack on the account. Off only where people must go through an operator instead
   * (and then a refused new browser waits out the block, as SECURITY.md says).
   */
  passwordRecovery: z.boolean().meta({ env: 'PASSWORD_RECOVERY' }),
  /**
   * Short mails telling a person what just happened to their account — a password changed, a
   * sign-in from a browser not seen before, an app connected (src/notices/) — so that someone
   * else's doing is noticed.
   */
  emailNotifications: z.boolean().meta({ env: 'EMAIL_NOTIFICATIONS' }),
  /**
   * People may delete their own account on the account pages (src/account/deletion.ts), after a
   * recent sign-in and their password. Off by default: where accounts are an organisation's (an
   * operator provisions and removes them), only an administrator deletes one.
   */
  accountSelfDeletion: z.boolean().meta({ env: 'ACCOUNT_SELF_DELETION' }),
  /**
   * Administrators reach the console, and the admin API with a token of their own, only after a
   * sign-in with a second factor (src/factors/); console actions also need a sign-in of the last
   * 15 minutes. Off only for an instance with no authenticator apps at all.
   */
  adminSecondFactor: z.boolean().meta({ env: 'ADMIN_REQUIRE_SECOND_FACTOR' }),
  /**
   * Verifying an address by a mailed link (src/verification/): the only way `email_verified`
   * becomes true, and what an address change waits for. Off only where Gatehouse may send no mail
   * at all: then no address becomes verified, people cannot change theirs, and an administrator's
   * change leaves it unverified without telling anyone.
   */
  emailVerification: z.boolean().meta({ env: 'EMAIL_VERIFICATION' }),
  /**
   * Prometheus metrics (src/observability/): on a listener of their own at METRICS_PORT (off when
   * unset), and on the public port's /metrics only with the bearer token METRICS_TOKEN.
   */
  metrics: z.object({
    port: z.coerce.number().int().min(0).max(65535).optional().meta({ env: 'METRICS_PORT' }),
    /** Loopback by default: a sidecar or a local agent scrapes; anything wider is a choice. */
    host: z.string().min(1).meta({ env: 'METRICS_HOST' }),
    token: z.string().min(32, 'must be at least 32 characters (generate with `openssl rand -base64 32`)').optional().meta({ env: 'METRICS_TOKEN' }),
  }),
  /** OpenTelemetry traces, sent over OTLP/HTTP; off (no SDK started) unless the endpoint is set. */
  tracing: z.object({
    /** The collector's base URL, as the OpenTelemetry specification names it; spans go to <it>/v1/traces. */
    otlpEndpoint: z.url({ protocol: /^https?$/ }).optional().meta({ env: 'OTEL_EXPORTER_OTLP_ENDPOINT' }),
    serviceName: z.string().min(1).meta({ env: 'OTEL_SERVICE_NAME' }),
  }),
  /**
   * Dynamic client registration (RFC 7591, src/registration/): who may register an app, and what an
   * app that registers itself may ask for at most. Apps registered this way are held to these
   * bounds, on top of every rule an operator-created app follows.
   */
  registration: z.object({
    /** Anyone may register an app, without an initial access token (its scopes: the OIDC ones). */
    open: z.boolean().meta({ env: 'OPEN_REGISTRATION' }),
    /** URI schemes a registered app's redirect URIs may use (`https`; `http` only for loopback; private-use schemes by name). */
    redirectSchemes: wordList(z.string().regex(/^[a-z][a-z0-9+.-]*$/)).meta({ env: 'REGISTRATION_REDIRECT_SCHEMES' }),
    /** Hosts a registered app may redirect to (`*.example.com` for subdomains); empty: any host. */
    redirectHosts: wordList(z.string().regex(/^(\*\.)?[a-z0-9.-]+$|^\[[0-9a-f:]+\]$/)).meta({ env: 'REGISTRATION_REDIRECT_HOSTS' }),
    /** Client authentication methods a registered app may choose. */
    authMethods: wordList(z.enum(['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'])).meta({ env: 'REGISTRATION_AUTH_METHODS' }),
    /** Registration requests (POST /reg) from one network per hour, on every instance together; 0: no limit. */
    perNetworkPerHour: z.coerce.number().int().min(0).meta({ env: 'REGISTRATION_RATE_LIMIT' }),
  }),
  /** Deliveries through the outbox (src/outbox/): mail now, HTTP notifications later. */
  outbox: z.object({
    /** The longest wait between two attempts at one delivery (they start 5 s apart and double). */
    retryMaxDelaySeconds: seconds.max(DAY).meta({ env: 'OUTBOX_RETRY_MAX_DELAY' }),
    /** A delivery still failing this long after it was written is given up, and its payload erased. */
    giveUpAfterSeconds: seconds.max(30 * DAY).meta({ env: 'OUTBOX_GIVE_UP_AFTER' }),
    /** How long delivered and given-up rows (their metadata, never their payload) stay for operators. */
    retentionSeconds: seconds.max(YEAR).meta({ env: 'OUTBOX_RETENTION' }),
  }),
  /** Security events pushed to apps' and APIs' events endpoints (src/security-events/, docs/security-events.md). */
  securityEvents: z.object({
    /**
     * A receiver's events wait in order while an earlier one is retried; one still undelivered this
     * long after the act is dropped (logged, counted, shown on the app's or API's console page).
     */
    dropAfterSeconds: seconds.max(30 * DAY).meta({ env: 'SECURITY_EVENTS_DROP_AFTER' }),
    /** The longest wait between two attempts (they start 1 s apart and double): how soon a receiver back up hears. */
    retryMaxDelaySeconds: seconds.max(DAY).meta({ env: 'SECURITY_EVENTS_RETRY_MAX_DELAY' }),
    /** How long one POST to a receiver may take, connecting included. */
    timeoutSeconds: seconds.max(60).meta({ env: 'SECURITY_EVENTS_TIMEOUT' }),
    /**
     * How long a receiver's poll (RFC 8936) is held open while it has no event waiting, unless it
     * asks for an answer at once: kept under the server's 30-second request timeout, and under
     * what proxies in front usually allow.
     */
    pollWaitSeconds: z.coerce.number().int().min(0).max(25).meta({ env: 'SECURITY_EVENTS_POLL_WAIT' }),
  }),
});

export type Settings = z.infer<typeof settingsSchema>;

/** The validated configuration: every setting, plus what is worked out from them and the environment. */
export interface Config extends Omit<Settings, 'issuer' | 'mail' | 'workers'> {
  env: Environment;
  /** How many server processes share the port: WORKERS, with "auto" worked out as the cores available. */
  workers: number;
  mail: {
    /** Undefined: mail goes to the development mailbox (never in production once a feature sends mail). */
    smtpUrl: string | undefined;
    /** MAIL_FROM, or `Gatehouse <gatehouse@ISSUER's host>` outside production. */
    from: string;
  };
  /** ISSUER, or http://localhost:PORT; no trailing slash. */
  issuer: string;
  /** postgres:// URL; undefined means the embedded PGlite database under dataDir. */
  databaseUrl: string | undefined;
  secrets: {
    /** Keys that sign cookies; the first signs, all verify (rotation). */
    cookieKeys: string[];
    /** 32 bytes that encrypt private signing keys at rest. Never stored in the database. */
    keyEncryptionKey: Buffer;
    /** True when the secrets came from the development secrets file rather than the environment. */
    generated: boolean;
  };
}

/** An environment variable that overrides one setting: its dotted path in the settings. */
interface EnvSetting {
  name: string;
  path: string;
  boolean: boolean;
}

/** The settings' environment variables, read off the schema; a setting without one is a mistake here. */
function envSettingsOf(schema: z.ZodObject, prefix = ''): EnvSetting[] {
  return Object.entries(schema.shape).flatMap(([key, child]: [string, z.ZodType]) => {
    const dotted = `${prefix}${key}`;
    if (child instanceof z.ZodObject) return envSettingsOf(child, `${dotted}.`);
    const name = child.meta()?.env;
    if (typeof name !== 'string') throw new Error(`The setting ${dotted} names no environment variable (meta({ env }))`);
    return [{ name, path: dotted, boolean: child instanceof z.ZodBoolean }];
  });
}

const ENV_SETTINGS = envSettingsOf(settingsSchema);

/**
 * Every environment variable Gatehouse reads (tests clear them to start from a known state): the
 * settings', and those read apart from them (the environment itself, the database, the secrets).
 */
export const ENVIRONMENT_VARIABLES = [
  'NODE_ENV', 'DATABASE_URL', 'COOKIE_KEYS', 'KEY_ENCRYPTION_KEY', ...ENV_SETTINGS.map((setting) => setting.name),
];

function parseBoolean(value: string): unknown {
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off)$/i.test(value)) return false;
  return value; // left for the schema to reject with the setting's name
}

function readJson(file: string): Record<string, unknown> {
  if (!existsSync(file)) return {};
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] = isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : value;
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    if (!isPlainObject(node[part])) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]!] = value;
}

function envNameFor(dotted: string): string {
  return ENV_SETTINGS.find((setting) => setting.path === dotted)?.name ?? dotted;
}

export interface LoadConfigOptions {
  /** Folder holding default.json and the per-environment files. */
  configDir?: string;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, options: LoadConfigOptions = {}): Config {
  const problems: string[] = [];
  const nodeEnv = (env.NODE_ENV ?? 'development') as Environment;
  if (!ENVIRONMENTS.includes(nodeEnv)) {
    throw new ConfigError([`NODE_ENV must be one of ${ENVIRONMENTS.join(', ')} (got "${env.NODE_ENV}")`]);
  }

  const configDir = options.configDir ?? CONFIG_DIR;
  let merged = deepMerge(readJson(path.join(configDir, 'default.json')), readJson(path.join(configDir, `${nodeEnv}.json`)));
  // Numbers arrive as text and the schema coerces them; a boolean's words are read here.
  for (const setting of ENV_SETTINGS) {
    const raw = env[setting.name];
    if (raw !== undefined && raw !== '') setPath(merged, setting.path, setting.boolean ? parseBoolean(raw) : raw);
  }
  merged = { ...merged };

  const parsed = settingsSchema.safeParse(merged);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${envNameFor(issue.path.join('.'))}: ${issue.message}`));
  }
  const file: Settings = parsed.data;

  const dataDir = path.resolve(file.dataDir);
  const issuer = (file.issuer ?? `http://localhost:${file.port}`).replace(/\/$/, '');
  let issuerUrl: URL | undefined;
  try {
    issuerUrl = new URL(issuer);
    if (issuerUrl.search || issuerUrl.hash) problems.push('ISSUER must not have a query or fragment');
    if (!['http:', 'https:'].includes(issuerUrl.protocol)) problems.push('ISSUER must be an http(s) URL');
    // Every endpoint is served at the root of the issuer's host (src/http/issuer-origin.ts): with a
    // path, discovery would name an issuer its endpoints are not under.
    if (issuerUrl.pathname !== '/') problems.push(`ISSUER must be an origin without a path, such as https://id.example.com (got "${issuer}"); to serve under a path, route a host of its own to Gatehouse`);
    if (issuerUrl.username || issuerUrl.password) problems.push('ISSUER must not hold a user name or password');
  } catch {
    problems.push(`ISSUER must be an absolute URL (got "${issuer}")`);
  }

  const databaseUrl = env.DATABASE_URL || undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL must be a postgres:// URL');
  }

  const secrets = resolveSecrets(env, nodeEnv, dataDir, problems);

  if (file.signIn.accountMaxFailures < file.signIn.maxConsecutiveFailures) {
    problems.push('SIGNIN_ACCOUNT_MAX_FAILURES must be at least SIGNIN_MAX_CONSECUTIVE_FAILURES, or one person\'s typos would block their account everywhere');
  }

  if (file.ttl.sessionMax < file.ttl.session) {
    problems.push(`SESSION_MAX_LIFETIME (${file.ttl.sessionMax}) must be at least SESSION_TTL (${file.ttl.session}): it caps how long a session lasts however often it is used, SESSION_TTL how long it lasts unused; raise SESSION_MAX_LIFETIME or lower SESSION_TTL`);
  }

  if (file.shutdown.timeoutSeconds <= file.shutdown.drainDelaySeconds) {
    problems.push('SHUTDOWN_TIMEOUT must be longer than SHUTDOWN_DRAIN_DELAY, or requests in progress when the listener closes get no time to finish');
  }
  // Sign-ins waiting for argon2 hold request slots: they must never be able to fill them all.
  if (file.load.argon2Concurrency + file.load.argon2Queue >= file.load.maxConcurrentRequests) {
    problems.push('ARGON2_CONCURRENCY + ARGON2_QUEUE must be below MAX_CONCURRENT_REQUESTS, so sign-ins cannot take every request slot from the token endpoints');
  }

  if (file.metrics.port && file.metrics.port === file.port) {
    problems.push('METRICS_PORT must differ from PORT: the metrics listener is kept off the public port (use METRICS_TOKEN to serve /metrics there instead)');
  }

  problems.push(...mailProblems(nodeEnv, file, mailSendingFeatures(file)));

  const workers = file.workers === 'auto' ? availableParallelism() : file.workers;
  // Refused rather than quietly run as one process: an operator who asked for every core should
  // learn at once why they are not getting them. (Production already requires DATABASE_URL.)
  if (workers > 1 && file.metrics.token && file.metrics.port === undefined) {
    problems.push('METRICS_TOKEN without METRICS_PORT serves /metrics from whichever worker a scrape reaches: with WORKERS above 1 set METRICS_PORT, where the primary serves every worker\'s metrics summed');
  }
  if (workers > 1 && !databaseUrl && nodeEnv !== 'production') {
    problems.push(`WORKERS=${file.workers}${file.workers === 'auto' ? ` (${workers} cores)` : ''} needs DATABASE_URL: the embedded database can be opened by one process only; run on PostgreSQL for several workers, or set WORKERS=1`);
  }

  if (nodeEnv === 'production') {
    if (!databaseUrl) problems.push('DATABASE_URL is required in production: the embedded database is for development only');
    if (!file.issuer) problems.push('ISSUER is required in production: the public https URL people and apps reach Gatehouse at');
    if (issuerUrl?.protocol === 'https:' && !file.trustProxy) {
      problems.push('TRUST_PROXY=true is required with an https ISSUER: Gatehouse serves plain HTTP behind a TLS-terminating proxy, and only a trusted X-Forwarded-Proto makes its cookies Secure');
    }
    if (file.keys.publishBeforeSigningSeconds < file.keys.refreshIntervalSeconds) {
      problems.push('KEY_PUBLISH_BEFORE_SIGNING must be at least KEY_REFRESH_INTERVAL in production, so every instance publishes a new key before any signs with it');
    }
    if (issuerUrl && issuerUrl.protocol !== 'https:' && !LOOPBACK_HOSTS.has(issuerUrl.hostname)) {
      problems.push('ISSUER must use https:// in production (terminate TLS at a proxy and set TRUST_PROXY=true)');
    }
    if (file.demo) problems.push('DEMO must be off in production');
    if (file.metrics.port !== undefined && !file.metrics.token && !LOOPBACK_HOSTS.has(file.metrics.host) && file.metrics.host !== '::1') {
      problems.push(`METRICS_TOKEN is required in production with METRICS_HOST=${file.metrics.host}: the metrics listener would answer anyone who reaches it (keep it on 127.0.0.1, or set a token Prometheus sends as its bearer credentials)`);
    }
  }

  if (problems.length) throw new ConfigError(problems);

  return {
    ...file,
    env: nodeEnv,
    workers,
    issuer,
    databaseUrl,
    dataDir,
    secrets: secrets!,
    demo: file.demo && nodeEnv !== 'production',
    mail: {
      smtpUrl: file.mail.smtpUrl || undefined,
      from: file.mail.from ?? `Gatehouse <gatehouse@${issuerUrl?.hostname ?? 'localhost'}>`,
    },
  };
}

/**
 * The settings that turn on a feature which sends mail, by environment variable: production
 * refuses to start with any of them on and no SMTP_URL.
 */
export function mailSendingFeatures(settings: Pick<Settings, 'passwordRecovery' | 'emailNotifications' | 'emailVerification' | 'signup'>): string[] {
  return [
    ...(settings.passwordRecovery ? ['PASSWORD_RECOVERY'] : []),
    ...(settings.emailNotifications ? ['EMAIL_NOTIFICATIONS'] : []),
    ...(settings.emailVerification ? ['EMAIL_VERIFICATION'] : []),
    // Both let an admin invite; `open` also lets anyone sign up (a verification mail each).
    ...(settings.signup !== 'closed' ? [`SIGNUP=${settings.signup}`] : []),
  ];
}

/** What is wrong with the mail settings, given the features that would send mail. */
export function mailProblems(nodeEnv: Environment, settings: { mail: Pick<Settings['mail'], 'smtpUrl' | 'from'> }, features: readonly string[]): string[] {
  const problems: string[] = [];
  const { smtpUrl, from } = settings.mail;
  if (smtpUrl && !/^smtps?:\/\/[^/]/.test(smtpUrl)) problems.push('SMTP_URL must be an smtp:// or smtps:// URL');
  if (from !== undefined && !isMailFrom(from)) problems.push('MAIL_FROM must be an email address, optionally as `Name <address>`');
  if (nodeEnv === 'production') {
    if (!smtpUrl && features.length) {
      problems.push(`SMTP_URL is required in production with ${features.join(', ')} on: without it their mail would wait in the outbox and never be sent (the development mailbox does not exist in production)`);
    }
    if (smtpUrl && from === undefined) problems.push('MAIL_FROM is required with SMTP_URL in production: the address your relay sends Gatehouse\'s mail from');
  }
  return problems;
}

const MIN_COOKIE_KEY_LENGTH = 32;

function resolveSecrets(
  env: NodeJS.ProcessEnv,
  nodeEnv: Environment,
  dataDir: string,
  problems: string[],
): Config['secrets'] | undefined {
  const cookieKeysRaw = env.COOKIE_KEYS;
  const kekRaw = env.KEY_ENCRYPTION_KEY;

  if (nodeEnv === 'production') {
    if (!cookieKeysRaw) problems.push(`COOKIE_KEYS is required in production (comma-separated, each at least ${MIN_COOKIE_KEY_LENGTH} characters; generate with \`openssl rand -base64 32\`)`);
    if (!kekRaw) problems.push('KEY_ENCRYPTION_KEY is required in production (32 random bytes, base64 or base64url; generate with `openssl rand -base64 32`)');
  }

  let generated = false;
  let devSecrets: { cookieKeys: string[]; keyEncryptionKey: string } | undefined;
  if (nodeEnv !== 'production' && (!cookieKeysRaw || !kekRaw)) {
    devSecrets = developmentSecrets(dataDir);
    generated = true;
  }

  const cookieKeys = cookieKeysRaw
    ? cookieKeysRaw.split(',').map((k) => k.trim()).filter(Boolean)
    : devSecrets?.cookieKeys ?? [];
  if (cookieKeysRaw && (cookieKeys.length === 0 || cookieKeys.some((k) => k.length < MIN_COOKIE_KEY_LENGTH))) {
    problems.push(`COOKIE_KEYS: each key must be at least ${MIN_COOKIE_KEY_LENGTH} characters`);
  }

  const kekText = kekRaw ?? devSecrets?.keyEncryptionKey;
  let keyEncryptionKey: Buffer | undefined;
  if (kekText !== undefined) {
    keyEncryptionKey = Buffer.from(kekText, /[-_]/.test(kekText) ? 'base64url' : 'base64');
    if (keyEncryptionKey.length !== 32) {
      problems.push('KEY_ENCRYPTION_KEY must decode to exactly 32 bytes (base64 or base64url)');
    }
  }

  if (!keyEncryptionKey || cookieKeys.length === 0) return undefined;
  return { cookieKeys, keyEncryptionKey, generated: generated && (!cookieKeysRaw || !kekRaw) };
}

/**
 * Development and test only: secrets generated once and kept in the data directory (never in the
 * database), so sessions and encrypted keys survive restarts. Production refuses to start without
 * real secrets from the environment.
 */
function developmentSecrets(dataDir: string): { cookieKeys: string[]; keyEncryptionKey: string } {
  const file = path.join(dataDir, 'development-secrets.json');
  if (existsSync(file)) {
    return JSON.parse(readFileSync(file, 'utf8')) as { cookieKeys: string[]; keyEncryptionKey: string };
  }
  const secrets = {
    cookieKeys: [randomBytes(32).toString('base64url')],
    keyEncryptionKey: randomBytes(32).toString('base64url'),
  };
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return secrets;
}
