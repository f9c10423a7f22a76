// Adding a way into an account (an authenticator app, a passkey) needs a sign-in of the last 15
// minutes: a browser that is merely still signed in is sent to sign in again (max_age=900), adds
// nothing until it has, and comes back to the page after. The sign-ins are made old in the
// database (ageSignIns), so oidc-provider and Gatehouse agree on how old they are and the
// provider really asks for the password again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHALLENGE_TTL_SECONDS } from '../../src/passkeys/challenges.js';
import { RECENT_SIGN_IN_SECONDS, signedInRecently } from '../../src/security/recent-sign-in.js';
import { accountForm, signInToAccount } from '../account/support.js';
import { authenticatorFor, enrolAuthenticator } from '../factors/support.js';
import { createPerson } from '../support/flows.js';
import { freePort, startTestServer, type TestServer } from '../support/gatehouse.js';
import { ageSignIns } from '../support/oidc-records.js';
import { formOf, type Response, type UserAgent } from '../support/user-agent.js';

let server: TestServer;

beforeAll(async () => {
  // Browsers offer passkeys only to a domain name (here localhost): the passkey form is shown.
  const port = await freePort();
  server = await startTestServer({ PORT: String(port), ISSUER: `http://localhost:${port}` });
});

afterAll(async () => {
  await server?.stop();
});

const OLD = RECENT_SIGN_IN_SECONDS + 60;

async function confirmedApps(userId: string): Promise<number> {
  return (await server.db('factors').where({ user_id: userId, kind: 'totp' }).whereNotNull('confirmed_at')).length;
}

/** The redirect `res` answered with: to the authorization endpoint, asking for a sign-in no older than 15 minutes. */
function expectSignInAgain(res: Response): URL {
  expect(res.status, res.body.slice(0, 300)).toBeGreaterThanOrEqual(300);
  expect(res.status).toBeLessThan(400);
  const to = new URL(res.headers.get('location')!, server.issuer);
  expect(to.pathname).toBe('/auth');
  expect(to.searchParams.get('max_age')).toBe(String(RECENT_SIGN_IN_SECONDS));
  return to;
}

/** Follows a sign-in-again redirect: the login page asks for the password, and the browser comes back. */
async function signInAgain(agent: UserAgent, to: URL, person: { email: string; password: string }): Promise<Response> {
  const login = await agent.follow(to.href);
  expect(login.url, login.body.slice(0, 300)).toMatch(/\/interaction\//);
  const form = formOf(login.body, /\/login$/);
  return agent.follow(new URL(form.action, login.url).href, { form: { csrf: form.csrf, email: person.email, password: person.password } });
}

describe('an authenticator app', () => {
  it('is not offered to a sign-in older than 15 minutes: the password first, then the secret', async () => {
    const person = await createPerson(server);
    const { agent } = await signInToAccount(server, person, '/account/security');
    expect(await ageSignIns(server.db, person.id, OLD)).toBe(1);

    const to = expectSignInAgain(await agent.request(`${server.issuer}/account/security/authenticator`));
    // No secret was made for a session that may not be theirs.
    expect(await server.db('factors').where({ user_id: person.id })).toHaveLength(0);

    const back = await signInAgain(agent, to, person);
    expect(back.url).toBe(`${server.issuer}/account/security/authenticator`);
    expect(back.body).toContain('id="totp-secret"');
    // And the enrolment completes as usual.
    const { recoveryCodes } = await enrolAuthenticator(server, agent, Date.now());
    expect(recoveryCodes).toHaveLength(10);
    expect(await confirmedApps(person.id)).toBe(1);
  });

  it('begun in time is not confirmed once the sign-in has grown old; after signing in again, the same secret is asked for', async () => {
    const person = await createPerson(server);
    const { agent } = await signInToAccount(server, person, '/account/security');
    const page = await agent.follow(`${server.issuer}/account/security/authenticator`);
    expect(page.status).toBe(200);
    const secret = /<code id="totp-secret">([A-Z2-7 ]+)<\/code>/.exec(page.body)![1]!.replace(/ /g, '');
    await ageSignIns(server.db, person.id, OLD);
    const form = accountForm(page.body, '/account/security/authenticator');
    const app = authenticatorFor(secret);
    const refused = await agent.request(new URL(form.action, server.issuer).href, { form: { ...form.fields, code: app.code(Date.now()), name: 'Phone' } });
    expect(refused.status).toBe(303);
    const to = expectSignInAgain(refused);
    expect(await confirmedApps(person.id)).toBe(0);

    // Back from signing in again: the enrolment the person's app already holds, not a new secret.
    const back = await signInAgain(agent, to, person);
    expect(back.url).toBe(`${server.issuer}/account/security/authenticator?factor=${form.fields.factor}`);
    expect(/<code id="totp-secret">([A-Z2-7 ]+)<\/code>/.exec(back.body)![1]!.replace(/ /g, '')).toBe(secret);
    const again = accountForm(back.body, '/account/security/authenticator');
    const done = await agent.follow(new URL(again.action, server.issuer).href, { form: { ...again.fields, code: app.code(Date.now()), name: 'Phone' } });
    expect(done.status).toBe(200);
    expect(await confirmedApps(person.id)).toBe(1);
  });
});

describe('a passkey', () => {
  it('is not offered to a sign-in older than 15 minutes: the page links to sign in again, and the options and the form are refused', async () => {
    const person = await createPerson(server);
    const { agent, page: fresh } = await signInToAccount(server, person, '/account/passkeys');
    expect(fresh.body).toContain('data-passkey-add');
    const add = accountForm(fresh.body, '/account/passkeys');
    await ageSignIns(server.db, person.id, OLD);

    const page = await agent.follow(`${server.issuer}/account/passkeys`);
    expect(page.status).toBe(200);
    expect(page.body).not.toContain('data-passkey-add');
    expect(page.body).toContain('href="/account/passkeys/add"');
    expect(page.body).toContain('Sign in again to add a passkey');

    // The page's script asks for options: refused, saying where to sign in again.
    const options = await agent.request(`${server.issuer}/account/passkeys/registration-options`, { form: { csrf: add.fields.csrf! }, headers: { accept: 'application/json' } });
    expect(options.status).toBe(403);
    expect(JSON.parse(options.body)).toEqual({ error: 'sign_in_again', location: '/account/passkeys/add' });
    // A form posted anyway adds nothing: within a challenge's lifetime of the limit, the
    // registration is refused for want of a challenge (a stale session is given none); after it,
    // the form is not even read, and the browser is sent to sign in again.
    const posted = await agent.request(`${server.issuer}/account/passkeys`, { form: { ...add.fields, response: '{}', name: 'Laptop' } });
    expect(posted.status).toBe(400);
    await ageSignIns(server.db, person.id, CHALLENGE_TTL_SECONDS);
    const postedLater = await agent.request(`${server.issuer}/account/passkeys`, { form: { ...add.fields, response: '{}', name: 'Laptop' } });
    expect(postedLater.status).toBe(303);
    expectSignInAgain(postedLater);
    expect(await server.db('passkeys').where({ user_id: person.id })).toHaveLength(0);

    // The link: sign in again with the password, and back on the page with the form.
    const to = expectSignInAgain(await agent.request(`${server.issuer}/account/passkeys/add`));
    const back = await signInAgain(agent, to, person);
    expect(back.url).toBe(`${server.issuer}/account/passkeys#passkey-name`);
    expect(back.body).toContain('data-passkey-add');
    const again = await agent.request(`${server.issuer}/account/passkeys/registration-options`, { form: { csrf: accountForm(back.body, '/account/passkeys').fields.csrf! }, headers: { accept: 'application/json' } });
    expect(again.status).toBe(200);
    expect(JSON.parse(again.body)).toHaveProperty('challenge');
  });

  it('a recent sign-in goes straight from the link to the form', async () => {
    const person = await createPerson(server);
    const { agent } = await signInToAccount(server, person, '/account/passkeys');
    const res = await agent.request(`${server.issuer}/account/passkeys/add`);
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/account/passkeys#passkey-name');
  });
});

describe('how recent', () => {
  it('is judged in whole seconds, as oidc-provider judges max_age: never stale here and fresh there', () => {
    const authTime = 1_800_000_000;
    expect(signedInRecently(authTime, (authTime + RECENT_SIGN_IN_SECONDS) * 1000 + 999)).toBe(true);
    expect(signedInRecently(authTime, (authTime + RECENT_SIGN_IN_SECONDS + 1) * 1000)).toBe(false);
    expect(signedInRecently(undefined, authTime * 1000)).toBe(false);
  });
});

describe('what needs no recent sign-in', () => {
  it('reading the account pages: a browser left signed in still shows them', async () => {
    const person = await createPerson(server);
    const { agent } = await signInToAccount(server, person, '/account/security');
    await ageSignIns(server.db, person.id, OLD);
    for (const path of ['/account', '/account/security', '/account/passkeys', '/account/apps', '/account/sessions']) {
      const res = await agent.request(`${server.issuer}${path}`);
      expect(res.status, path).toBe(200);
    }
  });
});
