// Email verification and address changes over real HTTP, with mail going to a real SMTP server
// on loopback: an address becomes verified only by following a link mailed to it (a GET shows
// a button and spends nothing; the POST spends it), apps see email_verified change at once in
// userinfo and in new ID tokens, a changed address takes effect only when the new one's link is
// followed while the old one is told, and a link that is spent, expired or for another address
// gets a friendly 410. No token reaches a log line or an audit entry.
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerson, obtainTokens, PASSWORD, registerApp, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { linksIn, mailsTo, partOf, subjectOf } from '../support/mail.js';
import { startSmtpReceiver, type SmtpReceiver } from '../support/smtp.js';
import { formOf, UserAgent } from '../support/user-agent.js';
import { accountForm, signInToAccount } from '../account/support.js';
import { adminApi, type AdminApiClient } from '../admin/api/support.js';

let smtp: SmtpReceiver;
let server: TestServer;
let app: App;
let api: AdminApiClient;
let now = Date.now();

beforeAll(async () => {
  smtp = await startSmtpReceiver();
  // The notices (a new browser, an app connected) have tests of their own; here they would crowd the mailbox.
  server = await startTestServer({ SMTP_URL: smtp.url, MAIL_FROM: 'Gatehouse <id@example.test>', EMAIL_NOTIFICATIONS: 'false' }, { now: () => now });
  app = await registerApp(server, { scope: 'openid profile email offline_access' });
  api = await adminApi(server);
});
afterAll(async () => {
  await server?.stop();
  await smtp?.close();
});

let counter = 0;
/** A person whose address nobody has proven yet, as every account now starts. */
async function unverifiedPerson() {
  counter += 1;
  const email = `unverified${counter}.${Date.now()}@example.test`;
  const user = await server.stores.users.create({ email, name: `Unverified ${counter}`, password: PASSWORD });
  return { ...user, password: PASSWORD };
}

/** Delivers what the outbox holds; returns the mails that arrived for `address` by then. */
async function deliverTo(address: string) {
  await server.deliveries.sender.deliverDue();
  return mailsTo(smtp.received, address);
}

function verificationLink(mail: Parameters<typeof linksIn>[0]): string {
  const [link] = linksIn(mail, `${server.issuer}/verify-email?token=`);
  expect(link, partOf(mail, 'text/plain')).toBeDefined();
  return link!;
}

/** Opens the link's page in `agent` (a GET), and returns the confirm form it shows. */
async function openLink(agent: UserAgent, link: string) {
  const page = await agent.request(link);
  expect(page.status, page.body.slice(0, 400)).toBe(200);
  const form = formOf(page.body, /\/verify-email$/);
  const token = /name="token" value="([^"]+)"/.exec(page.body)?.[1];
  return { page, form, token: token! };
}

/** Presses the page's button; a link that moves an account also needs that account's `password`. */
function confirm(agent: UserAgent, form: { action: string; csrf: string }, token: string, password?: string) {
  return agent.request(`${server.issuer}${form.action}`, { form: { csrf: form.csrf, token, ...(password !== undefined ? { password } : {}) } });
}

async function userinfo(accessToken: string, sub: string) {
  return client.fetchUserInfo(app.config, accessToken, sub);
}

function expectNoSecretsLogged(secret: string) {
  expect(server.rawLogs.join('\n')).not.toContain(secret);
}

async function auditOf(userId: string) {
  await server.audit.flush();
  return server.testDb.db('audit_events').where({ user_id: userId }).orderBy('id');
}

describe('verifying an address from the account page', () => {
  it('a link mailed to the address, shown by GET and spent by POST, makes email_verified true at once for apps', async () => {
    const person = await unverifiedPerson();
    // ID tokens carry the email claims when asked for them there (the claims parameter).
    const { tokens } = await obtainTokens(server, app, person, { claims: JSON.stringify({ id_token: { email: null, email_verified: null } }) });
    expect(tokens.claims()).toMatchObject({ email: person.email, email_verified: false });
    expect(await userinfo(tokens.access_token, person.id)).toMatchObject({ email: person.email, email_verified: false });

    const { agent, page } = await signInToAccount(server, person, '/account/email');
    expect(page.body).toContain('Not verified');
    const send = accountForm(page.body, '/account/email/verify');
    const sent = await agent.request(`${server.issuer}${send.action}`, { form: send.fields });
    expect(sent.status).toBe(303);
    expect(sent.headers.get('location')).toBe('/account/email?notice=verification-sent');

    const [mail, ...more] = await deliverTo(person.email);
    expect(more).toEqual([]);
    expect(subjectOf(mail!)).toBe('Verify your email address');
    expect(partOf(mail!, 'text/html')).toContain('Verify my email address');
    const link = verificationLink(mail!);
    const token = new URL(link).searchParams.get('token')!;
    // Nothing at rest opens it: the link is kept as a digest, the mail sealed (and erased once sent).
    for (const table of ['one_time_links', 'outbox', 'email_changes', 'audit_events']) {
      expect(JSON.stringify(await server.testDb.db(table).select()), table).not.toContain(token);
    }

    // A mail scanner opening the link (twice) verifies nothing.
    const scanner = new UserAgent(server.issuer);
    await openLink(scanner, link);
    const { page: shown, form, token: posted } = await openLink(scanner, link);
    expect(shown.body).toContain(person.email);
    expect(posted).toBe(token);
    expect((await server.stores.users.findById(person.id))!.emailVerified).toBe(false);

    const done = await confirm(scanner, form, posted);
    expect(done.status).toBe(200);
    expect(done.body).toContain('Your email address is verified');
    expect((await server.stores.users.findById(person.id))!.emailVerified).toBe(true);

    // The same access token's userinfo, and a new ID token, say so at once.
    expect(await userinfo(tokens.access_token, person.id)).toMatchObject({ email: person.email, email_verified: true });
    const refreshed = await client.refreshTokenGrant(app.config, tokens.refresh_token!);
    expect(refreshed.claims()).toMatchObject({ sub: person.id, email: person.email, email_verified: true });

    // Spent: the second use gets the friendly page, and so does its GET.
    const again = await confirm(scanner, form, posted);
    expect(again.status).toBe(410);
    expect(again.body).toContain('This link no longer works');
    expect((await scanner.request(link)).status).toBe(410);

    const audit = await auditOf(person.id);
    expect(audit.map((row: { type: string }) => row.type)).toEqual(expect.arrayContaining(['user.email_verification_sent', 'user.email_verified']));
    expect(JSON.stringify(audit)).not.toContain(token);
    expectNoSecretsLogged(token);

    // Verified: the page no longer offers a link, and asking anyway sends none.
    const after = await agent.request(`${server.issuer}/account/email`);
    expect(after.body).toContain('Verified');
    expect(after.body).not.toContain('Send me a verification link');
    const extra = await agent.request(`${server.issuer}/account/email/verify`, { form: send.fields });
    expect(extra.headers.get('location')).toBe('/account/email?notice=email-already-verified');
    expect((await deliverTo(person.email)).filter((m) => subjectOf(m) === 'Verify your email address')).toHaveLength(1);
  });

  it('an expired link, an unknown token and a missing one get the friendly page, never a 500', async () => {
    const person = await unverifiedPerson();
    await server.addresses.sendVerification({ type: 'system', id: 'test' }, person.id);
    const link = verificationLink((await deliverTo(person.email)).at(-1)!);
    const agent = new UserAgent(server.issuer);
    const { form, token } = await openLink(agent, link);

    const start = now;
    now = start + 24 * 3600_000 + 1000;
    try {
      expect((await agent.request(link)).status).toBe(410);
      const late = await confirm(agent, form, token);
      expect(late.status).toBe(410);
      expect(late.body).toContain('This link no longer works');
    } finally {
      now = start;
    }
    expect((await server.stores.users.findById(person.id))!.emailVerified).toBe(false);

    for (const bad of ['', 'x', 'A'.repeat(43), `${token}x`, '%00']) {
      expect((await agent.request(`${server.issuer}/verify-email?token=${bad}`)).status).toBe(410);
      expect((await confirm(agent, form, decodeURIComponent(bad))).status).toBe(410);
    }
    expect((await agent.request(`${server.issuer}/verify-email`)).status).toBe(410);
    // Without this browser's CSRF token, nothing is done.
    expect((await new UserAgent(server.issuer).request(`${server.issuer}/verify-email`, { form: { csrf: 'forged', token } })).status).toBe(403);
  });

  it('a link for an address the account no longer has is dead', async () => {
    const person = await unverifiedPerson();
    await server.addresses.sendVerification({ type: 'system', id: 'test' }, person.id);
    const link = verificationLink((await deliverTo(person.email)).at(-1)!);
    const agent = new UserAgent(server.issuer);
    const { form, token } = await openLink(agent, link);

    const moved = await api.post(`/users/${person.id}/email`, { email: `moved.${person.email}` });
    expect(moved.status, moved.text).toBe(200);
    expect((await agent.request(link)).status).toBe(410);
    expect((await confirm(agent, form, token)).status).toBe(410);
    expect((await server.stores.users.findById(person.id))).toMatchObject({ email: `moved.${person.email}`, emailVerified: false });
  });

  it('limits how many links one account is sent per hour', async () => {
    const person = await unverifiedPerson();
    const { agent, page } = await signInToAccount(server, person, '/account/email');
    const send = accountForm(page.body, '/account/email/verify');
    for (let i = 0; i < 5; i += 1) {
      expect((await agent.request(`${server.issuer}${send.action}`, { form: send.fields })).status).toBe(303);
    }
    const refused = await agent.request(`${server.issuer}${send.action}`, { form: send.fields });
    expect(refused.status).toBe(429);
    expect(refused.body).toContain('Too many mails');
    expect(await deliverTo(person.email)).toHaveLength(5);
  });
});

describe('changing the address from the account page', () => {
  async function requestChange(person: { email: string; password: string }, newEmail: string, password = person.password) {
    const { agent, page } = await signInToAccount(server, person, '/account/email');
    const change = accountForm(page.body, '/account/email', (fields) => !('token' in fields));
    const res = await agent.request(`${server.issuer}/account/email`, { form: { csrf: change.fields.csrf!, new_email: newEmail, current_password: password } });
    return { agent, res };
  }

  it('asks for the current password, then mails the new address a link and tells the old one; the change waits for the link', async () => {
    const person = await createPerson(server);
    const newEmail = `new.${person.email}`;
    // Without this browser's CSRF token (a forged cross-site form), nothing is done.
    const { agent: signedIn } = await signInToAccount(server, person, '/account/email');
    const forged = await signedIn.request(`${server.issuer}/account/email`, { form: { csrf: 'forged', new_email: newEmail, current_password: person.password } });
    expect(forged.status).toBe(403);
    const wrong = await requestChange(person, newEmail, 'not my password at all');
    expect(wrong.res.status).toBe(400);
    expect(wrong.res.body).toContain('That is not your current password.');
    expect(await deliverTo(newEmail)).toEqual([]);

    const { agent, res } = await requestChange(person, newEmail);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/account/email?notice=email-change-sent');
    const pending = await agent.request(`${server.issuer}/account/email`);
    expect(pending.body).toContain(`A change to <strong>${newEmail}</strong> is waiting`);
    // Nothing changed yet: the account keeps its address, still verified, and signs in with it.
    expect(await server.stores.users.findById(person.id)).toMatchObject({ email: person.email, emailVerified: true });

    const [notice] = await deliverTo(person.email);
    expect(subjectOf(notice!)).toBe('Your email address is being changed');
    expect(partOf(notice!, 'text/plain')).toContain(`is being changed to ${newEmail}`);
    expect(linksIn(notice!, `${server.issuer}/verify-email`)).toEqual([]);
    const [linkMail] = await deliverTo(newEmail);
    expect(subjectOf(linkMail!)).toBe('An account asks to add this email address');
    const link = verificationLink(linkMail!);
    const token = new URL(link).searchParams.get('token')!;

    const follower = new UserAgent(server.issuer);
    const { page, form } = await openLink(follower, link);
    expect(page.body).toContain('An account asks to use this address');
    const done = await confirm(follower, form, token, person.password);
    expect(done.status).toBe(200);
    expect(done.body).toContain('Your email address is changed');
    expect(await server.stores.users.findById(person.id)).toMatchObject({ email: newEmail, emailVerified: true });

    const told = await deliverTo(person.email);
    expect(told.map(subjectOf)).toEqual(['Your email address is being changed', 'Your email address was changed']);
    expect(partOf(told[1]!, 'text/plain')).toContain(`Your account's email address is now ${newEmail}`);
    expect((await server.stores.users.authenticate(newEmail, PASSWORD)).ok).toBe(true);
    expect((await server.stores.users.authenticate(person.email, PASSWORD)).ok).toBe(false);

    const audit = await auditOf(person.id);
    const types = audit.map((row: { type: string }) => row.type);
    expect(types).toEqual(expect.arrayContaining(['user.email_change_requested', 'user.email_changed']));
    expect(audit.find((row: { type: string }) => row.type === 'user.email_changed').details).toMatchObject({ from: person.email, to: newEmail, verified: true });
    expect(JSON.stringify(audit)).not.toContain(token);
    expectNoSecretsLogged(token);
    expect((await confirm(follower, form, token, person.password)).status).toBe(410);
  });

  it('a newer request kills the older one\'s link, and a change whose old address is gone meanwhile is dead', async () => {
    const person = await createPerson(server);
    await requestChange(person, `first.${person.email}`);
    await requestChange(person, `second.${person.email}`);
    const first = verificationLink((await deliverTo(`first.${person.email}`))[0]!);
    const second = verificationLink((await deliverTo(`second.${person.email}`))[0]!);
    const agent = new UserAgent(server.issuer);
    expect((await agent.request(first)).status).toBe(410);
    const { form, token } = await openLink(agent, second);

    // An administrator moves the account elsewhere before the link is followed.
    expect((await api.post(`/users/${person.id}/email`, { email: `admin.${person.email}` })).status).toBe(200);
    expect((await confirm(agent, form, token, person.password)).status).toBe(410);
    expect(await server.stores.users.findById(person.id)).toMatchObject({ email: `admin.${person.email}`, emailVerified: false });
  });

  it('says nothing at request time about an address another account has, and refuses the change when its link is followed', async () => {
    const person = await createPerson(server);
    const other = await createPerson(server);
    const { res } = await requestChange(person, other.email.toUpperCase());
    // The same answer as for a free address: the page does not tell who has an account.
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/account/email?notice=email-change-sent');
    const link = verificationLink((await deliverTo(other.email)).at(-1)!);
    const agent = new UserAgent(server.issuer);
    const { form, token } = await openLink(agent, link);
    const taken = await confirm(agent, form, token, person.password);
    expect(taken.status).toBe(409);
    expect(taken.body).toContain('This address is already in use');
    expect(await server.stores.users.findById(person.id)).toMatchObject({ email: person.email });
    expect(await server.stores.users.findById(other.id)).toMatchObject({ email: other.email });
  });

  it('stops showing a change as waiting once its link has expired', async () => {
    const person = await createPerson(server);
    const { agent, res } = await requestChange(person, `late.${person.email}`);
    expect(res.status).toBe(303);
    expect((await agent.request(`${server.issuer}/account/email`)).body).toContain('is waiting for the link');
    const start = now;
    now = start + 24 * 3600_000 + 1000;
    try {
      const page = await agent.request(`${server.issuer}/account/email`);
      expect(page.status).toBe(200);
      expect(page.body).not.toContain('is waiting for the link');
    } finally {
      now = start;
    }
  });

  it('refuses an address that is not one, or is already theirs, on the page', async () => {
    const person = await createPerson(server);
    expect((await requestChange(person, 'not an address')).res.status).toBe(400);
    const same = await requestChange(person, person.email.toUpperCase());
    expect(same.res.status).toBe(400);
    expect(same.res.body).toContain('That is already your email address.');
  });
});

describe('a change link needs the password of the account asking (pre-hijack)', () => {
  /** The attacker's own account asks to move to the victim's address: the link lands in the victim's mailbox. */
  async function changeTowards(person: { id: string; email: string; password: string }, victim: string) {
    await server.addresses.requestChange({ type: 'user', id: person.id, ip: null }, person.id, victim);
    const [mail] = await deliverTo(victim);
    return { mail: mail!, link: verificationLink(mail!) };
  }

  it('the mail asks to ADD the address to some account, names no one, and says the link needs that account\'s password', async () => {
    const attacker = { ...(await createPerson(server, { name: 'Your bank: call +1 555 0100' })) };
    const victim = `victim.mail.${Date.now()}@example.test`;
    const { mail } = await changeTowards(attacker, victim);
    for (const part of ['text/plain', 'text/html'] as const) {
      const body = partOf(mail, part).replace(/\s+/g, ' ');
      expect(body).toContain('asked to add');
      expect(body).toContain('password of that account');
      expect(body).toContain('If you did not ask for this, ignore this mail');
      expect(body).not.toContain('Your bank');
      expect(body).not.toContain(attacker.email);
      expect(body).not.toMatch(/your Gatehouse account/i);
    }
  });

  it('whoever reads the mailbox, not knowing the account\'s password, cannot move the account there; the owner can', async () => {
    const attacker = await createPerson(server);
    const victim = `victim.${Date.now()}@example.test`;
    const { link } = await changeTowards(attacker, victim);
    const token = new URL(link).searchParams.get('token')!;

    // The page says which account asks, only in part: enough to tell it is not one's own.
    const reader = new UserAgent(server.issuer);
    const { page, form } = await openLink(reader, link);
    expect(page.body).toContain(`${attacker.email[0]}•••@example.test`);
    expect(page.body).not.toContain(attacker.email);
    expect(page.body).toContain('Enter the password of the account this address is being added to');

    for (const password of [undefined, '', 'the victim guesses something', 'x'.repeat(2000)]) {
      const refused = await confirm(reader, form, token, password);
      expect(refused.status, String(password)).toBe(400);
      expect(refused.body).toMatch(/Enter the password of the account this address is being added to|That is not the password of the account this address is being added to/);
      // The same page, its link still in the form.
      expect(refused.body).toContain(`name="token" value="${token}"`);
    }
    // Nothing moved, and the link still works.
    expect(await server.stores.users.findById(attacker.id)).toMatchObject({ email: attacker.email, emailVerified: true });
    expect((await reader.request(link)).status).toBe(200);
    expect(await server.addresses.preview(token)).toMatchObject({ kind: 'change', email: victim });

    // The account's own password (its owner did ask for this address) spends it.
    const done = await confirm(reader, form, token, attacker.password);
    expect(done.status).toBe(200);
    expect(await server.stores.users.findById(attacker.id)).toMatchObject({ email: victim, emailVerified: true });
  });

  it('guesses at the account\'s password on the link\'s page are throttled like sign-in: 429 and Retry-After, even for the right one', async () => {
    const person = await createPerson(server);
    const to = `throttled.${person.email}`;
    const { link } = await changeTowards(person, to);
    const agent = new UserAgent(server.issuer);
    const { form, token } = await openLink(agent, link);
    let res;
    for (let attempt = 0; attempt < 10; attempt += 1) {
      res = await confirm(agent, form, token, `guess number ${attempt}`);
      if (res.status === 429) break;
      expect(res.status).toBe(400);
    }
    expect(res!.status).toBe(429);
    expect(Number(res!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(res!.body).toContain('Too many attempts');
    const right = await confirm(agent, form, token, person.password);
    expect(right.status).toBe(429);
    expect(await server.stores.users.findById(person.id)).toMatchObject({ email: person.email });
    expect(await server.addresses.preview(token)).toMatchObject({ kind: 'change', email: to });
  });

  it('a link verifying the address an account already has asks for no password: no one gains an address by it', async () => {
    const person = await unverifiedPerson();
    await server.addresses.sendVerification({ type: 'system', id: 'test' }, person.id);
    const agent = new UserAgent(server.issuer);
    const { page, form, token } = await openLink(agent, verificationLink((await deliverTo(person.email)).at(-1)!));
    expect(page.body).not.toContain('name="password"');
    expect((await confirm(agent, form, token)).status).toBe(200);
    expect(await server.stores.users.findById(person.id)).toMatchObject({ emailVerified: true });
  });
});

describe('administrators and addresses', () => {
  it('may change an address (left unverified, the old address told) and mail a link, but never mark it verified', async () => {
    const person = await createPerson(server);
    const newEmail = `by.admin.${person.email}`;
    const changed = await api.post(`/users/${person.id}/email`, { email: newEmail, send_verification: true });
    expect(changed.status, changed.text).toBe(200);
    expect(changed.body).toMatchObject({ email: newEmail, email_verified: false });
    const [told] = await deliverTo(person.email);
    expect(partOf(told!, 'text/plain')).toContain(`An administrator changed your account's email address to ${newEmail}`);
    const link = verificationLink((await deliverTo(newEmail))[0]!);

    expect((await api.post(`/users/${person.id}/email`, { email: newEmail, email_verified: true })).status).toBe(400);
    const taken = await api.post(`/users/${person.id}/email`, { email: (await createPerson(server)).email });
    expect(taken.status).toBe(409);

    const agent = new UserAgent(server.issuer);
    const { form, token } = await openLink(agent, link);
    expect((await confirm(agent, form, token)).status).toBe(200);
    expect((await api.get(`/users/${person.id}`)).body).toMatchObject({ email: newEmail, email_verified: true });
    // Already verified: nothing to send.
    expect((await api.post(`/users/${person.id}/verification-mail`)).status).toBe(409);
  });

  it('may mail a person a link to verify the address they have', async () => {
    const person = await unverifiedPerson();
    const sent = await api.post(`/users/${person.id}/verification-mail`);
    expect(sent.status, sent.text).toBe(204);
    const [mail] = await deliverTo(person.email);
    expect(subjectOf(mail!)).toBe('Verify your email address');
    expect((await api.post('/users/00000000-0000-4000-8000-000000000000/verification-mail')).status).toBe(404);
  });
});
