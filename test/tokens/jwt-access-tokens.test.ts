// A JWT access token verified once is remembered, so the next presentation of it skips the
// signature: what the memory must never do is let a token through that jwtVerify would refuse now.
// The JWTs are the server's own, from client_credentials; the verifier is built as the provider
// builds it, on the same database, with a clock the test moves instead of sleeping.
import { decodeJwt, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OidcRecords } from '../../src/records/index.js';
import { JwtAccessTokens } from '../../src/tokens/jwt-access-tokens.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';

const API = 'https://api.jwt-memory.test';
let server: TestServer;
let jwks: JSONWebKeySet;
let token: string;

beforeAll(async () => {
  server = await startTestServer();
  await server.stores.resources.create({ identifier: API, scope: 'read' });
  const { client, clientSecret } = await server.stores.clients.create({ name: 'Worker', clientCredentials: true, scope: 'read' });
  const res = await fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.clientId}:${clientSecret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: API, scope: 'read' }),
  });
  token = ((await res.json()) as { access_token: string }).access_token;
  jwks = (await (await fetch(`${server.issuer}/jwks`)).json()) as JSONWebKeySet;
});
afterAll(async () => { await server?.stop(); });

function verifier(clock: { now: number }) {
  return new JwtAccessTokens(server.testDb.db, {
    issuer: server.issuer,
    jwks,
    userinfoAudience: `${server.issuer}/me`,
    records: new OidcRecords(server.testDb.db),
    now: () => clock.now,
  });
}

describe('verified JWT access tokens, remembered', () => {
  it('answers a token again after its signature verified, and not once it has expired', async () => {
    const { exp } = decodeJwt(token);
    const clock = { now: Date.now() };
    const jwts = verifier(clock);
    expect((await jwts.resolve(token, 'introspection'))?.claims.aud).toBe(API);
    expect((await jwts.resolve(token, 'introspection'))?.claims.aud, 'the second presentation, from memory').toBe(API);
    clock.now = exp! * 1000;
    expect(await jwts.resolve(token, 'introspection'), 'spent at its exp').toBeUndefined();
    // Revocation keeps its clock tolerance, from memory as when verified.
    expect(await jwts.resolve(token, 'revocation')).toBeDefined();
  });

  it('checks the audience a use requires on every presentation, not only the first', async () => {
    const jwts = verifier({ now: Date.now() });
    expect(await jwts.resolve(token, 'introspection')).toBeDefined();
    // Issued for the API alone: userinfo's audience is not among its audiences.
    expect(await jwts.resolve(token, 'userinfo')).toBeUndefined();
  });

  it('remembers the whole value: the same claims under another signature are verified, and refused', async () => {
    const jwts = verifier({ now: Date.now() });
    expect(await jwts.resolve(token, 'introspection')).toBeDefined();
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const forged = `${header}.${payload}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
    expect(await jwts.resolve(forged, 'introspection')).toBeUndefined();
  });

  it('still asks whether the token stands: one revoked after it was remembered is refused', async () => {
    const jwts = verifier({ now: Date.now() });
    expect(await jwts.resolve(token, 'introspection')).toBeDefined();
    await jwts.revoke(String(decodeJwt(token).jti));
    expect(await jwts.resolve(token, 'introspection')).toBeUndefined();
  });
});
