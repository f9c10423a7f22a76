// The admin API with DPoP-bound tokens (RFC 9449 §7): automation gets a bound token by the
// client_credentials grant under a proof and calls the API through openid-client's DPoP handle;
// the same token without the key, or with a proof that is replayed, stale, for another request or
// malformed, is refused. With DPOP_REQUIRE_NONCE the API hands out nonces openid-client follows.
import { randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { proof, proofKey, type ProofKey } from '../support/dpop.js';
import { ADMIN_SCOPE, API_PATH, basic } from '../admin/api/support.js';

let server: TestServer;
let key: ProofKey;
let bound: string;
let usersUrl: string;

async function adminConfig(on: TestServer) {
  const { client: registered, clientSecret } = await on.stores.clients.create({ name: 'Automation', clientCredentials: true, admin: true });
  return client.discovery(new URL(on.issuer), registered.clientId, clientSecret, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] });
}

async function call(headers: Record<string, string>, method = 'GET', url = usersUrl) {
  const res = await fetch(url, { method, headers });
  return { status: res.status, challenge: res.headers.get('www-authenticate') ?? '', nonce: res.headers.get('dpop-nonce'), body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  server = await startTestServer();
  usersUrl = `${server.issuer}${API_PATH}/users`;
  key = await proofKey();
  const config = await adminConfig(server);
  const DPoP = client.getDPoPHandle(config, { privateKey: key.privateKey, publicKey: key.publicKey });
  bound = (await client.clientCredentialsGrant(config, { scope: ADMIN_SCOPE }, { DPoP })).access_token;
});

afterAll(async () => { await server?.stop(); });

describe('the admin API with a DPoP-bound token', () => {
  it('works through openid-client\'s DPoP handle, and the token names its key', async () => {
    const config = await adminConfig(server);
    const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
    const tokens = await client.clientCredentialsGrant(config, { scope: ADMIN_SCOPE }, { DPoP });
    expect(tokens.token_type).toBe('dpop');
    expect(decodeJwt(tokens.access_token).cnf).toBeDefined();
    const res = await client.fetchProtectedResource(config, tokens.access_token, new URL(usersUrl), 'GET', undefined, undefined, { DPoP });
    expect(res.status).toBe(200);
    expect(await res.json()).toHaveProperty('items');
  });

  it('a hand-made proof of the key works once; replayed, it is refused', async () => {
    const once = await proof(key, { htm: 'GET', htu: usersUrl, accessToken: bound });
    expect((await call({ authorization: `DPoP ${bound}`, dpop: once })).status).toBe(200);
    const again = await call({ authorization: `DPoP ${bound}`, dpop: once });
    expect(again.status).toBe(401);
    expect(again.body.error).toBe('invalid_dpop_proof');
    expect(again.challenge).toMatch(/^DPoP realm="gatehouse", error="invalid_dpop_proof"/);
  });

  it('the stolen token is refused: as a bearer token, without a proof, and with the thief\'s own key', async () => {
    expect((await call({ authorization: `Bearer ${bound}` })).status).toBe(401);
    expect((await call({ authorization: `DPoP ${bound}` })).status).toBe(401);
    const thief = await proofKey();
    const withOwnKey = await call({ authorization: `DPoP ${bound}`, dpop: await proof(thief, { htm: 'GET', htu: usersUrl, accessToken: bound }) });
    expect(withOwnKey.status).toBe(401);
    expect(withOwnKey.body.error).toBe('invalid_token');
  });

  it.each([
    ['another URL (htu)', { htm: 'GET', htu: `${'http://127.0.0.1:1'}${API_PATH}/users` }],
    ['another path', { htm: 'GET', htu: 'CLIENTS' }],
    ['another method (htm)', { htm: 'POST', htu: 'USERS' }],
    ['another token (ath)', { htm: 'GET', htu: 'USERS', accessToken: 'another-token' }],
    ['a stale iat', { htm: 'GET', htu: 'USERS', iat: Math.floor(Date.now() / 1000) - 600 }],
    ['an unknown nonce', { htm: 'GET', htu: 'USERS', nonce: 'x'.repeat(43) }],
  ])('a proof for %s is refused', async (_name, claims) => {
    const htu = claims.htu === 'USERS' ? usersUrl : claims.htu === 'CLIENTS' ? `${server.issuer}${API_PATH}/clients` : claims.htu;
    const res = await call({ authorization: `DPoP ${bound}`, dpop: await proof(key, { accessToken: bound, ...claims, htu }) });
    expect(res.status).toBe(401);
    expect(['invalid_dpop_proof', 'use_dpop_nonce']).toContain(res.body.error);
  });

  it('a malformed DPoP header is an error, with a bound or an unbound token', async () => {
    for (const dpop of ['not-a-proof', `${await proof(key, { htm: 'GET', htu: usersUrl, accessToken: bound })}, ${await proof(key, { htm: 'GET', htu: usersUrl, accessToken: bound })}`]) {
      const res = await call({ authorization: `DPoP ${bound}`, dpop });
      expect(res.status).toBe(401);
      expect(res.body.error).toBe('invalid_dpop_proof');
    }
    const { client: registered, clientSecret } = await server.stores.clients.create({ name: 'Plain', clientCredentials: true, admin: true });
    const tokenRes = await fetch(`${server.issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(registered.clientId, clientSecret!) }, body: new URLSearchParams({ grant_type: 'client_credentials', scope: ADMIN_SCOPE }) });
    const plain = ((await tokenRes.json()) as { access_token: string }).access_token;
    expect((await call({ authorization: `Bearer ${plain}` })).status).toBe(200);
    expect((await call({ authorization: `Bearer ${plain}`, dpop: 'not-a-proof' })).status).toBe(401);
    expect((await call({ authorization: `DPoP ${plain}`, dpop: await proof(key, { htm: 'GET', htu: usersUrl, accessToken: plain, jti: randomUUID() }) })).status).toBe(401);
  });
});

describe('admin API nonces (DPOP_REQUIRE_NONCE=true)', () => {
  let strict: TestServer;
  beforeAll(async () => { strict = await startTestServer({ DPOP_REQUIRE_NONCE: 'true' }); });
  afterAll(async () => { await strict?.stop(); });

  it('a proof without a nonce is answered use_dpop_nonce with a DPoP-Nonce; openid-client follows it at the token endpoint and the API', async () => {
    const config = await adminConfig(strict);
    const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
    const tokens = await client.clientCredentialsGrant(config, { scope: ADMIN_SCOPE }, { DPoP });
    const url = `${strict.issuer}${API_PATH}/users`;
    const hand = await proofKey();
    const refused = await call({ authorization: `DPoP ${tokens.access_token}`, dpop: await proof(hand, { htm: 'GET', htu: url, accessToken: tokens.access_token }) }, 'GET', url);
    expect(refused.status).toBe(401);
    expect(refused.body.error).toBe('use_dpop_nonce');
    expect(refused.nonce).toBeTruthy();
    // openid-client learns the nonce from the API's use_dpop_nonce challenge and retries by itself.
    const res = await client.fetchProtectedResource(config, tokens.access_token, new URL(url), 'GET', undefined, undefined, { DPoP });
    expect(res.status).toBe(200);
  });
});
