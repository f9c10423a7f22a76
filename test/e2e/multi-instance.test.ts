// Two Gatehouse instances on one database, behind one issuer, as a load balancer would run them:
// they publish the same keys, accept each other's tokens, and pick up a key rotation.
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyStoreFor } from '../../src/keys/signing-keys.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createPerson, obtainTokens, registerApp, type App } from '../support/flows.js';
import { type TestServer, startReplicas } from '../support/gatehouse.js';

const API = 'https://api.example.test';

let testDb: TestDatabase;
let a: TestServer;
let b: TestServer;
let app: App;

async function jwks(server: TestServer): Promise<JSONWebKeySet> {
  return (await (await fetch(`${server.address.replace('localhost', '127.0.0.1')}/jwks`)).json()) as JSONWebKeySet;
}

function at(server: TestServer, path: string): string {
  return `${server.address.replace('localhost', '127.0.0.1')}${path}`;
}

beforeAll(async () => {
  testDb = await createTestDatabase();
  // Both instances answer for one issuer and share its secrets, as replicas share their
  // environment; the tests address each by its own port.
  [a, b] = await startReplicas(testDb);
  await a.stores.resources.create({ identifier: API, scope: 'read', isDefault: true });
  app = await registerApp(a, { scope: 'openid profile email offline_access read' });
});

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await testDb?.destroy();
});

describe('two instances sharing a database', () => {
  it('publish the same signing keys', async () => {
    expect(await jwks(b)).toEqual(await jwks(a));
  });

  it('honour each other\'s sessions and tokens: signed in on one, refreshed and userinfo on the other', async () => {
    const person = await createPerson(a);
    const { tokens } = await obtainTokens(a, app, person);

    const userinfo = await fetch(at(b, '/me'), { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(userinfo.status).toBe(200);
    expect(((await userinfo.json()) as { email: string }).email).toBe(person.email);

    const refreshed = await fetch(at(b, '/token'), {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${app.clientId}:${app.clientSecret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }),
    });
    expect(refreshed.status).toBe(200);
    const { refresh_token: successor } = (await refreshed.json()) as { refresh_token: string };

    // The refresh token rotated on b is spent on a too: its successor used there, presenting it
    // again is reuse (not a retry within the window) and revokes the grant.
    await client.refreshTokenGrant(app.config, successor);
    await expect(client.refreshTokenGrant(app.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('forgive a refresh answered by one and retried on the other: a redeploy loses no grant', async () => {
    const person = await createPerson(a);
    const { tokens } = await obtainTokens(a, app, person);

    // b rotates the token and its answer never reaches the app (b goes away mid-response).
    const lost = await fetch(at(b, '/token'), {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${app.clientId}:${app.clientSecret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }),
    });
    const { refresh_token: successor } = (await lost.json()) as { refresh_token: string };

    const retried = await client.refreshTokenGrant(app.config, tokens.refresh_token!);

    expect(retried.refresh_token).toBe(successor);
    await expect(client.refreshTokenGrant(app.config, successor)).resolves.toHaveProperty('access_token');
  });

  it('both pick up a rotated key: published by each, then signing', async () => {
    const before = await jwks(a);
    const added = await keyStoreFor(a.config, testDb.db).rotate();
    expect(added.map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);

    // Each instance re-reads the keys on its refresh interval; the tests trigger it directly.
    await Promise.all([a.oidc.refreshKeys(), b.oidc.refreshKeys()]);
    const afterA = await jwks(a);
    expect(await jwks(b)).toEqual(afterA);
    const kids = afterA.keys.map((k) => k.kid);
    for (const key of [...before.keys, ...added]) expect(kids).toContain(key.kid);

    // The test configuration publishes with no delay, so the new ES256 key signs at once.
    const person = await createPerson(b);
    const { tokens } = await obtainTokens(a, app, person);
    const newEs256 = added.find((k) => k.alg === 'ES256')!;
    expect(decodeProtectedHeader(tokens.access_token).kid).toBe(newEs256.kid);
    await jwtVerify(tokens.access_token, createLocalJWKSet(await jwks(b)), { issuer: a.issuer, audience: API, typ: 'at+jwt' });
  });
});
