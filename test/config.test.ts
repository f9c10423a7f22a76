// loadConfig with explicit environments: defaults, overrides, failing fast with the setting's name,
// production's refusals, and the development secrets file. process.env is never touched.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type Config } from '../src/config.js';

const dirs: string[] = [];

/** A data directory of the test's own, removed afterwards. */
function dataDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-config-'));
  dirs.push(dir);
  return dir;
}

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function secretsFile(dir: string): string {
  return path.join(dir, 'development-secrets.json');
}

/** The ConfigError loadConfig throws for env; fails the test when it loads. */
function configError(env: NodeJS.ProcessEnv): ConfigError {
  let loaded: Config;
  try {
    loaded = loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`expected a ConfigError, but the configuration loaded: ${JSON.stringify({ ...loaded, secrets: '…' })}`);
}

const COOKIE_KEY = 'c'.repeat(16) + randomBytes(24).toString('base64url'); // well over 32 characters
const KEK = randomBytes(32).toString('base64');

/** Everything production needs, valid. */
function productionEnv(dir: string, overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    NODE_ENV: 'production',
    DATA_DIR: dir,
    DATABASE_URL: 'postgres://gatehouse@db.internal:5432/gatehouse',
    COOKIE_KEYS: COOKIE_KEY,
    KEY_ENCRYPTION_KEY: KEK,
    ISSUER: 'https://id.example.com',
    TRUST_PROXY: 'true',
    // Password recovery and notices are on by default, and send mail: production needs a relay.
    SMTP_URL: 'smtp://relay.internal:25',
    MAIL_FROM: 'Gatehouse <id@example.com>',
    ...overrides,
  };
}

describe('defaults', () => {
  it('listens on 3000 with a localhost issuer, the embedded database and argon2id at OWASP strength', () => {
    const dir = dataDir();
    const config = loadConfig({ DATA_DIR: dir });
    expect(config.env).toBe('development');
    expect(config.port).toBe(3000);
    expect(config.issuer).toBe('http://localhost:3000');
    expect(config.databaseUrl).toBeUndefined();
    expect(config.dataDir).toBe(path.resolve(dir));
    expect(config.trustProxy).toBe(false);
    expect(config.clientAssertionEndpointAudience).toBe(false);
    expect(config.argon2.memoryKiB).toBeGreaterThanOrEqual(19456);
    expect(config.argon2.timeCost).toBeGreaterThanOrEqual(2);
    expect(config.argon2.parallelism).toBeGreaterThanOrEqual(1);
    expect(config.ttl.accessToken).toBeGreaterThan(0);
    expect(config.ttl.authorizationCode).toBeLessThanOrEqual(600);
  });

  it('reads the per-environment file: test is silent and publishes keys without delay', () => {
    const config = loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir() });
    expect(config.env).toBe('test');
    expect(config.logLevel).toBe('silent');
    expect(config.keys.publishBeforeSigningSeconds).toBe(0);
    expect(config.port).toBe(3000);
  });
});

describe('environment variables override the files', () => {
  it('PORT moves the default issuer with it', () => {
    const config = loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir(), PORT: '4123' });
    expect(config.port).toBe(4123);
    expect(config.issuer).toBe('http://localhost:4123');
  });

  it('ISSUER is used as given, without its trailing slash', () => {
    const config = loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir(), ISSUER: 'https://id.example.com/', PORT: '8080' });
    expect(config.issuer).toBe('https://id.example.com');
    expect(config.port).toBe(8080);
  });

  it('TTLs, host, proxy trust, log level, argon2 cost, the database URL and client assertion audiences', () => {
    const config = loadConfig({
      NODE_ENV: 'test',
      DATA_DIR: dataDir(),
      HOST: '127.0.0.1',
      TRUST_PROXY: 'true',
      LOG_LEVEL: 'warn',
      ACCESS_TOKEN_TTL: '300',
      REFRESH_TOKEN_TTL: '86400',
      AUTHORIZATION_CODE_TTL: '30',
      SESSION_TTL: '7200',
      ARGON2_MEMORY_KIB: '65536',
      ARGON2_TIME_COST: '3',
      DATABASE_URL: 'postgresql://gatehouse@127.0.0.1:5432/gatehouse',
      CLIENT_ASSERTION_ENDPOINT_AUDIENCE: 'yes',
    });
    expect(config.host).toBe('127.0.0.1');
    expect(config.clientAssertionEndpointAudience).toBe(true);
    expect(config.trustProxy).toBe(true);
    expect(config.logLevel).toBe('warn');
    expect(config.ttl).toMatchObject({ accessToken: 300, refreshToken: 86400, authorizationCode: 30, session: 7200, sessionMax: 30 * 86_400 });
    expect(config.argon2).toEqual({ memoryKiB: 65536, timeCost: 3, parallelism: 1 });
    expect(config.databaseUrl).toBe('postgresql://gatehouse@127.0.0.1:5432/gatehouse');
  });

  it('load bounds and shutdown timing', () => {
    expect(loadConfig(productionEnv(dataDir()))).toMatchObject({
      load: { maxConcurrentRequests: 64, argon2Concurrency: 2, argon2Queue: 16 },
      shutdown: { drainDelaySeconds: 5, timeoutSeconds: 25 },
    });
    // No load balancer to wait for on a laptop: Ctrl-C stops at once.
    expect(loadConfig({ DATA_DIR: dataDir() }).shutdown.drainDelaySeconds).toBe(0);
    const config = loadConfig({
      NODE_ENV: 'test', DATA_DIR: dataDir(), MAX_CONCURRENT_REQUESTS: '200', ARGON2_CONCURRENCY: '4', ARGON2_QUEUE: '0',
      SHUTDOWN_DRAIN_DELAY: '1.5', SHUTDOWN_TIMEOUT: '20',
    });
    expect(config.load).toEqual({ maxConcurrentRequests: 200, argon2Concurrency: 4, argon2Queue: 0 });
    expect(config.shutdown).toEqual({ drainDelaySeconds: 1.5, timeoutSeconds: 20 });
  });

  it('one process in development and test, one per core in production; WORKERS sets the count on PostgreSQL', () => {
    expect(loadConfig({ DATA_DIR: dataDir() }).workers).toBe(1);
    expect(loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir() }).workers).toBe(1);
    expect(loadConfig(productionEnv(dataDir())).workers).toBe(availableParallelism());
    expect(loadConfig(productionEnv(dataDir(), { WORKERS: '3' })).workers).toBe(3);
    const postgres = { NODE_ENV: 'test', DATA_DIR: dataDir(), DATABASE_URL: 'postgres://gatehouse@db.internal:5432/gatehouse' };
    expect(loadConfig({ ...postgres, WORKERS: '4' }).workers).toBe(4);
    expect(loadConfig({ ...postgres, WORKERS: 'auto' }).workers).toBe(availableParallelism());
    // One process on the embedded database is what it always was.
    expect(loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir(), WORKERS: '1' }).workers).toBe(1);
  });

  it('refuses public token-guarded /metrics with several workers: a scrape would see one of them', () => {
    const postgres = { NODE_ENV: 'test', DATA_DIR: dataDir(), DATABASE_URL: 'postgres://gatehouse@db.internal:5432/gatehouse', METRICS_TOKEN: 'm'.repeat(32) };
    expect(() => loadConfig({ ...postgres, WORKERS: '2' })).toThrow(/METRICS_TOKEN without METRICS_PORT/);
    expect(loadConfig({ ...postgres, WORKERS: '2', METRICS_PORT: '9464' }).workers).toBe(2);
    expect(loadConfig({ ...postgres, WORKERS: '1' }).workers).toBe(1);
  });

  it('treats an empty variable as unset', () => {
    const config = loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir(), PORT: '', DATABASE_URL: '' });
    expect(config.port).toBe(3000);
    expect(config.databaseUrl).toBeUndefined();
  });
});

describe('a wrong value fails fast, naming the setting', () => {
  const cases: Array<[label: string, env: NodeJS.ProcessEnv, setting: string, says?: RegExp]> = [
    ['PORT=abc', { PORT: 'abc' }, 'PORT'],
    ['PORT out of range', { PORT: '70000' }, 'PORT'],
    ['ARGON2_MEMORY_KIB below the OWASP floor', { ARGON2_MEMORY_KIB: '1024' }, 'ARGON2_MEMORY_KIB', /19456/],
    ['ARGON2_TIME_COST of 1', { ARGON2_TIME_COST: '1' }, 'ARGON2_TIME_COST'],
    ['TRUST_PROXY=maybe', { TRUST_PROXY: 'maybe' }, 'TRUST_PROXY'],
    ['CLIENT_ASSERTION_ENDPOINT_AUDIENCE=sometimes', { CLIENT_ASSERTION_ENDPOINT_AUDIENCE: 'sometimes' }, 'CLIENT_ASSERTION_ENDPOINT_AUDIENCE'],
    ['an unknown LOG_LEVEL', { LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    ['a zero TTL', { ACCESS_TOKEN_TTL: '0' }, 'ACCESS_TOKEN_TTL'],
    ['a fractional TTL', { REFRESH_TOKEN_TTL: '1.5' }, 'REFRESH_TOKEN_TTL'],
    ['a MySQL DATABASE_URL', { DATABASE_URL: 'mysql://root@localhost:3306/gatehouse' }, 'DATABASE_URL', /postgres:\/\//],
    ['a relative ISSUER', { ISSUER: 'id.example.com' }, 'ISSUER'],
    ['an ISSUER with a query', { ISSUER: 'https://id.example.com/?tenant=a' }, 'ISSUER'],
    ['an ISSUER with a path (discovery would name an issuer its endpoints are not under)', { ISSUER: 'https://example.com/idp' }, 'ISSUER'],
    ['an ISSUER with credentials', { ISSUER: 'https://user:secret@id.example.com' }, 'ISSUER'],
    ['a zero MAX_CONCURRENT_REQUESTS', { MAX_CONCURRENT_REQUESTS: '0' }, 'MAX_CONCURRENT_REQUESTS'],
    ['sign-ins able to fill every request slot', { MAX_CONCURRENT_REQUESTS: '8', ARGON2_CONCURRENCY: '4', ARGON2_QUEUE: '4' }, 'ARGON2_CONCURRENCY', /below MAX_CONCURRENT_REQUESTS/],
    ['WORKERS=0', { WORKERS: '0' }, 'WORKERS'],
    ['WORKERS=many', { WORKERS: 'many' }, 'WORKERS', /"auto"/],
    ['WORKERS above 1 on the embedded database', { WORKERS: '2' }, 'WORKERS', /needs DATABASE_URL/],
    ['a CLEANUP_INTERVAL beyond a day (a timer over 24.8 days runs at once, again and again)', { CLEANUP_INTERVAL: '2592000' }, 'CLEANUP_INTERVAL'],
    ['a KEY_REFRESH_INTERVAL beyond a day', { KEY_REFRESH_INTERVAL: '2592000' }, 'KEY_REFRESH_INTERVAL'],
    ['a KEY_PUBLISH_BEFORE_SIGNING beyond a week (a rotated key would wait that long to sign)', { KEY_PUBLISH_BEFORE_SIGNING: '31536000' }, 'KEY_PUBLISH_BEFORE_SIGNING'],
    ['SESSION_MAX_LIFETIME=0 (no maximum is not a choice)', { SESSION_MAX_LIFETIME: '0' }, 'SESSION_MAX_LIFETIME'],
    ['SESSION_MAX_LIFETIME beyond a year', { SESSION_MAX_LIFETIME: String(366 * 86_400) }, 'SESSION_MAX_LIFETIME'],
    ['a SESSION_MAX_LIFETIME below SESSION_TTL', { SESSION_TTL: String(60 * 86_400) }, 'SESSION_MAX_LIFETIME', /at least SESSION_TTL/],
    ['a SHUTDOWN_TIMEOUT within the drain delay', { SHUTDOWN_DRAIN_DELAY: '30', SHUTDOWN_TIMEOUT: '30' }, 'SHUTDOWN_TIMEOUT', /longer than SHUTDOWN_DRAIN_DELAY/],
  ];
  it.each(cases)('%s', (_label, env, setting, says) => {
    const error = configError({ NODE_ENV: 'test', DATA_DIR: dataDir(), ...env });
    expect(error.problems, error.message).toHaveLength(1);
    expect(error.problems[0]!.startsWith(setting), error.message).toBe(true);
    expect(error.message).toContain(setting);
    if (says) expect(error.problems[0]).toMatch(says);
  });

  it('lists every wrong value at once', () => {
    const error = configError({ NODE_ENV: 'test', DATA_DIR: dataDir(), PORT: 'abc', TRUST_PROXY: 'maybe', ARGON2_MEMORY_KIB: '1024' });
    expect(error.message).toContain('PORT');
    expect(error.message).toContain('TRUST_PROXY');
    expect(error.message).toContain('ARGON2_MEMORY_KIB');
  });

  it('refuses an unknown NODE_ENV', () => {
    expect(configError({ NODE_ENV: 'staging', DATA_DIR: dataDir() }).message).toMatch(/NODE_ENV.*staging/);
  });
});

describe('production', () => {
  it('lists each missing setting at once and writes no secrets file', () => {
    const dir = dataDir();
    const error = configError({ NODE_ENV: 'production', DATA_DIR: dir });
    const about = (name: string) => error.problems.filter((p) => p.startsWith(name));
    expect(about('DATABASE_URL')).toHaveLength(1);
    expect(about('COOKIE_KEYS')).toHaveLength(1);
    expect(about('KEY_ENCRYPTION_KEY')).toHaveLength(1);
    expect(existsSync(secretsFile(dir))).toBe(false);
  });

  it('loads with real settings, secrets from the environment, and never writes the secrets file', () => {
    const dir = dataDir();
    const config = loadConfig(productionEnv(dir));
    expect(config.env).toBe('production');
    expect(config.issuer).toBe('https://id.example.com');
    expect(config.secrets.generated).toBe(false);
    expect(config.secrets.cookieKeys).toEqual([COOKIE_KEY]);
    expect(config.secrets.keyEncryptionKey.equals(Buffer.from(KEK, 'base64'))).toBe(true);
    expect(existsSync(secretsFile(dir))).toBe(false);
  });

  it('refuses a metrics listener open beyond loopback without METRICS_TOKEN, and allows it on loopback or with the token', () => {
    const dir = dataDir();
    const open = configError(productionEnv(dir, { METRICS_PORT: '9464', METRICS_HOST: '0.0.0.0' }));
    expect(open.problems).toHaveLength(1);
    expect(open.problems[0]).toMatch(/^METRICS_TOKEN is required in production with METRICS_HOST=0\.0\.0\.0/);

    const token = randomBytes(32).toString('base64');
    expect(loadConfig(productionEnv(dir, { METRICS_PORT: '9464', METRICS_HOST: '0.0.0.0', METRICS_TOKEN: token })).metrics).toEqual({ port: 9464, host: '0.0.0.0', token });
    expect(loadConfig(productionEnv(dir, { METRICS_PORT: '9464' })).metrics).toEqual({ port: 9464, host: '127.0.0.1' });
    // Without either, nothing serves metrics at all.
    expect(loadConfig(productionEnv(dir)).metrics).toEqual({ host: '127.0.0.1' });
  });

  it('refuses a short METRICS_TOKEN, and METRICS_PORT on the public port', () => {
    const dir = dataDir();
    expect(configError(productionEnv(dir, { METRICS_TOKEN: 'short' })).problems[0]).toMatch(/^METRICS_TOKEN: must be at least 32 characters/);
    expect(configError(productionEnv(dir, { PORT: '3000', METRICS_PORT: '3000' })).problems[0]).toMatch(/^METRICS_PORT must differ from PORT/);
  });

  it('starts no tracing unless OTEL_EXPORTER_OTLP_ENDPOINT is set, and wants an http(s) URL for it', () => {
    const dir = dataDir();
    expect(loadConfig(productionEnv(dir)).tracing).toEqual({ serviceName: 'gatehouse' });
    expect(loadConfig(productionEnv(dir, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SERVICE_NAME: 'gatehouse-eu' })).tracing).toEqual({ otlpEndpoint: 'http://collector:4318', serviceName: 'gatehouse-eu' });
    expect(configError(productionEnv(dir, { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).problems[0]).toMatch(/^OTEL_EXPORTER_OTLP_ENDPOINT/);
  });

  it('refuses a plain-http issuer on a real host, allows https and localhost', () => {
    const dir = dataDir();
    const error = configError(productionEnv(dir, { ISSUER: 'http://gatehouse.example.com' }));
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^ISSUER.*https/);

    expect(loadConfig(productionEnv(dir, { ISSUER: 'https://gatehouse.example.com' })).issuer).toBe('https://gatehouse.example.com');
    expect(loadConfig(productionEnv(dir, { ISSUER: 'http://localhost:3000' })).issuer).toBe('http://localhost:3000');
  });

  it('requires an explicit ISSUER, a trusted proxy for an https one, and a key publication delay covering the refresh interval', () => {
    const dir = dataDir();
    const withoutIssuer = productionEnv(dir);
    delete withoutIssuer.ISSUER;
    expect(configError(withoutIssuer).problems).toEqual([expect.stringMatching(/^ISSUER is required/)]);
    expect(configError(productionEnv(dir, { TRUST_PROXY: 'false' })).problems).toEqual([expect.stringMatching(/^TRUST_PROXY=true is required/)]);
    expect(configError(productionEnv(dir, { KEY_PUBLISH_BEFORE_SIGNING: '0' })).problems).toEqual([expect.stringMatching(/^KEY_PUBLISH_BEFORE_SIGNING/)]);
  });

  it('refuses token lifetimes beyond their bounds, naming the setting', () => {
    const dir = dataDir();
    expect(configError(productionEnv(dir, { ACCESS_TOKEN_TTL: String(7 * 86400) })).message).toContain('ACCESS_TOKEN_TTL');
    expect(configError(productionEnv(dir, { AUTHORIZATION_CODE_TTL: '3600' })).message).toContain('AUTHORIZATION_CODE_TTL');
  });

  it('refuses a short cookie key, even one among long ones', () => {
    const dir = dataDir();
    expect(configError(productionEnv(dir, { COOKIE_KEYS: 'too-short' })).problems).toEqual([expect.stringMatching(/^COOKIE_KEYS.*32/)]);
    expect(configError(productionEnv(dir, { COOKIE_KEYS: `${COOKIE_KEY},short` })).message).toContain('COOKIE_KEYS');
    expect(configError(productionEnv(dir, { COOKIE_KEYS: ' , ' })).message).toContain('COOKIE_KEYS');

    const second = randomBytes(32).toString('base64url');
    expect(loadConfig(productionEnv(dir, { COOKIE_KEYS: `${COOKIE_KEY}, ${second}` })).secrets.cookieKeys).toEqual([COOKIE_KEY, second]);
  });

  it('refuses a KEY_ENCRYPTION_KEY that is not 32 bytes, in base64 or base64url', () => {
    const dir = dataDir();
    for (const wrong of [randomBytes(16).toString('base64'), randomBytes(33).toString('base64url'), 'not a key']) {
      expect(configError(productionEnv(dir, { KEY_ENCRYPTION_KEY: wrong })).problems).toEqual([expect.stringMatching(/^KEY_ENCRYPTION_KEY.*32 bytes/)]);
    }
    const bytes = randomBytes(32);
    expect(loadConfig(productionEnv(dir, { KEY_ENCRYPTION_KEY: bytes.toString('base64url') })).secrets.keyEncryptionKey.equals(bytes)).toBe(true);
  });

  it('keeps the demo off', () => {
    const dir = dataDir();
    expect(loadConfig(productionEnv(dir)).demo).toBe(false);
    expect(configError(productionEnv(dir, { DEMO: 'true' })).problems).toEqual([expect.stringMatching(/^DEMO/)]);
  });

  it('refuses the embedded database even when everything else is set', () => {
    const error = configError(productionEnv(dataDir(), { DATABASE_URL: undefined }));
    expect(error.problems).toEqual([expect.stringMatching(/^DATABASE_URL is required in production/)]);
  });
});

describe('development secrets', () => {
  it('are generated once into the data directory, readable by the owner only, and reused', () => {
    const dir = dataDir();
    expect(existsSync(secretsFile(dir))).toBe(false);

    const first = loadConfig({ NODE_ENV: 'development', DATA_DIR: dir });
    expect(first.secrets.generated).toBe(true);
    expect(first.secrets.keyEncryptionKey).toHaveLength(32);
    expect(first.secrets.cookieKeys.length).toBeGreaterThan(0);
    expect(first.secrets.cookieKeys.every((k) => k.length >= 32)).toBe(true);
    expect(statSync(secretsFile(dir)).mode & 0o777).toBe(0o600);
    const written = readFileSync(secretsFile(dir), 'utf8');

    const second = loadConfig({ NODE_ENV: 'test', DATA_DIR: dir });
    expect(second.secrets.cookieKeys).toEqual(first.secrets.cookieKeys);
    expect(second.secrets.keyEncryptionKey.equals(first.secrets.keyEncryptionKey)).toBe(true);
    expect(readFileSync(secretsFile(dir), 'utf8')).toBe(written);
  });

  it('differ between data directories', () => {
    const a = loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir() });
    const b = loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir() });
    expect(a.secrets.keyEncryptionKey.equals(b.secrets.keyEncryptionKey)).toBe(false);
  });

  it('are not generated when the environment provides both', () => {
    const dir = dataDir();
    const config = loadConfig({ NODE_ENV: 'development', DATA_DIR: dir, COOKIE_KEYS: COOKIE_KEY, KEY_ENCRYPTION_KEY: KEK });
    expect(config.secrets.generated).toBe(false);
    expect(config.secrets.cookieKeys).toEqual([COOKIE_KEY]);
    expect(existsSync(secretsFile(dir))).toBe(false);
  });

  it('still validate a value given in the environment', () => {
    expect(configError({ NODE_ENV: 'development', DATA_DIR: dataDir(), COOKIE_KEYS: 'short' }).message).toContain('COOKIE_KEYS');
  });
});

describe('the demo', () => {
  it('is on in development by default and can be turned off', () => {
    expect(loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir() }).demo).toBe(true);
    expect(loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir(), DEMO: 'off' }).demo).toBe(false);
    expect(loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir() }).demo).toBe(false);
  });
});
