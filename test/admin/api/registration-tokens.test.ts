// Registration tokens and the device-flow opt-in through the admin API: a token issued here (its
// value in that answer only) registers an app at /reg; revoked, it registers none; the audit log
// says who did what, without the token.
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digest } from '../../../src/crypto/digest.js';
import { startTestServer, type TestServer } from '../../support/gatehouse.js';
import { adminApi, type AdminApiClient } from './support.js';

let server: TestServer;
let api: AdminApiClient;

beforeAll(async () => {
  server = await startTestServer();
  api = await adminApi(server);
});
afterAll(async () => { await server?.stop(); });

function register(token: string) {
  return client.dynamicClientRegistration(new URL(server.issuer), { redirect_uris: ['https://app.example.test/cb'] }, undefined, {
    initialAccessToken: token, execute: [client.allowInsecureRequests],
  });
}

describe('registration tokens', () => {
  it('are issued with their value in that answer only, register apps, and once revoked register none', async () => {
    const res = await api.post('/registration-tokens', { scope: 'openid email', uses: 2, expires_in: 3600, description: 'Acme' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ scope: 'openid email', uses: 0, max_uses: 2, description: 'Acme', revoked_at: null, token: expect.stringMatching(/^ghiat_/) });
    const { token, id } = res.body as { token: string; id: string };

    const registered = await register(token);
    expect(registered.clientMetadata().scope).toBe('openid email');
    const app = await api.get(`/clients/${registered.clientMetadata().client_id}`);
    expect(app.body.registered_at).toEqual(expect.any(String));

    const listed = await api.get('/registration-tokens');
    expect(listed.body.items).toEqual([expect.objectContaining({ id, uses: 1 })]);
    expect(listed.text).not.toContain(token);
    expect(listed.text).not.toContain(digest(token));

    expect((await api.post(`/registration-tokens/${id}/revoke`, {})).body.revoked_at).toEqual(expect.any(String));
    await expect(register(token)).rejects.toMatchObject({ status: 401 });

    const audit = JSON.stringify(await server.testDb.db('audit_events').whereIn('type', ['registration_token.created', 'registration_token.revoked', 'client.registered']));
    expect(audit).toContain('registration_token.created');
    expect(audit).toContain('registration_token.revoked');
    expect(audit).toContain('client.registered');
    expect(audit).not.toContain(token);
  });

  it('refuse the admin scope, and a revoke of an unknown token is 404', async () => {
    expect((await api.post('/registration-tokens', { scope: 'openid gatehouse:admin' })).status).toBe(400);
    expect((await api.post('/registration-tokens/00000000-0000-4000-8000-000000000000/revoke', {})).status).toBe(404);
  });

  it('refuse a description the database cannot hold, saying so rather than calling it too long', async () => {
    for (const description of ['Acme\u0000', 'Acme \ud83d']) {
      const res = await api.post('/registration-tokens', { scope: 'openid', description });
      expect(res.status, JSON.stringify(description)).toBe(400);
      expect(res.body).toMatchObject({ field: 'description', error_description: 'The description must not contain NUL characters or unpaired surrogates.' });
    }
  });
});

describe('the device flow opt-in', () => {
  it('is set at creation and changed later', async () => {
    const created = await api.post('/clients', { name: 'TV', public: true, redirect_uris: ['https://tv.example.test/cb'], device_flow: true });
    expect(created.body.grant_types).toEqual(['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code']);
    const changed = await api.patch(`/clients/${created.body.client_id}`, { device_flow: false });
    expect(changed.body.grant_types).toEqual(['authorization_code', 'refresh_token']);
  });
});
