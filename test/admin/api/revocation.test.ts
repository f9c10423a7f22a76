// Every way the admin API revokes, proven on real tokens: an app signs a person in (openid-client),
// an admin revokes through the API, and at once the refresh token is refused, introspection reads
// both tokens inactive, and userinfo refuses the access token.
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerson, obtainTokens, registerApp, type App } from '../../support/flows.js';
import { startTestServer, type TestServer } from '../../support/gatehouse.js';
import { adminApi, basic, clientCredentialsToken, type AdminApiClient } from './support.js';

const NOTES_API = 'https://notes.example.test';
const SCOPE = 'openid profile email offline_access notes:read';

let server: TestServer;
let api: AdminApiClient;
let notes: { clientId: string; clientSecret: string };
let app: App;

type Tokens = Awaited<ReturnType<typeof obtainTokens>>['tokens'];
type Person = Awaited<ReturnType<typeof createPerson>>;

beforeAll(async () => {
  server = await startTestServer();
  api = await adminApi(server);
  const created = await server.stores.resources.create({ identifier: NOTES_API, scope: 'notes:read', isDefault: true });
  notes = { clientId: created.clientId, clientSecret: created.clientSecret! };
  app = await registerApp(server, { scope: SCOPE });
});
afterAll(async () => { await server?.stop(); });

async function active(caller: { clientId: string; clientSecret: string }, token: string): Promise<boolean> {
  const res = await fetch(`${server.issuer}/token/introspection`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(caller.clientId, caller.clientSecret) },
    body: new URLSearchParams({ token }),
  });
  const body = (await res.json()) as { active?: boolean };
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body.active === true;
}

async function userinfoStatus(accessToken: string): Promise<number> {
  const res = await fetch(`${server.issuer}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
  await res.arrayBuffer();
  return res.status;
}

const credentialsOf = (a: App) => ({ clientId: a.clientId, clientSecret: a.clientSecret! });

/** The person signs in to the app; its tokens are checked alive, so their death below is the revocation's doing. */
async function signIn(person: Person, to: App = app): Promise<Tokens> {
  const { tokens } = await obtainTokens(server, to, person, { scope: SCOPE });
  expect(await active(notes, tokens.access_token)).toBe(true);
  expect(await active(credentialsOf(to), tokens.refresh_token!)).toBe(true);
  expect(await userinfoStatus(tokens.access_token)).toBe(200);
  return tokens;
}

async function expectAlive(tokens: Tokens, of: App = app) {
  expect(await active(notes, tokens.access_token)).toBe(true);
  expect(await active(credentialsOf(of), tokens.refresh_token!)).toBe(true);
}

/**
 * Dead everywhere. `refusedAs` is what the token endpoint says to a refresh: invalid_grant, or
 * invalid_client once the app itself can no longer authenticate (then only the API introspects).
 */
async function expectDead(tokens: Tokens, of: App = app, refusedAs: 'invalid_grant' | 'invalid_client' = 'invalid_grant') {
  expect(await active(notes, tokens.access_token), 'access token at introspection').toBe(false);
  if (refusedAs === 'invalid_grant') expect(await active(credentialsOf(of), tokens.refresh_token!), 'refresh token at introspection').toBe(false);
  expect(await userinfoStatus(tokens.access_token), 'access token at userinfo').toBe(401);
  expect(await refreshRefusal(of, tokens.refresh_token!), 'refresh').toBe(refusedAs);
}

/** The OAuth error a refresh is refused with (openid-client throws a body error or a WWW-Authenticate challenge). */
async function refreshRefusal(of: App, refreshToken: string): Promise<string> {
  try {
    await client.refreshTokenGrant(of.config, refreshToken);
  } catch (error) {
    const { error: code, cause } = error as { error?: unknown; cause?: unknown };
    // A 401 with WWW-Authenticate arrives as a challenge: the error is among its parameters.
    const challenged = Array.isArray(cause) ? (cause[0] as { parameters?: { error?: unknown } })?.parameters?.error : undefined;
    return String(code ?? challenged);
  }
  throw new Error('the refresh token still works');
}

async function grantsOf(userId: string): Promise<Array<{ id: string; client_id: string; scopes: string[] }>> {
  const res = await api.get(`/users/${userId}/grants`);
  expect(res.status).toBe(200);
  return res.body.items;
}

/** The newest audit event of a type about a person or client; its actor must be the admin client. */
async function expectAudited(type: string, about: { user_id?: string; client_id?: string }) {
  const res = await api.get(`/audit-events?type=${type}&${new URLSearchParams(about as Record<string, string>)}&limit=1`);
  expect(res.body.items[0], type).toMatchObject({ type, actor: { type: 'client', id: api.admin.clientId } });
  return res.body.items[0];
}

describe('revoking through the admin API kills the app\'s tokens at once', () => {
  it('one grant: DELETE /grants/{grant_id}', async () => {
    const person = await createPerson(server);
    const tokens = await signIn(person);
    const bystander = await signIn(await createPerson(server));
    const [grant] = await grantsOf(person.id);
    expect(grant).toMatchObject({ client_id: app.clientId, scopes: expect.arrayContaining(['openid', 'offline_access']) });
    expect((await api.delete(`/grants/${grant!.id}`)).status).toBe(204);
    await expectDead(tokens);
    await expectAlive(bystander);
    expect((await api.get(`/grants/${grant!.id}`)).status).toBe(404);
    expect((await api.delete(`/grants/${grant!.id}`)).status).toBe(404);
    expect((await expectAudited('grant.revoked', { user_id: person.id })).details).toMatchObject({ grantId: grant!.id });
  });

  it('a person\'s grants for one app: DELETE /users/{user_id}/grants?client_id=', async () => {
    const person = await createPerson(server);
    // Two sign-ins, two browsers: each session holds its own copy of the grant.
    const first = await signIn(person);
    const second = await signIn(person);
    const res = await api.delete(`/users/${person.id}/grants?client_id=${encodeURIComponent(app.clientId)}`);
    expect(res.body).toEqual({ grants_revoked: 2 });
    await expectDead(first);
    await expectDead(second);
    expect(await grantsOf(person.id)).toEqual([]);
    await expectAudited('grant.revoked', { user_id: person.id, client_id: app.clientId });
    expect((await api.delete(`/users/${person.id}/grants`)).status).toBe(400);
  });

  it('every grant of an app: DELETE /clients/{client_id}/grants', async () => {
    const own = await registerApp(server, { scope: SCOPE });
    const a = await signIn(await createPerson(server), own);
    const b = await signIn(await createPerson(server), own);
    const untouched = await signIn(await createPerson(server));
    const listed = await api.get(`/clients/${own.clientId}/grants`);
    expect(listed.body.items).toHaveLength(2);
    expect((await api.delete(`/clients/${own.clientId}/grants`)).body).toEqual({ grants_revoked: 2 });
    await expectDead(a, own);
    await expectDead(b, own);
    await expectAlive(untouched);
    expect((await api.get(`/clients/${own.clientId}/grants`)).body.items).toEqual([]);
    await expectAudited('grant.revoked', { client_id: own.clientId });
  });

  it('ending the session the app was signed in through: DELETE /users/{user_id}/sessions/{session_id}', async () => {
    const person = await createPerson(server);
    const tokens = await signIn(person);
    const other = await signIn(person);
    const sessions = await api.get(`/users/${person.id}/sessions`);
    expect(sessions.body.items).toHaveLength(2);
    // Newest first: the second sign-in's session is listed first, so the first one's is last.
    const session = sessions.body.items[1];
    expect(session).toMatchObject({ user_id: person.id, client_ids: [app.clientId], ip: expect.stringMatching(/127\.0\.0\.1/) });
    const res = await api.delete(`/users/${person.id}/sessions/${session.id}`);
    expect(res.body).toEqual({ sessions_ended: 1, grants_revoked: 1 });
    await expectDead(tokens);
    await expectAlive(other);
    expect((await api.get(`/users/${person.id}/sessions`)).body.items.map((s: { id: string }) => s.id)).toEqual([sessions.body.items[0].id]);
    expect((await api.delete(`/users/${person.id}/sessions/${session.id}`)).status).toBe(404);
    await expectAudited('session.ended', { user_id: person.id });
  });

  it('signing a person out everywhere: DELETE /users/{user_id}/sessions', async () => {
    const person = await createPerson(server);
    const first = await signIn(person);
    const second = await signIn(person);
    expect((await api.delete(`/users/${person.id}/sessions`)).body).toEqual({ sessions_ended: 2, grants_revoked: 2 });
    await expectDead(first);
    await expectDead(second);
    expect((await api.get(`/users/${person.id}/sessions`)).body.items).toEqual([]);
  });

  it('disabling the person: POST /users/{user_id}/disable, and enabling brings nothing back', async () => {
    const person = await createPerson(server);
    const tokens = await signIn(person);
    expect((await api.post(`/users/${person.id}/disable`)).status).toBe(200);
    await expectDead(tokens);
    expect((await api.get(`/users/${person.id}/sessions`)).body.items).toEqual([]);
    expect((await api.post(`/users/${person.id}/enable`)).status).toBe(200);
    await expectDead(tokens);
    await expectAudited('user.disabled', { user_id: person.id });
  });

  it('resetting the password: POST /users/{user_id}/password ends every session and its apps\' grants', async () => {
    const person = await createPerson(server);
    const tokens = await signIn(person);
    const res = await api.post(`/users/${person.id}/password`, { password: 'a completely new passphrase' });
    expect(res.body).toEqual({ sessions_ended: 1, grants_revoked: 1 });
    await expectDead(tokens);
  });

  it('deleting the person: DELETE /users/{user_id}', async () => {
    const person = await createPerson(server);
    const tokens = await signIn(person);
    expect((await api.delete(`/users/${person.id}`)).status).toBe(204);
    await expectDead(tokens);
    expect(await server.db('oidc_records').where({ account_id: person.id }).first()).toBeUndefined();
    await expectAudited('user.deleted', { user_id: person.id });
  });

  it('disabling the app: POST /clients/{client_id}/disable, and enabling it brings no grant back', async () => {
    const own = await registerApp(server, { scope: SCOPE });
    const tokens = await signIn(await createPerson(server), own);
    expect((await api.post(`/clients/${own.clientId}/disable`)).body.disabled_at).toEqual(expect.any(String));
    await expectDead(tokens, own, 'invalid_client');
    expect((await api.post(`/clients/${own.clientId}/enable`)).body.disabled_at).toBeNull();
    await expectDead(tokens, own, 'invalid_grant');
    await expectAudited('client.disabled', { client_id: own.clientId });
  });

  it('deleting the app: DELETE /clients/{client_id}', async () => {
    const own = await registerApp(server, { scope: SCOPE });
    const tokens = await signIn(await createPerson(server), own);
    expect((await api.delete(`/clients/${own.clientId}`)).status).toBe(204);
    await expectDead(tokens, own, 'invalid_client');
    expect((await api.get(`/clients/${own.clientId}`)).status).toBe(404);
  });
});

describe('an automation client finds a person\'s grant through the documented API and revokes it', () => {
  it('and the app\'s tokens die at once, and the audit log says the automation client did it', async () => {
    // What an operator does once: `gatehouse client create --name "Ops bot" --client-credentials --admin`.
    const { client: bot, clientSecret } = await server.stores.clients.create({ name: 'Ops bot', clientCredentials: true, admin: true });
    const person = await createPerson(server, { email: 'margaret.hamilton@example.test', name: 'Margaret Hamilton' });
    const tokens = await signIn(person);

    const token = await clientCredentialsToken(server, bot.clientId, clientSecret!, { scope: 'gatehouse:admin' });
    const found = await api.get(`/users?search=${encodeURIComponent('margaret.hamilton@example.test')}`, { token });
    expect(found.body.items).toHaveLength(1);
    const userId = found.body.items[0].id;
    const grants = await api.get(`/users/${userId}/grants`, { token });
    const grant = grants.body.items.find((g: { client_id: string }) => g.client_id === app.clientId);
    expect(grant).toMatchObject({ client_name: 'Example App', apis: [{ identifier: NOTES_API, name: NOTES_API, scopes: expect.arrayContaining(['notes:read']) }] });
    expect((await api.delete(`/grants/${grant.id}`, { token })).status).toBe(204);

    await expectDead(tokens);

    const audit = await api.get(`/audit-events?type=grant.revoked&user_id=${userId}`, { token });
    expect(audit.body.items).toHaveLength(1);
    expect(audit.body.items[0]).toMatchObject({
      type: 'grant.revoked',
      actor: { type: 'client', id: bot.clientId },
      user_id: userId,
      client_id: app.clientId,
      details: { grantId: grant.id },
    });
    const byBot = await api.get(`/audit-events?actor_id=${bot.clientId}`, { token });
    expect(byBot.body.items.map((e: { type: string }) => e.type)).toEqual(['grant.revoked']);
  });
});
