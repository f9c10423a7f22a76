// Gatehouse's own pages sign people in through the provider with the built-in `gatehouse` client
// (response_type none): no code, no token, only the session cookie and the way back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerson, PASSWORD, registerApp } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { formOf, UserAgent } from '../support/user-agent.js';

let server: TestServer;
beforeAll(async () => { server = await startTestServer(); });
afterAll(async () => { await server?.stop(); });

function accountRequest(params: Record<string, string> = {}): string {
  return `${server.issuer}/auth?${new URLSearchParams({
    client_id: 'gatehouse',
    response_type: 'none',
    scope: 'openid',
    redirect_uri: `${server.issuer}/account/callback`,
    state: 'xyz',
    ...params,
  })}`;
}

async function signInThrough(agent: UserAgent, url: string, email: string) {
  const page = await agent.follow(url);
  const login = formOf(page.body, /\/login$/);
  expect(page.body).toContain('your Gatehouse account');
  return agent.request(new URL(login.action, page.url).href, { form: { csrf: login.csrf, email, password: PASSWORD } })
    .then((res) => agent.follow(new URL(res.headers.get('location')!, res.url).href));
}

describe('signing in to the account pages', () => {
  it('asks for no consent, issues nothing, and records the device on the session', async () => {
    const person = await createPerson(server);
    const agent = new UserAgent(server.issuer);
    const done = await signInThrough(agent, accountRequest(), person.email);
    // Back at the callback with state only; without this browser's pending sign-in it refuses.
    expect(done.url).toMatch(/\/account\/callback\?/);
    const back = new URL(done.url);
    expect(back.searchParams.get('state')).toBe('xyz');
    expect(back.searchParams.has('code')).toBe(false);
    expect(done.status).toBe(400);

    const sessions = await server.db('oidc_records').where({ model: 'Session', account_id: person.id });
    expect(sessions).toHaveLength(1);
    expect(sessions[0].last_active_at).toBeInstanceOf(Date);
    expect(sessions[0].ip).toBe('127.0.0.1');
    expect(sessions[0].user_agent).toBeTruthy();
    const tokens = await server.db('oidc_records').whereIn('model', ['AuthorizationCode', 'AccessToken', 'RefreshToken']);
    expect(tokens).toHaveLength(0);
  });

  it('refuses a redirect URI other than its own', async () => {
    const agent = new UserAgent(server.issuer);
    const page = await agent.follow(accountRequest({ redirect_uri: 'https://evil.example/account/callback' }));
    expect(page.status).toBe(400);
    expect(page.body).toContain('Unregistered return address');
  });

  it('is the only client that may ask for response_type none', async () => {
    const app = await registerApp(server);
    const agent = new UserAgent(server.issuer);
    const page = await agent.follow(`${server.issuer}/auth?${new URLSearchParams({
      client_id: app.clientId, response_type: 'none', scope: 'openid', redirect_uri: app.redirectUri, state: 's',
    })}`);
    const back = new URL(page.leftTo!);
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(back.searchParams.get('error_description')).toMatch(/response_type/);
  });

  it('cannot be used to obtain a code', async () => {
    const agent = new UserAgent(server.issuer);
    const page = await agent.follow(accountRequest({ response_type: 'code', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }));
    expect(page.leftTo ?? page.url).not.toMatch(/code=/);
  });
});
