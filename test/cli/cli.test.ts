// The `gatehouse` command as an operator runs it: `node bin/gatehouse.js …` in a child process,
// JSON on stdout, one clear line on stderr, exit codes 0 / 1 / 2 / 78. The CLI works on the same
// database a server then uses: a client and a person created here complete a real sign-in.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENVIRONMENT_VARIABLES, loadConfig } from '../../src/config.js';
import type { Database } from '../../src/db/knex.js';
import { openDatabase } from '../../src/db/open.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { obtainTokens, type App } from '../support/flows.js';
import { startTestServer } from '../support/gatehouse.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.join(ROOT, 'bin', 'gatehouse.js');
const PASSWORD = 'a long enough passphrase';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** process.env without anything Gatehouse reads, so a developer's own settings do not leak in. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ENVIRONMENT_VARIABLES) delete env[name];
  return env;
}

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/gatehouse.js …args` and resolves when it has exited. stdin is always closed. */
function gatehouse(args: string[], env: NodeJS.ProcessEnv, stdin = ''): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

/** The one JSON document a successful command prints, after checking it succeeded. */
function output<T = Record<string, unknown>>(result: Result): T {
  expect(result.code, result.stderr).toBe(0);
  const lines = result.stdout.split('\n').filter(Boolean);
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]!) as T;
}

/** A failed command: the expected exit code, nothing on stdout, one line on stderr; returns that line. */
function failure(result: Result, code: number): string {
  expect(result.code, `stdout: ${result.stdout}\nstderr: ${result.stderr}`).toBe(code);
  expect(result.stdout).toBe('');
  const lines = result.stderr.split('\n').filter((line) => line.trim() && !/WARNING: Unsupported runtime/.test(line));
  expect(lines, result.stderr).toHaveLength(1);
  return lines[0]!;
}

/** jsonb columns come back parsed from pg, and possibly as text from other drivers. */
function json(value: unknown): unknown {
  return typeof value === 'string' ? JSON.parse(value) : value;
}

async function count(query: ReturnType<Database>): Promise<number> {
  const row = (await query.count({ n: '*' }).first()) as { n: number | string } | undefined;
  return Number(row?.n);
}

let testDb: TestDatabase;
let dataDir: string;
let env: NodeJS.ProcessEnv;
const tempDirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-cli-'));
  tempDirs.push(dir);
  return dir;
}

/**
 * The database the CLI writes to. On PostgreSQL that is the test database; on PGlite (no server
 * answering) the CLI uses the embedded database in DATA_DIR, which this process may open only
 * while no CLI runs, under the same lock the CLI takes.
 */
async function inspect<T>(work: (db: Database) => Promise<T>): Promise<T> {
  if (testDb.kind === 'postgres') return work(testDb.db);
  const opened = openDatabase(loadConfig(env));
  try {
    return await work(opened.db);
  } finally {
    await opened.close();
  }
}

beforeAll(async () => {
  testDb = await createTestDatabase();
  dataDir = tempDir();
  env = {
    ...cleanEnv(),
    NODE_ENV: 'test',
    DATA_DIR: dataDir,
    ...(testDb.kind === 'postgres' ? { DATABASE_URL: testDb.url } : {}),
  };
});

afterAll(async () => {
  await testDb?.destroy();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe('gatehouse user create', () => {
  const email = `ada.${Date.now()}@example.test`;

  it('creates a person from a password piped on stdin, hashed with argon2id', async () => {
    const created = output(await gatehouse(['user', 'create', '--email', email, '--name', 'Ada Lovelace', '--password-stdin'], env, `${PASSWORD}\n`));
    expect(created).toEqual({ id: expect.stringMatching(UUID), email });

    const row = await inspect((db) => db('users').where({ id: created.id }).first());
    expect(row).toMatchObject({ email, name: 'Ada Lovelace', email_verified: false, is_admin: false });
    // PHC string: $argon2id$v=19$<params>$salt$hash. node-argon2 writes the parameters as
    // m=…,p=…,t=… rather than libargon2's m=…,t=…,p=…, so compare them as a set.
    const phc = /^\$argon2id\$v=19\$([^$]+)\$[^$]+\$[^$]+$/.exec(row.password_hash);
    expect(phc, row.password_hash).not.toBeNull();
    expect(Object.fromEntries(phc![1]!.split(',').map((p) => p.split('=')))).toEqual({ m: '19456', t: '2', p: '1' });
    expect(row.password_hash).not.toContain(PASSWORD);
    // What an operator does from a shell is in the audit log, as the cli, without the password.
    const audited = await inspect((db) => db('audit_events').where({ type: 'user.created', user_id: created.id }).first());
    expect(audited).toMatchObject({ actor_type: 'system', actor_id: 'cli' });
    expect(JSON.stringify(audited.details)).not.toContain(PASSWORD);
  });

  it('refuses an email that is taken, whatever its case', async () => {
    const message = failure(await gatehouse(['user', 'create', '--email', email.toUpperCase(), '--name', 'Ada again', '--password-stdin'], env, PASSWORD), 1);
    expect(message).toMatch(/^gatehouse: .*already exists/);
    expect(await inspect((db) => count(db('users').whereRaw('lower(email) = lower(?)', [email])))).toBe(1);
  });

  it('wants the password on stdin, never as an argument', async () => {
    const message = failure(await gatehouse(['user', 'create', '--email', `grace.${Date.now()}@example.test`, '--name', 'Grace'], env), 1);
    expect(message).toContain('--password-stdin');
  });

  it('refuses a short password', async () => {
    const shortEmail = `short.${Date.now()}@example.test`;
    const message = failure(await gatehouse(['user', 'create', '--email', shortEmail, '--name', 'Short', '--password-stdin'], env, 'abc123\n'), 1);
    expect(message).toMatch(/at least 8/);
    expect(await inspect((db) => db('users').where({ email: shortEmail }).first())).toBeUndefined();
  });
});

describe('gatehouse client create', () => {
  it('registers a confidential app; the database keeps only a digest of its secret', async () => {
    const created = output<{ client_id: string; client_secret: string }>(await gatehouse([
      'client', 'create', '--name', 'Notes App',
      '--redirect-uri', 'https://notes.example.test/callback', '--redirect-uri', 'http://localhost:8080/callback',
    ], env));
    expect(Object.keys(created).sort()).toEqual(['client_id', 'client_secret']);
    expect(created.client_secret.length).toBeGreaterThanOrEqual(32);

    const row = await inspect((db) => db('clients').where({ client_id: created.client_id }).first());
    expect(row.secret_digest).toBeTruthy();
    expect(row.secret_digest).not.toBe(created.client_secret);
    expect(row.secret_digest).not.toContain(created.client_secret);
    expect(json(row.redirect_uris)).toEqual(['https://notes.example.test/callback', 'http://localhost:8080/callback']);
    expect(json(row.grant_types)).toEqual(['authorization_code', 'refresh_token']);
    expect(row).toMatchObject({ name: 'Notes App', token_endpoint_auth_method: 'client_secret_basic', scope: 'openid profile email offline_access' });
  });

  it('registers a public app without a secret', async () => {
    const created = output<{ client_id: string }>(await gatehouse(['client', 'create', '--name', 'SPA', '--redirect-uri', 'https://spa.example.test/cb', '--public'], env));
    expect(Object.keys(created)).toEqual(['client_id']);
    const row = await inspect((db) => db('clients').where({ client_id: created.client_id }).first());
    expect(row).toMatchObject({ secret_digest: null, token_endpoint_auth_method: 'none' });
  });

  it('registers a machine client for client_credentials only', async () => {
    const created = output<{ client_id: string; client_secret: string }>(await gatehouse(['client', 'create', '--name', 'Nightly job', '--client-credentials', '--scope', 'read'], env));
    expect(created.client_secret).toBeTruthy();
    const row = await inspect((db) => db('clients').where({ client_id: created.client_id }).first());
    expect(json(row.grant_types)).toEqual(['client_credentials']);
    expect(json(row.redirect_uris)).toEqual([]);
    expect(row.scope).toBe('read');
  });

  it('refuses a plain-http redirect URI on a real host, naming it', async () => {
    const uri = 'http://app.example.test/callback';
    const message = failure(await gatehouse(['client', 'create', '--name', 'Insecure App', '--redirect-uri', uri], env), 1);
    expect(message).toContain(uri);
    expect(message).toMatch(/https/);
    expect(await inspect((db) => db('clients').where({ name: 'Insecure App' }).first())).toBeUndefined();
  });
});

describe('gatehouse resource create', () => {
  const identifier = 'https://api.example.test';

  it('registers an API with described scopes and returns its introspection credentials', async () => {
    const created = output<{ identifier: string; client_id: string; client_secret: string }>(await gatehouse([
      'resource', 'create', '--identifier', identifier, '--scope', 'read write', '--describe', 'read=Read things',
    ], env));
    expect(created).toEqual({ identifier, client_id: expect.any(String), client_secret: expect.any(String) });

    const { api, introspector } = await inspect(async (db) => ({
      api: await db('resource_servers').where({ identifier }).first(),
      introspector: await db('clients').where({ client_id: created.client_id }).first(),
    }));
    expect(api).toMatchObject({ scope: 'read write', client_id: created.client_id, is_default: false });
    expect(json(api.scope_descriptions)).toEqual({ read: 'Read things' });
    expect(json(introspector.grant_types)).toEqual([]);
    expect(introspector.secret_digest).not.toBe(created.client_secret);
  });

  it('refuses a second API with the same identifier and leaves no stray credentials', async () => {
    const message = failure(await gatehouse(['resource', 'create', '--identifier', identifier, '--scope', 'read'], env), 1);
    expect(message).toContain(identifier);
    expect(message).toMatch(/already exists/);
    expect(await inspect((db) => count(db('clients').where({ name: `${identifier} (introspection)` })))).toBe(1);
  });
});

describe('gatehouse migrate and keys', () => {
  it('migrate reports nothing to apply on a migrated database', async () => {
    expect(output(await gatehouse(['migrate'], env))).toEqual({ applied: [] });
  });

  it('keys rotate adds an RS256 and an ES256 key; keys list shows them signing, without key material', async () => {
    const { added } = output<{ added: Array<{ kid: string; alg: string; signs_from: string }> }>(await gatehouse(['keys', 'rotate'], env));
    expect(added.map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    for (const key of added) {
      expect(key.kid).toMatch(/^[\w-]{43}$/);
      expect(Number.isNaN(Date.parse(key.signs_from))).toBe(false);
    }

    const { keys } = output<{ keys: Array<Record<string, unknown>> }>(await gatehouse(['keys', 'list'], env));
    for (const key of keys) {
      expect(Object.keys(key).sort()).toEqual(['activates_at', 'alg', 'created_at', 'kid', 'published', 'state', 'unpublish_at']);
      expect(['next', 'signing', 'retired']).toContain(key.state);
    }
    // The test configuration publishes without delay, so the new keys sign at once and replace the old.
    for (const { kid } of added) expect(keys.find((k) => k.kid === kid)).toMatchObject({ state: 'signing', published: true });
    for (const alg of ['RS256', 'ES256']) expect(keys.filter((k) => k.alg === alg && k.state === 'signing')).toHaveLength(1);
    expect(keys.filter((k) => k.state === 'retired').length).toBeGreaterThanOrEqual(2);
    expect(await inspect((db) => db('audit_events').where({ type: 'keys.rotated', actor_id: 'cli' }).first())).toBeTruthy();
  });
});

describe('usage and configuration errors', () => {
  it('exits 2 with usage for an unknown command or option, 0 for --help, 78 naming a bad setting', async () => {
    const [unknownCommand, unknownOption, help, commandHelp, badConfig] = await Promise.all([
      gatehouse(['frobnicate'], env),
      gatehouse(['client', 'create', '--colour', 'red'], env),
      gatehouse(['--help'], env),
      gatehouse(['user', 'create', '--help'], env),
      gatehouse(['migrate'], { ...env, PORT: 'abc' }),
    ]);

    expect(unknownCommand.code).toBe(2);
    expect(unknownCommand.stdout).toBe('');
    expect(unknownCommand.stderr).toContain('Unknown command "frobnicate"');
    expect(unknownCommand.stderr).toContain('Usage: gatehouse <command>');

    expect(unknownOption.code).toBe(2);
    expect(unknownOption.stdout).toBe('');
    expect(unknownOption.stderr).toContain('--colour');
    expect(unknownOption.stderr).toContain('Usage: gatehouse client create');

    expect(help.code).toBe(0);
    for (const command of ['user create', 'client create', 'resource create', 'migrate', 'keys rotate', 'keys list']) {
      expect(help.stdout).toContain(command);
    }

    expect(commandHelp.code).toBe(0);
    expect(commandHelp.stdout).toContain('Usage: gatehouse user create --email E --name N --password-stdin');

    expect(badConfig.code).toBe(78);
    expect(badConfig.stdout).toBe('');
    expect(badConfig.stderr).toMatch(/^\s*- PORT: /m);
  });
});

describe('what the CLI creates, a server uses', () => {
  it('a person and an app created by the CLI complete the authorization-code flow', { timeout: 60_000 }, async () => {
    const redirectUri = 'https://app.example.test/callback';
    const email = `cli.person.${Date.now()}@example.test`;
    const person = output<{ id: string; email: string }>(await gatehouse(['user', 'create', '--email', email, '--name', 'CLI Person', '--email-verified', '--password-stdin'], env, `${PASSWORD}\n`));
    const app = output<{ client_id: string; client_secret: string }>(await gatehouse(['client', 'create', '--name', 'CLI App', '--redirect-uri', redirectUri], env));

    // The server shares the CLI's database and data directory (so its development secrets, which
    // encrypt the signing keys the CLI rotated in). On PGlite the database is the embedded one in
    // DATA_DIR, opened now that the CLI has exited, under the embedded lock.
    const opened = testDb.kind === 'pglite' ? openDatabase(loadConfig(env)) : undefined;
    const sharedDb: TestDatabase = opened
      ? { db: opened.db, url: undefined, kind: 'pglite', destroy: () => opened.close() }
      : testDb;
    const server = await startTestServer({ DATA_DIR: dataDir }, { testDb: sharedDb });
    try {
      const config = await client.discovery(
        new URL(server.issuer), app.client_id, app.client_secret, client.ClientSecretBasic(app.client_secret),
        { execute: [client.allowInsecureRequests] },
      );
      const registered: App = { config, clientId: app.client_id, clientSecret: app.client_secret, redirectUri };
      // The password was piped with a trailing newline; the person signs in without one.
      const { tokens, request } = await obtainTokens(server, registered, { email, password: PASSWORD });

      expect(tokens.claims()).toMatchObject({ iss: server.issuer, aud: app.client_id, sub: person.id, nonce: request.nonce });
      expect(await client.fetchUserInfo(config, tokens.access_token, person.id)).toMatchObject({
        sub: person.id, email, email_verified: true, name: 'CLI Person',
      });
      const { protectedHeader } = await jwtVerify(tokens.id_token!, createRemoteJWKSet(new URL(`${server.issuer}/jwks`)), { issuer: server.issuer, audience: app.client_id });
      const kids = (await sharedDb.db('signing_keys').select('kid')).map((row: { kid: string }) => row.kid);
      expect(kids).toContain(decodeProtectedHeader(tokens.id_token!).kid);
      expect(protectedHeader.alg).toBe('RS256');
    } finally {
      await server.stop();
      if (opened) await opened.close();
    }
  });
});

describe('the embedded database lock', () => {
  function embeddedEnv(dir: string): NodeJS.ProcessEnv {
    return { ...cleanEnv(), NODE_ENV: 'test', DATA_DIR: dir };
  }

  function lockFile(dir: string): string {
    const pglite = path.join(dir, 'pglite');
    mkdirSync(pglite, { recursive: true });
    return path.join(pglite, 'gatehouse.lock');
  }

  it('turns a second process away with a clear message while another holds the database', async () => {
    const dir = tempDir();
    const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    const exited = new Promise((resolve) => holder.once('exit', resolve));
    try {
      await new Promise<void>((resolve, reject) => { holder.once('spawn', resolve); holder.once('error', reject); });
      writeFileSync(lockFile(dir), String(holder.pid));

      const message = failure(await gatehouse(['migrate'], embeddedEnv(dir)), 1);
      expect(message).toMatch(/embedded database .* is in use by another Gatehouse process \(pid \d+\)/);
      expect(message).toContain(String(holder.pid));
      expect(message).toContain('DATABASE_URL');
      expect(readFileSync(lockFile(dir), 'utf8')).toBe(String(holder.pid));
    } finally {
      holder.kill();
      await exited;
    }
  });

  it('takes over a lock left behind by a process that is gone, and releases it afterwards', async () => {
    const dir = tempDir();
    const gone = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    await new Promise((resolve) => gone.once('exit', resolve));
    writeFileSync(lockFile(dir), String(gone.pid));

    const { applied } = output<{ applied: string[] }>(await gatehouse(['migrate'], embeddedEnv(dir)));
    expect(applied).toContain('001_initial');
    expect(existsSync(lockFile(dir))).toBe(false);
  });
});
