// Who may call the admin API, operation by operation: no token → 401, a token without the admin
// role → 403, a token that no longer stands → 401, an admin's token → through to the operation.
import { randomBytes, randomUUID } from 'node:crypto';
import { importJWK, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyStoreFor, signingJwk } from '../../../src/keys/signing-keys.js';
import { createPerson, obtainTokens, registerApp } from '../../support/flows.js';
import { startTestServer, type TestServer } from '../../support/gatehouse.js';
import { adminApi, adminClient, basic, clientCredentialsToken, type AdminApiClient } from './support.js';

const NOTES_API = 'https://notes.example.test';

let server: TestServer;
let api: AdminApiClient;
/** Every documented operation but the document itself, with a concrete path to call it at. */
let operations: Array<{ name: string; method: string; path: string }>;
const tokens: Record<string, string> = {};

/** The key this server signs access tokens with (read before any test rotates keys). */
let jwk: JWK;

/** A token as this server signs them, with the claims given: for states no flow reaches on demand (expired, a person's). */
async function signedByServer(claims: Record<string, unknown>): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ jti: randomBytes(12).toString('hex'), iat: now, exp: now + 300, iss: server.issuer, aud: `${server.issuer}/admin/api/v1`, scope: 'gatehouse:admin', ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: jwk.kid! })
    .sign(await importJWK(jwk, 'ES256'));
}

beforeAll(async () => {
  server = await startTestServer();
  jwk = signingJwk(await keyStoreFor(server.config, server.db).loadKeySet(), 'ES256') as JWK;
  api = await adminApi(server);
  await server.stores.resources.create({ identifier: NOTES_API, scope: 'notes:read', isDefault: true });
  const concrete: Record<string, string> = {
    user_id: randomUUID(), session_id: 'no-such-session', grant_id: 'no-such-grant', client_id: 'no-such-client', identifier: encodeURIComponent('https://no-such.example.test'),
  };
  operations = Object.entries(api.validator.document.paths).flatMap(([template, item]) => Object.keys(item)
    .filter(() => template !== '/openapi.json')
    .map((method) => ({
      name: `${method.toUpperCase()} ${template}`,
      method: method.toUpperCase(),
      path: template.replace(/\{(\w+)\}/g, (_, name: string) => concrete[name]!),
    })));

  // A machine client that is not an admin, with a real token for an API.
  const worker = await server.stores.clients.create({ name: 'Worker', clientCredentials: true, scope: 'notes:read' });
  tokens.otherApi = await clientCredentialsToken(server, worker.client.clientId, worker.clientSecret!, { scope: 'notes:read', resource: NOTES_API });
  // A person's token, as an app got it by signing them in.
  const app = await registerApp(server, { scope: 'openid profile email offline_access notes:read' });
  tokens.person = (await obtainTokens(server, app, await createPerson(server), { scope: 'openid notes:read' })).tokens.access_token;

  // An admin client's token, then revoked by the client itself (RFC 7009).
  const revoked = await adminClient(server, 'Revoked');
  const revocation = await fetch(`${server.issuer}/token/revocation`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(revoked.clientId, revoked.clientSecret) },
    body: new URLSearchParams({ token: revoked.token }),
  });
  expect(revocation.status).toBe(200);
  tokens.revoked = revoked.token;
  // An admin client's token, then the client disabled by another admin through the API.
  const disabled = await adminClient(server, 'Disabled');
  expect((await api.post(`/clients/${disabled.clientId}/disable`)).status).toBe(200);
  tokens.disabledClient = disabled.token;
  // An admin client's token, then the client no longer an admin (an operator changed it in the database).
  const demoted = await adminClient(server, 'Demoted');
  await server.db('clients').where({ client_id: demoted.clientId }).update({ is_admin: false });
  tokens.demoted = demoted.token;
  // The same as the server would sign, unexpired, works: so the expired one fails for its expiry alone.
  expect((await api.get('/users', { token: await signedByServer({ client_id: api.admin.clientId, sub: api.admin.clientId }) })).status).toBe(200);
  tokens.expired = await signedByServer({ client_id: api.admin.clientId, sub: api.admin.clientId, iat: Math.floor(Date.now() / 1000) - 900, exp: Math.floor(Date.now() / 1000) - 600 });
});
afterAll(async () => { await server?.stop(); });

describe('every operation', () => {
  it('answers 401 with a bare Bearer challenge when no token is sent', async () => {
    for (const op of operations) {
      const res = await api.call(op.method, op.path, { token: null });
      expect(res.status, op.name).toBe(401);
      expect(res.headers.get('www-authenticate'), op.name).toBe('Bearer realm="gatehouse", DPoP realm="gatehouse", algs="ES256 PS256 Ed25519 EdDSA"');
    }
  });

  it.each([
    ['garbage', () => 'not-a-token'],
    ['a revoked admin token', () => tokens.revoked!],
    ['the token of an admin client since disabled', () => tokens.disabledClient!],
    ['an expired admin token', () => tokens.expired!],
  ])('answers 401 invalid_token to %s', async (_, token) => {
    for (const op of operations) {
      const res = await api.call(op.method, op.path, { token: token() });
      expect(res.status, op.name).toBe(401);
      expect(res.headers.get('www-authenticate'), op.name).toMatch(/^Bearer realm="gatehouse", error="invalid_token"/);
      expect(res.body.error, op.name).toBe('invalid_token');
    }
  });

  it.each([
    ['a machine client\'s token for another API', () => tokens.otherApi!],
    ['a person\'s token an app got', () => tokens.person!],
    ['the token of a client that is no longer an admin', () => tokens.demoted!],
  ])('answers 403 insufficient_scope to %s', async (_, token) => {
    for (const op of operations) {
      const res = await api.call(op.method, op.path, { token: token() });
      expect(res.status, op.name).toBe(403);
      expect(res.headers.get('www-authenticate'), op.name).toMatch(/^Bearer realm="gatehouse", error="insufficient_scope", scope="gatehouse:admin"/);
      expect(res.body.error, op.name).toBe('insufficient_scope');
    }
  });

  it('lets an admin client\'s token through to the operation', async () => {
    for (const op of operations) {
      const res = await api.call(op.method, op.path);
      expect([401, 403], `${op.name}: ${res.text}`).not.toContain(res.status);
    }
  });
});

describe('the bearer token', () => {
  it('is the only credential: a signed-in admin\'s browser cookies count for nothing', async () => {
    const person = await server.stores.users.create({ email: 'root@example.test', name: 'Root', password: 'correct horse battery staple', isAdmin: true });
    const app = await registerApp(server);
    const { agent } = await obtainTokens(server, app, { email: person.email, password: 'correct horse battery staple' });
    expect(agent.cookies.size).toBeGreaterThan(0);
    const res = await api.call('GET', '/users', { token: null, headers: { cookie: agent.cookieHeader() } });
    expect(res.status).toBe(401);
  });

  it('must be sent as Bearer: Basic credentials or a malformed header are refused', async () => {
    const basicAuth = await api.call('GET', '/users', { token: null, headers: { authorization: basic(api.admin.clientId, api.admin.clientSecret) } });
    expect(basicAuth.status).toBe(401);
    expect(basicAuth.headers.get('www-authenticate')).toBe('Bearer realm="gatehouse", DPoP realm="gatehouse", algs="ES256 PS256 Ed25519 EdDSA"');
    const spaces = await api.call('GET', '/users', { token: null, headers: { authorization: `Bearer ${api.token} extra` } });
    expect(spaces.status).toBe(401);
    expect(spaces.body.error).toBe('invalid_token');
    const lowerCase = await api.call('GET', '/users', { token: null, headers: { authorization: `bearer ${api.token}` } });
    expect(lowerCase.status).toBe(200);
  });

  it('for a person must be an admin\'s who is still enabled', async () => {
    const admin = await server.stores.users.create({ email: 'person-admin@example.test', name: 'Admin', password: 'correct horse battery staple', isAdmin: true });
    const plain = await server.stores.users.create({ email: 'person-plain@example.test', name: 'Plain', password: 'correct horse battery staple' });
    const asAdmin = await signedByServer({ client_id: api.admin.clientId, sub: admin.id });
    const asPlain = await signedByServer({ client_id: api.admin.clientId, sub: plain.id });
    expect((await api.get('/users', { token: asAdmin })).status).toBe(200);
    expect((await api.get('/users', { token: asPlain })).status).toBe(403);
    expect((await api.post(`/users/${admin.id}/disable`)).status).toBe(200);
    const disabled = await api.get('/users', { token: asAdmin });
    expect(disabled.status).toBe(401);
    expect(disabled.body.error).toBe('invalid_token');
  });
});
