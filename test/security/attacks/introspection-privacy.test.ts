// Personal data beyond consent. The person allowed an app `openid` and an API scope, not `email`;
// the app (or the API it calls) then reads the email address anyway — from introspection's
// `username`, the signed introspection response, the token itself, userinfo or the ID token, or by
// asking for the claim with the `claims` parameter. Every one of them must release only what the
// grant consented to, for every token kind (JWT and opaque access tokens, refresh tokens).
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizationRequest, createPerson, registerApp, signIn, type App } from '../../support/flows.js';
import type { TestServer } from '../../support/gatehouse.js';
import { UserAgent } from '../../support/user-agent.js';
import { asJson, basic, creds, introspect, REDIRECT, startAttackTarget, type AttackTarget, type Credentials, type Person } from './target.js';

const RECORDS_API = 'https://records.example.test';
/** What the person gets asked for: no `email`, no `profile`. */
const WITHOUT_EMAIL = 'openid offline_access records:read';
/** Personal data a response could carry, by the names it would go by. */
const PERSONAL_MEMBERS = ['username', 'email', 'email_verified', 'name', 'given_name', 'family_name'];

let target: AttackTarget;
let server: TestServer;
let records: Credentials; // the API, registered for signed (RFC 9701) introspection responses
let app: App; // registered for email and profile too: only the person's consent holds them back
let opaqueApp: App; // registered for no API: its access tokens are opaque, for userinfo only

beforeAll(async () => {
  target = await startAttackTarget();
  server = target.server;
  const r = await server.stores.resources.create({ identifier: RECORDS_API, scope: 'records:read', jwtIntrospection: true });
  records = { clientId: r.clientId, clientSecret: r.clientSecret! };
  app = await registerApp(server, { scope: 'openid profile email offline_access records:read', redirectUri: REDIRECT });
  opaqueApp = await registerApp(server, { scope: 'openid profile email offline_access', redirectUri: REDIRECT });
});
afterAll(async () => { await target?.stop(); });

async function tokensFor(a: App, person: Person, params: Record<string, string>) {
  const request = await authorizationRequest(a, params);
  const callback = await signIn(new UserAgent(server.issuer), request.url, person);
  return client.authorizationCodeGrant(a.config, callback, {
    pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce,
  });
}

/** Nothing in this answer names the person beyond their `sub`. */
function expectNothingPersonal(answer: Record<string, unknown>, person: Person) {
  for (const member of PERSONAL_MEMBERS) expect(answer, member).not.toHaveProperty(member);
  expect(JSON.stringify(answer)).not.toContain(person.email);
  expect(JSON.stringify(answer)).not.toContain(person.name);
}

async function signedIntrospection(caller: Credentials, token: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${server.issuer}/token/introspection`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(caller.clientId, caller.clientSecret!), accept: 'application/token-introspection+jwt' },
    body: new URLSearchParams({ token }),
  });
  const jwt = await res.text();
  expect(res.headers.get('content-type')).toMatch(/application\/token-introspection\+jwt/);
  const jwks = (await (await fetch(`${server.issuer}/jwks`)).json()) as JSONWebKeySet;
  const { payload } = await jwtVerify(jwt, createLocalJWKSet(jwks), { issuer: server.issuer, audience: caller.clientId });
  return payload as Record<string, unknown>;
}

async function userinfo(accessToken: string): Promise<Record<string, unknown>> {
  const res = await asJson(await fetch(`${server.issuer}/me`, { headers: { authorization: `Bearer ${accessToken}` } }));
  expect(res.status, res.text).toBe(200);
  return res.body;
}

describe('a grant without the email scope', () => {
  it('introspection of its JWT access token names no email, for the API or the app, signed or not', async () => {
    const person = await createPerson(server, { name: 'Private Person' });
    const tokens = await tokensFor(app, person, { scope: WITHOUT_EMAIL, resource: RECORDS_API });
    const byApi = await introspect(records, tokens.access_token);
    expect(byApi).toMatchObject({ active: true, sub: person.id });
    expectNothingPersonal(byApi, person);
    expectNothingPersonal(await introspect(creds(app), tokens.access_token), person);

    const signed = await signedIntrospection(records, tokens.access_token);
    expect(signed.token_introspection).toMatchObject({ active: true, sub: person.id });
    expectNothingPersonal(signed, person);
  });

  it('introspection of its refresh token names no email', async () => {
    const person = await createPerson(server, { name: 'Private Person' });
    const tokens = await tokensFor(app, person, { scope: WITHOUT_EMAIL, resource: RECORDS_API });
    const answer = await introspect(creds(app), tokens.refresh_token!);
    expect(answer).toMatchObject({ active: true, sub: person.id });
    expectNothingPersonal(answer, person);
  });

  // A claims request for the email is shown on the consent page and released once the person
  // allows it: test/oidc/claims-parameter.test.ts proves a claim never allowed is not released.
  it('its JWT access token, ID token and userinfo carry no email', async () => {
    const person = await createPerson(server, { name: 'Private Person' });
    const tokens = await tokensFor(app, person, { scope: WITHOUT_EMAIL, resource: RECORDS_API });
    expectNothingPersonal(decodeJwt(tokens.access_token) as Record<string, unknown>, person);
    expectNothingPersonal(tokens.claims()! as Record<string, unknown>, person);
    const me = await userinfo(tokens.access_token);
    expect(me).toEqual({ sub: person.id });
  });

  it('introspection and userinfo of an opaque access token name no email', async () => {
    const person = await createPerson(server, { name: 'Private Person' });
    const tokens = await tokensFor(opaqueApp, person, { scope: 'openid offline_access' });
    expect(tokens.access_token.split('.')).toHaveLength(1);
    const answer = await introspect(creds(opaqueApp), tokens.access_token);
    expect(answer).toMatchObject({ active: true, sub: person.id });
    expectNothingPersonal(answer, person);
    expect(await userinfo(tokens.access_token)).toEqual({ sub: person.id });
  });
});

describe('a grant with the email scope', () => {
  it('introspection of its JWT access token gives the API the email as username', async () => {
    const person = await createPerson(server);
    const tokens = await tokensFor(app, person, { scope: 'openid email records:read', resource: RECORDS_API });
    expect(await introspect(records, tokens.access_token)).toMatchObject({ active: true, sub: person.id, username: person.email });
    const signed = await signedIntrospection(records, tokens.access_token);
    expect(signed.token_introspection).toMatchObject({ username: person.email });
  });
});
