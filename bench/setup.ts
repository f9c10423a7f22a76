// What every bench tool needs before Gatehouse starts: a database (DATABASE_URL, or a fresh one
// on 127.0.0.1:5432 that is dropped at the end), what the load signs in with, registered through
// Gatehouse's own stores, Gatehouse's settings under load, and a free port to serve on.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { PasswordHasher } from '../src/people/passwords.js';
import { UserStore } from '../src/people/users.js';
import { ClientStore } from '../src/clients/store.js';
import { loadConfig } from '../src/config.js';
import { createDatabase } from '../src/db/knex.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { ResourceServerStore } from '../src/resources/store.js';
import type { Credentials, Target } from './scenarios.js';

const PASSWORD = 'correct horse battery staple';
export const APP_SCOPE = 'openid profile email offline_access';

/** One set per run: every instance, and every restart, must open the signing keys the first sealed. */
const SECRETS = { COOKIE_KEYS: randomBytes(32).toString('base64url'), KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url') };

/** Gatehouse's settings under load: no log output, and limits that only a real attack would reach. */
export function gatehouseEnvironment(issuer: string, databaseUrl: string): Record<string, string> {
  return {
    NODE_ENV: 'test', HOST: '127.0.0.1', ISSUER: issuer, DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent',
    DATA_DIR: `${tmpdir()}/gatehouse-bench-${process.pid}`,
    ...SECRETS,
    // The per-client endpoint limits stay on, as in production (they are in memory and cost CPU),
    // set far above anything one client can send here.
    TOKEN_RATE_LIMIT: '1000000000', INTROSPECTION_RATE_LIMIT: '1000000000', REVOCATION_RATE_LIMIT: '1000000000',
    SIGNIN_MAX_CONSECUTIVE_FAILURES: '100', SIGNIN_ACCOUNT_MAX_FAILURES: '1000000', SIGNIN_IP_MAX_FAILURES: '1000000',
  };
}

export interface BenchDatabase {
  url: string;
  /** Process ids of the PostgreSQL backends connected to this database (other than the asker). */
  backends(): Promise<number[]>;
  drop(): Promise<void>;
}

/** DATABASE_URL as given; without it, a fresh database on 127.0.0.1:5432, dropped at the end. */
export async function benchDatabase(): Promise<BenchDatabase> {
  const { url, drop } = await openBenchDatabase();
  const watcher = createDatabase({ url, embeddedDir: null, poolMax: 1 });
  return {
    url,
    async backends() {
      const { rows } = await watcher.raw<{ rows: Array<{ pid: number }> }>('select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()');
      return rows.map((row) => Number(row.pid));
    },
    async drop() {
      await watcher.destroy();
      await drop();
    },
  };
}

/** Where scratch databases are created and dropped from (the same variable the tests read). */
const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function openBenchDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL, drop: async () => {} };
  return scratchDatabase('gatehouse_bench');
}

/** A fresh, empty database named `<prefix>_<pid>_<random>`; drop() removes it, connections and all. */
export async function scratchDatabase(prefix: string): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${process.pid}_${randomBytes(3).toString('hex')}`;
  const db = createDatabase({ url: ADMIN_URL, embeddedDir: null, poolMax: 1 });
  await db.raw(`create database "${name}"`);
  await db.destroy();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.href,
    async drop() {
      const cleanup = createDatabase({ url: ADMIN_URL, embeddedDir: null, poolMax: 1 });
      await cleanup.raw(`drop database if exists "${name}" with (force)`);
      await cleanup.destroy();
    },
  };
}

/** A port nothing listens on now, for a server whose issuer URL must name its port before it starts. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface Seeded {
  apiIdentifier: string;
  apiScope: string;
  api: Credentials;
  machine: Credentials;
  app: Credentials;
  redirectUri: string;
  people: Array<{ email: string; password: string }>;
  postgres: string;
}

/** Migrates and registers what the load needs, through Gatehouse's own stores. */
export async function seed(url: string, peopleCount: number): Promise<Seeded> {
  const db = createDatabase({ url, embeddedDir: null });
  try {
    await migrateToLatest(db);
    const config = loadConfig({ NODE_ENV: 'test', DATA_DIR: tmpdir(), COOKIE_KEYS: 'x'.repeat(32), KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64') });
    const run = randomBytes(3).toString('hex'); // unique names, so a reused DATABASE_URL still seeds
    const apiScope = `bench${run}:read`;
    const apiIdentifier = `https://api-${run}.bench.test`;
    const resources = new ResourceServerStore(db);
    const clients = new ClientStore(db);
    const users = new UserStore(db, new PasswordHasher(config.argon2));
    const api = await resources.create({ identifier: apiIdentifier, scope: apiScope });
    const machine = await clients.create({ name: 'bench machine', clientCredentials: true, scope: apiScope });
    const redirectUri = 'https://app.bench.test/callback';
    const app = await clients.create({ name: 'bench app', redirectUris: [redirectUri], scope: `${APP_SCOPE} ${apiScope}` });
    const people = [];
    for (let i = 0; i < peopleCount; i += 1) {
      const email = `bench${i}.${run}@example.test`;
      await users.create({ email, name: `Bench Person ${i}`, password: PASSWORD, emailVerified: true });
      people.push({ email, password: PASSWORD });
    }
    const { rows } = await db.raw<{ rows: Array<{ server_version: string }> }>('show server_version');
    return {
      apiIdentifier, apiScope, redirectUri, people,
      api: { clientId: api.clientId, clientSecret: api.clientSecret! },
      machine: { clientId: machine.client.clientId, clientSecret: machine.clientSecret! },
      app: { clientId: app.client.clientId, clientSecret: app.clientSecret! },
      postgres: `PostgreSQL ${rows[0]!.server_version}`,
    };
  } finally {
    await db.destroy();
  }
}


/** Gatehouse at `base` as a load target, before any sign-in has given it tokens to present. */
export function gatehouseTarget(base: string, seeded: Seeded): Target {
  return {
    label: 'gatehouse', base, app: seeded.app, machine: seeded.machine, api: seeded.api, apiScope: seeded.apiScope,
    apiIdentifier: seeded.apiIdentifier, redirectUri: seeded.redirectUri, people: seeded.people,
    refreshTokens: [], introspectedRefreshToken: '', jwtAccessToken: undefined, userinfoAccessToken: '',
  };
}
