// A person deletes their own account (ACCOUNT_SELF_DELETION), over real HTTP with mail to a real
// SMTP server: only after a recent sign-in and their password, and then everything goes at once —
// the person, their sessions and their apps' access — with a confirming mail and an audit entry
// saying it was their own request. Off (the default), the pages do not exist.
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RECENT_SIGN_IN_SECONDS } from '../../src/security/recent-sign-in.js';
import { createPerson, obtainTokens, registerApp, type App } from '../support/flows.js';
import { startTestServer } from '../support/gatehouse.js';
import { startMailingServer, type MailingServer } from '../support/mailing.js';
import { ageSignIns } from '../support/oidc-records.js';
import type { UserAgent } from '../support/user-agent.js';
import { accountForm, signInToAccount } from './support.js';

let mailing: MailingServer;
let app: App;

beforeAll(async () => {
  mailing = await startMailingServer({ ACCOUNT_SELF_DELETION: 'true', EMAIL_NOTIFICATIONS: 'true' });
  app = await registerApp(mailing.server, { scope: 'openid profile offline_access' });
});

afterAll(async () => {
  await mailing?.stop();
});

async function deleteForm(agent: UserAgent) {
  const page = await agent.request(`${mailing.server.issuer}/account/delete`);
  expect(page.status, page.body.slice(0, 300)).toBe(200);
  return accountForm(page.body, '/account/delete');
}

describe('deleting one\'s own account', () => {
  it('with the password: the person, their sessions and their apps\' access go, a mail confirms it, and the audit says it was theirs', async () => {
    const person = await createPerson(mailing.server);
    const { tokens } = await obtainTokens(mailing.server, app, person, { scope: 'openid profile offline_access' });
    const { agent, page: home } = await signInToAccount(mailing.server, person, '/account');
    expect(home.body).toContain('href="/account/delete"');
    const form = await deleteForm(agent);

    const res = await agent.request(`${mailing.server.issuer}/account/delete`, { form: { ...form.fields, current_password: person.password } });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/account/deleted');
    const done = await agent.request(`${mailing.server.issuer}/account/deleted`);
    expect(done.status).toBe(200);
    expect(done.body).toContain('Your account is deleted');

    expect(await mailing.server.stores.users.findById(person.id)).toBeUndefined();
    expect(await mailing.server.db('oidc_records').where({ account_id: person.id })).toEqual([]);
    await expect(client.refreshTokenGrant(app.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // This browser is signed out too: the account pages ask for a sign-in again.
    const after = await agent.request(`${mailing.server.issuer}/account`);
    expect(after.status).toBe(302);

    await mailing.server.audit.flush();
    const [audited] = await mailing.server.db('audit_events').where({ user_id: person.id, type: 'user.deleted' }).select('actor_type', 'actor_id', 'details');
    expect(audited).toMatchObject({ actor_type: 'user', actor_id: person.id, details: { reason: 'own_request', grantsRevoked: expect.any(Number) } });

    await mailing.deliver();
    const mail = mailing.mailsTo(person.email).find((m) => m.subject === 'Your Gatehouse account was deleted');
    expect(mail, JSON.stringify(mailing.mailsTo(person.email).map((m) => m.subject))).toBeDefined();
    expect(mail!.text).toContain('as asked on your account page');
  });

  it('refuses a missing or wrong password, and deletes nothing', async () => {
    const person = await createPerson(mailing.server);
    const { agent } = await signInToAccount(mailing.server, person, '/account/delete');
    const form = await deleteForm(agent);
    const missing = await agent.request(`${mailing.server.issuer}/account/delete`, { form: { ...form.fields, current_password: '' } });
    expect(missing.status).toBe(400);
    expect(missing.body).toContain('Enter your current password.');
    const wrong = await agent.request(`${mailing.server.issuer}/account/delete`, { form: { ...form.fields, current_password: 'not their password at all' } });
    expect(wrong.status).toBe(400);
    expect(wrong.body).toContain('That is not your current password.');
    expect(await mailing.server.stores.users.findById(person.id)).toBeDefined();
  });

  it('sends a sign-in older than 15 minutes to sign in again, and a form posted from it deletes nothing', async () => {
    const person = await createPerson(mailing.server);
    const { agent } = await signInToAccount(mailing.server, person, '/account/delete');
    const form = await deleteForm(agent);
    await ageSignIns(mailing.server.db, person.id, RECENT_SIGN_IN_SECONDS + 60);
    const page = await agent.request(`${mailing.server.issuer}/account/delete`);
    expect(page.status).toBe(302);
    expect(new URL(page.headers.get('location')!, mailing.server.issuer).searchParams.get('max_age')).toBe(String(RECENT_SIGN_IN_SECONDS));
    const posted = await agent.request(`${mailing.server.issuer}/account/delete`, { form: { ...form.fields, current_password: person.password } });
    expect(posted.status).toBe(303);
    expect(new URL(posted.headers.get('location')!, mailing.server.issuer).pathname).toBe('/auth');
    expect(await mailing.server.stores.users.findById(person.id)).toBeDefined();
  });

  it('is not for an administrator: another administrator deletes their account, in the console', async () => {
    const password = 'an administrator passphrase of some length';
    const person = { ...(await mailing.server.stores.users.create({ email: `admin.${Date.now()}@example.test`, name: 'Admin', password, emailVerified: true, isAdmin: true })), password };
    const { agent } = await signInToAccount(mailing.server, person, '/account/delete');
    const page = await agent.request(`${mailing.server.issuer}/account/delete`);
    expect(page.body).toContain('another administrator deletes it, in the console');
    expect(page.body).not.toContain('name="current_password"');
    const csrf = /name="csrf" value="([^"]+)"/.exec((await agent.request(`${mailing.server.issuer}/account/profile`)).body)![1]!;
    const posted = await agent.request(`${mailing.server.issuer}/account/delete`, { form: { csrf, current_password: person.password } });
    expect(posted.status).toBe(403);
    expect(await mailing.server.stores.users.findById(person.id)).toBeDefined();
  });

  it('deletes nothing for a form posted without this browser\'s token', async () => {
    const person = await createPerson(mailing.server);
    const { agent } = await signInToAccount(mailing.server, person, '/account/delete');
    const forged = await agent.request(`${mailing.server.issuer}/account/delete`, { form: { csrf: 'forged', current_password: person.password } });
    expect(forged.status).toBe(403);
    expect(await mailing.server.stores.users.findById(person.id)).toBeDefined();
  });
});

describe('with ACCOUNT_SELF_DELETION off (the default)', () => {
  it('offers no deletion: no link, and the page is not there', async () => {
    const server = await startTestServer();
    try {
      const person = await createPerson(server);
      const { agent, page } = await signInToAccount(server, person, '/account');
      expect(page.body).not.toContain('/account/delete');
      expect((await agent.request(`${server.issuer}/account/delete`)).status).toBe(404);
    } finally {
      await server.stop();
    }
  });
});
