// What the token endpoint says when a client asks for what it may not have: a scope it was not
// registered for (invalid_scope, never a quietly smaller token, RFC 6749 §3.3 and §5.1) and a grant
// type it was not registered for (unauthorized_client, RFC 6749 §5.2), on every path; and the same
// for a response type at pushed authorization requests (RFC 9126 §2.3).
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerApp, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';

const NOTES_API = 'https://notes.example.test';
const BILLING_API = 'https://billing.example.test';

let server: TestServer;
let machine: { clientId: string; secret: string; config: client.Configuration };
let app: App;
let publicApp: App;
let api: { clientId: string; secret: string };

async function machineClient(scope: string) {
  const { client: registered, clientSecret } = await server.stores.clients.create({ name: 'Worker', clientCredentials: true, scope });
  const config = await client.discovery(new URL(server.issuer), registered.clientId, clientSecret, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] });
  return { clientId: registered.clientId, secret: clientSecret!, config };
}

function basic(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

async function token(params: Record<string, string>, authorization?: string) {
  const res = await fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization ? { authorization } : {}) },
    body: new URLSearchParams(params),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  server = await startTestServer();
  await server.stores.resources.create({ identifier: NOTES_API, name: 'Notes', scope: 'notes:read notes:write', isDefault: true });
  const billing = await server.stores.resources.create({ identifier: BILLING_API, name: 'Billing', scope: 'billing:read' });
  api = { clientId: billing.clientId, secret: billing.clientSecret! };
  machine = await machineClient('notes:read billing:read');
  app = await registerApp(server, { scope: 'openid profile notes:read' });
  publicApp = await registerApp(server, { scope: 'openid profile', public: true });
});

afterAll(async () => { await server?.stop(); });

describe('client_credentials scopes', () => {
  it('issues exactly the registered scopes asked for, and says which in the response and the token', async () => {
    const tokens = await client.clientCredentialsGrant(machine.config, { scope: 'notes:read' });
    expect(tokens.scope).toBe('notes:read');
    expect(decodeJwt(tokens.access_token)).toMatchObject({ aud: NOTES_API, scope: 'notes:read' });
    const billing = await client.clientCredentialsGrant(machine.config, { scope: 'billing:read', resource: BILLING_API });
    expect(billing.scope).toBe('billing:read');
    expect(decodeJwt(billing.access_token)).toMatchObject({ aud: BILLING_API, scope: 'billing:read' });
  });

  it.each([
    ['a scope of the API the client is not registered for', { scope: 'notes:write' }],
    ['openid, which means nothing without a person', { scope: 'openid' }],
    ['an OIDC scope next to a registered one', { scope: 'notes:read email' }],
    ['a scope nobody defines', { scope: 'nonsense' }],
    ['a registered scope next to a nonsense one', { scope: 'notes:read nonsense' }],
    ['a registered scope of another API than the one the token is for', { scope: 'billing:read' }],
    ['no scope at all', {}],
  ])('refuses %s with invalid_scope', async (_name, params: Record<string, string>) => {
    const { status, body } = await token({ grant_type: 'client_credentials', ...params }, basic(machine.clientId, machine.secret));
    expect(status).toBe(400);
    expect(body.error).toBe('invalid_scope');
    expect(body.access_token).toBeUndefined();
  });

  it('refuses invalid_scope when no API is named and none is the client\'s default', async () => {
    const billingOnly = await machineClient('billing:read');
    await expect(client.clientCredentialsGrant(billingOnly.config, { scope: 'billing:read' })).rejects.toMatchObject({ error: 'invalid_scope' });
    expect((await client.clientCredentialsGrant(billingOnly.config, { scope: 'billing:read', resource: BILLING_API })).scope).toBe('billing:read');
  });
});

describe('a grant type the client is not registered for', () => {
  const cases: Array<[string, () => { params: Record<string, string>; authorization?: string }]> = [
    ['a public app at client_credentials', () => ({ params: { grant_type: 'client_credentials', scope: 'notes:read', client_id: publicApp.clientId } })],
    ['a confidential app at client_credentials', () => ({ params: { grant_type: 'client_credentials', scope: 'notes:read' }, authorization: basic(app.clientId, app.clientSecret!) })],
    ['a machine client at authorization_code', () => ({ params: { grant_type: 'authorization_code', code: 'x'.repeat(43), redirect_uri: app.redirectUri, code_verifier: 'v'.repeat(43) }, authorization: basic(machine.clientId, machine.secret) })],
    ['a machine client at refresh_token', () => ({ params: { grant_type: 'refresh_token', refresh_token: 'x'.repeat(43) }, authorization: basic(machine.clientId, machine.secret) })],
    ['an API\'s introspection client at client_credentials', () => ({ params: { grant_type: 'client_credentials', scope: 'billing:read', resource: BILLING_API }, authorization: basic(api.clientId, api.secret) })],
    ['an API\'s introspection client at refresh_token', () => ({ params: { grant_type: 'refresh_token', refresh_token: 'x'.repeat(43) }, authorization: basic(api.clientId, api.secret) })],
  ];

  it.each(cases)('answers %s with unauthorized_client', async (_name, request) => {
    const { params, authorization } = request();
    const { status, body } = await token(params, authorization);
    expect(status).toBe(400);
    expect(body).toEqual({ error: 'unauthorized_client', error_description: `this client is not registered for the ${params.grant_type} grant type` });
  });

  it.each([
    ['a machine client', () => basic(machine.clientId, machine.secret)],
    ['an API\'s introspection client', () => basic(api.clientId, api.secret)],
  ])('answers %s pushing an authorization request with unauthorized_client', async (_name, authorization) => {
    const res = await fetch(`${server.issuer}/request`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: authorization() },
      body: new URLSearchParams({ response_type: 'code', scope: 'openid', redirect_uri: app.redirectUri, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'unauthorized_client', error_description: 'this client is not registered for the code response type' });
  });

  it('still says invalid_client when the client does not authenticate, and unsupported_grant_type for an unknown one', async () => {
    expect((await token({ grant_type: 'refresh_token', refresh_token: 'x' }, basic(machine.clientId, 'wrong'))).body.error).toBe('invalid_client');
    expect((await token({ grant_type: 'password', username: 'a', password: 'b' }, basic(machine.clientId, machine.secret))).body.error).toBe('unsupported_grant_type');
  });

  it('tells openid-client the same, so an app can act on it', async () => {
    await expect(client.clientCredentialsGrant(app.config, { scope: 'notes:read' })).rejects.toMatchObject({ error: 'unauthorized_client' });
  });
});
