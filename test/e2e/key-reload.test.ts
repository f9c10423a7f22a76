// A key rotated in on one instance, and a token it signed presented at another that has not read the
// keys since (its timer's reloads failing, or KEY_PUBLISH_BEFORE_SIGNING below the refresh
// interval): that instance reads the keys again at once instead of calling the token invalid, which
// apps and APIs take for "signed out". A made-up kid costs at most one read per interval, and a
// database that cannot answer the read is a 503 to retry, never a revocation.
import { generateKeyPair, SignJWT, decodeProtectedHeader, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from '../../src/db/knex.js';
import { keyStoreFor } from '../../src/keys/signing-keys.js';
import { UNKNOWN_KEY_RELOAD_INTERVAL_SECONDS } from '../../src/oidc/provider.js';
import { userinfoAudience } from '../../src/vocabulary.js';
import { createTestDatabase, queriesDuring, usingPostgres, type TestDatabase } from '../support/database.js';
import { createPerson, obtainTokens, registerApp, type App } from '../support/flows.js';
import { replicaEnvironment, startTestServer, type TestServer } from '../support/gatehouse.js';

const API = 'https://api.example.test';
const postgres = await usingPostgres();

interface Credentials { clientId: string; clientSecret: string }

let testDb: TestDatabase;
/** B's own pool: on PostgreSQL with a statement timeout, as production runs, so a held lock fails it. */
let bDb: Database;
let a: TestServer;
let b: TestServer;
let app: App;
let api: Credentials;
/** How far B's clock runs ahead: moved past the reload interval instead of waiting it out. */
let skew = 0;

const at = (server: TestServer, path: string) => `${server.address.replace('localhost', '127.0.0.1')}${path}`;

function userinfo(server: TestServer, token: string): Promise<Response> {
  return fetch(at(server, '/me'), { headers: { authorization: `Bearer ${token}` } });
}

function basic({ clientId, clientSecret }: Credentials): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;
}

function introspection(server: TestServer, token: string): Promise<Response> {
  return fetch(at(server, '/token/introspection'), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(api) },
    body: new URLSearchParams({ token }),
  });
}

async function jwks(server: TestServer): Promise<JSONWebKeySet> {
  return (await (await fetch(at(server, '/jwks'))).json()) as JSONWebKeySet;
}

/** The statements B sends to the keys table while `work` runs. */
async function keyReadsOnB(work: () => Promise<unknown>): Promise<string[]> {
  return (await queriesDuring(bDb, work)).filter((sql) => /signing_keys/.test(sql));
}

/** Rotates on A alone (B's timer never runs in tests), and a token A signs with the new ES256 key. */
async function rotatedOnA(): Promise<{ token: string; kid: string; email: string }> {
  const added = await keyStoreFor(a.config, testDb.db).rotate();
  await a.oidc.refreshKeys();
  const person = await createPerson(a);
  const { tokens } = await obtainTokens(a, app, person);
  const kid = added.find((k) => k.alg === 'ES256')!.kid;
  expect(decodeProtectedHeader(tokens.access_token).kid).toBe(kid);
  // B has not read the keys since: it does not publish the new one.
  expect((await jwks(b)).keys.map((k) => k.kid)).not.toContain(kid);
  return { token: tokens.access_token, kid, email: person.email };
}

/** A token naming our issuer and a kid no instance ever had, signed with a key of the forger's. */
async function madeUpToken(): Promise<string> {
  const { privateKey } = await generateKeyPair('ES256');
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ client_id: app.clientId, scope: 'openid email', jti: crypto.randomUUID() })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: `made-up-${crypto.randomUUID()}` })
    .setIssuer(a.issuer)
    .setSubject(crypto.randomUUID())
    .setAudience([API, userinfoAudience(a.issuer)])
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .sign(privateKey);
}

function pastTheReloadInterval(): void {
  skew += (UNKNOWN_KEY_RELOAD_INTERVAL_SECONDS + 1) * 1000;
}

beforeAll(async () => {
  testDb = await createTestDatabase();
  bDb = postgres
    ? createDatabase({ url: testDb.url, embeddedDir: null, timeouts: { statementMs: 1000, acquireMs: 2000 } })
    : testDb.db;
  // Replicas of one deployment, signing with a rotated key the moment it is added.
  const shared = { ...(await replicaEnvironment()), KEY_PUBLISH_BEFORE_SIGNING: '0' };
  a = await startTestServer(shared, { testDb });
  b = await startTestServer({ ...shared, PORT: '0' }, { testDb: { ...testDb, db: bDb }, now: () => Date.now() + skew });
  const created = await a.stores.resources.create({ identifier: API, scope: 'read', isDefault: true });
  api = { clientId: created.clientId, clientSecret: created.clientSecret! };
  app = await registerApp(a, { scope: 'openid profile email offline_access read' });
});

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  if (bDb !== testDb?.db) await bDb?.destroy();
  await testDb?.destroy();
});

describe('a token signed with a key another instance rotated in', () => {
  it('is accepted at once at userinfo and introspection: B reads the keys again, once', async () => {
    const { token, kid, email } = await rotatedOnA();

    let answer: Response | undefined;
    const reads = await keyReadsOnB(async () => { answer = await userinfo(b, token); });
    expect(answer!.status).toBe(200);
    expect(((await answer!.json()) as { email: string }).email).toBe(email);
    expect(reads).toHaveLength(1);

    // B's provider now has the key too: it publishes it, and introspection knows it without a read.
    expect((await jwks(b)).keys.map((k) => k.kid)).toContain(kid);
    const known = await keyReadsOnB(async () => {
      const res = await introspection(b, token);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ active: true, client_id: app.clientId });
    });
    expect(known).toHaveLength(0);
  });

  it('is accepted at once at introspection too, when that is where B first meets it', async () => {
    pastTheReloadInterval();
    const { token } = await rotatedOnA();
    const reads = await keyReadsOnB(async () => {
      const res = await introspection(b, token);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ active: true });
    });
    expect(reads).toHaveLength(1);
  });
});

describe('an app revoking such a token at the instance that has not loaded its key', () => {
  it('revokes it: every instance then reads it inactive', async () => {
    pastTheReloadInterval();
    const { token } = await rotatedOnA();
    const revoked = await fetch(at(b, '/token/revocation'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic({ clientId: app.clientId, clientSecret: app.clientSecret! }) },
      body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
    });
    expect(revoked.status).toBe(200);
    const res = await introspection(a, token);
    expect(await res.json()).toEqual({ active: false });
  });
});

describe('a token with a made-up kid', () => {
  it('is refused as before, and a flood of them reads the keys at most once per interval', async () => {
    pastTheReloadInterval();
    const reads = await keyReadsOnB(async () => {
      const first = await userinfo(b, await madeUpToken());
      expect(first.status).toBe(401);
      expect(first.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
      for (let i = 0; i < 5; i += 1) {
        expect((await userinfo(b, await madeUpToken())).status).toBe(401);
        const res = await introspection(b, await madeUpToken());
        expect(res.status).toBe(200);
        expect(await res.json()).toEqual({ active: false });
      }
    });
    expect(reads).toHaveLength(1);
  });
});

describe.skipIf(!postgres)('when B cannot read the keys', () => {
  it('answers 503, to be retried, not that the token is invalid; and accepts it once it can', async () => {
    pastTheReloadInterval();
    const { token, email } = await rotatedOnA();

    // Another session holds the keys table: B's read waits out its statement timeout.
    await testDb.db.transaction(async (trx) => {
      await trx.raw('lock table signing_keys in access exclusive mode');
      const atUserinfo = await userinfo(b, token);
      expect(atUserinfo.status).toBe(503);
      expect(atUserinfo.headers.get('retry-after')).toBeTruthy();
      expect(await atUserinfo.json()).toMatchObject({ error: 'temporarily_unavailable' });
      // Within the interval the failed read is not repeated, and still not taken for "invalid".
      const reads = await keyReadsOnB(async () => {
        const atIntrospection = await introspection(b, token);
        expect(atIntrospection.status).toBe(503);
        expect(await atIntrospection.json()).toMatchObject({ error: 'temporarily_unavailable' });
      });
      expect(reads).toHaveLength(0);
    });

    pastTheReloadInterval();
    const res = await userinfo(b, token);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { email: string }).email).toBe(email);
  });
});
