// Password recovery over HTTP, with its mail going to a real SMTP server: the same answer for every
// address (and mail only to an account), links that work once and for 30 minutes and fail with a
// page saying so, limits per address and per client address that answer the same page (and that a
// stranger cannot spend for the person), what the person may keep, and no link in a log line or an
// audit entry.
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerson, obtainTokens, registerApp, type App } from '../support/flows.js';
import { startLogoutReceiver } from '../support/logout-receiver.js';
import { linkIn } from '../support/received-mail.js';
import { formOf, UserAgent, type Response } from '../support/user-agent.js';
import { askForLink, newAddress, startMailingServer, type MailingServer } from '../support/mailing.js';
import { DEFAULT_MAIL_LIMITS } from '../../src/security/mail-throttle.js';

const NEW_PASSWORD = 'lantern orchard velvet compass';
const SENT = 'Check your mail';

let mailing: MailingServer;
let app: App;
/** Every token a mail carried, to look for in logs and the audit log. */
const tokens: string[] = [];

beforeAll(async () => {
  mailing = await startMailingServer();
  app = await registerApp(mailing.server);
});
afterAll(async () => { await mailing?.stop(); });

/** The page without what differs by design: the address typed and the form's token. */
function normalised(res: Response, email: string): string {
  return res.body.replaceAll(email, 'EMAIL').replace(/name="csrf" value="[^"]+"/g, 'csrf');
}

/** The recovery mails `email` received (a sign-in also brings notices). */
const recoveryMails = (email: string) => mailing.mailsTo(email).filter((m) => m.subject === 'Choose a new Gatehouse password');

/** Asks for recovery of `email`, delivers the mail, and returns the link in it. */
async function recoveryLink(email: string): Promise<string> {
  expect((await askForLink(mailing.server, email, newAddress())).status).toBe(200);
  await mailing.deliver();
  const mail = mailing.mailsTo(email).filter((m) => m.subject === 'Choose a new Gatehouse password').at(-1)!;
  const link = linkIn(mail, `${mailing.server.issuer}/recover/new-password?token=`);
  tokens.push(new URL(link).searchParams.get('token')!);
  return link;
}

/** Opens the link's page and posts the new password from it, as a browser would. */
async function setPassword(link: string, password: string, options: { signOutEverywhere?: boolean } = {}) {
  const agent = new UserAgent(mailing.server.issuer);
  const page = await agent.request(link);
  if (page.status !== 200) return { page, posted: undefined };
  const form = formOf(page.body, /\/recover\/new-password$/);
  const token = /name="token" value="([^"]+)"/.exec(page.body)![1]!;
  const posted = await agent.request(`${mailing.server.issuer}${form.action}`, {
    form: { csrf: form.csrf, token, new_password: password, ...(options.signOutEverywhere === false ? {} : { sign_out_everywhere: 'yes' }) },
  });
  return { page, posted };
}

describe('asking for a recovery link', () => {
  it('answers an unknown address exactly as a known one, and mails only the account', async () => {
    const person = await createPerson(mailing.server);
    const unknown = `nobody.${Date.now()}@example.test`;
    const known = await askForLink(mailing.server, person.email, newAddress());
    const nobody = await askForLink(mailing.server, unknown, newAddress());
    expect(known.status).toBe(200);
    expect(nobody.status).toBe(200);
    expect(known.body).toContain(SENT);
    expect(normalised(nobody, unknown)).toBe(normalised(known, person.email));

    await mailing.deliver();
    expect(mailing.mailsTo(person.email).map((m) => m.subject)).toContain('Choose a new Gatehouse password');
    expect(mailing.mailsTo(unknown)).toEqual([]);
    tokens.push(new URL(linkIn(mailing.mailsTo(person.email).at(-1)!, mailing.server.issuer)).searchParams.get('token')!);

    // Both are in the audit log; what was typed is kept only when it names the account.
    const requests = (await mailing.server.audit.list({ type: 'user.password_recovery_requested' })).items;
    expect(requests.find((e) => e.userId === person.id)?.details).toMatchObject({ sent: true, email: person.email });
    const anonymous = requests.find((e) => e.userId === null)!;
    expect(anonymous.details).toMatchObject({ sent: false, reason: 'no_account' });
    expect(JSON.stringify(anonymous.details)).not.toContain(unknown);
  });

  it('refuses an address that is not one with the form again, before any lookup', async () => {
    const res = await askForLink(mailing.server, 'not an address', newAddress());
    expect(res.status).toBe(400);
    expect(res.body).toContain('Enter a valid email address.');
  });

  it('sends at most three links an hour to one address asked for from one network, answering the same page after', async () => {
    const person = await createPerson(mailing.server);
    const from = newAddress();
    const answers = [];
    for (let i = 0; i < 4; i += 1) answers.push(await askForLink(mailing.server, person.email, from));
    expect(answers.map((res) => res.status)).toEqual([200, 200, 200, 200]);
    expect(normalised(answers[3]!, person.email)).toBe(normalised(answers[0]!, person.email));
    await mailing.deliver();
    expect(mailing.mailsTo(person.email)).toHaveLength(3);
  });

  it('lets a stranger spend only their own network\'s share of an address: the person asking from elsewhere still gets the mail', async () => {
    const person = await createPerson(mailing.server);
    const stranger = newAddress();
    for (let i = 0; i < 5; i += 1) await askForLink(mailing.server, person.email, stranger);
    await mailing.deliver();
    expect(mailing.mailsTo(person.email)).toHaveLength(3);
    await askForLink(mailing.server, person.email, newAddress());
    await mailing.deliver();
    expect(mailing.mailsTo(person.email)).toHaveLength(4);
  });

  it('caps one address at ten mails an hour from all networks, except for a browser the person signed in from before', async () => {
    const person = await createPerson(mailing.server);
    const { agent } = await obtainTokens(mailing.server, app, person);
    for (let i = 0; i < 11; i += 1) expect((await askForLink(mailing.server, person.email, newAddress())).status).toBe(200);
    await mailing.deliver();
    expect(recoveryMails(person.email)).toHaveLength(10);
    // Many networks spent the address's mail; the person's own browser has mail of its own.
    const own = await askForLink(mailing.server, person.email, newAddress(), '/recover', agent);
    expect(normalised(own, person.email)).toBe(normalised(await askForLink(mailing.server, person.email, newAddress()), person.email));
    await mailing.deliver();
    expect(recoveryMails(person.email)).toHaveLength(11);
  });

  it('sends nothing more to anyone from a client address that asked twenty times this hour, answering the same page', async () => {
    const from = newAddress();
    for (let i = 0; i < 20; i += 1) expect((await askForLink(mailing.server, `walk.${i}.${Date.now()}@example.test`, from)).status).toBe(200);
    const person = await createPerson(mailing.server);
    const refused = await askForLink(mailing.server, person.email, from);
    expect(refused.status).toBe(200);
    expect(refused.body).toContain(SENT);
    await mailing.deliver();
    expect(mailing.mailsTo(person.email)).toEqual([]);
    // From elsewhere the same address is mailed at once.
    await askForLink(mailing.server, person.email, newAddress());
    await mailing.deliver();
    expect(mailing.mailsTo(person.email)).toHaveLength(1);
  });

  it('writes no more counters for a client address that spent its hour, whatever new addresses it walks, answering the same page', async () => {
    const rateLimitRows = async () => Number((await mailing.server.testDb.db('rate_limits').count<Array<{ count: string | number }>>({ count: '*' }))[0]!.count);
    const from = newAddress();
    const run = Date.now();
    const walked = (i: number) => `list.${i}.${run}@example.test`;
    const allowed = await askForLink(mailing.server, walked(0), from);
    for (let i = 1; i < DEFAULT_MAIL_LIMITS.perNetwork; i += 1) expect((await askForLink(mailing.server, walked(i), from)).status).toBe(200);
    const before = await rateLimitRows();
    for (let i = 0; i < 10; i += 1) {
      const email = walked(DEFAULT_MAIL_LIMITS.perNetwork + i);
      const refused = await askForLink(mailing.server, email, from);
      expect(refused.status).toBe(200);
      expect(normalised(refused, email)).toBe(normalised(allowed, walked(0)));
    }
    expect(await rateLimitRows()).toBe(before);
  });
});

describe('following a recovery link', () => {
  it('shows the form without spending the link, refuses a weak password keeping the link, then works once', async () => {
    const person = await createPerson(mailing.server);
    const link = await recoveryLink(person.email);
    // Opened twice (a mail scanner first, then the person): still usable.
    expect((await new UserAgent(mailing.server.issuer).request(link)).status).toBe(200);
    const weak = await setPassword(link, 'password');
    expect(weak.posted?.status).toBe(400);
    expect(weak.posted?.body).toContain('Choose a new password');

    const done = await setPassword(link, NEW_PASSWORD);
    expect(done.posted?.status).toBe(303);
    expect(done.posted?.headers.get('location')).toBe('/recover/done');
    expect((await mailing.server.stores.users.authenticate(person.email, NEW_PASSWORD)).ok).toBe(true);
    expect((await mailing.server.stores.users.authenticate(person.email, person.password)).ok).toBe(false);

    const again = await setPassword(link, 'another long passphrase here');
    expect(again.page.status).toBe(410);
    expect(again.page.body).toContain('This link no longer works');
    expect(again.page.body).toContain('Send me a new link');
    expect((await mailing.server.stores.users.authenticate(person.email, NEW_PASSWORD)).ok).toBe(true);
  });

  it('refuses a link posted again after it was used, with the page and no change', async () => {
    const person = await createPerson(mailing.server);
    const link = await recoveryLink(person.email);
    const agent = new UserAgent(mailing.server.issuer);
    const page = await agent.request(link);
    const form = formOf(page.body, /\/recover\/new-password$/);
    const token = new URL(link).searchParams.get('token')!;
    const post = () => agent.request(`${mailing.server.issuer}${form.action}`, { form: { csrf: form.csrf, token, new_password: NEW_PASSWORD } });
    expect((await post()).status).toBe(303);
    const second = await post();
    expect(second.status).toBe(410);
    expect(second.body).toContain('This link no longer works');
  });

  it('refuses a link after 30 minutes, and one that was never issued, with the page', async () => {
    const person = await createPerson(mailing.server);
    const link = await recoveryLink(person.email);
    mailing.advance(31 * 60_000);
    const late = await setPassword(link, NEW_PASSWORD);
    expect(late.page.status).toBe(410);
    expect(late.page.body).toContain('This link no longer works');
    expect((await mailing.server.stores.users.authenticate(person.email, person.password)).ok).toBe(true);

    for (const token of ['', 'x', 'A'.repeat(43), '%00'.repeat(20)]) {
      const res = await new UserAgent(mailing.server.issuer).request(`${mailing.server.issuer}/recover/new-password?token=${token}`);
      expect(res.status).toBe(410);
    }
  });

  it('always ends offline access; sessions end only when the person ticks "sign me out everywhere"', async () => {
    const kept = await createPerson(mailing.server);
    const keptTokens = await obtainTokens(mailing.server, app, kept);
    expect((await setPassword(await recoveryLink(kept.email), NEW_PASSWORD, { signOutEverywhere: false })).posted?.status).toBe(303);
    expect((await mailing.server.selfService.listSessions(kept.id)).items).toHaveLength(1);
    await expect(client.refreshTokenGrant(app.config, keptTokens.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });

    const ended = await createPerson(mailing.server);
    const endedTokens = await obtainTokens(mailing.server, app, ended);
    expect((await setPassword(await recoveryLink(ended.email), NEW_PASSWORD)).posted?.status).toBe(303);
    expect((await mailing.server.selfService.listSessions(ended.id)).items).toEqual([]);
    await expect(client.refreshTokenGrant(app.config, endedTokens.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });

    const [entry] = (await mailing.server.audit.list({ type: 'user.password_recovered', userId: ended.id })).items;
    expect(entry?.details).toMatchObject({ signedOutEverywhere: true, sessionsEnded: 1 });
    expect(entry?.actor).toEqual({ type: 'user', id: ended.id });
  });

  it('opens an invited or waiting account whose holder recovers instead, verifying its address, so the new password signs in', async () => {
    const email = `invited.${Date.now()}@example.test`;
    const invited = await mailing.server.stores.users.create({ email, name: 'Invited Person' }, undefined, 'invited');
    const { posted } = await setPassword(await recoveryLink(email), NEW_PASSWORD);
    expect(posted!.status).toBeLessThan(400);
    expect(await mailing.server.stores.users.findById(invited.id)).toMatchObject({ emailVerified: true, activatedAt: expect.any(Date) });
    const { tokens: signedIn } = await obtainTokens(mailing.server, app, { email, password: NEW_PASSWORD });
    expect(signedIn.claims()?.sub).toBe(invited.id);
    const recovered = (await mailing.server.audit.list({ type: 'user.password_recovered' })).items.find((e) => e.userId === invited.id);
    expect(recovered?.details).toMatchObject({ activated: true });
  });

  it('greets a sign-up nobody verified without its name: whoever signed up chose it, and the mail goes to a stranger', async () => {
    const email = `waiting.${Date.now()}@example.test`;
    const words = 'YOUR MAILBOX WILL BE CLOSED. Visit https://evil.example/keep';
    await mailing.server.stores.users.create({ email, name: words, password: NEW_PASSWORD }, undefined, 'unverified');
    await recoveryLink(email);
    const mail = recoveryMails(email).at(-1)!;
    expect(JSON.stringify(mail)).not.toContain('evil.example');
    expect(JSON.stringify(mail)).toContain('Hello,');
  });

  it('signing out everywhere sends each app of the ended sessions a back-channel logout token naming its sid', async () => {
    const receiver = await startLogoutReceiver();
    try {
      const { client: registered, clientSecret } = await mailing.server.stores.clients.create({ name: 'Told App', redirectUris: [app.redirectUri], backchannelLogoutUri: receiver.uri });
      const told: App = { ...app, clientId: registered.clientId, clientSecret, config: await client.discovery(new URL(mailing.server.issuer), registered.clientId, clientSecret, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] }) };
      const person = await createPerson(mailing.server);
      const { tokens: signedIn } = await obtainTokens(mailing.server, told, person);
      await mailing.deliver();
      expect((await setPassword(await recoveryLink(person.email), NEW_PASSWORD)).posted?.status).toBe(303);
      await mailing.deliver();
      expect(receiver.tokens).toHaveLength(1);
      const { payload } = await jwtVerify(receiver.tokens[0]!, createRemoteJWKSet(new URL(`${mailing.server.issuer}/jwks`)), { issuer: mailing.server.issuer, audience: told.clientId, typ: 'logout+jwt' });
      expect(payload).toMatchObject({ sub: person.id, sid: signedIn.claims()!.sid });
    } finally {
      await receiver.close();
    }
  });

  it('writes no link into a log line, an audit entry or any other row', async () => {
    expect(tokens.length).toBeGreaterThan(5);
    await mailing.server.audit.flush();
    const logs = mailing.server.rawLogs.join('\n');
    const { db } = mailing.server.testDb;
    const tables = await db('information_schema.tables').select('table_name').where({ table_schema: 'public', table_type: 'BASE TABLE' }) as Array<{ table_name: string }>;
    const dump = JSON.stringify(await Promise.all(tables.map(async ({ table_name: table }) => (await db.raw(`select * from "${table}"`)).rows)));
    expect(dump).toContain('user.password_recovery_requested');
    for (const token of tokens) {
      expect(logs).not.toContain(token);
      expect(dump).not.toContain(token);
    }
  });
});
