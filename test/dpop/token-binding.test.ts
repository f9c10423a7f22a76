// DPoP (RFC 9449) as an app uses it through openid-client: a proof at the token endpoint gets a
// DPoP-bound access token (cnf.jkt) and, for a public app, a refresh token bound to the same key;
// userinfo and introspection honour the binding; a thief holding the tokens but not the key gets
// nothing; an app registered to require DPoP gets no token without a proof; with
// DPOP_REQUIRE_NONCE, openid-client picks up the server's nonce and carries on.
import { calculateJwkThumbprint, decodeJwt, exportJWK } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizationRequest, createPerson, registerApp, signIn, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { UserAgent } from '../support/user-agent.js';
import { proof, proofKey } from '../support/dpop.js';
import { digest } from '../../src/crypto/digest.js';

const NOTES_API = 'https://notes.example.test';
const SCOPE = 'openid email offline_access notes:read';

let server: TestServer;
let person: Awaited<ReturnType<typeof createPerson>>;

beforeAll(async () => {
  server = await startTestServer();
  await server.stores.resources.create({ identifier: NOTES_API, name: 'Notes', scope: 'notes:read', isDefault: true });
  person = await createPerson(server);
});

afterAll(async () => { await server?.stop(); });

/** The code flow, with the code exchanged under a DPoP proof of `keyPair` (or none). */
async function tokensFor(app: App, keyPair: client.CryptoKeyPair | undefined, on: TestServer = server) {
  const DPoP = keyPair ? client.getDPoPHandle(app.config, keyPair) : undefined;
  const agent = new UserAgent(on.issuer);
  const request = await authorizationRequest(app, { scope: SCOPE });
  const callback = await signIn(agent, request.url, person);
  const tokens = await client.authorizationCodeGrant(app.config, callback, { pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce }, undefined, DPoP ? { DPoP } : {});
  return { tokens, DPoP };
}

async function thumbprintOf(keyPair: client.CryptoKeyPair): Promise<string> {
  return calculateJwkThumbprint(await exportJWK(keyPair.publicKey));
}

async function userinfo(headers: Record<string, string>) {
  const res = await fetch(`${server.issuer}/me`, { headers });
  return { status: res.status, challenge: res.headers.get('www-authenticate') ?? '', body: await res.text() };
}

describe('DPoP-bound tokens through openid-client', () => {
  it('a proof at the token endpoint yields token_type DPoP, an access token bound by cnf.jkt, and introspection says so', async () => {
    const app = await registerApp(server, { scope: SCOPE });
    const keyPair = await client.randomDPoPKeyPair('ES256');
    const { tokens, DPoP } = await tokensFor(app, keyPair);
    expect(tokens.token_type).toBe('dpop');
    const jkt = await thumbprintOf(keyPair);
    expect(decodeJwt(tokens.access_token).cnf).toEqual({ jkt });
    expect((await client.fetchUserInfo(app.config, tokens.access_token, person.id, { DPoP })).email).toBe(person.email);
    const introspected = await client.tokenIntrospection(app.config, tokens.access_token);
    expect(introspected).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt } });
  });

  it('without a proof the same app gets a Bearer token with no cnf: DPoP is the app\'s choice unless registered to require it', async () => {
    const app = await registerApp(server, { scope: SCOPE });
    const { tokens } = await tokensFor(app, undefined);
    expect(tokens.token_type).toBe('bearer');
    expect(decodeJwt(tokens.access_token).cnf).toBeUndefined();
  });

  it('a stolen DPoP-bound access token is refused at userinfo: as a bearer token, and with a proof of the thief\'s own key', async () => {
    const app = await registerApp(server, { scope: SCOPE });
    const { tokens } = await tokensFor(app, await client.randomDPoPKeyPair('ES256'));
    const asBearer = await userinfo({ authorization: `Bearer ${tokens.access_token}` });
    expect(asBearer.status).toBe(401);
    expect(asBearer.body).not.toContain(person.email);
    const thief = await proofKey();
    const withOwnKey = await userinfo({
      authorization: `DPoP ${tokens.access_token}`,
      dpop: await proof(thief, { htm: 'GET', htu: `${server.issuer}/me`, accessToken: tokens.access_token }),
    });
    expect(withOwnKey.status).toBe(401);
    expect(withOwnKey.challenge).toMatch(/invalid_token/);
    expect(withOwnKey.body).not.toContain(person.email);
  });

  it('a public app\'s refresh token is bound to the key: refreshed with it, refused without it or with another', async () => {
    const app = await registerApp(server, { scope: SCOPE, public: true });
    const keyPair = await client.randomDPoPKeyPair('ES256');
    const { tokens, DPoP } = await tokensFor(app, keyPair);
    expect(tokens.refresh_token).toBeTruthy();

    const thief = client.getDPoPHandle(app.config, await client.randomDPoPKeyPair('ES256'));
    await expect(client.refreshTokenGrant(app.config, tokens.refresh_token!, undefined, { DPoP: thief })).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(client.refreshTokenGrant(app.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });

    const refreshed = await client.refreshTokenGrant(app.config, tokens.refresh_token!, undefined, { DPoP });
    expect(refreshed.token_type).toBe('dpop');
    expect(decodeJwt(refreshed.access_token).cnf).toEqual({ jkt: await thumbprintOf(keyPair) });
    expect((await client.fetchUserInfo(app.config, refreshed.access_token, person.id, { DPoP })).sub).toBe(person.id);
  });

  it('a public app\'s DPoP-bound refresh tokens, like its others, never outlive the first one', async () => {
    const app = await registerApp(server, { scope: SCOPE, public: true });
    const keyPair = await client.randomDPoPKeyPair('ES256');
    const { tokens, DPoP } = await tokensFor(app, keyPair);
    // Issued long ago: an hour of its lifetime left.
    const ends = Math.floor(Date.now() / 1000) + 3600;
    const rowOf = (token: string) => server.db('oidc_records').where({ model: 'RefreshToken', id_digest: digest(token) });
    await rowOf(tokens.refresh_token!).update({ expires_at: new Date(ends * 1000), payload: server.db.raw("jsonb_set(payload, '{exp}', to_jsonb(?::bigint))", [ends]) });

    const refreshed = await client.refreshTokenGrant(app.config, tokens.refresh_token!, undefined, { DPoP });
    const [successor] = await rowOf(refreshed.refresh_token!).select('expires_at');
    // To the second (the row's expiry is the adapter's clock plus the remaining seconds).
    expect(Math.abs(new Date(successor.expires_at).getTime() - ends * 1000)).toBeLessThan(1500);
  });

  it('an app registered to require DPoP (dpop_bound_access_tokens) gets no token without a proof', async () => {
    const { client: registered, clientSecret } = await server.stores.clients.create({
      name: 'Holds keys', redirectUris: ['https://app.example.test/callback'], scope: SCOPE, requireDpop: true,
    });
    const config = await client.discovery(new URL(server.issuer), registered.clientId, clientSecret, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] });
    const app: App = { config, clientId: registered.clientId, clientSecret, redirectUri: 'https://app.example.test/callback' };
    await expect(tokensFor(app, undefined)).rejects.toMatchObject({ error: 'invalid_grant' });
    const { tokens } = await tokensFor(app, await client.randomDPoPKeyPair('ES256'));
    expect(tokens.token_type).toBe('dpop');
  });
});

describe('server nonces (DPOP_REQUIRE_NONCE=true)', () => {
  let strict: TestServer;
  beforeAll(async () => {
    strict = await startTestServer({ DPOP_REQUIRE_NONCE: 'true' });
    await strict.stores.resources.create({ identifier: NOTES_API, name: 'Notes', scope: 'notes:read', isDefault: true });
  });
  afterAll(async () => { await strict?.stop(); });

  it('a proof without a nonce is answered use_dpop_nonce with a DPoP-Nonce; openid-client retries with it and gets its token', async () => {
    const key = await proofKey();
    const { client: machine, clientSecret } = await strict.stores.clients.create({ name: 'Worker', clientCredentials: true, scope: 'notes:read' });
    const res = await fetch(`${strict.issuer}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${machine.clientId}:${clientSecret}`).toString('base64')}`,
        dpop: await proof(key, { htm: 'POST', htu: `${strict.issuer}/token` }),
      },
      body: 'grant_type=client_credentials&scope=notes%3Aread',
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'use_dpop_nonce' });
    expect(res.headers.get('dpop-nonce')).toBeTruthy();

    const config = await client.discovery(new URL(strict.issuer), machine.clientId, clientSecret, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] });
    const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
    // openid-client learns the nonce from the use_dpop_nonce answer and retries by itself.
    const tokens = await client.clientCredentialsGrant(config, { scope: 'notes:read' }, { DPoP });
    expect(tokens.token_type).toBe('dpop');
    expect(decodeJwt(tokens.access_token).cnf).toBeDefined();
  });
});
