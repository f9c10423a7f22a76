// Client assertions (private_key_jwt): an assertion written for another server, an array audience,
// an endpoint URL as audience (refused unless the operator opts in, and then only URLs of ISSUER),
// and one assertion sent many times at once. The 2025 audience-injection class
// (CVE-2025-27370/27371): an assertion must name this server's issuer identifier and nothing else.
// The target (Gatehouse, its apps, a person, the example API) and the helpers are in ./target.ts.
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../support/gatehouse.js';
import { rawRequest } from '../../support/raw-http.js';
import { asJson, FORM, NOTES_API, startAttackTarget, type AttackTarget, type JsonResponse } from './target.js';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const EVIL = 'evil.example';

let target: AttackTarget;
let optedIn: TestServer;

/** A machine client that authenticates with its own key, on a server. */
interface KeyedClient { issuer: string; clientId: string; privateKey: CryptoKey }

let machine: KeyedClient;
let optedInMachine: KeyedClient;
/** An API that introspects with private_key_jwt, on the target. */
let introspector: KeyedClient;

async function keyedClient(server: TestServer, kind: 'machine' | 'api'): Promise<KeyedClient> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kty: 'EC' as const, kid: 'k1', alg: 'ES256', use: 'sig' };
  if (kind === 'api') {
    const api = await server.stores.resources.create({ identifier: `https://keyed-${randomBytes(4).toString('hex')}.example.test`, scope: `keyed${randomBytes(4).toString('hex')}:read`, jwks: { keys: [jwk] } });
    return { issuer: server.issuer, clientId: api.clientId, privateKey };
  }
  const { client } = await server.stores.clients.create({
    name: 'Nightly job', clientCredentials: true, scope: 'notebook:read', tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [jwk] },
  });
  return { issuer: server.issuer, clientId: client.clientId, privateKey };
}

function assertion(caller: KeyedClient, aud: string | string[]): Promise<string> {
  return new SignJWT({ jti: randomBytes(16).toString('base64url') })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setIssuer(caller.clientId).setSubject(caller.clientId).setAudience(aud)
    .setIssuedAt().setExpirationTime('2m')
    .sign(caller.privateKey);
}

/** A client-authenticated request with the assertion, and whatever Host headers the attacker picks. */
async function send(caller: KeyedClient, path: string, signed: string, headers: Record<string, string> = {}): Promise<JsonResponse> {
  const params: Record<string, string> = caller === introspector
    ? { token: 'not-a-token' }
    : { grant_type: 'client_credentials', scope: 'notebook:read', resource: NOTES_API };
  const body = new URLSearchParams({ ...params, client_assertion_type: ASSERTION_TYPE, client_assertion: signed }).toString();
  const res = await rawRequest(`${caller.issuer}${path}`, { method: 'POST', headers: { 'content-type': FORM, host: new URL(caller.issuer).host, ...headers }, body });
  return asJson(new Response(res.body, { status: res.status, headers: res.headers }));
}

function token(caller: KeyedClient, signed: string, headers: Record<string, string> = {}) {
  return send(caller, '/token', signed, headers);
}

function expectAccepted(res: JsonResponse) {
  expect(res.status, res.text).toBe(200);
  expect(res.body.error, res.text).toBeUndefined();
}

function expectInvalidClient(res: JsonResponse) {
  expect(res.status, res.text).toBe(401);
  expect(res.body.error, res.text).toBe('invalid_client');
  expect(res.body.access_token).toBeUndefined();
}

beforeAll(async () => {
  // Behind a trusted proxy, so X-Forwarded-Host is read as well as Host: the wider attack surface.
  target = await startAttackTarget({ TRUST_PROXY: 'true' });
  machine = await keyedClient(target.server, 'machine');
  introspector = await keyedClient(target.server, 'api');
  optedIn = await startTestServer({ TRUST_PROXY: 'true', CLIENT_ASSERTION_ENDPOINT_AUDIENCE: 'true' });
  await optedIn.stores.resources.create({ identifier: NOTES_API, scope: 'notebook:read', isDefault: true });
  optedInMachine = await keyedClient(optedIn, 'machine');
});

afterAll(async () => {
  await target?.stop();
  await optedIn?.stop();
});

describe('the audience of a client assertion', () => {
  it('is accepted when it is the issuer identifier, as one string', async () => {
    expectAccepted(await token(machine, await assertion(machine, machine.issuer)));
    expectAccepted(await send(introspector, '/token/introspection', await assertion(introspector, introspector.issuer)));
  });

  it('refuses an assertion for another server sent with that server\'s name in Host or X-Forwarded-Host', async () => {
    const forgeries: Array<[string, Record<string, string>]> = [
      ['Host', { host: EVIL }],
      ['X-Forwarded-Host', { 'x-forwarded-host': EVIL, 'x-forwarded-proto': 'http' }],
      ['both, over https', { host: EVIL, 'x-forwarded-host': EVIL, 'x-forwarded-proto': 'https', 'x-forwarded-port': '443' }],
    ];
    for (const [name, headers] of forgeries) {
      const scheme = headers['x-forwarded-proto'] ?? 'http';
      for (const aud of [`${scheme}://${EVIL}/token`, `${scheme}://${EVIL}`]) {
        const res = await token(machine, await assertion(machine, aud), headers);
        expect(res.status, `${name}, aud ${aud}: ${res.text}`).toBe(401);
        expectInvalidClient(res);
      }
      expectInvalidClient(await send(introspector, '/token/introspection', await assertion(introspector, `${scheme}://${EVIL}/token/introspection`), headers));
    }
  });

  it('refuses an array audience, even one holding only the issuer', async () => {
    for (const aud of [[machine.issuer], [machine.issuer, `${machine.issuer}/token`], [`http://${EVIL}/token`, machine.issuer]]) {
      expectInvalidClient(await token(machine, await assertion(machine, aud)));
    }
  });

  it('refuses the endpoint\'s URL by default', async () => {
    expectInvalidClient(await token(machine, await assertion(machine, `${machine.issuer}/token`)));
    expectInvalidClient(await send(introspector, '/token/introspection', await assertion(introspector, `${introspector.issuer}/token/introspection`)));
    expectInvalidClient(await send(introspector, '/token/introspection', await assertion(introspector, `${introspector.issuer}/token`)));
  });

  it('accepts the endpoint\'s URL built from ISSUER once the operator opts in, and still nothing from Host', async () => {
    expectAccepted(await token(optedInMachine, await assertion(optedInMachine, `${optedIn.issuer}/token`)));
    expectAccepted(await token(optedInMachine, await assertion(optedInMachine, optedIn.issuer)));
    expectInvalidClient(await token(optedInMachine, await assertion(optedInMachine, `${optedIn.issuer}/token/introspection`)));
    expectInvalidClient(await token(optedInMachine, await assertion(optedInMachine, [optedIn.issuer])));
    expectInvalidClient(await token(optedInMachine, await assertion(optedInMachine, `http://${EVIL}/token`), { host: EVIL }));
    expectInvalidClient(await token(optedInMachine, await assertion(optedInMachine, `https://${EVIL}/token`), { 'x-forwarded-host': EVIL, 'x-forwarded-proto': 'https' }));
  });

  it('refuses an absolute-form request line naming the other server', async () => {
    const body = new URLSearchParams({
      grant_type: 'client_credentials', scope: 'notebook:read', client_assertion_type: ASSERTION_TYPE,
      client_assertion: await assertion(optedInMachine, `http://${EVIL}/token`),
    }).toString();
    const res = await rawRequest(`${optedIn.issuer}/token`, {
      method: 'POST', target: `http://${EVIL}/token`, headers: { 'content-type': FORM, host: EVIL }, body,
    });
    expect(res.status, res.body).toBe(401);
    expect(JSON.parse(res.body)).toMatchObject({ error: 'invalid_client' });
  });
});

describe('one assertion, many requests', () => {
  it('is accepted once of 20 sent at once, and refused when sent again', async () => {
    const signed = await assertion(machine, machine.issuer);
    const results = await Promise.all(Array.from({ length: 20 }, () => token(machine, signed)));

    expect(results.filter((res) => res.status === 200), results.map((res) => res.text).join('\n')).toHaveLength(1);
    for (const res of results.filter((r) => r.status !== 200)) expectInvalidClient(res);
    expectInvalidClient(await token(machine, signed));
  });

  it('at introspection too', async () => {
    const signed = await assertion(introspector, introspector.issuer);
    const results = await Promise.all(Array.from({ length: 20 }, () => send(introspector, '/token/introspection', signed)));

    expect(results.filter((res) => res.status === 200)).toHaveLength(1);
    for (const res of results.filter((r) => r.status !== 200)) expectInvalidClient(res);
  });

  it('an assertion refused for its audience is not spent: the client\'s next, valid one works', async () => {
    expectInvalidClient(await token(machine, await assertion(machine, [machine.issuer])));
    expectAccepted(await token(machine, await assertion(machine, machine.issuer)));
  });
});
