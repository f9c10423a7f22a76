// People in the console, over HTTP: adding one, a new password, ending sessions, revoking what
// they allowed, disabling and deleting — each proven where it matters, at the app's own token
// requests, and each in the audit log with the admin who did it.
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerson, obtainTokens, registerApp, type App } from '../../support/flows.js';
import { startTestServer, type TestServer } from '../../support/gatehouse.js';
import type { UserAgent } from '../../support/user-agent.js';
import { createAdmin, locationOf, openForm, signInToConsole, submit, textOf } from './support.js';

let server: TestServer;
let agent: UserAgent;
let admin: Awaited<ReturnType<typeof createAdmin>>;
let app: App;

beforeAll(async () => {
  server = await startTestServer();
  admin = await createAdmin(server);
  ({ agent } = await signInToConsole(server, admin));
  app = await registerApp(server);
});
afterAll(async () => { await server?.stop(); });

const STRONG = 'a long and unguessable passphrase 7f3k';

async function refreshOutcome(refreshToken: string): Promise<string> {
  return client.refreshTokenGrant(app.config, refreshToken).then(() => 'refreshed', (error: unknown) => String((error as { error?: string }).error));
}

async function isActive(token: string): Promise<boolean> {
  return (await client.tokenIntrospection(app.config, token)).active;
}

async function lastAudit(type: string) {
  await server.audit.flush();
  return (await server.audit.list({ type: type as never }, { limit: 1 })).items[0];
}

function personPage(id: string): string {
  return `${server.issuer}/admin/people/${id}`;
}

describe('adding a person', () => {
  it('adds them, opens their page, and they can sign in with the password given', async () => {
    const email = `added.${Date.now()}@example.test`;
    // A form from before (with the old "known to be theirs" box ticked) verifies nothing: only a mailed link does.
    const res = await submit(agent, `${server.issuer}/admin/people/new`, /\/admin\/people$/, { email, name: 'Added Person', password: STRONG, emailVerified: 'yes' });
    const location = locationOf(res);
    const user = await server.stores.users.findByEmail(email);
    expect(location).toBe(`/admin/people/${user!.id}?done=person-created`);
    expect(user).toMatchObject({ name: 'Added Person', emailVerified: false, isAdmin: false });
    expect((await server.stores.users.authenticate(email, STRONG)).ok).toBe(true);
    const page = await agent.request(`${server.issuer}${location}`);
    expect(textOf(page.body)).toContain('The person was added.');
    expect(await lastAudit('user.created')).toMatchObject({ actor: { type: 'user', id: admin.id }, userId: user!.id });
  });

  it.each([
    ['an invalid email', { email: 'not-an-email', name: 'X', password: STRONG }, 400, 'Enter a valid email address.'],
    ['no name', { email: `noname.${Date.now()}@example.test`, name: '   ', password: STRONG }, 400, 'A name is required.'],
    ['a common password', { email: `weak.${Date.now()}@example.test`, name: 'Weak', password: 'password123' }, 400, 'password'],
  ])('with %s: the form again with the reason, what was typed kept but the password', async (_name, fields, status, message) => {
    const res = await submit(agent, `${server.issuer}/admin/people/new`, /\/admin\/people$/, fields);
    expect(res.status).toBe(status);
    expect(textOf(res.body)).toContain(message);
    expect(res.body).toContain(`value="${fields.email}"`);
    expect(res.body).not.toContain(fields.password);
    expect(await server.stores.users.findByEmail(fields.email)).toBeUndefined();
  });

  it('with an email already taken (any case): 409', async () => {
    const existing = await createPerson(server);
    const res = await submit(agent, `${server.issuer}/admin/people/new`, /\/admin\/people$/, { email: existing.email.toUpperCase(), name: 'Twin', password: STRONG });
    expect(res.status).toBe(409);
    expect(textOf(res.body)).toContain('Another account already uses this email address.');
  });
});

describe('one person', () => {
  it('their address: a new one is left unverified (and taken ones refused on the page); a link may be mailed, never a tick', async () => {
    const person = await createPerson(server);
    const other = await createPerson(server);
    const page = await agent.request(personPage(person.id));
    expect(page.body).not.toContain('a verification link');
    const taken = await submit(agent, personPage(person.id), /\/email$/, { email: other.email.toUpperCase(), sendVerification: 'yes' });
    expect(taken.status).toBe(409);
    expect(textOf(taken.body)).toContain('Another account already uses this email address.');

    const newEmail = `console.${person.email}`;
    expect(locationOf(await submit(agent, personPage(person.id), /\/email$/, { email: newEmail }))).toBe(`/admin/people/${person.id}?done=email-changed`);
    expect(await server.stores.users.findById(person.id)).toMatchObject({ email: newEmail, emailVerified: false });
    expect(await lastAudit('user.email_changed')).toMatchObject({ actor: { type: 'user', id: admin.id }, userId: person.id, details: { from: person.email, to: newEmail, verified: false, verificationSent: false } });

    const sent = await submit(agent, personPage(person.id), /\/verification-mail$/);
    expect(locationOf(sent)).toBe(`/admin/people/${person.id}?done=verification-sent`);
    expect(await lastAudit('user.email_verification_sent')).toMatchObject({ actor: { type: 'user', id: admin.id }, userId: person.id, details: { email: newEmail } });
    expect(await server.stores.users.findById(person.id)).toMatchObject({ emailVerified: false });
  });

  it('their names: an empty name refused on the page, new ones saved and audited, and userinfo answers with them at once', async () => {
    const person = await createPerson(server);
    const { tokens } = await obtainTokens(server, app, person, { scope: 'openid profile' });
    const empty = await submit(agent, personPage(person.id), /\/name$/, { name: ' ', givenName: '', familyName: '' });
    expect(empty.status).toBe(400);
    expect(textOf(empty.body)).toContain('A name is required.');

    expect(locationOf(await submit(agent, personPage(person.id), /\/name$/, { name: 'Katherine Johnson', givenName: 'Katherine', familyName: 'Johnson' })))
      .toBe(`/admin/people/${person.id}?done=person-renamed`);
    const page = await agent.request(`${personPage(person.id)}?done=person-renamed`);
    expect(textOf(page.body)).toContain('The name was saved.');
    expect(page.body).toContain('value="Katherine Johnson"');
    expect(await lastAudit('user.profile_updated')).toMatchObject({ actor: { type: 'user', id: admin.id }, userId: person.id, details: { changed: ['name', 'given_name', 'family_name'] } });
    expect(await client.fetchUserInfo(app.config, tokens.access_token, person.id)).toMatchObject({ name: 'Katherine Johnson', given_name: 'Katherine', family_name: 'Johnson' });
  });

  it('a new password: refused when weak; when set, the old one stops working and they are signed out everywhere', async () => {
    const person = await createPerson(server);
    const { tokens } = await obtainTokens(server, app, person);
    const weak = await submit(agent, personPage(person.id), /\/password$/, { password: 'qwerty', signOut: 'yes' });
    expect(weak.status).toBe(400);
    expect(weak.body).toContain('aria-invalid="true"');
    expect(await refreshOutcome(tokens.refresh_token!)).toBe('refreshed');

    const { tokens: fresh } = await obtainTokens(server, app, person);
    expect(locationOf(await submit(agent, personPage(person.id), /\/password$/, { password: STRONG, signOut: 'yes' }))).toBe(`/admin/people/${person.id}?done=password-reset-signed-out`);
    expect((await server.stores.users.authenticate(person.email, person.password)).ok).toBe(false);
    expect((await server.stores.users.authenticate(person.email, STRONG)).ok).toBe(true);
    expect(await server.db('oidc_records').where({ model: 'Session', account_id: person.id })).toHaveLength(0);
    expect(await refreshOutcome(fresh.refresh_token!)).toBe('invalid_grant');
    expect(await lastAudit('user.password_reset')).toMatchObject({ actor: { type: 'user', id: admin.id }, userId: person.id, details: { sessionsEnded: 2 } });
  });

  it('a new password without signing them out leaves their sessions', async () => {
    const person = await createPerson(server);
    const { tokens } = await obtainTokens(server, app, person);
    expect(locationOf(await submit(agent, personPage(person.id), /\/password$/, { password: STRONG }))).toBe(`/admin/people/${person.id}?done=password-reset`);
    expect(await server.db('oidc_records').where({ model: 'Session', account_id: person.id })).toHaveLength(1);
    expect(await refreshOutcome(tokens.refresh_token!)).toBe('refreshed');
  });

  it('lists their sessions with device and address, and ending one signs the app out through it', async () => {
    const person = await createPerson(server);
    const first = await obtainTokens(server, app, person);
    const second = await obtainTokens(server, app, person);
    const page = await agent.request(personPage(person.id));
    expect(page.body.match(/aria-label="End the session on [^"]+ from 127\.0\.0\.1, signed in [^"]+ UTC"/g)).toHaveLength(2);
    expect(textOf(page.body)).toContain('Example App');
    const [session] = await server.db('oidc_records').where({ model: 'Session', account_id: person.id }).orderBy('created_at', 'asc');
    const res = await submit(agent, personPage(person.id), new RegExp(`/sessions/${session.uid_digest}/end$`));
    expect(locationOf(res)).toBe(`/admin/people/${person.id}?done=session-ended`);
    expect(await refreshOutcome(first.tokens.refresh_token!)).toBe('invalid_grant');
    expect(await isActive(first.tokens.access_token)).toBe(false);
    expect(await refreshOutcome(second.tokens.refresh_token!)).toBe('refreshed');
    expect(await lastAudit('session.ended')).toMatchObject({ actor: { type: 'user', id: admin.id }, userId: person.id, details: { how: 'ended', sessionsEnded: 1 } });
  });

  it('"Sign out everywhere" ends every session and the apps\' access through them', async () => {
    const person = await createPerson(server);
    const first = await obtainTokens(server, app, person);
    const second = await obtainTokens(server, app, person);
    expect(locationOf(await submit(agent, personPage(person.id), /\/sessions\/end-all$/))).toBe(`/admin/people/${person.id}?done=sessions-ended`);
    for (const { tokens } of [first, second]) expect(await refreshOutcome(tokens.refresh_token!)).toBe('invalid_grant');
    const page = await agent.request(`${personPage(person.id)}?done=sessions-ended`);
    expect(textOf(page.body)).toContain('Not signed in anywhere.');
    expect(textOf(page.body)).toContain('The person was signed out everywhere.');
  });

  it('lists what they allowed in plain words, and revoking one grant kills that grant\'s tokens at once', async () => {
    const person = await createPerson(server);
    const { tokens } = await obtainTokens(server, app, person);
    const page = await agent.request(personPage(person.id));
    const text = textOf(page.body);
    expect(text).toContain('See your email address and whether it is verified');
    expect(text).toContain('Keep access while you are not using it, until you revoke it');
    expect(page.body).toMatch(/aria-label="Revoke Example App&#39;s access, granted [^"]+"/);
    expect(await isActive(tokens.access_token)).toBe(true);
    const res = await submit(agent, personPage(person.id), /\/grants\/[^/]+\/revoke$/);
    expect(locationOf(res)).toBe(`/admin/people/${person.id}?done=grant-revoked`);
    expect(await refreshOutcome(tokens.refresh_token!)).toBe('invalid_grant');
    expect(await isActive(tokens.access_token)).toBe(false);
    expect(await lastAudit('grant.revoked')).toMatchObject({ actor: { type: 'user', id: admin.id, }, userId: person.id, clientId: app.clientId });
  });

  it('"Revoke all of an app\'s access" revokes every grant of the person for it, and only for it', async () => {
    const person = await createPerson(server);
    const otherApp = await registerApp(server);
    const a = await obtainTokens(server, app, person);
    const b = await obtainTokens(server, app, person);
    const other = await obtainTokens(server, otherApp, person);
    const res = await submit(agent, personPage(person.id), new RegExp(`/apps/${app.clientId}/revoke$`));
    expect(locationOf(res)).toBe(`/admin/people/${person.id}?done=app-access-revoked`);
    for (const { tokens } of [a, b]) expect(await refreshOutcome(tokens.refresh_token!)).toBe('invalid_grant');
    expect(await client.refreshTokenGrant(otherApp.config, other.tokens.refresh_token!)).toHaveProperty('access_token');
  });

  it('disabling kills every token at once and stops sign-in; enabling lets them sign in again', async () => {
    const person = await createPerson(server);
    const { tokens } = await obtainTokens(server, app, person);
    expect(locationOf(await submit(agent, personPage(person.id), /\/disable$/))).toBe(`/admin/people/${person.id}?done=person-disabled`);
    expect(await isActive(tokens.access_token)).toBe(false);
    expect(await refreshOutcome(tokens.refresh_token!)).toBe('invalid_grant');
    await expect(client.fetchUserInfo(app.config, tokens.access_token, client.skipSubjectCheck)).rejects.toThrow();
    expect(textOf((await agent.request(personPage(person.id))).body)).toMatch(/Disabled since .* UTC/);
    expect((await server.stores.users.authenticate(person.email, person.password)).ok).toBe(false);

    expect(locationOf(await submit(agent, personPage(person.id), /\/enable$/))).toBe(`/admin/people/${person.id}?done=person-enabled`);
    expect((await server.stores.users.authenticate(person.email, person.password)).ok).toBe(true);
    expect(await lastAudit('user.enabled')).toMatchObject({ actor: { type: 'user', id: admin.id }, userId: person.id });
  });

  it('deleting asks first, on a page of its own; confirmed, the person and what they held are gone', async () => {
    const person = await createPerson(server);
    const { tokens } = await obtainTokens(server, app, person);
    const confirm = await openForm(agent, `${personPage(person.id)}/delete`, /\/delete$/);
    expect(textOf(confirm.page.body)).toContain('This cannot be undone.');
    expect(confirm.page.body).toContain(`Delete ${person.name}</button>`);
    expect(await server.stores.users.findById(person.id)).toBeDefined();
    const res = await agent.request(confirm.action, { form: { csrf: confirm.csrf } });
    expect(locationOf(res)).toBe('/admin/people?done=person-deleted');
    expect(await server.stores.users.findById(person.id)).toBeUndefined();
    expect(await server.db('oidc_records').where({ account_id: person.id })).toHaveLength(0);
    expect(await refreshOutcome(tokens.refresh_token!)).toBe('invalid_grant');
    expect(await lastAudit('user.deleted')).toMatchObject({ actor: { type: 'user', id: admin.id }, userId: person.id });
  });
});
