// Clients and APIs through the admin API: registered with a secret shown once, changed, rotated
// with an overlap the old secret keeps working for, disabled, deleted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../support/gatehouse.js';
import { adminApi, basic, segment, type AdminApiClient } from './support.js';

let server: TestServer;
let api: AdminApiClient;

/** An EC P-256 public key (RFC 7517 appendix A.1's). */
const PUBLIC_JWK = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' };

beforeAll(async () => {
  server = await startTestServer();
  api = await adminApi(server);
});
afterAll(async () => { await server?.stop(); });

async function tokenStatus(clientId: string, secret: string, scope: string): Promise<number> {
  const res = await fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(clientId, secret) },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope, resource: 'https://reports.example.test' }),
  });
  await res.arrayBuffer();
  return res.status;
}

async function introspectionStatus(clientId: string, secret: string): Promise<number> {
  const res = await fetch(`${server.issuer}/token/introspection`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(clientId, secret) },
    body: new URLSearchParams({ token: 'anything' }),
  });
  await res.arrayBuffer();
  return res.status;
}

describe('clients', () => {
  let machine: { client_id: string; client_secret: string };

  beforeAll(async () => {
    await api.post('/apis', { identifier: 'https://reports.example.test', scopes: ['reports:read'] });
  });

  it('are registered with a secret shown in that answer only', async () => {
    const res = await api.post('/clients', { name: 'Reports worker', client_credentials: true, scope: 'reports:read' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name: 'Reports worker', grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', is_admin: false, client_secret: expect.any(String) });
    expect(res.headers.get('location')).toBe(`${server.issuer}/admin/api/v1/clients/${res.body.client_id}`);
    machine = res.body;
    expect(await tokenStatus(machine.client_id, machine.client_secret, 'reports:read')).toBe(200);
    const read = await api.get(`/clients/${machine.client_id}`);
    expect(read.body).not.toHaveProperty('client_secret');
    expect(read.text).not.toContain(machine.client_secret);
    expect(read.text).not.toMatch(/digest/i);
  });

  it('registers an app held to DPoP, PAR and signed request objects, and changes what it is held to, audited', async () => {
    const jwks = { keys: [{ kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0', kid: 'k1' }] };
    const res = await api.post('/clients', {
      name: 'Strict app', redirect_uris: ['https://strict.example.test/cb'], jwks,
      dpop_bound_access_tokens: true, require_pushed_authorization_requests: true, require_signed_request_object: true,
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ token_endpoint_auth_method: 'client_secret_basic', dpop_bound_access_tokens: true, require_pushed_authorization_requests: true, require_signed_request_object: true, jwks_uri: null });
    const changed = await api.patch(`/clients/${res.body.client_id}`, { dpop_bound_access_tokens: false });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ dpop_bound_access_tokens: false, require_pushed_authorization_requests: true });
    const audited = await server.testDb.db('audit_events').where({ type: 'client.updated', client_id: res.body.client_id }).first();
    expect(JSON.stringify(audited.details)).toMatch(/"requireDpop":false/);
    // Signed requests need keys to check them with.
    const keyless = await api.post('/clients', { name: 'Keyless', redirect_uris: ['https://k.example.test/cb'], require_signed_request_object: true });
    expect(keyless.status).toBe(400);
  });

  it('registers apps that sign people in, public ones without a secret', async () => {
    const app = await api.post('/clients', { name: 'Web app', redirect_uris: ['https://web.example.test/cb'], post_logout_redirect_uris: ['https://web.example.test/bye'] });
    expect(app.body).toMatchObject({ grant_types: ['authorization_code', 'refresh_token'], scope: 'openid profile email offline_access', client_secret: expect.any(String) });
    const spa = await api.post('/clients', { name: 'SPA', public: true, redirect_uris: ['https://spa.example.test/cb'], scope: 'openid' });
    expect(spa.body).toMatchObject({ token_endpoint_auth_method: 'none', client_secret: null });
  });

  it.each([
    ['an app without redirect URIs', { name: 'No URIs' }, 'redirect_uris'],
    ['a redirect URI with a fragment', { name: 'Bad', redirect_uris: ['https://x.example.test/cb#f'] }, 'redirect_uris'],
    ['an app without openid', { name: 'No openid', redirect_uris: ['https://x.example.test/cb'], scope: 'profile' }, 'scope'],
    ['the admin scope', { name: 'Sneaky', client_credentials: true, scope: 'gatehouse:admin' }, 'scope'],
    ['an admin client', { name: 'Sneaky', client_credentials: true, is_admin: true }, 'is_admin'],
    ['an introspection-only client', { name: 'Sneaky', introspection_only: true }, 'introspection_only'],
    ['an unknown auth method', { name: 'Odd', client_credentials: true, scope: 'reports:read', token_endpoint_auth_method: 'tls_client_auth' }, 'token_endpoint_auth_method'],
    ['redirect_uris as a string', { name: 'Odd', redirect_uris: 'https://x.example.test/cb' }, 'redirect_uris'],
    ['a back-channel logout URI with a fragment', { name: 'Bad', redirect_uris: ['https://x.example.test/cb'], backchannel_logout_uri: 'https://x.example.test/logout#f' }, 'backchannel_logout_uri'],
    ['a relative back-channel logout URI', { name: 'Bad', redirect_uris: ['https://x.example.test/cb'], backchannel_logout_uri: '/logout' }, 'backchannel_logout_uri'],
    ['a machine client with a back-channel logout URI', { name: 'Bad', client_credentials: true, scope: 'reports:read', backchannel_logout_uri: 'https://x.example.test/logout' }, 'backchannel_logout_uri'],
  ])('answer 400 naming the field for %s', async (_, body, field) => {
    const res = await api.post('/clients', body);
    expect(res.status, res.text).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_request', field: expect.stringMatching(new RegExp(`^${field}`)) });
  });

  it('change their name, redirect URIs and scope, checked as the whole registration', async () => {
    const { body: app } = await api.post('/clients', { name: 'Before', redirect_uris: ['https://before.example.test/cb'] });
    const res = await api.patch(`/clients/${app.client_id}`, { name: 'After', redirect_uris: ['https://after.example.test/cb', 'https://after.example.test/cb2'], scope: 'openid email' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'After', redirect_uris: ['https://after.example.test/cb', 'https://after.example.test/cb2'], scope: 'openid email' });
    expect((await api.patch(`/clients/${app.client_id}`, { redirect_uris: [] })).body.field).toBe('redirect_uris');
    expect((await api.patch(`/clients/${app.client_id}`, { scope: 'openid gatehouse:admin' })).status).toBe(400);
    expect((await api.patch(`/clients/${app.client_id}`, {})).status).toBe(400);
    expect((await api.patch(`/clients/${app.client_id}`, { grant_types: ['client_credentials'] })).body.field).toBe('grant_types');
    expect((await api.patch('/clients/no-such-client', { name: 'X' })).status).toBe(404);
    expect((await api.get(`/clients/${app.client_id}`)).body.name).toBe('After');
  });

  it('register and change a back-channel logout URI and whether it needs sid; null removes it', async () => {
    const { body: app } = await api.post('/clients', { name: 'Logged out', redirect_uris: ['https://lo.example.test/cb'], backchannel_logout_uri: 'https://lo.example.test/backchannel' });
    expect(app).toMatchObject({ backchannel_logout_uri: 'https://lo.example.test/backchannel', backchannel_logout_session_required: false });
    const changed = await api.patch(`/clients/${app.client_id}`, { backchannel_logout_uri: 'https://lo.example.test/logout?v=2', backchannel_logout_session_required: true });
    expect(changed.body).toMatchObject({ backchannel_logout_uri: 'https://lo.example.test/logout?v=2', backchannel_logout_session_required: true });
    expect((await api.patch(`/clients/${app.client_id}`, { backchannel_logout_uri: null })).body).toMatchObject({ backchannel_logout_uri: null });
    expect((await api.get(`/clients/${app.client_id}`)).body.backchannel_logout_uri).toBeNull();
  });

  it('register and change what an app says about itself (home page, logo, policy, terms, contacts); null removes one, a bad one is a 400', async () => {
    const about = { client_uri: 'https://about.example.test/', logo_uri: 'https://about.example.test/logo.png', policy_uri: 'https://about.example.test/privacy', tos_uri: 'https://about.example.test/terms', contacts: ['team@about.example.test'] };
    const { status, body: app } = await api.post('/clients', { name: 'About', redirect_uris: ['https://about.example.test/cb'], ...about });
    expect(status).toBe(201);
    expect(app).toMatchObject(about);
    const changed = await api.patch(`/clients/${app.client_id}`, { policy_uri: null, contacts: [] });
    expect(changed.body).toMatchObject({ ...about, policy_uri: null, contacts: [] });
    expect((await api.get(`/clients/${app.client_id}`)).body).toMatchObject({ client_uri: about.client_uri, policy_uri: null });
    const bad = await api.patch(`/clients/${app.client_id}`, { tos_uri: 'javascript:alert(1)' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('terms of service (tos_uri) must be an http or https URL');
    expect((await api.get(`/clients/${app.client_id}`)).body.tos_uri).toBe(about.tos_uri);
    // An address oidc-provider would refuse when it next loads the app is refused here, before it is stored.
    for (const contact of ['ops@example.com.', 'ops@exämple.test', 'ops@[192.0.2.1]']) {
      expect((await api.patch(`/clients/${app.client_id}`, { contacts: [contact] })).status, contact).toBe(400);
    }
    // The app still works: oidc-provider loads it, contacts and pages included.
    const authorize = await fetch(`${server.issuer}/auth?${new URLSearchParams({ client_id: app.client_id, response_type: 'code', scope: 'openid', redirect_uri: 'https://about.example.test/cb', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })}`, { redirect: 'manual' });
    expect(authorize.status).toBe(303);
    expect(authorize.headers.get('location')).toMatch(/^\/interaction\//);
  });

  // JSON is where these come from (forms decode to well-formed text): PostgreSQL's text and jsonb
  // cannot hold a NUL, and jsonb refuses an unpaired surrogate. Each is refused before it is stored.
  it.each([
    ['a NUL in the home page', { client_uri: 'https://broken.example.test/\u0000' }, 'client_uri', 'NUL characters or unpaired surrogates'],
    ['an unpaired surrogate in a redirect URI', { redirect_uris: ['https://broken.example.test/cb\ud800'] }, 'redirect_uris', 'unpaired surrogate'],
    ['a NUL in a key id', { jwks: { keys: [{ ...PUBLIC_JWK, kid: 'k\u0000' }] } }, 'jwks', 'NUL characters or unpaired surrogates'],
    ['a NUL in a key member\'s name', { jwks: { keys: [{ ...PUBLIC_JWK, 'x\u0000': 1 }] } }, 'jwks', 'NUL characters or unpaired surrogates'],
    ['a NUL in the JWK Set URI', { jwks_uri: 'https://broken.example.test/jwks\u0000' }, 'jwks_uri', 'NUL characters or unpaired surrogates'],
    ['an unpaired surrogate in the events endpoint', { events_endpoint: 'https://broken.example.test/events\ud800' }, 'events_endpoint', 'not a usable URL'],
  ])('refuse text the database cannot hold, naming the field: %s', async (_, fields, field, said) => {
    const res = await api.post('/clients', { name: 'Broken', redirect_uris: ['https://broken.example.test/cb'], ...fields });
    expect(res.status, res.text).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_request' });
    expect(String(res.body.field)).toMatch(new RegExp(`^${field}`));
    expect(res.body.error_description).toContain(said);
    expect(server.logs.filter((line) => line.event === 'input_reached_database')).toEqual([]);
  });

  it('rotate their secret: the old one works for the overlap, or stops at once with 0', async () => {
    const { body: c } = await api.post('/clients', { name: 'Rotating', client_credentials: true, scope: 'reports:read' });
    const first = await api.post(`/clients/${c.client_id}/secret`, { overlap_seconds: 3600 });
    expect(first.status).toBe(200);
    expect(Date.parse(first.body.previous_secret_expires_at) - Date.now()).toBeGreaterThan(3500_000);
    expect(await tokenStatus(c.client_id, first.body.client_secret, 'reports:read')).toBe(200);
    expect(await tokenStatus(c.client_id, c.client_secret, 'reports:read')).toBe(200);
    const second = await api.post(`/clients/${c.client_id}/secret`, { overlap_seconds: 0 });
    expect(second.body.previous_secret_expires_at).toBeNull();
    expect(await tokenStatus(c.client_id, second.body.client_secret, 'reports:read')).toBe(200);
    expect(await tokenStatus(c.client_id, first.body.client_secret, 'reports:read')).toBe(401);
    expect(await tokenStatus(c.client_id, c.client_secret, 'reports:read')).toBe(401);
    // No body: the default overlap of a day.
    const third = await api.post(`/clients/${c.client_id}/secret`);
    expect(Date.parse(third.body.previous_secret_expires_at) - Date.now()).toBeGreaterThan(86_000_000);
    for (const overlap of [-1, 30 * 86_400 + 1, 1.5, '60']) {
      expect((await api.post(`/clients/${c.client_id}/secret`, { overlap_seconds: overlap })).body.field, String(overlap)).toBe('overlap_seconds');
    }
    const { body: spa } = await api.post('/clients', { name: 'SPA', public: true, redirect_uris: ['https://spa.example.test/cb'] });
    expect((await api.post(`/clients/${spa.client_id}/secret`)).status).toBe(409);
    expect((await api.post('/clients/no-such-client/secret')).status).toBe(404);
  });

  it('are disabled, enabled and deleted', async () => {
    const { body: c } = await api.post('/clients', { name: 'Short-lived', client_credentials: true, scope: 'reports:read' });
    expect((await api.post(`/clients/${c.client_id}/disable`)).body.disabled_at).toEqual(expect.any(String));
    expect(await tokenStatus(c.client_id, c.client_secret, 'reports:read')).toBe(401);
    expect((await api.post(`/clients/${c.client_id}/enable`)).body.disabled_at).toBeNull();
    expect(await tokenStatus(c.client_id, c.client_secret, 'reports:read')).toBe(200);
    expect((await api.delete(`/clients/${c.client_id}`)).status).toBe(204);
    expect(await tokenStatus(c.client_id, c.client_secret, 'reports:read')).toBe(401);
    for (const [method, path] of [['GET', ''], ['DELETE', ''], ['POST', '/disable'], ['POST', '/enable']] as const) {
      expect((await api.call(method, `/clients/${c.client_id}${path}`)).status, `${method} ${path}`).toBe(404);
    }
  });

  it('page oldest first, each client once', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: { body: { items: Array<{ client_id: string }>; next_cursor: string | null } } = await api.get(`/clients?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...res.body.items.map((c) => c.client_id));
      cursor = res.body.next_cursor;
    } while (cursor);
    const stored = await server.db('clients').select('client_id').orderBy([{ column: 'created_at' }, { column: 'client_id' }]);
    expect(seen).toEqual(stored.map((row: { client_id: string }) => row.client_id));
  });
});

describe('APIs', () => {
  const NOTES = 'https://notes.example.test/v1';

  it('are registered with their introspection client, named in the path by their encoded identifier', async () => {
    const res = await api.post('/apis', {
      identifier: NOTES, name: 'Notes', scopes: ['notes:read', 'notes:write'],
      scope_descriptions: { 'notes:read': 'Read your notes', 'notes:write': 'Change your notes' }, access_token_ttl: 600,
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ identifier: NOTES, name: 'Notes', scopes: ['notes:read', 'notes:write'], access_token_ttl: 600, is_default: false, disabled_at: null, client_id: expect.any(String), client_secret: expect.any(String) });
    expect(res.headers.get('location')).toBe(`${server.issuer}/admin/api/v1/apis/${segment(NOTES)}`);
    expect(await introspectionStatus(res.body.client_id, res.body.client_secret)).toBe(200);
    const read = await api.get(`/apis/${segment(NOTES)}`);
    expect(read.body).toMatchObject({ identifier: NOTES, scope_descriptions: { 'notes:read': 'Read your notes' } });
    expect(read.body).not.toHaveProperty('client_secret');
    expect((await api.get(`/clients/${res.body.client_id}`)).body.api_identifier).toBe(NOTES);
    expect((await api.get('/apis?limit=200')).body.items.map((a: { identifier: string }) => a.identifier)).toContain(NOTES);
  });

  it.each([
    ['a duplicate identifier', { identifier: 'https://notes.example.test/v1', scopes: ['other:read'] }, 409],
    ['a scope another API defines', { identifier: 'https://clash.example.test', scopes: ['notes:read'] }, 409],
    ['a gatehouse: scope', { identifier: 'https://mine.example.test', scopes: ['gatehouse:admin'] }, 400],
    ['an OpenID Connect scope', { identifier: 'https://mine.example.test', scopes: ['openid'] }, 400],
    ['no scopes', { identifier: 'https://mine.example.test', scopes: [] }, 400],
    ['a scope with a space', { identifier: 'https://mine.example.test', scopes: ['a b'] }, 400],
    ['an identifier that is no URL', { identifier: 'notes', scopes: ['x:read'] }, 400],
    ['an identifier with a fragment', { identifier: 'https://mine.example.test/#x', scopes: ['x:read'] }, 400],
    ['a description of a scope it does not have', { identifier: 'https://mine.example.test', scopes: ['x:read'], scope_descriptions: { 'y:read': 'Y' } }, 400],
    ['a token lifetime of a week', { identifier: 'https://mine.example.test', scopes: ['x:read'], access_token_ttl: 604_800 }, 400],
  ])('are refused: %s', async (_, body, status) => {
    const res = await api.post('/apis', body);
    expect(res.status, res.text).toBe(status);
  });

  it('change name, scopes, descriptions and token lifetime; dropped scopes lose their descriptions', async () => {
    const path = `/apis/${segment(NOTES)}`;
    const res = await api.patch(path, { name: 'Notes v1', scopes: ['notes:read', 'notes:share'], access_token_ttl: null });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'Notes v1', scopes: ['notes:read', 'notes:share'], scope_descriptions: { 'notes:read': 'Read your notes' }, access_token_ttl: null });
    expect(res.body.scope_descriptions).not.toHaveProperty('notes:write');
    expect((await api.patch(path, { scopes: ['reports:read'] })).status).toBe(409);
    expect((await api.patch(path, { is_default: true })).body.field).toBe('is_default');
    expect((await api.patch(`/apis/${segment('https://nowhere.example.test')}`, { name: 'X' })).status).toBe(404);
  });

  it('say which APIs they may exchange tokens for (RFC 8693); an unknown one is refused, and a deleted one leaves every list', async () => {
    const FILES = 'https://files.example.test';
    const created = await api.post('/apis', { identifier: FILES, scopes: ['files:read'], may_exchange_for: [] });
    expect(created.body.may_exchange_for).toEqual([]);
    const path = `/apis/${segment(NOTES)}`;
    const changed = await api.patch(path, { may_exchange_for: [FILES] });
    expect(changed.status, changed.text).toBe(200);
    expect(changed.body.may_exchange_for).toEqual([FILES]);
    expect((await api.get(path)).body.may_exchange_for).toEqual([FILES]);
    const unknown = await api.patch(path, { may_exchange_for: ['https://nowhere.example.test'] });
    expect(unknown.status).toBe(400);
    expect(unknown.body.field).toBe('may_exchange_for');
    expect((await api.patch(path, { may_exchange_for: [NOTES] })).status).toBe(400);
    const events = (await api.get(`/audit-events?type=api.updated&limit=10`)).body.items as Array<{ details: Record<string, unknown> }>;
    expect(events.some((event) => JSON.stringify(event.details.mayExchangeFor) === JSON.stringify([FILES]))).toBe(true);

    expect((await api.delete(`/apis/${segment(FILES)}`)).status).toBe(204);
    expect((await api.get(path)).body.may_exchange_for).toEqual([]);
  });

  it('refuse in English whatever language the caller asks for: the catalog words are for the console\'s pages', async () => {
    const german = { headers: { 'accept-language': 'de' } };
    const fragment = await api.post('/clients', { name: 'Bad', redirect_uris: ['https://x.example.test/cb#f'] }, german);
    expect(fragment.body.error_description).toBe('"https://x.example.test/cb#f" must not contain a fragment');
    const path = `/apis/${segment(NOTES)}`;
    const unknown = await api.patch(path, { may_exchange_for: ['https://nowhere.example.test'] }, german);
    expect(unknown.body.error_description).toBe('https://nowhere.example.test is not a registered API: register it first (gatehouse resource create).');
    const ttl = await api.patch(path, { access_token_ttl: 5 }, german);
    expect(ttl.status).toBe(400);
    expect(ttl.body.error_description).toBe('access_token_ttl: Too small: expected number to be >=30');
  });

  it('rotate the introspection secret, disable (no introspection), enable, and delete with their client', async () => {
    const path = `/apis/${segment(NOTES)}`;
    const { body: api0 } = await api.get(path);
    const rotated = await api.post(`${path}/secret`, { overlap_seconds: 0 });
    expect(rotated.status).toBe(200);
    expect(await introspectionStatus(api0.client_id, rotated.body.client_secret)).toBe(200);
    // Its client is the API's to manage: not through /clients.
    expect((await api.post(`/clients/${api0.client_id}/secret`)).status).toBe(409);
    expect((await api.patch(`/clients/${api0.client_id}`, { name: 'X' })).status).toBe(409);
    expect((await api.delete(`/clients/${api0.client_id}`)).status).toBe(409);

    expect((await api.post(`${path}/disable`)).body.disabled_at).toEqual(expect.any(String));
    expect(await introspectionStatus(api0.client_id, rotated.body.client_secret)).toBe(401);
    expect((await api.post(`${path}/enable`)).body.disabled_at).toBeNull();
    expect(await introspectionStatus(api0.client_id, rotated.body.client_secret)).toBe(200);

    expect((await api.delete(path)).status).toBe(204);
    expect((await api.get(path)).status).toBe(404);
    expect((await api.get(`/clients/${api0.client_id}`)).status).toBe(404);
    expect(await introspectionStatus(api0.client_id, rotated.body.client_secret)).toBe(401);
  });

  it.each([
    ['an unpaired surrogate in a scope\'s description', { scope_descriptions: { 'broken:read': 'Read \ud800' } }, 'scope_descriptions'],
    ['a NUL in a key', { jwks: { keys: [{ ...PUBLIC_JWK, kid: '\u0000' }] } }, 'jwks'],
    ['an unpaired surrogate in the identifier', { identifier: 'https://broken.example.test/\udc00' }, 'identifier'],
  ])('refuse text the database cannot hold, naming the field: %s', async (_, fields, field) => {
    const body = { identifier: 'https://broken.example.test', scopes: ['broken:read'], ...fields };
    const res = await api.post('/apis', body);
    expect(res.status, res.text).toBe(400);
    expect(String(res.body.field)).toMatch(new RegExp(`^${field}`));
    expect((await api.get('/apis')).body.items.map((stored: { identifier: string }) => stored.identifier)).not.toContain(body.identifier);
    expect(server.logs.filter((line) => line.event === 'input_reached_database')).toEqual([]);
  });

  it('are not found by an unencoded or unknown identifier', async () => {
    expect((await api.get('/apis/https://reports.example.test')).status).toBe(404);
    expect((await api.get(`/apis/${segment('https://reports.example.test/')}`)).status).toBe(404);
    expect((await api.get(`/apis/${segment('https://reports.example.test')}`)).status).toBe(200);
  });
});
