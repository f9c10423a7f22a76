// Token exchange (RFC 8693) for API-to-API delegation, as an API does it with openid-client and a
// downstream API checks the result with jose: a person allows an app to use the docs API and, on
// their behalf, the storage API; the docs API exchanges the token it was sent for one aimed at the
// storage API, which sees the person as `sub` and the docs API as `act`.
import { randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, createRemoteJWKSet, decodeJwt, exportJWK, importJWK, jwtVerify, SignJWT } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyStoreFor, signingJwk } from '../../src/keys/signing-keys.js';
import { ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT } from '../../src/vocabulary.js';
import { EXCHANGED_ACCESS_TOKEN_TTL_SECONDS } from '../../src/lifetimes.js';
import { authorizationRequest, createPerson, registerApp, signIn, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { UserAgent } from '../support/user-agent.js';
import { written } from '../support/changes.js';
import { proof, proofKey } from '../support/dpop.js';

const DOCS_API = 'https://docs.example.test';
const STORAGE_API = 'https://storage.example.test';
const ARCHIVE_API = 'https://archive.example.test';
const BILLING_API = 'https://billing.example.test';
const ADMIN = { type: 'system' as const, id: null };

interface Api { identifier: string; clientId: string; clientSecret: string; config: client.Configuration }

let server: TestServer;
let app: App;
let docs: Api;
let storage: Api;
let archive: Api;
let billing: Api;

async function registerApi(identifier: string, scope: string, mayExchangeFor: string[] = []): Promise<Api> {
  const { clientId, clientSecret } = await server.operations.apis.createResource(ADMIN, { identifier, scope, mayExchangeFor });
  // The API is a client of Gatehouse with the credentials it introspects with.
  const config = await client.discovery(new URL(server.issuer), clientId, clientSecret, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] });
  return { identifier, clientId, clientSecret: clientSecret!, config };
}

/**
 * A person signs in to the app, allowing it the docs API and, on their behalf, storage (and
 * archive): one authorization request naming every API (RFC 8707), a token for the docs API.
 */
async function personSignsIn(scope = 'openid offline_access docs:read storage:read archive:read', to = app, DPoP?: client.DPoPHandle) {
  const person = await createPerson(server);
  const agent = new UserAgent(server.issuer);
  const request = await authorizationRequest(to, { scope, resource: DOCS_API });
  request.url.searchParams.append('resource', STORAGE_API);
  request.url.searchParams.append('resource', ARCHIVE_API);
  const callback = await signIn(agent, request.url, person);
  const tokens = await client.authorizationCodeGrant(to.config, callback, {
    pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce,
  }, { resource: DOCS_API }, DPoP ? { DPoP } : {});
  return { person, tokens };
}

/** The exchange, as the API makes it with openid-client (with its DPoP handle, when it has a key). */
function exchange(api: Api, subjectToken: string, parameters: Record<string, string> = { resource: STORAGE_API }, DPoP?: client.DPoPHandle) {
  return client.genericGrantRequest(api.config, TOKEN_EXCHANGE_GRANT, {
    subject_token: subjectToken,
    subject_token_type: ACCESS_TOKEN_TYPE,
    ...parameters,
  }, DPoP ? { DPoP } : {});
}

/** The exchange as a plain HTTP request, with the `DPoP` header given (a proof built by hand: test/support/dpop.ts). */
async function exchangeWithHeader(api: Api, subjectToken: string, dpop: string): Promise<{ status: number; body: Record<string, unknown>; nonce: string | null }> {
  const res = await fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(api.clientId)}:${encodeURIComponent(api.clientSecret)}`).toString('base64')}`,
      dpop,
    },
    body: new URLSearchParams({ grant_type: TOKEN_EXCHANGE_GRANT, subject_token: subjectToken, subject_token_type: ACCESS_TOKEN_TYPE, resource: STORAGE_API }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, nonce: res.headers.get('dpop-nonce') };
}

async function thumbprintOf(keyPair: client.CryptoKeyPair): Promise<string> {
  return calculateJwkThumbprint(await exportJWK(keyPair.publicKey));
}

/** The OAuth error an exchange was refused with (openid-client throws ResponseBodyError). */
async function refusal(attempt: Promise<unknown>): Promise<{ error: string; status: number }> {
  try {
    await attempt;
  } catch (error) {
    if (error instanceof client.ResponseBodyError) return { error: error.error, status: error.status };
    // A 401 comes with a WWW-Authenticate challenge, which openid-client raises before the body.
    if (error instanceof client.WWWAuthenticateChallengeError) {
      const body = (await error.response.json()) as { error: string };
      return { error: body.error, status: error.status };
    }
    throw error;
  }
  throw new Error('the exchange was not refused');
}

async function introspect(api: Api, token: string): Promise<Record<string, unknown>> {
  return client.tokenIntrospection(api.config, token) as unknown as Promise<Record<string, unknown>>;
}

/** How the downstream API checks a token: locally, with jose, as README shows. */
async function verifyAt(api: Api, token: string) {
  const jwks = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
  const { payload } = await jwtVerify(token, jwks, { issuer: server.issuer, audience: api.identifier, typ: 'at+jwt', algorithms: ['ES256'] });
  return payload;
}

beforeAll(async () => {
  server = await startTestServer();
  storage = await registerApi(STORAGE_API, 'storage:read storage:write');
  archive = await registerApi(ARCHIVE_API, 'archive:read');
  billing = await registerApi(BILLING_API, 'billing:read');
  docs = await registerApi(DOCS_API, 'docs:read docs:write', [STORAGE_API]);
  await server.operations.apis.updateResource(ADMIN, STORAGE_API, { mayExchangeFor: [ARCHIVE_API] });
  app = await registerApp(server, { scope: 'openid offline_access docs:read storage:read storage:write archive:read billing:read' });
});

afterAll(async () => { await server?.stop(); });

describe('an API exchanges a person\'s token for the downstream API it may call', () => {
  it('gets a JWT for the downstream API naming the person, the API as actor, the grant, and only what the person allowed', async () => {
    const { person, tokens } = await personSignsIn();
    const response = await exchange(docs, tokens.access_token);
    expect(response.issued_token_type).toBe(ACCESS_TOKEN_TYPE);
    expect(response.token_type).toBe('bearer'); // openid-client lower-cases it
    expect(response.expires_in).toBeGreaterThan(0);
    expect(response.expires_in).toBeLessThanOrEqual(EXCHANGED_ACCESS_TOKEN_TTL_SECONDS);

    const claims = await verifyAt(storage, response.access_token);
    const original = decodeJwt(tokens.access_token);
    expect(claims.sub).toBe(person.id);
    expect(claims.aud).toBe(STORAGE_API); // the downstream API alone: no userinfo
    expect(claims.act).toEqual({ sub: DOCS_API });
    expect(claims.client_id).toBe(docs.clientId);
    expect(claims.grant_id).toBe(original.grant_id);
    expect(claims.grant_client_id).toBe(app.clientId);
    // The person allowed storage:read (not storage:write, though the app is registered for it).
    expect(claims.scope).toBe('storage:read');
    expect(response.scope).toBe('storage:read');
    // Never outlives the token it was exchanged for.
    expect(claims.exp!).toBeLessThanOrEqual(original.exp!);
    // A bearer subject token exchanged without a proof gives a bearer token.
    expect(claims.cnf).toBeUndefined();
  });

  it('gives only what the app is still registered for: an app narrowed after the person consented gets less, or nothing', async () => {
    // The sign-in names the archive API too (personSignsIn): the app is registered for it throughout.
    const narrowed = await registerApp(server, { scope: 'openid offline_access docs:read storage:read storage:write archive:read' });
    const { tokens } = await personSignsIn('openid docs:read storage:read storage:write', narrowed);
    expect((await exchange(docs, tokens.access_token)).scope!.split(' ').sort()).toEqual(['storage:read', 'storage:write']);
    await written(server, () => server.operations.apps.updateClient(ADMIN, narrowed.clientId, { scope: 'openid offline_access docs:read storage:read archive:read' }));
    expect((await exchange(docs, tokens.access_token)).scope).toBe('storage:read');
    expect(await refusal(exchange(docs, tokens.access_token, { resource: STORAGE_API, scope: 'storage:write' }))).toMatchObject({ error: 'invalid_scope' });
    await written(server, () => server.operations.apps.updateClient(ADMIN, narrowed.clientId, { scope: 'openid offline_access docs:read archive:read' }));
    expect(await refusal(exchange(docs, tokens.access_token))).toMatchObject({ error: 'invalid_scope' });
  });

  it('accepts the downstream API named as audience, and a requested_token_type of access token', async () => {
    const { tokens } = await personSignsIn();
    const response = await exchange(docs, tokens.access_token, { audience: STORAGE_API, requested_token_type: ACCESS_TOKEN_TYPE });
    expect((await verifyAt(storage, response.access_token)).act).toEqual({ sub: DOCS_API });
  });

  it('narrows scope: what is asked of what the person allowed, and nothing they did not', async () => {
    const { tokens } = await personSignsIn('openid docs:read storage:read storage:write');
    const both = await exchange(docs, tokens.access_token);
    expect(both.scope!.split(' ').sort()).toEqual(['storage:read', 'storage:write']);
    const narrowed = await exchange(docs, tokens.access_token, { resource: STORAGE_API, scope: 'storage:read' });
    expect((await verifyAt(storage, narrowed.access_token)).scope).toBe('storage:read');

    const { tokens: readOnly } = await personSignsIn('openid docs:read storage:read');
    expect(await refusal(exchange(docs, readOnly.access_token, { resource: STORAGE_API, scope: 'storage:write' }))).toEqual({ error: 'invalid_scope', status: 400 });
    // Scopes of another API, or of the calling API itself, are never granted downstream.
    expect(await refusal(exchange(docs, readOnly.access_token, { resource: STORAGE_API, scope: 'docs:read' }))).toEqual({ error: 'invalid_scope', status: 400 });

    const { tokens: docsOnly } = await personSignsIn('openid docs:read');
    expect(await refusal(exchange(docs, docsOnly.access_token))).toEqual({ error: 'invalid_scope', status: 400 });
  });

  it('an exchanged token exchanged again nests the actors', async () => {
    const { person, tokens } = await personSignsIn();
    const forStorage = await exchange(docs, tokens.access_token);
    const forArchive = await exchange(storage, forStorage.access_token, { resource: ARCHIVE_API });
    const claims = await verifyAt(archive, forArchive.access_token);
    expect(claims.sub).toBe(person.id);
    expect(claims.act).toEqual({ sub: STORAGE_API, act: { sub: DOCS_API } });
    expect(claims.grant_client_id).toBe(app.clientId);
    expect(claims.scope).toBe('archive:read');
    expect((await introspect(archive, forArchive.access_token)).active).toBe(true);
  });

  it('is written to the audit log, without a token in it', async () => {
    const { person, tokens } = await personSignsIn();
    const response = await exchange(docs, tokens.access_token);
    const { items } = await server.operations.audit.listAudit({ type: 'token.exchanged', clientId: docs.clientId });
    const entry = items.find((event) => event.userId === person.id);
    expect(entry?.actor).toMatchObject({ type: 'client', id: docs.clientId });
    expect(entry?.details).toMatchObject({ api: DOCS_API, downstream: STORAGE_API, scope: 'storage:read', grantId: decodeJwt(tokens.access_token).grant_id, grantClientId: app.clientId, tokenType: 'Bearer' });
    const written = JSON.stringify(await server.testDb.db('audit_events').where({ type: 'token.exchanged' }).select('*'));
    expect(written).not.toContain(response.access_token);
    expect(written).not.toContain(tokens.access_token);
    expect(written).not.toContain(docs.clientSecret);
  });
});

describe('revocable with the original grant', () => {
  it('revoking the person\'s grant makes the exchanged token inactive at introspection', async () => {
    const { tokens } = await personSignsIn();
    const response = await exchange(docs, tokens.access_token);
    const before = await introspect(storage, response.access_token);
    expect(before).toMatchObject({ active: true, sub: decodeJwt(tokens.access_token).sub, client_id: docs.clientId, aud: STORAGE_API, act: { sub: DOCS_API }, scope: 'storage:read' });

    await server.operations.grants.revokeGrant(ADMIN, String(decodeJwt(tokens.access_token).grant_id));
    expect(await introspect(storage, response.access_token)).toEqual({ active: false });
    expect(await refusal(exchange(docs, tokens.access_token))).toEqual({ error: 'invalid_grant', status: 400 });
  });

  it('the app revoking its refresh token (and so its grant) ends the exchanged token too', async () => {
    const { tokens } = await personSignsIn();
    const response = await exchange(docs, tokens.access_token);
    await client.tokenRevocation(app.config, tokens.refresh_token!);
    expect(await introspect(storage, response.access_token)).toEqual({ active: false });
  });

  it('the API revoking the token it got revokes that token alone, not the person\'s grant to the app', async () => {
    const { tokens } = await personSignsIn();
    const response = await exchange(docs, tokens.access_token);
    await client.tokenRevocation(docs.config, response.access_token);
    expect(await introspect(storage, response.access_token)).toEqual({ active: false });
    expect((await introspect(docs, tokens.access_token)).active).toBe(true);
    expect((await client.refreshTokenGrant(app.config, tokens.refresh_token!, { resource: DOCS_API })).access_token).toBeTruthy();
  });

  it('the app the person allowed or the person disabled (even in SQL, grants left standing) ends the exchanged token', async () => {
    const other = await registerApp(server, { scope: 'openid docs:read storage:read' });
    const person = await createPerson(server);
    const request = await authorizationRequest(other, { scope: 'openid docs:read storage:read', resource: DOCS_API });
    request.url.searchParams.append('resource', STORAGE_API);
    const callback = await signIn(new UserAgent(server.issuer), request.url, person);
    const tokens = await client.authorizationCodeGrant(other.config, callback, { pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce }, { resource: DOCS_API });
    const response = await exchange(docs, tokens.access_token);
    expect((await introspect(storage, response.access_token)).active).toBe(true);
    // The app's client, not the API's, is the exchanged token's grant's: its state counts too.
    await written(server, () => server.stores.clients.setDisabled(other.clientId, true));
    expect(await introspect(storage, response.access_token)).toEqual({ active: false });
    await written(server, () => server.stores.clients.setDisabled(other.clientId, false));
    expect((await introspect(storage, response.access_token)).active).toBe(true);
    await server.operations.people.disableUser(ADMIN, person.id);
    expect(await introspect(storage, response.access_token)).toEqual({ active: false });
  });
});

describe('sender-constrained tokens (DPoP, RFC 9449)', () => {
  it('a DPoP-bound subject token exchanged with a proof of the API\'s key gives a DPoP token bound to that key', async () => {
    const appKey = await client.randomDPoPKeyPair('ES256');
    const { tokens } = await personSignsIn(undefined, app, client.getDPoPHandle(app.config, appKey));
    expect(decodeJwt(tokens.access_token).cnf).toEqual({ jkt: await thumbprintOf(appKey) });

    const apiKey = await client.randomDPoPKeyPair('ES256');
    const response = await exchange(docs, tokens.access_token, undefined, client.getDPoPHandle(docs.config, apiKey));
    expect(response.token_type).toBe('dpop'); // openid-client lower-cases it
    const jkt = await thumbprintOf(apiKey);
    expect((await verifyAt(storage, response.access_token)).cnf).toEqual({ jkt });
    expect(await introspect(storage, response.access_token)).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt } });
  });

  it('a DPoP-bound subject token exchanged without a proof is refused: no bearer token comes of it', async () => {
    const { tokens } = await personSignsIn(undefined, app, client.getDPoPHandle(app.config, await client.randomDPoPKeyPair('ES256')));
    const refused = await exchange(docs, tokens.access_token).then(() => undefined, (error: unknown) => error);
    expect(refused).toBeInstanceOf(client.ResponseBodyError);
    expect(refused).toMatchObject({ status: 400, error: 'invalid_request', error_description: expect.stringMatching(/DPoP-bound.*DPoP proof/) });
  });

  it('a bearer subject token exchanged with a proof gives a token bound to the proof\'s key', async () => {
    const { tokens } = await personSignsIn();
    expect(decodeJwt(tokens.access_token).cnf).toBeUndefined();
    const apiKey = await client.randomDPoPKeyPair('ES256');
    const response = await exchange(docs, tokens.access_token, undefined, client.getDPoPHandle(docs.config, apiKey));
    expect(response.token_type).toBe('dpop');
    expect((await verifyAt(storage, response.access_token)).cnf).toEqual({ jkt: await thumbprintOf(apiKey) });
  });

  it('a proof is accepted once: the same proof sent again is invalid_dpop_proof', async () => {
    const { tokens } = await personSignsIn();
    const key = await proofKey();
    const sent = await proof(key, { htm: 'POST', htu: `${server.issuer}/token` });
    const first = await exchangeWithHeader(docs, tokens.access_token, sent);
    expect(first.status).toBe(200);
    expect(first.body.token_type).toBe('DPoP');
    expect(decodeJwt(String(first.body.access_token)).cnf).toEqual({ jkt: key.thumbprint });
    const again = await exchangeWithHeader(docs, tokens.access_token, sent);
    expect(again).toMatchObject({ status: 400, body: { error: 'invalid_dpop_proof' } });
    expect(again.body).not.toHaveProperty('access_token');
  });

  it('a proof that fails oidc-provider\'s checks is invalid_dpop_proof, never ignored; a stale one is told to use a nonce', async () => {
    const { tokens } = await personSignsIn();
    const key = await proofKey();
    const now = Math.floor(Date.now() / 1000);
    const bad = {
      'another URL': await proof(key, { htm: 'POST', htu: `${server.issuer}/me` }),
      'another method': await proof(key, { htm: 'GET', htu: `${server.issuer}/token` }),
      'a key not its signer': await proof(key, { htm: 'POST', htu: `${server.issuer}/token`, headerJwk: (await proofKey()).jwk }),
      'an algorithm not advertised': await proof(await proofKey('ES384'), { htm: 'POST', htu: `${server.issuer}/token`, alg: 'ES384' }),
      'not a JWT': 'not-a-proof',
    };
    for (const [what, dpop] of Object.entries(bad)) {
      expect(await exchangeWithHeader(docs, tokens.access_token, dpop), what).toMatchObject({ status: 400, body: { error: 'invalid_dpop_proof' } });
    }
    // Nonces are on (derived from KEY_ENCRYPTION_KEY): a proof too old is answered with one to use.
    const stale = await exchangeWithHeader(docs, tokens.access_token, await proof(key, { htm: 'POST', htu: `${server.issuer}/token`, iat: now - 3600 }));
    expect(stale).toMatchObject({ status: 400, body: { error: 'use_dpop_nonce' } });
    expect(stale.nonce).toBeTruthy();
    const withNonce = await exchangeWithHeader(docs, tokens.access_token, await proof(key, { htm: 'POST', htu: `${server.issuer}/token`, iat: now - 3600, nonce: stale.nonce! }));
    expect(withNonce.status).toBe(200);
    expect(decodeJwt(String(withNonce.body.access_token)).cnf).toEqual({ jkt: key.thumbprint });
  });

  it('an API whose client is registered to require DPoP gets no exchanged token without a proof', async () => {
    const { tokens } = await personSignsIn();
    await written(server, () => server.stores.clients.update(docs.clientId, { requireDpop: true }));
    try {
      expect(await refusal(exchange(docs, tokens.access_token))).toEqual({ error: 'invalid_request', status: 400 });
      const response = await exchange(docs, tokens.access_token, undefined, client.getDPoPHandle(docs.config, await client.randomDPoPKeyPair('ES256')));
      expect(response.token_type).toBe('dpop');
    } finally {
      await written(server, () => server.stores.clients.update(docs.clientId, { requireDpop: false }));
    }
  });
});

describe('refusals', () => {
  let subject: string;
  beforeAll(async () => {
    subject = (await personSignsIn()).tokens.access_token;
  });

  it('a downstream API the policy does not name is invalid_target, and so is one taken off it', async () => {
    expect(await refusal(exchange(docs, subject, { resource: BILLING_API }))).toEqual({ error: 'invalid_target', status: 400 });
    expect(await refusal(exchange(docs, subject, { resource: 'https://nowhere.example.test' }))).toEqual({ error: 'invalid_target', status: 400 });
    expect(await refusal(exchange(docs, subject, {}))).toEqual({ error: 'invalid_target', status: 400 });
    expect(await refusal(exchange(docs, subject, { resource: STORAGE_API, audience: BILLING_API }))).toEqual({ error: 'invalid_target', status: 400 });
    await server.operations.apis.updateResource(ADMIN, DOCS_API, { mayExchangeFor: [] });
    try {
      expect(await refusal(exchange(docs, subject))).toEqual({ error: 'invalid_target', status: 400 });
    } finally {
      await server.operations.apis.updateResource(ADMIN, DOCS_API, { mayExchangeFor: [STORAGE_API] });
    }
    expect((await exchange(docs, subject)).access_token).toBeTruthy();
  });

  it('a disabled downstream API is invalid_target; a disabled API cannot authenticate to exchange', async () => {
    await server.operations.apis.disableResource(ADMIN, STORAGE_API);
    try {
      expect(await refusal(exchange(docs, subject))).toEqual({ error: 'invalid_target', status: 400 });
    } finally {
      await server.operations.apis.enableResource(ADMIN, STORAGE_API);
    }
    await server.operations.apis.disableResource(ADMIN, DOCS_API);
    try {
      expect(await refusal(exchange(docs, subject))).toEqual({ error: 'invalid_client', status: 401 });
    } finally {
      await server.operations.apis.enableResource(ADMIN, DOCS_API);
    }
  });

  it('a subject token issued for another API is invalid_grant: an API exchanges only what it was sent', async () => {
    await server.operations.apis.updateResource(ADMIN, BILLING_API, { mayExchangeFor: [STORAGE_API] });
    expect(await refusal(exchange(billing, subject))).toEqual({ error: 'invalid_grant', status: 400 });
  });

  it('an expired, forged or unknown subject token is invalid_grant', async () => {
    const keySet = await keyStoreFor(server.config, server.db).loadKeySet();
    const realKey = signingJwk(keySet, 'ES256')!;
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ ...decodeJwt(subject), jti: randomBytes(8).toString('hex'), iat: now - 7200, exp: now - 3600 })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: realKey.kid })
      .sign(await importJWK(realKey, 'ES256'));
    expect(await refusal(exchange(docs, expired))).toEqual({ error: 'invalid_grant', status: 400 });
    const tampered = `${subject.slice(0, -4)}AAAA`;
    expect(await refusal(exchange(docs, tampered))).toEqual({ error: 'invalid_grant', status: 400 });
    expect(await refusal(exchange(docs, 'not-a-token'))).toEqual({ error: 'invalid_grant', status: 400 });
  });

  it('a subject token revoked at the revocation endpoint is invalid_grant', async () => {
    const { tokens } = await personSignsIn();
    await client.tokenRevocation(app.config, tokens.access_token);
    expect(await refusal(exchange(docs, tokens.access_token))).toEqual({ error: 'invalid_grant', status: 400 });
  });

  it('a machine token (no person behind it) is invalid_grant', async () => {
    const { client: machine, clientSecret } = await server.stores.clients.create({ name: 'Worker', clientCredentials: true, scope: 'docs:read' });
    const config = await client.discovery(new URL(server.issuer), machine.clientId, clientSecret, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] });
    const machineToken = (await client.clientCredentialsGrant(config, { scope: 'docs:read', resource: DOCS_API })).access_token;
    expect(await refusal(exchange(docs, machineToken))).toEqual({ error: 'invalid_grant', status: 400 });
  });

  it('token types other than access tokens, and actor tokens, are invalid_request', async () => {
    const cases: Array<Record<string, string>> = [
      { resource: STORAGE_API, subject_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' },
      { resource: STORAGE_API, subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' },
      { resource: STORAGE_API, requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' },
      { resource: STORAGE_API, actor_token: subject, actor_token_type: ACCESS_TOKEN_TYPE },
    ];
    for (const parameters of cases) {
      expect(await refusal(exchange(docs, subject, parameters)), JSON.stringify(Object.keys(parameters))).toEqual({ error: 'invalid_request', status: 400 });
    }
    const missing = client.genericGrantRequest(docs.config, TOKEN_EXCHANGE_GRANT, { subject_token_type: ACCESS_TOKEN_TYPE, resource: STORAGE_API });
    expect(await refusal(missing)).toEqual({ error: 'invalid_request', status: 400 });
  });

  it('an app (not an API) may not use the grant: unauthorized_client', async () => {
    const attempt = client.genericGrantRequest(app.config, TOKEN_EXCHANGE_GRANT, { subject_token: subject, subject_token_type: ACCESS_TOKEN_TYPE, resource: STORAGE_API });
    expect(await refusal(attempt)).toEqual({ error: 'unauthorized_client', status: 400 });
  });

  it('a disabled person\'s token is invalid_grant', async () => {
    const { person, tokens } = await personSignsIn();
    await server.operations.people.disableUser(ADMIN, person.id);
    expect(await refusal(exchange(docs, tokens.access_token))).toEqual({ error: 'invalid_grant', status: 400 });
  });

  it('no refusal is a server error', () => {
    expect(server.logs.filter((line) => line.event === 'server_error' || line.level === 50)).toEqual([]);
  });
});
