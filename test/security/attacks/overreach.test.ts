// Clients asking for more than they were given: claims beyond their registration or the person's
// consent, scopes beyond their registration, grant types they are not registered for, and
// parameters smuggled past a form POST to the authorization endpoint.
import { randomBytes } from 'node:crypto';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerApp, signIn, type App } from '../../support/flows.js';
import { UserAgent } from '../../support/user-agent.js';
import { FORM, issueCode, post, redeem, REDIRECT, startAttackTarget, type AttackTarget, type Credentials } from './target.js';

const BILLING_API = 'https://billing.example.test';

let target: AttackTarget;
let openidOnly: App;
let machine: Credentials;

beforeAll(async () => {
  target = await startAttackTarget();
  openidOnly = await registerApp(target.server, { scope: 'openid', redirectUri: REDIRECT });
  await target.server.stores.resources.create({ identifier: BILLING_API, scope: 'billing:read' });
  const m = await target.server.stores.clients.create({ name: 'Worker', clientCredentials: true, scope: 'notes:read' });
  machine = { clientId: m.client.clientId, clientSecret: m.clientSecret };
});
afterAll(async () => { await target?.stop(); });

async function authorizationUrl(app: App, params: Record<string, string>): Promise<URL> {
  return client.buildAuthorizationUrl(app.config, {
    redirect_uri: app.redirectUri, scope: 'openid', state: randomBytes(8).toString('hex'),
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    ...params,
  });
}

describe('claims beyond the registration or the consent', () => {
  it('an app registered for openid only asks for the person\'s email and name through the claims parameter: refused', async () => {
    const url = await authorizationUrl(openidOnly, { claims: JSON.stringify({ id_token: { email: { essential: true } }, userinfo: { name: null } }) });
    const back = new URL((await fetch(url, { redirect: 'manual' })).headers.get('location')!);
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(back.searchParams.get('code')).toBeNull();
  });

  it('the same, pushed (PAR): refused before any request_uri exists', async () => {
    const res = await post('/request', { clientId: openidOnly.clientId, clientSecret: openidOnly.clientSecret }, {
      response_type: 'code', redirect_uri: REDIRECT, scope: 'openid',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
      claims: JSON.stringify({ userinfo: { email: null } }),
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
    expect(res.body.request_uri).toBeUndefined();
  });

  it('an app the person allowed openid only asks for a claim silently (prompt=none): consent_required, no code', async () => {
    const agent = new UserAgent(target.server.issuer);
    const app = await registerApp(target.server, { scope: 'openid email', redirectUri: REDIRECT });
    await signIn(agent, await authorizationUrl(app, { prompt: 'consent' }), target.person);
    const silent = await agent.follow(String(await authorizationUrl(app, { prompt: 'none', claims: JSON.stringify({ userinfo: { email: { essential: true } } }) })));
    const back = new URL(silent.leftTo!);
    expect(back.searchParams.get('error')).toBe('consent_required');
    expect(back.searchParams.get('code')).toBeNull();
  });
});

describe('machine tokens beyond the registration', () => {
  it.each([
    ['the admin API\'s scope', { scope: 'gatehouse:admin' }],
    ['another API\'s scope, naming that API', { scope: 'billing:read', resource: BILLING_API }],
    ['a scope of its API it is not registered for', { scope: 'notes:write' }],
    ['openid, to pass as a person at userinfo', { scope: 'openid profile email' }],
  ])('a machine client asks for %s: no token', async (_name, params: Record<string, string>) => {
    const res = await post('/token', machine, { grant_type: 'client_credentials', ...params });
    expect(res.status).toBe(400);
    expect(['invalid_scope', 'invalid_target']).toContain(res.body.error);
    expect(res.body.access_token).toBeUndefined();
  });
});

describe('which APIs exist', () => {
  it('a client naming an API it has no scope of hears what it hears for an API that does not exist', async () => {
    // Otherwise any app (or anyone who has seen one sign-in's client id) could list an operator's
    // APIs by guessing identifiers and reading the refusals.
    const refusal = async (resource: string) => {
      const res = await post('/token', machine, { grant_type: 'client_credentials', resource });
      return { status: res.status, error: res.body.error, description: String(res.body.error_description).replace(resource, '<resource>') };
    };
    const existing = await refusal(BILLING_API);
    expect(existing).toMatchObject({ status: 400, error: 'invalid_target' });
    expect(await refusal('https://nothing-here.example.test')).toEqual(existing);
  });
});

describe('grant types beyond the registration', () => {
  it('a public app (no secret to steal) mints a token with client_credentials: unauthorized_client', async () => {
    const res = await post('/token', { clientId: target.publicApp.clientId }, { grant_type: 'client_credentials', scope: 'notes:read' });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('unauthorized_client');
    expect(res.body.access_token).toBeUndefined();
  });

  it('a machine client redeems an app\'s intercepted code: unauthorized_client, and the code still works for the app', async () => {
    const issued = await issueCode({ clientId: target.app.clientId, clientSecret: target.app.clientSecret }, REDIRECT);
    const stolen = await redeem(machine, issued);
    expect(stolen.status).toBe(400);
    expect(stolen.body.error).toBe('unauthorized_client');
    const own = await redeem({ clientId: target.app.clientId, clientSecret: target.app.clientSecret }, issued);
    expect(own.status, own.text).toBe(200);
  });
});

describe('a form POST to the authorization endpoint', () => {
  it('ignores parameters smuggled into its query string: only the form is carried to the GET', async () => {
    const url = await authorizationUrl(target.app, {});
    const res = await fetch(`${target.server.issuer}/auth?redirect_uri=${encodeURIComponent('https://attacker.example.test/cb')}&scope=openid+notes%3Awrite`, {
      method: 'POST', headers: { 'content-type': FORM }, body: url.searchParams.toString(), redirect: 'manual',
    });
    expect(res.status).toBe(303);
    const location = new URL(res.headers.get('location')!, target.server.issuer);
    expect(location.searchParams.getAll('redirect_uri')).toEqual([REDIRECT]);
    expect(location.searchParams.getAll('scope')).toEqual(['openid']);
  });
});
