// Attacks on DPoP, with proofs built by hand (jose): every one is refused, at the token endpoint
// and at userinfo. A replayed proof, one for another URL or method, one for another token, a stale
// one, one signed by a key other than the one it names, a malformed DPoP header, and a proof
// replayed at another instance of the same deployment (jtis are remembered in the database).
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizationRequest, createPerson, registerApp, signIn } from '../support/flows.js';
import { startReplicas, type TestServer } from '../support/gatehouse.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { UserAgent } from '../support/user-agent.js';
import { proof, proofKey, type ProofKey } from '../support/dpop.js';

const NOTES_API = 'https://notes.example.test';
const SCOPE = 'openid email notes:read';
const FORM = 'application/x-www-form-urlencoded';

let testDb: TestDatabase;
let server: TestServer;
/** A second instance on the same database, behind the same issuer. */
let replica: TestServer;
let machine: { clientId: string; secret: string };
let key: ProofKey;
/** A DPoP-bound access token for `key`, good at userinfo. */
let bound: string;

beforeAll(async () => {
  testDb = await createTestDatabase();
  [server, replica] = await startReplicas(testDb);
  await server.stores.resources.create({ identifier: NOTES_API, name: 'Notes', scope: 'notes:read', isDefault: true });
  const { client: registered, clientSecret } = await server.stores.clients.create({ name: 'Worker', clientCredentials: true, scope: 'notes:read' });
  machine = { clientId: registered.clientId, secret: clientSecret! };
  key = await proofKey();
  const person = await createPerson(server);
  const app = await registerApp(server, { scope: SCOPE });
  const request = await authorizationRequest(app, { scope: SCOPE });
  const callback = await signIn(new UserAgent(server.issuer), request.url, person);
  const DPoP = client.getDPoPHandle(app.config, { privateKey: key.privateKey, publicKey: key.publicKey });
  const tokens = await client.authorizationCodeGrant(app.config, callback, { pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce }, undefined, { DPoP });
  bound = tokens.access_token;
});

afterAll(async () => {
  await replica?.stop();
  await server?.stop();
  await testDb?.destroy();
});

async function tokenRequest(dpop: string | undefined, at: string = server.address) {
  const res = await fetch(`${at}/token`, {
    method: 'POST',
    headers: {
      'content-type': FORM,
      authorization: `Basic ${Buffer.from(`${machine.clientId}:${machine.secret}`).toString('base64')}`,
      ...(dpop !== undefined ? { dpop } : {}),
    },
    body: 'grant_type=client_credentials&scope=notes%3Aread',
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function userinfo(dpop: string | undefined, options: { token?: string; at?: string; scheme?: string } = {}) {
  const res = await fetch(`${options.at ?? server.address}/me`, {
    headers: { authorization: `${options.scheme ?? 'DPoP'} ${options.token ?? bound}`, ...(dpop !== undefined ? { dpop } : {}) },
  });
  return { status: res.status, challenge: res.headers.get('www-authenticate') ?? '', body: await res.text() };
}

const tokenUrl = () => `${server.issuer}/token`;
const userinfoUrl = () => `${server.issuer}/me`;

describe('at the token endpoint', () => {
  it('a fresh proof gets a bound token; the same proof again is refused as a replay', async () => {
    const once = await proof(key, { htm: 'POST', htu: tokenUrl() });
    const first = await tokenRequest(once);
    expect(first.status).toBe(200);
    expect(first.body.token_type).toBe('DPoP');
    const again = await tokenRequest(once);
    expect(again.status).toBe(400);
    expect(again.body.error).toBe('invalid_dpop_proof');
  });

  it('the same proof replayed at another instance of the deployment is refused too', async () => {
    const once = await proof(key, { htm: 'POST', htu: tokenUrl() });
    expect((await tokenRequest(once, server.address)).status).toBe(200);
    const elsewhere = await tokenRequest(once, replica.address);
    expect(elsewhere.status).toBe(400);
    expect(elsewhere.body.error).toBe('invalid_dpop_proof');
  });

  it.each([
    ['another URL (htu)', { htm: 'POST', htu: 'https://elsewhere.example.test/token' }],
    ['another method (htm)', { htm: 'GET', htu: 'TOKEN' }],
  ])('a proof for %s is refused', async (_name, claims) => {
    const res = await tokenRequest(await proof(key, { ...claims, htu: claims.htu === 'TOKEN' ? tokenUrl() : claims.htu }));
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_dpop_proof');
  });

  it.each([
    ['ten minutes ago', -600],
    ['ten minutes ahead', 600],
  ])('a proof whose iat is %s is refused, and the caller is told to prove freshness with a server nonce instead', async (_name, offset) => {
    const res = await fetch(`${server.address}/token`, {
      method: 'POST',
      headers: {
        'content-type': FORM,
        authorization: `Basic ${Buffer.from(`${machine.clientId}:${machine.secret}`).toString('base64')}`,
        dpop: await proof(key, { htm: 'POST', htu: tokenUrl(), iat: Math.floor(Date.now() / 1000) + offset }),
      },
      body: 'grant_type=client_credentials&scope=notes%3Aread',
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'use_dpop_nonce' });
    expect(res.headers.get('dpop-nonce')).toBeTruthy();
  });

  it('a proof signed by a key other than the one in its header is refused', async () => {
    const other = await proofKey();
    const forged = await proof(other, { htm: 'POST', htu: tokenUrl(), headerJwk: key.jwk });
    const res = await tokenRequest(forged);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_dpop_proof');
  });

  it.each([
    ['not a JWT', 'not-a-proof'],
    ['two proofs', 'PAIR'],
    ['an unsigned JWT', 'UNSIGNED'],
  ])('a malformed DPoP header (%s) is an error, never ignored', async (_name, value) => {
    let header = value;
    if (value === 'PAIR') header = `${await proof(key, { htm: 'POST', htu: tokenUrl() })}, ${await proof(key, { htm: 'POST', htu: tokenUrl() })}`;
    if (value === 'UNSIGNED') {
      const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
      header = `${part({ alg: 'none', typ: 'dpop+jwt', jwk: key.jwk })}.${part({ htm: 'POST', htu: tokenUrl(), iat: Math.floor(Date.now() / 1000), jti: randomUUID() })}.`;
    }
    const res = await tokenRequest(header);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_dpop_proof');
    expect(res.body.access_token).toBeUndefined();
  });
});

describe('at userinfo', () => {
  it('the bound token with a fresh proof of its key works; the same proof again is refused', async () => {
    const once = await proof(key, { htm: 'GET', htu: userinfoUrl(), accessToken: bound });
    expect((await userinfo(once)).status).toBe(200);
    const again = await userinfo(once);
    expect(again.status).toBe(401);
    expect(again.challenge).toMatch(/^DPoP /);
  });

  it('a proof replayed at another instance is refused', async () => {
    const once = await proof(key, { htm: 'GET', htu: userinfoUrl(), accessToken: bound });
    expect((await userinfo(once, { at: replica.address })).status).toBe(200);
    expect((await userinfo(once, { at: server.address })).status).toBe(401);
  });

  it.each([
    ['another URL (htu)', { htm: 'GET', htu: 'https://elsewhere.example.test/me' }],
    ['another method (htm)', { htm: 'POST', htu: 'ME' }],
    ['another access token (ath)', { htm: 'GET', htu: 'ME', accessToken: 'some-other-token' }],
    ['no access token at all (no ath)', { htm: 'GET', htu: 'ME', accessToken: '' }],
    ['a stale iat', { htm: 'GET', htu: 'ME', iat: Math.floor(Date.now() / 1000) - 600 }],
  ])('a proof for %s is refused', async (_name, claims) => {
    const accessToken = 'accessToken' in claims ? (claims.accessToken || undefined) : bound;
    const res = await userinfo(await proof(key, { ...claims, htu: claims.htu === 'ME' ? userinfoUrl() : claims.htu, ...(accessToken ? { accessToken } : {}) }));
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.body).not.toContain('"sub"');
  });

  it('a proof by the thief\'s own key, or one forged to name the right key, is refused', async () => {
    const thief = await proofKey();
    expect((await userinfo(await proof(thief, { htm: 'GET', htu: userinfoUrl(), accessToken: bound }))).status).toBe(401);
    expect((await userinfo(await proof(thief, { htm: 'GET', htu: userinfoUrl(), accessToken: bound, headerJwk: key.jwk }))).status).toBeGreaterThanOrEqual(400);
  });

  it('a malformed DPoP header is an error; the token without any proof is refused', async () => {
    const malformed = await userinfo('not-a-proof');
    expect(malformed.status).toBeGreaterThanOrEqual(400);
    expect(malformed.body).not.toContain('"sub"');
    expect((await userinfo(undefined)).status).toBe(400);
    expect((await userinfo(undefined, { scheme: 'Bearer' })).status).toBe(401);
  });

  it('htu is checked against ISSUER, whatever Host the request names', async () => {
    const forgedHost = 'attacker.example.test';
    const dpop = await proof(key, { htm: 'GET', htu: `http://${forgedHost}/me`, accessToken: bound });
    const status = await new Promise<number>((resolve, reject) => {
      const url = new URL(`${server.address}/me`);
      const req = http.request({ host: url.hostname, port: url.port, path: '/me', headers: { host: forgedHost, authorization: `DPoP ${bound}`, dpop } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(401);
  });
});
