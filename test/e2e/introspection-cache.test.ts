// What introspection costs in database round trips, and that caching it never hides a revocation:
// two instances on one database, the truth warm on B, every kind of revocation made elsewhere,
// and B reads active:false within one second. On PGlite there is no change listener and caching
// is off, so there the counts are the uncached ones and every revocation shows at once.
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digest } from '../../src/crypto/digest.js';
import { LISTENER_APPLICATION_NAME } from '../../src/db/notifications.js';
import { createTestDatabase, queriesDuring, type TestDatabase } from '../support/database.js';
import { authorizationRequest, createPerson, obtainTokens, registerApp, signIn as signInAt, type App } from '../support/flows.js';
import { type TestServer, startReplicas } from '../support/gatehouse.js';

const API = 'https://notes.example.test';

interface Credentials { clientId: string; clientSecret: string }

let testDb: TestDatabase;
/** The SQL both instances send while `work` runs (they share one knex; the listener does not). */
const queriesOf = (work: () => Promise<unknown>) => queriesDuring(testDb.db, work);
let a: TestServer;
let b: TestServer;
let api: Credentials;
let app: App;
let caching: boolean;

function basic({ clientId, clientSecret }: Credentials): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;
}

const appCredentials = (): Credentials => ({ clientId: app.clientId, clientSecret: app.clientSecret! });

async function introspect(via: TestServer, caller: Credentials, token: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${via.address.replace('localhost', '127.0.0.1')}/token/introspection`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(caller) },
    body: new URLSearchParams({ token }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

async function active(via: TestServer, caller: Credentials, token: string): Promise<boolean> {
  return (await introspect(via, caller, token)).active === true;
}

/** Asks B again and again, for at most one second, until the token reads inactive. */
async function inactiveWithinASecond(via: TestServer, caller: Credentials, token: string): Promise<number> {
  const started = Date.now();
  let attempts = 0;
  while (Date.now() - started < 1000) {
    attempts += 1;
    if (!(await active(via, caller, token))) return attempts;
  }
  throw new Error(`still active on ${via.address} after ${attempts} attempts in one second`);
}

/** A person signed in to the app through A: a JWT for the API and an opaque refresh token. */
async function signIn() {
  const person = await createPerson(a);
  const { tokens } = await obtainTokens(a, app, person, { scope: 'openid offline_access notes:read', resource: API });
  return { person, tokens };
}

/** B has the token's standing cached: asking again costs no round trip. */
async function warmOnB(token: string): Promise<void> {
  if (caching) await untilListening(b);
  expect(await active(b, api, token)).toBe(true);
  const queries = await queriesOf(() => active(b, api, token));
  expect(queries).toHaveLength(caching ? 0 : 3);
}

/** Until the listener's lease is fresh: on a busy machine a heartbeat can come back late. */
async function untilListening(server: TestServer): Promise<void> {
  for (let attempt = 0; !server.changes.connected && attempt < 50; attempt += 1) {
    await Promise.race([once(server.changes, 'connected'), once(server.changes, 'renewed')]);
  }
  expect(server.changes.connected).toBe(true);
}

beforeAll(async () => {
  testDb = await createTestDatabase();
  caching = testDb.kind === 'postgres';
  [a, b] = await startReplicas(testDb);
  // Not the default API: tokens asked for without `resource` are opaque.
  const created = await a.stores.resources.create({ identifier: API, scope: 'notes:read' });
  api = { clientId: created.clientId, clientSecret: created.clientSecret! };
  app = await registerApp(a, { scope: 'openid profile email offline_access notes:read' });
});

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await testDb?.destroy();
});

describe('round trips per introspection', () => {
  it('the change listener is connected on PostgreSQL, and absent on PGlite', () => {
    expect(a.changes.connected).toBe(caching);
    expect(b.changes.connected).toBe(caching);
  });

  it('a JWT: cold, one query (plus each client, the first time B sees it); warm, none', async () => {
    const { tokens } = await signIn();
    // B has seen neither the API nor the app: the truth query and two client lookups.
    const first = await queriesOf(() => active(b, api, tokens.access_token));
    expect(first).toHaveLength(3);
    const warm = await queriesOf(() => active(b, api, tokens.access_token));
    expect(warm).toHaveLength(caching ? 0 : 3);

    // A new token, with both clients known: only the truth query.
    const { tokens: next } = await signIn();
    const cold = await queriesOf(() => active(b, api, next.access_token));
    expect(cold).toHaveLength(caching ? 1 : 3);
    expect(cold.filter((sql) => /revoked_access_tokens/.test(sql))).toHaveLength(1);
  });

  it('an opaque token: one query finds it, its grant, and whether its person and app still stand', async () => {
    const { tokens } = await signIn();
    const caller = appCredentials();
    await active(b, caller, tokens.refresh_token!); // B learns the app
    const queries = await queriesOf(async () => expect(await active(b, caller, tokens.refresh_token!)).toBe(true));
    // The coalesced lookup alone (on PGlite, where nothing is cached, the caller's client too).
    expect(queries).toHaveLength(caching ? 1 : 2);
    expect(queries.filter((sql) => /left join oidc_records g/.test(sql))).toHaveLength(1);
  });

  it('a JWT handle is never looked up as a refresh token', async () => {
    const { tokens } = await signIn();
    await active(b, api, tokens.access_token);
    const queries = await queriesOf(() => fetch(`${b.address.replace('localhost', '127.0.0.1')}/token/introspection`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(api) },
      body: new URLSearchParams({ token: tokens.access_token, token_type_hint: 'refresh_token' }),
    }).then((res) => res.json()));
    expect(queries.filter((sql) => /oidc_records t/.test(sql))).toEqual([]);
  });
});

describe('the person behind a token, on refresh and userinfo', () => {
  async function userinfoOnB(token: string): Promise<number> {
    const res = await fetch(`${b.address.replace('localhost', '127.0.0.1')}/me`, { headers: { authorization: `Bearer ${token}` } });
    await res.arrayBuffer();
    return res.status;
  }

  it('is looked up once, then cached; disabling them with plain SQL refuses userinfo on B within a second', async () => {
    const person = await createPerson(a);
    // scope openid profile: the JWT also names userinfo as an audience.
    const { tokens } = await obtainTokens(a, app, person, { scope: 'openid profile offline_access notes:read', resource: API });
    if (caching) await untilListening(b);
    expect(await userinfoOnB(tokens.access_token)).toBe(200);
    const warm = await queriesOf(async () => expect(await userinfoOnB(tokens.access_token)).toBe(200));
    expect(warm.filter((sql) => /from "users"/.test(sql))).toHaveLength(caching ? 0 : 1);

    await testDb.db('users').where({ id: person.id }).update({ disabled_at: new Date() });
    const started = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - started < 1000) status = await userinfoOnB(tokens.access_token);
    expect(status).toBe(401);
  });
});

describe('the grant behind a token, on userinfo', () => {
  async function userinfoOnB(token: string): Promise<Record<string, unknown>> {
    const res = await fetch(`${b.address.replace('localhost', '127.0.0.1')}/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as Record<string, unknown>;
  }
  const grantIdOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()).grant_id as string;

  it('a warm userinfo sends no query: the token\'s standing, the person and the grant are all cached', async () => {
    const person = await createPerson(a);
    const { tokens } = await obtainTokens(a, app, person, { scope: 'openid profile offline_access notes:read', resource: API });
    if (caching) await untilListening(b);
    await userinfoOnB(tokens.access_token);
    const warm = await queriesOf(() => userinfoOnB(tokens.access_token));
    expect(warm).toHaveLength(caching ? 0 : 4);
  });

  it('consent added on A shows in userinfo on B within a second, though B had the grant cached', async () => {
    const person = await createPerson(a, { name: 'Grace Hopper' });
    const first = await obtainTokens(a, app, person, { scope: 'openid profile offline_access notes:read', resource: API });
    if (caching) await untilListening(b);
    expect(await userinfoOnB(first.tokens.access_token)).not.toHaveProperty('email');

    // The same browser session asks again, with email: the person consents, and the session's
    // grant (the one B cached) now holds email too.
    const request = await authorizationRequest(app, { scope: 'openid profile email offline_access notes:read', resource: API });
    const callback = await signInAt(first.agent, request.url, person);
    const second = await client.authorizationCodeGrant(app.config, callback, { pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce });
    expect(grantIdOf(second.access_token)).toBe(grantIdOf(first.tokens.access_token));

    const started = Date.now();
    let claims = await userinfoOnB(second.access_token);
    while (!('email' in claims) && Date.now() - started < 1000) claims = await userinfoOnB(second.access_token);
    expect(claims).toMatchObject({ email: person.email, name: 'Grace Hopper' });
  });
});

describe('B reads active:false within one second of a change made elsewhere', () => {
  it('the app revokes its refresh token on A: the grant goes', async () => {
    const { tokens } = await signIn();
    await warmOnB(tokens.access_token);
    const res = await fetch(`${a.issuer}/token/revocation`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(appCredentials()) },
      body: new URLSearchParams({ token: tokens.refresh_token!, token_type_hint: 'refresh_token' }),
    });
    expect(res.status).toBe(200);
    expect(await inactiveWithinASecond(b, api, tokens.access_token)).toBeGreaterThan(0);
  });

  it('a refresh token is reused on A: the grant goes', async () => {
    const { tokens } = await signIn();
    const rotated = await client.refreshTokenGrant(app.config, tokens.refresh_token!);
    await warmOnB(rotated.access_token);
    await client.refreshTokenGrant(app.config, rotated.refresh_token!); // successor used: the next is reuse, not a retry
    await expect(client.refreshTokenGrant(app.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await inactiveWithinASecond(b, api, rotated.access_token);
  });

  it('a refresh token is reused on A: A itself reads the grant\'s access token inactive at once', async () => {
    const { tokens } = await signIn();
    const rotated = await client.refreshTokenGrant(app.config, tokens.refresh_token!);
    expect(await active(a, api, rotated.access_token)).toBe(true); // now cached on A
    await client.refreshTokenGrant(app.config, rotated.refresh_token!); // successor used: the next is reuse, not a retry
    await expect(client.refreshTokenGrant(app.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // No waiting for the change feed: the replay's revocation dropped A's cached standing itself.
    expect(await active(a, api, rotated.access_token)).toBe(false);
  });

  it('the person is disabled with plain SQL', async () => {
    const { person, tokens } = await signIn();
    await warmOnB(tokens.access_token);
    await testDb.db('users').where({ id: person.id }).update({ disabled_at: new Date() });
    await inactiveWithinASecond(b, api, tokens.access_token);
  });

  it('the app is disabled with plain SQL', async () => {
    const disposable = await registerApp(a, { scope: 'openid offline_access notes:read' });
    const person = await createPerson(a);
    const { tokens } = await obtainTokens(a, disposable, person, { scope: 'openid notes:read', resource: API });
    await warmOnB(tokens.access_token);
    await testDb.db('clients').where({ client_id: disposable.clientId }).update({ disabled_at: new Date() });
    await inactiveWithinASecond(b, api, tokens.access_token);
  });

  it('the access token itself is revoked on A, by its jti', async () => {
    const { tokens } = await signIn();
    await warmOnB(tokens.access_token);
    const res = await fetch(`${a.issuer}/token/revocation`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(appCredentials()) },
      body: new URLSearchParams({ token: tokens.access_token }),
    });
    expect(res.status).toBe(200);
    await inactiveWithinASecond(b, api, tokens.access_token);
  });

  it('the introspecting API\'s own credentials are disabled with plain SQL: B refuses them', async () => {
    const other = await a.stores.resources.create({ identifier: `https://${randomBytes(4).toString('hex')}.example.test`, scope: 'x:read' });
    const credentials = { clientId: other.clientId, clientSecret: other.clientSecret! };
    const { tokens } = await signIn();
    await introspect(b, credentials, tokens.access_token); // B caches the API's client
    await testDb.db('clients').where({ client_id: other.clientId }).update({ disabled_at: new Date() });
    const started = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - started < 1000) {
      const res = await fetch(`${b.address.replace('localhost', '127.0.0.1')}/token/introspection`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(credentials) },
        body: new URLSearchParams({ token: tokens.access_token }),
      });
      await res.arrayBuffer();
      status = res.status;
    }
    expect(status).toBe(401);
  });
});

describe('when B\'s listener connection is killed', () => {
  it('B bypasses its caches, a revocation it could not hear of shows at once, and it reconnects', async () => {
    if (!caching) {
      expect(b.changes.connected).toBe(false); // PGlite: nothing to kill, nothing cached
      return;
    }
    const { tokens } = await signIn();
    await warmOnB(tokens.access_token);
    const lost = once(b.changes, 'disconnected');
    // By name, not by last statement: a listener's last one may be an ack to a barrier.
    const killed = await testDb.db.raw<{ rows: unknown[] }>(
      `select pg_terminate_backend(pid) from pg_stat_activity where application_name = ? and datname = current_database()`,
      [LISTENER_APPLICATION_NAME],
    );
    expect(killed.rows.length).toBeGreaterThanOrEqual(2); // A's and B's
    await lost;

    // Revoked while nobody listens: the notification is lost, so only bypassing saves B.
    const jti = JSON.parse(Buffer.from(tokens.access_token.split('.')[1]!, 'base64url').toString()).jti as string;
    await testDb.db('revoked_access_tokens').insert({ jti_digest: digest(jti), expires_at: new Date(Date.now() + 86_400_000) });
    const queries = await queriesOf(async () => expect(await active(b, api, tokens.access_token)).toBe(false));
    expect(queries.length).toBeGreaterThan(0);

    await untilListening(b);
    const { tokens: next } = await signIn();
    await warmOnB(next.access_token);
  });
});
