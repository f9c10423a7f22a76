// Sign-in links and the edges of every mailed link, over HTTP with a real SMTP server: the same
// answer whatever the address, mail only to an account that may sign in, a link dead once its
// account's address changed or its time passed, a link of one purpose useless for another; and
// with PASSWORD_RECOVERY off, none of it exists.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizationRequest, createPerson, registerApp } from '../support/flows.js';
import { startTestServer } from '../support/gatehouse.js';
import { askForLink, newAddress, startMailingServer, type MailingServer } from '../support/mailing.js';
import { linkIn } from '../support/received-mail.js';
import { formOf, UserAgent, type Response } from '../support/user-agent.js';

const SIGN_IN_LINK = 'Your Gatehouse sign-in link';

let mailing: MailingServer;
beforeAll(async () => { mailing = await startMailingServer(); });
afterAll(async () => { await mailing?.stop(); });

function normalised(res: Response, email: string): string {
  return res.body.replaceAll(email, 'EMAIL').replace(/name="csrf" value="[^"]+"/g, 'csrf');
}

async function signInLink(email: string): Promise<string> {
  expect((await askForLink(mailing.server, email, newAddress(), '/sign-in-link')).status).toBe(200);
  await mailing.deliver();
  return linkIn(mailing.mailsTo(email).filter((m) => m.subject === SIGN_IN_LINK).at(-1)!, `${mailing.server.issuer}/sign-in-link?token=`);
}

describe('asking for a sign-in link', () => {
  it('answers an unknown or disabled address exactly as a known one, and mails only the account that may sign in', async () => {
    const person = await createPerson(mailing.server);
    const disabled = await createPerson(mailing.server);
    await mailing.server.operations.people.disableUser({ type: 'system', id: 'cli' }, disabled.id);
    const unknown = `nobody.${Date.now()}@example.test`;
    const answers = await Promise.all([person.email, disabled.email, unknown].map((email) => askForLink(mailing.server, email, newAddress(), '/sign-in-link')));
    expect(answers.map((res) => res.status)).toEqual([200, 200, 200]);
    expect(normalised(answers[1]!, disabled.email)).toBe(normalised(answers[0]!, person.email));
    expect(normalised(answers[2]!, unknown)).toBe(normalised(answers[0]!, person.email));
    expect(answers[0]!.body).toContain('Open the link in <strong>this browser</strong>');

    await mailing.deliver();
    expect(mailing.mailsTo(person.email).map((m) => m.subject)).toEqual([SIGN_IN_LINK]);
    expect(mailing.mailsTo(disabled.email)).toEqual([]);
    expect(mailing.mailsTo(unknown)).toEqual([]);
  });

  it('counts sign-in links and recovery links to one address apart', async () => {
    const person = await createPerson(mailing.server);
    const from = newAddress();
    for (let i = 0; i < 4; i += 1) await askForLink(mailing.server, person.email, from, '/sign-in-link');
    await askForLink(mailing.server, person.email, from);
    await mailing.deliver();
    const subjects = mailing.mailsTo(person.email).map((m) => m.subject);
    expect(subjects.filter((s) => s === SIGN_IN_LINK)).toHaveLength(3);
    expect(subjects).toContain('Choose a new Gatehouse password');
  });
});

describe('following a sign-in link', () => {
  it('asks before spending it, then marks this browser known once; a second use gets the page saying so', async () => {
    const person = await createPerson(mailing.server);
    const link = await signInLink(person.email);
    const agent = new UserAgent(mailing.server.issuer);
    const page = await agent.request(link);
    expect(page.status).toBe(200);
    expect((await agent.request(link)).status).toBe(200);
    const form = formOf(page.body, /\/sign-in-link\/confirm$/);
    const token = new URL(link).searchParams.get('token')!;
    const confirm = () => agent.request(`${mailing.server.issuer}${form.action}`, { form: { csrf: form.csrf, token } });
    const used = await confirm();
    expect(used.status).toBe(303);
    expect(used.headers.get('location')).toBe('/sign-in-link/done');
    expect(agent.cookies.has('gh_device')).toBe(true);
    const again = await confirm();
    expect(again.status).toBe(410);
    expect(again.body).toContain('This link no longer works');
  });

  it('is dead after 15 minutes, once the account has another address, and at the recovery page', async () => {
    const late = await createPerson(mailing.server);
    const lateLink = await signInLink(late.email);
    const moved = await createPerson(mailing.server);
    const movedLink = await signInLink(moved.email);
    const other = await createPerson(mailing.server);
    const otherLink = await signInLink(other.email);

    await mailing.server.db('users').where({ id: moved.id }).update({ email: `moved.${moved.email}` });
    expect((await new UserAgent(mailing.server.issuer).request(movedLink)).status).toBe(410);
    // A sign-in link's token is no recovery link, and trying it as one does not spend it.
    expect((await new UserAgent(mailing.server.issuer).request(otherLink.replace('/sign-in-link?', '/recover/new-password?'))).status).toBe(410);
    expect((await new UserAgent(mailing.server.issuer).request(otherLink)).status).toBe(200);

    mailing.advance(16 * 60_000);
    const expired = await new UserAgent(mailing.server.issuer).request(lateLink);
    expect(expired.status).toBe(410);
    expect(expired.body).toContain('This link no longer works');
  });

  it('carries the sign-in it was asked from back to it, and nothing else', async () => {
    const person = await createPerson(mailing.server);
    const app = await registerApp(mailing.server);
    const agent = new UserAgent(mailing.server.issuer);
    const login = await agent.follow((await authorizationRequest(app)).url.href);
    const uid = /\/interaction\/([^/]+)\//.exec(formOf(login.body, /\/login$/).action)![1]!;
    const form = formOf(login.body, /\/login$/);
    const asked = await agent.request(`${mailing.server.issuer}/sign-in-link`, { form: { csrf: form.csrf, email: person.email, interaction: uid }, headers: { 'x-forwarded-for': newAddress() } });
    expect(asked.status).toBe(200);
    expect(asked.body).toContain(`href="/interaction/${uid}"`);
    await mailing.deliver();
    const link = linkIn(mailing.mailsTo(person.email).at(-1)!, `${mailing.server.issuer}/sign-in-link?`);
    expect(new URL(link).searchParams.get('interaction')).toBe(uid);

    const forged = await agent.request(`${mailing.server.issuer}/sign-in-link?token=x&interaction=${encodeURIComponent('https://evil.example/')}`);
    expect(forged.status).toBe(410);
    expect(forged.body).not.toContain('evil.example');
  });
});

describe('with PASSWORD_RECOVERY off', () => {
  it('offers no recovery on the sign-in page, and its pages do not exist', async () => {
    const server = await startTestServer({ PASSWORD_RECOVERY: 'false' });
    try {
      const app = await registerApp(server);
      const login = await new UserAgent(server.issuer).follow((await authorizationRequest(app)).url.href);
      expect(login.body).toContain('name="password"');
      expect(login.body).not.toContain('Forgot password?');
      for (const path of ['/recover', '/recover/new-password?token=x', '/sign-in-link?token=x']) {
        expect((await fetch(`${server.issuer}${path}`, { headers: { accept: 'text/html' } })).status).toBe(404);
      }
    } finally {
      await server.stop();
    }
  });
});
