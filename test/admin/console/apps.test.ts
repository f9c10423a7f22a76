// Apps in the console, over HTTP: registering one (its secret shown once), editing it, rotating
// its secret with or without an overlap, disabling, revoking what people gave it, deleting it.
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerson, obtainTokens, registerApp } from '../../support/flows.js';
import { startTestServer, type TestServer } from '../../support/gatehouse.js';
import type { Response, UserAgent } from '../../support/user-agent.js';
import { createAdmin, locationOf, openForm, signInToConsole, submit, textOf } from './support.js';

let server: TestServer;
let agent: UserAgent;
let admin: Awaited<ReturnType<typeof createAdmin>>;

beforeAll(async () => {
  server = await startTestServer();
  admin = await createAdmin(server);
  ({ agent } = await signInToConsole(server, admin));
});
afterAll(async () => { await server?.stop(); });

const NEW_APP = () => `${server.issuer}/admin/apps/new`;

/** Whether these credentials authenticate at the token endpoints (introspection answers 200, not 401). */
async function authenticates(clientId: string, secret: string): Promise<boolean> {
  const res = await fetch(`${server.issuer}/token/introspection`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}` },
    body: new URLSearchParams({ token: 'nothing' }),
  });
  await res.arrayBuffer();
  if (res.status !== 200 && res.status !== 401) throw new Error(`introspection answered ${res.status}`);
  return res.status === 200;
}

function secretOf(page: Response): { clientId: string; clientSecret: string } {
  expect(page.status, page.body.slice(0, 400)).toBe(200);
  return {
    clientId: /<code id="client-id">([^<]+)<\/code>/.exec(page.body)![1]!,
    clientSecret: /<code id="client-secret" class="admin-secret">([^<]+)<\/code>/.exec(page.body)![1]!,
  };
}

async function lastAudit(type: string) {
  return (await server.audit.list({ type: type as never }, { limit: 1 })).items[0];
}

describe('registering an app', () => {
  it('a confidential app: the secret is shown once, with a note to copy it now, and it works', async () => {
    const res = await submit(agent, NEW_APP(), /\/admin\/apps$/, { name: 'Acme Web', kind: 'confidential', redirectUris: 'https://acme.example.test/cb\r\nhttps://acme.example.test/cb2\r\n', scope: '' });
    const { clientId, clientSecret } = secretOf(res);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(textOf(res.body)).toContain('Copy the secret of Acme Web now');
    expect(textOf(res.body)).toContain('This is the only time Gatehouse shows the secret');
    expect(await authenticates(clientId, clientSecret)).toBe(true);
    const stored = await server.stores.clients.find(clientId);
    expect(stored).toMatchObject({ name: 'Acme Web', redirectUris: ['https://acme.example.test/cb', 'https://acme.example.test/cb2'], scope: 'openid profile email offline_access' });
    const page = await agent.request(`${server.issuer}/admin/apps/${clientId}`);
    expect(page.status).toBe(200);
    expect(page.body).not.toContain(clientSecret);
    expect(await lastAudit('client.created')).toMatchObject({ actor: { type: 'user', id: admin.id }, clientId });
  });

  it('a public app gets no secret: straight to its page', async () => {
    const res = await submit(agent, NEW_APP(), /\/admin\/apps$/, { name: 'Acme Mobile', kind: 'public', redirectUris: 'com.acme.app:/callback' });
    const location = locationOf(res);
    expect(location).toMatch(/^\/admin\/apps\/[^/?]+\?done=app-created$/);
    const page = await agent.request(`${server.issuer}${location}`);
    expect(textOf(page.body)).toContain('Public app (no secret)');
    expect(page.body).not.toContain('/rotate-secret');
  });

  it('a machine client gets a secret that obtains client-credentials tokens', async () => {
    await server.stores.resources.create({ identifier: 'https://reports.example.test', scope: 'reports:read' });
    const { clientId, clientSecret } = secretOf(await submit(agent, NEW_APP(), /\/admin\/apps$/, { name: 'Nightly Job', kind: 'machine', redirectUris: '', scope: 'reports:read' }));
    const config = await client.discovery(new URL(server.issuer), clientId, clientSecret, client.ClientSecretBasic(clientSecret), { execute: [client.allowInsecureRequests] });
    const tokens = await client.clientCredentialsGrant(config, { scope: 'reports:read', resource: 'https://reports.example.test' });
    expect(tokens.access_token).toBeTruthy();
  });

  it.each([
    ['an app without a redirect URI', { name: 'No Way Back', kind: 'confidential', redirectUris: '' }, 'At least one redirect URI is required'],
    ['an unknown kind', { name: 'Odd', kind: 'superuser', redirectUris: 'https://odd.example.test/cb' }, 'Choose what kind of app this is.'],
    ['the admin scope', { name: 'Sneaky', kind: 'machine', redirectUris: '', scope: 'gatehouse:admin' }, 'Only an admin client may hold the gatehouse:admin scope'],
    ['a redirect URI with a fragment', { name: 'Fragment', kind: 'confidential', redirectUris: 'https://f.example.test/cb#x' }, 'fragment'],
  ])('refuses %s with the reason, keeping what was typed', async (_name, fields, message) => {
    const before = (await server.db('clients').count<Array<{ count: string }>>({ count: '*' }))[0]!.count;
    const res = await submit(agent, NEW_APP(), /\/admin\/apps$/, fields);
    expect(res.status).toBe(400);
    expect(textOf(res.body)).toContain(message);
    expect(res.body).toContain(`value="${fields.name}"`);
    expect((await server.db('clients').count<Array<{ count: string }>>({ count: '*' }))[0]!.count).toBe(before);
  });
});

describe('one app', () => {
  it('edits redirect URIs and scopes; a refused edit keeps what was typed', async () => {
    const app = await registerApp(server);
    const page = `${server.issuer}/admin/apps/${app.clientId}`;
    const saved = await submit(agent, page, /\/edit$/, { form: 'edit', name: 'Renamed App', redirectUris: 'https://app.example.test/callback\nhttps://app.example.test/other', scope: 'openid email' });
    expect(locationOf(saved)).toBe(`/admin/apps/${app.clientId}?done=app-updated`);
    expect(await server.stores.clients.find(app.clientId)).toMatchObject({ name: 'Renamed App', redirectUris: ['https://app.example.test/callback', 'https://app.example.test/other'], scope: 'openid email' });

    const refused = await submit(agent, page, /\/edit$/, { form: 'edit', name: 'Renamed Again', redirectUris: 'https://app.example.test/callback', scope: 'email' });
    expect(refused.status).toBe(400);
    expect(textOf(refused.body)).toContain('needs the openid scope');
    expect(refused.body).toContain('value="Renamed Again"');
    expect((await server.stores.clients.find(app.clientId))?.name).toBe('Renamed App');
  });

  it('registers and edits a back-channel logout URI; a URI with a fragment is refused and kept in the form', async () => {
    const registered = await submit(agent, NEW_APP(), /\/admin\/apps$/, {
      name: 'Logged-out Mobile', kind: 'public', redirectUris: 'com.acme.app:/callback',
      backchannelLogoutUri: 'https://acme.example.test/backchannel', backchannelLogoutSessionRequired: 'yes',
    });
    const clientId = /\/admin\/apps\/([^?]+)/.exec(locationOf(registered))![1]!;
    expect(await server.stores.clients.find(clientId)).toMatchObject({ backchannelLogoutUri: 'https://acme.example.test/backchannel', backchannelLogoutSessionRequired: true });
    const page = `${server.issuer}/admin/apps/${clientId}`;
    expect(textOf((await agent.request(page)).body)).toContain('https://acme.example.test/backchannel (every logout token names the session)');

    const saved = await submit(agent, page, /\/edit$/, { form: 'edit', name: 'Logged-out Mobile', redirectUris: 'com.acme.app:/callback', scope: 'openid', backchannelLogoutUri: 'https://acme.example.test/logout' });
    expect(locationOf(saved)).toBe(`/admin/apps/${clientId}?done=app-updated`);
    expect(await server.stores.clients.find(clientId)).toMatchObject({ backchannelLogoutUri: 'https://acme.example.test/logout', backchannelLogoutSessionRequired: false });

    const refused = await submit(agent, page, /\/edit$/, { form: 'edit', name: 'Logged-out Mobile', redirectUris: 'com.acme.app:/callback', scope: 'openid', backchannelLogoutUri: 'https://acme.example.test/logout#now' });
    expect(refused.status).toBe(400);
    expect(textOf(refused.body)).toContain('must not contain a fragment');
    expect(refused.body).toContain('value="https://acme.example.test/logout#now"');

    const cleared = await submit(agent, page, /\/edit$/, { form: 'edit', name: 'Logged-out Mobile', redirectUris: 'com.acme.app:/callback', scope: 'openid', backchannelLogoutUri: '' });
    expect(locationOf(cleared)).toBe(`/admin/apps/${clientId}?done=app-updated`);
    expect((await server.stores.clients.find(clientId))?.backchannelLogoutUri).toBeNull();
  });

  it('edits the pages an app links people to and its contacts; a page that is not http(s) is refused and kept in the form', async () => {
    const app = await registerApp(server);
    const page = `${server.issuer}/admin/apps/${app.clientId}`;
    const settings = { form: 'edit', name: 'Example App', redirectUris: app.redirectUri, scope: 'openid profile email offline_access' };
    const saved = await submit(agent, page, /\/edit$/, { ...settings, clientUri: 'https://app.example.test/', policyUri: 'https://app.example.test/privacy', tosUri: '', logoUri: '', contacts: 'ops@app.example.test\n dpo@app.example.test ' });
    expect(locationOf(saved)).toBe(`/admin/apps/${app.clientId}?done=app-updated`);
    expect(await server.stores.clients.find(app.clientId)).toMatchObject({ clientUri: 'https://app.example.test/', policyUri: 'https://app.example.test/privacy', tosUri: null, contacts: ['ops@app.example.test', 'dpo@app.example.test'] });
    const shown = textOf((await agent.request(page)).body);
    expect(shown).toContain('Privacy policy: https://app.example.test/privacy');
    expect(shown).toContain('dpo@app.example.test');

    const refused = await submit(agent, page, /\/edit$/, { ...settings, clientUri: 'https://app.example.test/', policyUri: 'javascript:alert(1)', tosUri: '', logoUri: '', contacts: '' });
    expect(refused.status).toBe(400);
    expect(textOf(refused.body)).toContain('privacy policy (policy_uri) must be an http or https URL');
    expect(refused.body).toContain('value="javascript:alert(1)"');
    expect((await server.stores.clients.find(app.clientId))?.policyUri).toBe('https://app.example.test/privacy');
  });

  it('sets and clears the sign-in level an app requires from its settings', async () => {
    const app = await registerApp(server);
    const page = `${server.issuer}/admin/apps/${app.clientId}`;
    expect((await agent.follow(page)).body).toMatch(/<select id="requireAcr" name="requireAcr"/);
    const fields = { form: 'edit', name: 'Levelled App', redirectUris: 'https://app.example.test/callback', scope: 'openid email' };
    await submit(agent, page, /\/edit$/, { ...fields, requireAcr: 'urn:gatehouse:acr:phr' });
    expect(await server.stores.clients.find(app.clientId)).toMatchObject({ requireAcr: 'urn:gatehouse:acr:phr' });
    expect((await agent.follow(page)).body).toMatch(/<option value="urn:gatehouse:acr:phr" selected>/);
    await submit(agent, page, /\/edit$/, { ...fields, requireAcr: '' });
    expect((await server.stores.clients.find(app.clientId))?.requireAcr).toBeNull();
  });

  it('holds an app to DPoP and pushed requests with the settings\' boxes, and lets go when they are unticked', async () => {
    const app = await registerApp(server);
    const page = `${server.issuer}/admin/apps/${app.clientId}`;
    const before = await agent.follow(page);
    expect(before.body).toContain('name="requireDpop"');
    expect(before.body).toMatch(/name="requireSignedRequestObject" value="yes" disabled/);
    const fields = { form: 'edit', name: 'Held App', redirectUris: 'https://app.example.test/callback', scope: 'openid email' };
    await submit(agent, page, /\/edit$/, { ...fields, requireDpop: 'yes', requirePar: 'yes' });
    expect(await server.stores.clients.find(app.clientId)).toMatchObject({ requireDpop: true, requirePar: true, requireSignedRequestObject: false });
    expect((await agent.follow(page)).body).toMatch(/name="requireDpop" value="yes" checked/);
    await submit(agent, page, /\/edit$/, fields);
    expect(await server.stores.clients.find(app.clientId)).toMatchObject({ requireDpop: false, requirePar: false });
    // Signed requests need keys: asked for without them, the edit is refused and changes nothing.
    const refused = await submit(agent, page, /\/edit$/, { ...fields, requireSignedRequestObject: 'yes' });
    expect(refused.status).toBe(400);
    expect(textOf(refused.body)).toContain('public keys');
  });

  it('rotating with no overlap: the new secret is shown once, and the old one stops working now', async () => {
    const app = await registerApp(server);
    const res = await submit(agent, `${server.issuer}/admin/apps/${app.clientId}`, /\/rotate-secret$/, { overlap: '0' });
    const { clientSecret } = secretOf(res);
    expect(textOf(res.body)).toContain('The old secret stopped working now.');
    expect(await authenticates(app.clientId, clientSecret)).toBe(true);
    expect(await authenticates(app.clientId, app.clientSecret!)).toBe(false);
    expect(await lastAudit('client.secret_rotated')).toMatchObject({ actor: { type: 'user', id: admin.id }, clientId: app.clientId, details: { previousSecretExpiresAt: null } });
  });

  it('rotating with a day\'s overlap: both secrets work until then, and the page says until when', async () => {
    const app = await registerApp(server);
    const res = await submit(agent, `${server.issuer}/admin/apps/${app.clientId}`, /\/rotate-secret$/, { overlap: '86400' });
    const { clientSecret } = secretOf(res);
    expect(textOf(res.body)).toMatch(/The old secret keeps working until \d{4}-\d\d-\d\d \d\d:\d\d UTC\./);
    expect(await authenticates(app.clientId, clientSecret)).toBe(true);
    expect(await authenticates(app.clientId, app.clientSecret!)).toBe(true);
    expect(textOf((await agent.request(`${server.issuer}/admin/apps/${app.clientId}`)).body)).toContain('The previous secret works until');
  });

  it.each(['-1', '99999999', 'soon', '1.5'])('an overlap of %j is refused with the reason', async (overlap) => {
    const app = await registerApp(server);
    const res = await submit(agent, `${server.issuer}/admin/apps/${app.clientId}`, /\/rotate-secret$/, { overlap });
    expect(res.status).toBe(400);
    expect(textOf(res.body)).toContain('The overlap is a whole number of seconds');
    expect(await authenticates(app.clientId, app.clientSecret!)).toBe(true);
  });

  it('lists the people who allowed it; disabling stops it at once, enabling lets it authenticate again', async () => {
    const app = await registerApp(server);
    const person = await createPerson(server);
    const { tokens } = await obtainTokens(server, app, person);
    const page = `${server.issuer}/admin/apps/${app.clientId}`;
    expect(textOf((await agent.request(page)).body)).toContain(`${person.name} (${person.email})`);
    expect(locationOf(await submit(agent, page, /\/disable$/))).toBe(`/admin/apps/${app.clientId}?done=app-disabled`);
    expect(await authenticates(app.clientId, app.clientSecret!)).toBe(false);
    expect(await server.db('oidc_records').where({ model: 'Grant', client_id: app.clientId })).toHaveLength(0);
    expect(locationOf(await submit(agent, page, /\/enable$/))).toBe(`/admin/apps/${app.clientId}?done=app-enabled`);
    expect(await authenticates(app.clientId, app.clientSecret!)).toBe(true);
    await expect(client.refreshTokenGrant(app.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('revoking everyone\'s access, or one person\'s from the app\'s page, kills those tokens', async () => {
    const app = await registerApp(server);
    const [a, b, c] = [await createPerson(server), await createPerson(server), await createPerson(server)];
    const page = `${server.issuer}/admin/apps/${app.clientId}`;
    const first = await obtainTokens(server, app, a);
    const second = await obtainTokens(server, app, b);
    const one = await openForm(agent, page, /\/grants\/[^/]+\/revoke$/);
    expect(one.page.body).toMatch(new RegExp(`aria-label="Revoke the access ${b.name} gave, granted [^"]+"`));
    // The newest grant is listed first: b's.
    expect(locationOf(await agent.request(one.action, { form: { csrf: one.csrf } }))).toBe(`/admin/apps/${app.clientId}?done=grant-revoked`);
    await expect(client.refreshTokenGrant(app.config, second.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await client.refreshTokenGrant(app.config, first.tokens.refresh_token!)).toHaveProperty('access_token');

    const third = await obtainTokens(server, app, c);
    expect(locationOf(await submit(agent, page, /\/revoke-grants$/))).toBe(`/admin/apps/${app.clientId}?done=app-grants-revoked`);
    for (const tokens of [third.tokens]) await expect(client.refreshTokenGrant(app.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await server.db('oidc_records').where({ model: 'Grant', client_id: app.clientId })).toHaveLength(0);
    expect(await lastAudit('grant.revoked')).toMatchObject({ actor: { type: 'user', id: admin.id }, clientId: app.clientId, details: { grantsRevoked: 2 } });
  });

  it('deleting asks first; confirmed, the app is gone', async () => {
    const app = await registerApp(server);
    const confirm = await openForm(agent, `${server.issuer}/admin/apps/${app.clientId}/delete`, /\/delete$/);
    expect(textOf(confirm.page.body)).toContain('This cannot be undone.');
    expect(locationOf(await agent.request(confirm.action, { form: { csrf: confirm.csrf } }))).toBe('/admin/apps?done=app-deleted');
    expect(await server.stores.clients.find(app.clientId)).toBeUndefined();
    expect((await agent.request(`${server.issuer}/admin/apps/${app.clientId}`)).status).toBe(404);
  });

  it('an API\'s introspection credentials are managed on the API\'s page, not here', async () => {
    const { clientId } = await server.stores.resources.create({ identifier: 'https://ledger.example.test', scope: 'ledger:read' });
    const page = await agent.request(`${server.issuer}/admin/apps/${clientId}`);
    expect(page.body).toContain(`href="/admin/apis/${encodeURIComponent('https://ledger.example.test')}"`);
    expect(page.body).not.toContain('/edit"');
    const list = await agent.request(`${server.issuer}/admin/apps`);
    expect(list.body).toContain(`href="/admin/apis/${encodeURIComponent('https://ledger.example.test')}"`);
    // A form made up anyway is refused with the reason.
    const { csrf } = await openForm(agent, `${server.issuer}/admin/apps/new`, /\/admin\/apps$/);
    const res = await agent.request(`${server.issuer}/admin/apps/${clientId}/disable`, { form: { csrf } });
    expect(res.status).toBe(409);
    expect(textOf(res.body)).toContain('manage them through the API');
  });
});
