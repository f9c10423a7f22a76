// What people and apps do at the protocol endpoints lands in the audit log: sign-ins (and why one
// failed, kept server-side), consent, revocation at RFC 7009's endpoint, refresh-token reuse and
// signing out, each with who did it.
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizationRequest, createPerson, obtainTokens, registerApp, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { formOf, UserAgent } from '../support/user-agent.js';

let server: TestServer;
let app: App;
beforeAll(async () => {
  server = await startTestServer();
  app = await registerApp(server, { scope: 'openid email offline_access' });
});
afterAll(async () => { await server?.stop(); });

async function events(where: Record<string, unknown>) {
  await server.audit.flush();
  return server.db('audit_events').where(where).orderBy('id');
}

describe('the audit log', () => {
  it('records a sign-in, the consent given, and failed sign-ins with their reason', async () => {
    const person = await createPerson(server);
    await obtainTokens(server, app, person, { scope: 'openid email offline_access', prompt: 'consent' });
    expect(await events({ type: 'sign_in.succeeded', user_id: person.id })).toMatchObject([
      { actor_type: 'user', actor_id: person.id, client_id: app.clientId, ip: '127.0.0.1' },
    ]);
    const [consent] = await events({ type: 'consent.given', user_id: person.id });
    expect(consent).toMatchObject({ actor_id: person.id, client_id: app.clientId });
    expect(consent.details.scopes).toEqual(expect.arrayContaining(['openid', 'email']));

    const agent = new UserAgent(server.issuer);
    const request = await authorizationRequest(app, { scope: 'openid email' });
    const page = await agent.follow(String(request.url));
    const login = formOf(page.body, /\/login$/);
    await agent.request(new URL(login.action, page.url).href, { form: { csrf: login.csrf, email: person.email, password: 'not the password at all' } });
    const [failed] = await events({ type: 'sign_in.failed', user_id: person.id });
    expect(failed).toMatchObject({ actor_type: 'anonymous', client_id: app.clientId });
    expect(failed.details).toMatchObject({ reason: 'wrong_password', email: person.email });
    expect(JSON.stringify(failed)).not.toContain('not the password at all');
  });

  it('records what the grant holds when remembered consent is confirmed again, not an empty list', async () => {
    const api = { identifier: 'https://audited.example.test' };
    await server.stores.resources.create({ identifier: api.identifier, scope: 'audited:read' });
    const withApi = await registerApp(server, { scope: 'openid email offline_access audited:read' });
    const person = await createPerson(server);
    const params = { scope: 'openid email offline_access audited:read', resource: api.identifier, prompt: 'consent' };
    await obtainTokens(server, withApi, person, params);
    // Another browser: the consent is remembered (a copy of the grant), and prompt=consent asks again.
    await obtainTokens(server, withApi, person, params);
    const given = await events({ type: 'consent.given', user_id: person.id });
    expect(given).toHaveLength(2);
    for (const consent of given) {
      expect(consent.details.scopes).toEqual(expect.arrayContaining(['openid', 'email', 'offline_access']));
      expect(consent.details.apis).toEqual({ [api.identifier]: expect.arrayContaining(['audited:read']) });
    }
    expect(given[1].details.grantId).not.toBe(given[0].details.grantId);
  });

  it('records a token revoked at the revocation endpoint, by the app that revoked it', async () => {
    const person = await createPerson(server);
    const { tokens } = await obtainTokens(server, app, person, { scope: 'openid offline_access' });
    await client.tokenRevocation(app.config, tokens.refresh_token!);
    const [revoked] = await events({ type: 'token.revoked', user_id: person.id });
    expect(revoked).toMatchObject({ actor_type: 'client', actor_id: app.clientId, client_id: app.clientId });
    expect(revoked.details.tokenType).toBe('refresh_token');
    expect(await events({ type: 'grant.revoked', actor_id: app.clientId })).not.toHaveLength(0);
  });

  it('records a reused refresh token', async () => {
    const person = await createPerson(server);
    const { tokens } = await obtainTokens(server, app, person, { scope: 'openid offline_access' });
    const rotated = await client.refreshTokenGrant(app.config, tokens.refresh_token!);
    await client.refreshTokenGrant(app.config, rotated.refresh_token!); // successor used: the next is reuse, not a retry
    await expect(client.refreshTokenGrant(app.config, tokens.refresh_token!)).rejects.toThrow();
    const reused = await events({ type: 'refresh_token.reuse_detected', client_id: app.clientId });
    expect(reused.length).toBeGreaterThanOrEqual(1);
    expect(reused.at(-1)).toMatchObject({ actor_type: 'client', actor_id: app.clientId });
  });

  it('records signing out, by the person', async () => {
    const person = await createPerson(server);
    const { agent } = await obtainTokens(server, app, person, { scope: 'openid email' });
    const confirm = await agent.follow(`${server.issuer}/session/end`);
    const form = /<form id="op\.logoutForm" method="post" action="([^"]+)">([\s\S]*?)<\/form>/.exec(confirm.body);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(form![2]!)?.[1];
    await agent.request(new URL(form![1]!, server.issuer).href, { form: { xsrf: xsrf!, logout: 'yes' } });
    expect(await events({ type: 'session.ended', user_id: person.id })).toMatchObject([{ actor_type: 'user', actor_id: person.id }]);
  });
});
