// The `gatehouse` command: JSON on stdout, one clear line on stderr, exit codes 0 / 1 / 2 / 78. The
// CLI works on the same database a server then uses: a client and a person created here complete a
// real sign-in. Most commands run in this process through the CLI's own entry point (main, with
// its own streams and environment), since starting node and tsx for each costs about a second. A
// few run `node bin/gatehouse.js …` as an operator does (gatehouseProcess), so what lies between
// the two (argv, a piped stdin, the exit code, all that reaches stdout and stderr, the modules
// --help loads, `gatehouse demo` serving) is proven end to end, for a success and for exit 1 and 78.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { PasswordHasher } from '../../src/people/passwords.js';
import { UserStore } from '../../src/people/users.js';
import { ClientStore } from '../../src/clients/store.js';
import { FactorStore } from '../../src/factors/store.js';
import { ENVIRONMENT_VARIABLES, loadConfig } from '../../src/config.js';
import type { Database } from '../../src/db/knex.js';
import { openDatabase } from '../../src/db/open.js';
import { demoRedirectUri, saveDemoDetails, seedDemo, type DemoDetails } from '../../src/demo/seed.js';
import { ResourceServerStore } from '../../src/resources/store.js';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../support/database.js';
import { obtainTokens, type App } from '../support/flows.js';
import { freePort, startTestServer } from '../support/gatehouse.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.join(ROOT, 'bin', 'gatehouse.js');
const PASSWORD = 'a long enough passphrase';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const postgres = await usingPostgres();
/** Independent commands run side by side on PostgreSQL; the embedded database takes one process at a time. */
const describeConcurrently = postgres ? describe.concurrent : describe;

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

/** Runs `gatehouse …args` in this process, with `env` as its environment and `stdin` piped in and closed. */
async function gatehouse(args: string[], env: NodeJS.ProcessEnv, stdin = ''): Promise<Result> {
  let stdout = '';
  let stderr = '';
  const input = new PassThrough();
  input.end(stdin);
  const code = await main(args, {
    env,
    stdin: input,
    stdout: { write: (text: string) => { stdout += text; } },
    stderr: { write: (text: string) => { stderr += text; } },
  });
  return { code, stdout, stderr };
}

/** Runs `node bin/gatehouse.js …args` and resolves when it has exited. stdin is always closed. */
function gatehouseProcess(args: string[], env: NodeJS.ProcessEnv, stdin = ''): Promise<Result> {
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
    const created = output(await gatehouseProcess(['user', 'create', '--email', email, '--name', 'Ada Lovelace', '--password-stdin'], env, `${PASSWORD}\n`));
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

  it('has no way to declare an address verified: --email-verified is gone', async () => {
    const message = failure(await gatehouse(['user', 'create', '--email', `other.${email}`, '--name', 'Other', '--email-verified', '--password-stdin'], env, PASSWORD), 2);
    expect(message).toContain('--email-verified');
  });

  it('wants the password on stdin, never as an argument', async () => {
    const message = failure(await gatehouse(['user', 'create', '--email', `grace.${Date.now()}@example.test`, '--name', 'Grace'], env), 2);
    expect(message).toContain('--password-stdin');
  });

  it('refuses a short password', async () => {
    const shortEmail = `short.${Date.now()}@example.test`;
    const message = failure(await gatehouse(['user', 'create', '--email', shortEmail, '--name', 'Short', '--password-stdin'], env, 'abc123\n'), 1);
    expect(message).toMatch(/at least 8/);
    expect(await inspect((db) => db('users').where({ email: shortEmail }).first())).toBeUndefined();
  });
});

describe('gatehouse user verify-email', () => {
  it('writes a verification mail to the outbox for a running server to deliver, audited as the cli, and verifies nothing', async () => {
    const email = `verify.${Date.now()}@example.test`;
    const created = output(await gatehouse(['user', 'create', '--email', email, '--name', 'Vera', '--password-stdin'], env, `${PASSWORD}\n`));
    const sent = output(await gatehouse(['user', 'verify-email', '--email', email.toUpperCase(), '--send'], env));
    expect(sent).toEqual({ id: created.id, email, verification_sent: true });
    expect(await inspect((db) => db('users').where({ id: created.id }).first())).toMatchObject({ email_verified: false });
    expect(await inspect((db) => count(db('one_time_links').where({ user_id: created.id, purpose: 'verification', email })))).toBe(1);
    const audited = await inspect((db) => db('audit_events').where({ type: 'user.email_verification_sent', user_id: created.id }).first());
    expect(audited).toMatchObject({ actor_type: 'system', actor_id: 'cli' });
    expect(failure(await gatehouse(['user', 'verify-email', '--email', `nobody.${email}`, '--send'], env), 1)).toMatch(/^gatehouse: No person has the email/);
    // --send is what it does: without it the command refuses rather than look like it verified anything.
    failure(await gatehouse(['user', 'verify-email', '--email', email], env), 2);
  });
});

// In order, on one person. Each command opens the database anew (on PGlite, the embedded one): hence the timeouts.
describe('gatehouse user list, rename, disable, enable, reset-password, reset-factors and delete', () => {
  const email = `manage.${Date.now()}@example.test`;
  let id: string;
  const audited = (type: string) => inspect((db) => db('audit_events').where({ type, user_id: id }).select('actor_type', 'actor_id'));
  const users = (db: Database) => new UserStore(db, new PasswordHasher(loadConfig(env).argon2));
  const factors = (db: Database) => new FactorStore(db, loadConfig(env).secrets.keyEncryptionKey);

  it('finds the person by their exact address, and renames, disables and enables them, audited as the cli', { timeout: 90_000 }, async () => {
    // Older people whose name begins with the address fill a search's first page; the exact address still finds the one it names.
    await inspect(async (db) => {
      for (let i = 0; i < 11; i += 1) await users(db).create({ email: `decoy${i}.${email}`, name: email, password: PASSWORD, emailVerified: true });
    });
    id = output<{ id: string }>(await gatehouse(['user', 'create', '--email', email, '--name', 'Mara', '--given-name', 'Mara', '--family-name', 'Old', '--password-stdin'], env, `${PASSWORD}\n`)).id;

    expect(output(await gatehouse(['user', 'rename', '--email', email.toUpperCase(), '--name', 'Mara New', '--family-name', ''], env)))
      .toEqual({ id, email, name: 'Mara New', given_name: 'Mara', family_name: null });
    expect(await audited('user.profile_updated')).toEqual([{ actor_type: 'system', actor_id: 'cli' }]);
    expect(failure(await gatehouse(['user', 'rename', '--email', email], env), 2)).toMatch(/--name, --given-name or --family-name/);
    expect(failure(await gatehouse(['user', 'rename', '--email', email, '--name', '', '--given-name', 'M'], env), 2)).toMatch(/--name cannot be empty/);

    expect(output(await gatehouse(['user', 'disable', '--email', email], env))).toEqual({ id, email, disabled: true });
    expect((await inspect((db) => db('users').where({ id }).first())).disabled_at).not.toBeNull();
    expect(output(await gatehouse(['user', 'enable', '--email', email], env))).toEqual({ id, email, disabled: false });
    expect((await inspect((db) => db('users').where({ id }).first())).disabled_at).toBeNull();
    expect(await audited('user.disabled')).toEqual([{ actor_type: 'system', actor_id: 'cli' }]);
    expect(await audited('user.enabled')).toEqual([{ actor_type: 'system', actor_id: 'cli' }]);
  });

  it('lists people a page at a time, by the start of their address or name, as the console does', async () => {
    type Listed = { items: Array<{ id: string; email: string; name: string; disabled_at: string | null }>; next_cursor: string | null };
    const first = output<Listed>(await gatehouse(['user', 'list', '--search', 'DECOY', '--limit', '5'], env));
    expect(first.items.map((person) => person.email)).toEqual([0, 1, 2, 3, 4].map((i) => `decoy${i}.${email}`));
    const seen = [...first.items];
    for (let cursor = first.next_cursor; cursor;) {
      const page = output<Listed>(await gatehouse(['user', 'list', '--search', 'decoy', '--limit', '5', '--cursor', cursor], env));
      seen.push(...page.items);
      cursor = page.next_cursor;
    }
    expect(seen.map((person) => person.email)).toEqual(Array.from({ length: 11 }, (_, i) => `decoy${i}.${email}`));
    // The name matches too: every decoy is named after the address, and so is nobody else.
    expect(output<Listed>(await gatehouse(['user', 'list', '--search', email, '--limit', '200'], env)).items.map((person) => person.email).sort())
      .toEqual([...Array.from({ length: 11 }, (_, i) => `decoy${i}.${email}`), email].sort());
    for (const limit of ['many', '0', '500']) expect(failure(await gatehouse(['user', 'list', '--limit', limit], env), 2)).toMatch(/--limit takes a whole number from 1 to 200/);
  });

  it('gets a locked-out administrator back in: a new password from stdin, lost second factors removed', { timeout: 90_000 }, async () => {
    const newPassword = 'another long enough passphrase';
    expect(output(await gatehouse(['user', 'reset-password', '--email', email, '--password-stdin'], env, `${newPassword}\n`)))
      .toEqual({ id, email, sessions_ended: 0, grants_revoked: 0 });
    expect(await inspect((db) => users(db).verifyPassword(id, newPassword))).toBe(true);
    expect(await inspect((db) => users(db).verifyPassword(id, PASSWORD))).toBe(false);
    expect(failure(await gatehouse(['user', 'reset-password', '--email', email, '--password-stdin'], env, 'short\n'), 1)).toMatch(/^gatehouse: /);
    expect(await audited('user.password_reset')).toEqual([{ actor_type: 'system', actor_id: 'cli' }]);

    await inspect((db) => db.transaction((trx) => factors(db).replaceRecoveryCodes(trx, id)));
    failure(await gatehouse(['user', 'reset-factors', '--email', email], env), 2);
    const reset = output<{ removed: Array<{ kind: string }>; sessions_ended: number }>(await gatehouse(['user', 'reset-factors', '--email', email, '--yes'], env));
    expect(reset).toMatchObject({ id, email, sessions_ended: 0 });
    expect(reset.removed.map((factor) => factor.kind)).toEqual(['recovery_codes']);
    expect(await inspect((db) => factors(db).list(id))).toEqual([]);
    expect(await audited('factor.reset')).toEqual([{ actor_type: 'system', actor_id: 'cli' }]);
  });

  it('deletes the person only with --yes; then the address names nobody', { timeout: 90_000 }, async () => {
    failure(await gatehouse(['user', 'delete', '--email', email], env), 2);
    expect(output(await gatehouse(['user', 'delete', '--email', email, '--yes'], env))).toEqual({ id, email, deleted: true });
    expect(await inspect((db) => count(db('users').where({ id })))).toBe(0);
    expect(await audited('user.deleted')).toEqual([{ actor_type: 'system', actor_id: 'cli' }]);
    for (const command of ['disable', 'enable', 'delete']) {
      expect(failure(await gatehouse(['user', command, '--email', email, ...(command === 'delete' ? ['--yes'] : [])], env), 1)).toMatch(/^gatehouse: No person has the email/);
    }
  });
});

describeConcurrently('gatehouse client create', () => {
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

  it('registers a back-channel logout URI and the pages the app links people to, changes them with client update, and refuses a URI with a fragment or a page that is not http(s)', async () => {
    const created = output<{ client_id: string }>(await gatehouse([
      'client', 'create', '--name', 'Logged-out App', '--redirect-uri', 'https://app.example.test/cb',
      '--backchannel-logout-uri', 'https://app.example.test/backchannel-logout', '--backchannel-logout-session-required',
      '--policy-uri', 'https://app.example.test/privacy', '--tos-uri', 'https://app.example.test/terms', '--contact', 'ops@app.example.test', '--contact', 'dpo@app.example.test',
    ], env));
    const row = await inspect((db) => db('clients').where({ client_id: created.client_id }).first());
    expect(row).toMatchObject({
      backchannel_logout_uri: 'https://app.example.test/backchannel-logout', backchannel_logout_session_required: true,
      policy_uri: 'https://app.example.test/privacy', tos_uri: 'https://app.example.test/terms', client_uri: null, contacts: ['ops@app.example.test', 'dpo@app.example.test'],
    });

    const updated = output(await gatehouse(['client', 'update', '--client-id', created.client_id, '--backchannel-logout-uri', 'https://app.example.test/logout?from=gatehouse', '--backchannel-logout-session-optional'], env));
    expect(updated).toMatchObject({ backchannel_logout_uri: 'https://app.example.test/logout?from=gatehouse', backchannel_logout_session_required: false });
    const cleared = output(await gatehouse(['client', 'update', '--client-id', created.client_id, '--backchannel-logout-uri', '', '--policy-uri', '', '--client-uri', 'https://app.example.test/', '--contact', ''], env));
    expect(cleared).toMatchObject({ backchannel_logout_uri: null, policy_uri: null, client_uri: 'https://app.example.test/', tos_uri: 'https://app.example.test/terms', contacts: [] });
    expect(failure(await gatehouse(['client', 'update', '--client-id', created.client_id, '--tos-uri', 'javascript:alert(1)'], env), 1)).toMatch(/terms of service \(tos_uri\) must be an http or https URL/);

    expect(failure(await gatehouse(['client', 'update', '--client-id', created.client_id, '--backchannel-logout-uri', 'https://app.example.test/logout#here'], env), 1)).toMatch(/fragment/);
    expect(failure(await gatehouse(['client', 'create', '--name', 'Relative', '--redirect-uri', 'https://app.example.test/cb', '--backchannel-logout-uri', '/logout'], env), 1)).toMatch(/absolute URL/);
    expect(failure(await gatehouse(['client', 'update', '--client-id', created.client_id, '--backchannel-logout-session-required', '--backchannel-logout-session-optional'], env), 2)).toMatch(/contradict/);
  });

  it('registers an app with a minimum sign-in level (--require-acr); a level Gatehouse does not define is a usage error', async () => {
    const created = output<{ client_id: string }>(await gatehouse([
      'client', 'create', '--name', 'Two-factor App', '--redirect-uri', 'https://strong.example.test/cb', '--require-acr', 'urn:gatehouse:acr:2fa',
    ], env));
    expect(await inspect((db) => db('clients').where({ client_id: created.client_id }).first())).toMatchObject({ require_acr: 'urn:gatehouse:acr:2fa' });
    expect(failure(await gatehouse(['client', 'create', '--name', 'Vague App', '--redirect-uri', 'https://vague.example.test/cb', '--require-acr', 'strong'], env), 2))
      .toContain('--require-acr must be urn:gatehouse:acr:1fa or urn:gatehouse:acr:2fa or urn:gatehouse:acr:phr');
  });

  it('registers an app held to DPoP, PAR and signed request objects, its keys signing requests beside its secret', async () => {
    const dir = tempDir();
    const keysFile = path.join(dir, 'keys.json');
    writeFileSync(keysFile, JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0', kid: 'k1' }] }));
    const created = output<{ client_id: string; client_secret: string }>(await gatehouse([
      'client', 'create', '--name', 'Strict App', '--redirect-uri', 'https://strict.example.test/cb',
      '--jwks-file', keysFile, '--auth-method', 'client_secret_basic',
      '--require-dpop', '--require-par', '--require-signed-request-object',
    ], env));
    expect(created.client_secret).toBeTruthy();
    const row = await inspect((db) => db('clients').where({ client_id: created.client_id }).first());
    expect(row).toMatchObject({
      token_endpoint_auth_method: 'client_secret_basic',
      dpop_bound_access_tokens: true, require_pushed_authorization_requests: true, require_signed_request_object: true,
    });
    // Signed requests need keys to check them with.
    expect(failure(await gatehouse(['client', 'create', '--name', 'Keyless', '--redirect-uri', 'https://k.example.test/cb', '--require-signed-request-object'], env), 1)).toMatch(/public keys/);
  });

  it('registers an app whose keys are published at --jwks-uri: it authenticates with private_key_jwt and gets no secret; the URI must be https', async () => {
    const created = output<{ client_id: string; client_secret?: string }>(await gatehouse([
      'client', 'create', '--name', 'Published Keys', '--redirect-uri', 'https://published.example.test/cb', '--jwks-uri', 'https://published.example.test/jwks.json',
    ], env));
    expect(created.client_secret).toBeUndefined();
    expect(await inspect((db) => db('clients').where({ client_id: created.client_id }).first())).toMatchObject({
      token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://published.example.test/jwks.json', jwks: null, secret_digest: null,
    });
    expect(failure(await gatehouse(['client', 'create', '--name', 'Plain Keys', '--redirect-uri', 'https://plain.example.test/cb', '--jwks-uri', 'http://plain.example.test/jwks.json'], env), 1))
      .toMatch(/JWK Set URI must be an https URL/);
  });

  it('refuses a plain-http redirect URI on a real host, naming it', async () => {
    const uri = 'http://app.example.test/callback';
    const message = failure(await gatehouse(['client', 'create', '--name', 'Insecure App', '--redirect-uri', uri], env), 1);
    expect(message).toContain(uri);
    expect(message).toMatch(/https/);
    expect(await inspect((db) => db('clients').where({ name: 'Insecure App' }).first())).toBeUndefined();
  });
});

describeConcurrently('gatehouse registration-token', () => {
  it('create prints the token once, keeps its digest, bounded by --scope, --uses and --expires-in; list and revoke', async () => {
    const created = output<{ id: string; token: string; scope: string; max_uses: number; expires_at: string }>(await gatehouse([
      'registration-token', 'create', '--scope', 'openid email', '--uses', '3', '--expires-in', '3600', '--description', 'Acme',
    ], env));
    expect(created).toMatchObject({ scope: 'openid email', max_uses: 3, token: expect.stringMatching(/^ghiat_/) });
    expect(new Date(created.expires_at).getTime() - Date.now()).toBeLessThanOrEqual(3600 * 1000);
    const row = await inspect((db) => db('registration_tokens').where({ id: created.id }).first());
    expect(JSON.stringify(row)).not.toContain(created.token);

    const listed = output<{ items: Array<{ id: string }> }>(await gatehouse(['registration-token', 'list'], env));
    expect(listed.items.map((t) => t.id)).toContain(created.id);
    expect(JSON.stringify(listed)).not.toContain(created.token);
    const revoked = output<{ revoked_at: string }>(await gatehouse(['registration-token', 'revoke', '--id', created.id], env));
    expect(revoked.revoked_at).toEqual(expect.any(String));
  });

  it('refuses the admin scope, and --uses that is not a number', async () => {
    expect(failure(await gatehouse(['registration-token', 'create', '--scope', 'openid gatehouse:admin'], env), 1)).toContain('gatehouse:admin');
    failure(await gatehouse(['registration-token', 'create', '--uses', 'many'], env), 2);
  });

  it('client create --device-flow opts an app into the device flow', async () => {
    const created = output<{ client_id: string }>(await gatehouse(['client', 'create', '--name', 'TV', '--public', '--redirect-uri', 'https://tv.example.test/cb', '--device-flow'], env));
    const row = await inspect((db) => db('clients').where({ client_id: created.client_id }).first());
    expect(json(row.grant_types)).toEqual(['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code']);
  });
});

describe('gatehouse resource create', () => {
  const identifier = 'https://api.example.test';

  it('registers an API with described scopes and returns its introspection credentials', async () => {
    const created = output<{ identifier: string; client_id: string; client_secret: string }>(await gatehouse([
      'resource', 'create', '--identifier', identifier, '--scope', 'read write', '--describe', 'read=Read things',
      '--describe-in', 'de:read=Dinge lesen',
    ], env));
    expect(created).toEqual({ identifier, client_id: expect.any(String), client_secret: expect.any(String) });

    const { api, introspector } = await inspect(async (db) => ({
      api: await db('resource_servers').where({ identifier }).first(),
      introspector: await db('clients').where({ client_id: created.client_id }).first(),
    }));
    expect(api).toMatchObject({ scope: 'read write', client_id: created.client_id, is_default: false });
    expect(json(api.scope_descriptions)).toEqual({ read: 'Read things' });
    expect(json(api.localized_scope_descriptions)).toEqual({ de: { read: 'Dinge lesen' } });
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

describe('events endpoints (security events)', () => {
  it('client and resource create take --events-endpoint; update sets or removes it; a bad one is refused', async () => {
    const api = output<{ identifier: string }>(await gatehouse(['resource', 'create', '--identifier', 'https://events.example.test', '--scope', 'events:read', '--events-endpoint', 'https://events.example.test/set'], env));
    expect(await inspect((db) => db('resource_servers').where({ identifier: api.identifier }).first())).toMatchObject({ events_endpoint: 'https://events.example.test/set' });
    expect(output(await gatehouse(['resource', 'update', '--identifier', api.identifier, '--no-events-endpoint'], env))).toMatchObject({ identifier: api.identifier, events_endpoint: null });

    const app = output<{ client_id: string }>(await gatehouse(['client', 'create', '--name', 'Receiving', '--redirect-uri', 'https://app.example.test/cb', '--events-endpoint', 'https://app.example.test/set'], env));
    expect(output(await gatehouse(['client', 'update', '--client-id', app.client_id, '--events-endpoint', 'https://app.example.test/v2/set'], env)))
      .toMatchObject({ client_id: app.client_id, events_endpoint: 'https://app.example.test/v2/set' });
    expect(failure(await gatehouse(['client', 'update', '--client-id', app.client_id, '--events-endpoint', 'mailto:someone@example.test'], env), 1)).toContain('events endpoint');
    expect(failure(await gatehouse(['client', 'update', '--client-id', app.client_id], env), 2)).toContain('--events-endpoint');
  });
});

describe('gatehouse resource update', () => {
  const upstream = 'https://docs.example.test';
  const downstream = 'https://storage.example.test';

  it('sets which APIs an API may exchange tokens for, refuses an unknown one, and clears the list', async () => {
    for (const [identifier, scope] of [[upstream, 'docs:read'], [downstream, 'storage:read']] as const) {
      output(await gatehouse(['resource', 'create', '--identifier', identifier, '--scope', scope], env));
    }
    expect(output(await gatehouse(['resource', 'update', '--identifier', upstream, '--may-exchange-for', downstream], env)))
      .toMatchObject({ identifier: upstream, may_exchange_for: [downstream] });
    expect(json((await inspect((db) => db('resource_servers').where({ identifier: upstream }).first())).may_exchange_for)).toEqual([downstream]);

    expect(failure(await gatehouse(['resource', 'update', '--identifier', upstream, '--may-exchange-for', 'https://nowhere.example.test'], env), 1))
      .toMatch(/https:\/\/nowhere\.example\.test is not a registered API/);
    expect(failure(await gatehouse(['resource', 'update', '--identifier', upstream], env), 2)).toMatch(/--may-exchange-for/);

    expect(output(await gatehouse(['resource', 'update', '--identifier', upstream, '--no-exchange'], env)))
      .toMatchObject({ identifier: upstream, may_exchange_for: [] });
  });
});

describeConcurrently('gatehouse migrate and keys', () => {
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

// None of these reaches a database.
describe.concurrent('usage and configuration errors', () => {
  const COMMANDS = ['user create', 'user list', 'user verify-email', 'user rename', 'user disable', 'user enable', 'user reset-password', 'user reset-factors', 'user delete', 'client create', 'client update', 'registration-token create', 'resource create', 'resource update', 'migrate', 'keys rotate', 'keys list', 'demo'];
  /** Nothing Gatehouse reads is usable: --help must not need any of it. */
  const broken = () => ({ ...env, PORT: 'abc', DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });

  it('--help on every command and group prints its usage and exits 0, whatever the configuration', { timeout: 120_000 }, async () => {
    const asked = [['--help'], ...COMMANDS.map((c) => [...c.split(' '), '--help']), ['keys', '--help'], ['help', 'keys', 'rotate']];
    const results = await Promise.all(asked.map((args) => gatehouse(args, broken())));
    results.forEach((result, i) => {
      const args = asked[i]!.join(' ');
      expect(result.code, `${args}: ${result.stderr}`).toBe(0);
      expect(result.stdout, args).toMatch(/^Usage: gatehouse /);
    });
    const [overview] = results;
    for (const command of COMMANDS) expect(overview!.stdout).toContain(command);
    const byArgs = (args: string) => results[asked.findIndex((a) => a.join(' ') === args)]!.stdout;
    expect(byArgs('user create --help')).toContain('Usage: gatehouse user create --email E --name N --password-stdin');
    expect(byArgs('user create --help')).toMatch(/--password-stdin +read the password from standard input/);
    expect(byArgs('demo --help')).toMatch(/--port N[\s\S]*--issuer URL/);
    expect(byArgs('keys --help')).toMatch(/keys rotate[\s\S]*keys list/);
    expect(byArgs('help keys rotate')).toBe(byArgs('keys rotate --help'));
  });

  it('--help loads no configuration, database or oidc-provider code', async () => {
    const log = path.join(tempDir(), 'loaded.txt');
    // Records every module the process resolves, through node's module hooks.
    const hook = `import { appendFileSync } from 'node:fs';
      export async function resolve(specifier, context, next) {
        const resolved = await next(specifier, context);
        appendFileSync(${JSON.stringify(log)}, resolved.url + '\\n');
        return resolved;
      }`;
    const register = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)});`;
    const result = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(register)}`, BIN, 'client', 'create', '--help'], { cwd: ROOT, env, stdio: 'ignore' });
      child.once('error', reject);
      child.once('close', resolve);
    });
    expect(result).toBe(0);
    const loaded = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    expect(loaded.some((url) => url.endsWith('/src/cli/commands.ts'))).toBe(true); // the hook saw the CLI's own modules
    const heavy = loaded.filter((url) => /\/node_modules\/(oidc-provider|knex|pg|@electric-sql|zod|argon2|jose)\/|\/src\/(config|db|oidc|admin)[/.]/.test(url));
    expect(heavy).toEqual([]);
  });

  it('every usage error exits 2 with one line in Gatehouse\'s words; 78 names a bad setting', { timeout: 120_000 }, async () => {
    const cases: Array<[string[], RegExp]> = [
      [['frobnicate'], /^gatehouse: unknown command "frobnicate"; see `gatehouse --help`/],
      [['keys'], /^gatehouse: `gatehouse keys` needs one of: rotate, list/],
      [['client', 'create', '--colour', 'red'], /^gatehouse: unknown option --colour for `gatehouse client create`; see `gatehouse client create --help`$/],
      [['client', 'create', '--name'], /^gatehouse: --name needs a value/],
      [['client', 'create', '--name', 'A', '--name', 'B'], /^gatehouse: --name was given twice/],
      [['client', 'create', '--name', 'A', '--jwks-file', '/nonexistent/keys.json', '--redirect-uri', 'https://a.example.test/cb'], /^gatehouse: cannot read --jwks-file \/nonexistent\/keys.json: no such file$/],
      [['resource', 'create', '--identifier', 'https://x.example.test'], /^gatehouse: --scope is required/],
      [['migrate', 'now'], /^gatehouse: unexpected argument "now"/],
      [['demo', '--port', 'eighty'], /^gatehouse: --port takes a port number/],
    ];
    const results = await Promise.all(cases.map(([args]) => gatehouse(args, env)));
    results.forEach((result, i) => {
      const message = failure(result, 2);
      expect(message, cases[i]![0].join(' ')).toMatch(cases[i]![1]);
      expect(message).not.toMatch(/Unknown option '|argument missing|ERR_/); // not node's own words
    });
    const bare = await gatehouse([], env);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/^Usage: gatehouse <command>/);

    const badConfig = await gatehouseProcess(['migrate'], { ...env, PORT: 'abc' });
    expect(badConfig.code).toBe(78);
    expect(badConfig.stdout).toBe('');
    expect(badConfig.stderr).toMatch(/^\s*- PORT: /m);
  });

  it('an unreachable database is one line naming DATABASE_URL, without the driver\'s stack', async () => {
    const message = failure(await gatehouseProcess(['keys', 'list'], { ...env, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/gatehouse' }), 1);
    expect(message).toBe('gatehouse: cannot connect to the database at DATABASE_URL: nothing answers there; is PostgreSQL running?');
  });
});

describeConcurrently('scopes an app is registered for', () => {
  it('warns about an API scope no API defines, and creates the app anyway', async () => {
    const result = await gatehouse(['client', 'create', '--name', 'Typo App', '--redirect-uri', 'https://typo.example.test/cb', '--scope', 'openid profile read raed'], env);
    expect(output(result)).toHaveProperty('client_id');
    const warnings = result.stderr.split('\n').filter((line) => line.startsWith('gatehouse: warning'));
    // "read" belongs to https://api.example.test (registered above); only the typo is named.
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/no API defines the scope "raed"/);
  });

  it('a scope another API owns is refused naming that API, without suggesting a name that is taken', async () => {
    const message = failure(await gatehouse(['resource', 'create', '--identifier', 'https://other.example.test', '--scope', 'read'], env), 1);
    expect(message).toContain('"read" already belongs to https://api.example.test');
    expect(message).not.toMatch(/e\.g\. "[^"]*"/);
  });
});

describe('what the CLI creates, a server uses', () => {
  it('a person and an app created by the CLI complete the authorization-code flow', { timeout: 60_000 }, async () => {
    const redirectUri = 'https://app.example.test/callback';
    const email = `cli.person.${Date.now()}@example.test`;
    const person = output<{ id: string; email: string }>(await gatehouse(['user', 'create', '--email', email, '--name', 'CLI Person', '--password-stdin'], env, `${PASSWORD}\n`));
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
        sub: person.id, email, email_verified: false, name: 'CLI Person',
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

describe('gatehouse demo', () => {
  let demoDir: string;

  /** Seeds the demo into `db` as `npm start` in development does, with demo.json in demoDir. */
  async function seed(db: Database, databaseUrl?: string): Promise<DemoDetails> {
    const config = loadConfig({ NODE_ENV: 'development', DATA_DIR: demoDir, ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) });
    const stores = { users: new UserStore(db, new PasswordHasher(config.argon2)), clients: new ClientStore(db), resources: new ResourceServerStore(db) };
    return (await seedDemo(config, stores))!;
  }

  function demoEnv(databaseUrl?: string): NodeJS.ProcessEnv {
    return { ...cleanEnv(), NODE_ENV: 'development', DATA_DIR: demoDir, ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) };
  }

  /** Starts `gatehouse demo …`; resolves with what it printed once it serves, and a way to stop it. */
  function startDemo(args: string[], demoEnvironment: NodeJS.ProcessEnv) {
    const child = spawn(process.execPath, [BIN, 'demo', ...args], { cwd: ROOT, env: demoEnvironment, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    const printed = new Promise<Record<string, string>>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        if (stdout.includes('\n')) resolve(JSON.parse(stdout.split('\n')[0]!) as Record<string, string>);
      });
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
      void exited.then((code) => reject(new Error(`gatehouse demo exited ${code}: ${stderr}`)));
    });
    return {
      printed,
      async stop() {
        child.kill('SIGTERM');
        expect(await exited, stderr).toBe(0);
      },
    };
  }

  /**
   * The embedded database's demo details, as its server would have recorded them. Only demo.json
   * is needed: with its port registered, `gatehouse demo` on the embedded database reads nothing
   * else (and the tests need not start PGlite).
   */
  function recordEmbeddedDemo(port: number): DemoDetails {
    const details = { clientId: 'embedded-demo-app', redirectUris: [demoRedirectUri(port)], email: 'demo@gatehouse.test', password: 'demo-embedded-password', api: 'https://api.demo.gatehouse.test' };
    saveDemoDetails(loadConfig(demoEnv()), details);
    return details;
  }

  beforeAll(() => {
    demoDir = tempDir();
  });

  it.skipIf(!postgres)('keeps each database\'s demo details apart, and prints none for a database without them', { timeout: 60_000 }, async () => {
    const embeddedPort = await freePort();
    const embedded = recordEmbeddedDemo(embeddedPort);
    // Then a start on PostgreSQL, from the same data directory, seeds that database's demo.
    const onPostgres = await seed(testDb.db, testDb.url);
    expect(onPostgres.password).not.toBe(embedded.password);

    for (const [details, databaseUrl, port] of [[embedded, undefined, embeddedPort], [onPostgres, testDb.url, await freePort()]] as const) {
      const demo = startDemo(['--port', String(port)], demoEnv(databaseUrl));
      try {
        expect(await demo.printed).toMatchObject({ email: details.email, password: details.password });
      } finally {
        await demo.stop();
      }
    }

    const elsewhere = new URL(testDb.url!);
    elsewhere.pathname = '/gatehouse_without_demo';
    const message = failure(await gatehouse(['demo'], demoEnv(elsewhere.href)), 1);
    expect(message).toMatch(/^gatehouse: no demo app is set up for the PostgreSQL database postgresql:\/\/.*\/gatehouse_without_demo; start the server/);
    expect(message).not.toContain(embedded.password);
    expect(message).not.toContain(onPostgres.password);
  });

  it.skipIf(!postgres)('--port registers the demo app\'s callback on that port, and --issuer finds the server', { timeout: 60_000 }, async () => {
    await seed(testDb.db, testDb.url); // unless the test above did
    // The CLI's data directory: its development secrets decrypt the signing keys `keys rotate` made.
    const server = await startTestServer({ DATA_DIR: dataDir }, { testDb });
    const port = await freePort();
    const demo = startDemo(['--port', String(port), '--issuer', server.issuer], demoEnv(testDb.url));
    try {
      expect(await demo.printed).toMatchObject({ demo: `http://localhost:${port}`, issuer: server.issuer });
      const login = await fetch(`http://localhost:${port}/login`, { redirect: 'manual' });
      const authorization = new URL(login.headers.get('location')!);
      expect(authorization.origin + authorization.pathname).toBe(`${server.issuer}/auth`);
      expect(authorization.searchParams.get('redirect_uri')).toBe(`http://localhost:${port}/callback`);
      // Gatehouse accepts the new callback: on to the sign-in page, not an error.
      const auth = await fetch(authorization, { redirect: 'manual' });
      expect(auth.status, await auth.text()).toBe(303);
      expect(auth.headers.get('location')).toMatch(/\/interaction\//);
    } finally {
      await demo.stop();
      await server.stop();
    }
    expect(await inspect((db) => db('audit_events').where({ type: 'client.updated', actor_id: 'cli' }).first())).toBeTruthy();
  });

  it('a new port on the embedded database while Gatehouse holds it: one line saying what to do', async () => {
    const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    const exited = new Promise((resolve) => holder.once('exit', resolve));
    try {
      await new Promise<void>((resolve, reject) => { holder.once('spawn', resolve); holder.once('error', reject); });
      recordEmbeddedDemo(await freePort());
      mkdirSync(path.join(demoDir, 'pglite'), { recursive: true });
      writeFileSync(path.join(demoDir, 'pglite', 'gatehouse.lock'), String(holder.pid));
      const port = await freePort();
      const message = failure(await gatehouse(['demo', '--port', String(port)], demoEnv()), 1);
      expect(message).toContain(`stop Gatehouse, run \`gatehouse demo --port ${port}\` once to register it`);
    } finally {
      holder.kill();
      await exited;
      rmSync(path.join(demoDir, 'pglite', 'gatehouse.lock'), { force: true });
    }
  });
});

// Each test has an embedded database of its own.
describe.concurrent('the embedded database lock', () => {
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
