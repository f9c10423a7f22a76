// The session and password forms over real HTTP: what each answers, what it changed, and that
// a mistake comes back as the same page with a clear message.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkNewPassword } from '../../src/people/passwords.js';
import { createPerson } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import type { UserAgent } from '../support/user-agent.js';
import { accountForm, signInToAccount, type Person } from './support.js';

const NEW_PASSWORD = 'lantern orchard velvet compass';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.stop();
});

/** The page's text as a person reads it (entities decoded). */
function text(html: string): string {
  return html.replace(/&#39;/g, "'").replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** The handle of the session marked "This device" on the sessions page. */
function thisDevice(html: string): string {
  return /<li class="account-item this-device">[\s\S]*?name="session" value="([^"]+)"/.exec(html)![1]!;
}

async function isSignedIn(agent: UserAgent): Promise<boolean> {
  const res = await agent.request(`${server.issuer}/account`);
  if (res.status === 200) return true;
  expect(res.status).toBe(302);
  return false;
}

/** The person signed in twice: `here` is the browser doing things, `there` another device. */
async function twoDevices(): Promise<{ person: Person & { id: string; name: string }; here: UserAgent; there: UserAgent }> {
  const person = await createPerson(server);
  const { agent: there } = await signInToAccount(server, person);
  const { agent: here } = await signInToAccount(server, person);
  return { person, here, there };
}

async function post(agent: UserAgent, page: string, action: string, form: Record<string, string>, match?: (fields: Record<string, string>) => boolean) {
  const shown = await agent.request(`${server.issuer}${page}`);
  const found = accountForm(shown.body, action, match);
  return agent.request(`${server.issuer}${found.action}`, { form: { ...found.fields, ...form } });
}

describe('active sessions', () => {
  it('signs out of another session: that browser is signed out, this one is not', async () => {
    const { person, here, there } = await twoDevices();
    const thisHandle = thisDevice((await here.request(`${server.issuer}/account/sessions`)).body);
    const res = await post(here, '/account/sessions', '/account/sessions/end', {}, (fields) => fields.session !== thisHandle);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/account/sessions?notice=session-ended');
    expect(text((await here.request(`${server.issuer}/account/sessions?notice=session-ended`)).body)).toContain('That session is signed out.');
    expect(await isSignedIn(there)).toBe(false);
    expect(await isSignedIn(here)).toBe(true);
    const [event] = (await server.audit.list({ type: 'session.ended', userId: person.id })).items;
    expect(event).toMatchObject({ actor: { type: 'user', id: person.id }, details: { how: 'ended' } });
  });

  it('signing out of this device from the list signs this browser out', async () => {
    const { here, there } = await twoDevices();
    const thisHandle = thisDevice((await here.request(`${server.issuer}/account/sessions`)).body);
    const res = await post(here, '/account/sessions', '/account/sessions/end', {}, (fields) => fields.session === thisHandle);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/account');
    expect(await isSignedIn(here)).toBe(false);
    expect(await isSignedIn(there)).toBe(true);
  });

  it('signs out of all other sessions at once', async () => {
    const { here, there } = await twoDevices();
    const res = await post(here, '/account/sessions', '/account/sessions/end-others', {});
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/account/sessions?notice=others-ended');
    const after = await here.request(`${server.issuer}/account/sessions?notice=others-ended`);
    expect(text(after.body)).toContain('You are signed out of all your other sessions.');
    expect(after.body).toContain('You are not signed in anywhere else.');
    expect(await isSignedIn(there)).toBe(false);
  });

  it('a session that already ended (a second tab) gets a 404 page with the list', async () => {
    const { here, there } = await twoDevices();
    const shown = await here.request(`${server.issuer}/account/sessions`);
    const other = accountForm(shown.body, '/account/sessions/end', (fields) => fields.session !== thisDevice(shown.body));
    expect((await here.request(`${server.issuer}${other.action}`, { form: other.fields })).status).toBe(303);
    const again = await here.request(`${server.issuer}${other.action}`, { form: other.fields });
    expect(again.status).toBe(404);
    expect(text(again.body)).toContain('That session is not one of yours, or it has already ended.');
    expect(await isSignedIn(there)).toBe(false);
  });
});

describe('change password', () => {
  it('asks for both passwords, saying which one is missing', async () => {
    const { here } = await twoDevices();
    const noCurrent = await post(here, '/account/password', '/account/password', { new_password: NEW_PASSWORD });
    expect(noCurrent.status).toBe(400);
    expect(noCurrent.body).toContain('Enter your current password.');
    expect(noCurrent.body).toMatch(/id="current-password"[^>]*\s+aria-invalid="true" aria-describedby="form-error"/);
    const noNew = await post(here, '/account/password', '/account/password', { current_password: 'x' });
    expect(noNew.status).toBe(400);
    expect(noNew.body).toContain('Enter a new password.');
  });

  it('refuses a wrong current password clearly, changing nothing', async () => {
    const { person, here, there } = await twoDevices();
    const res = await post(here, '/account/password', '/account/password', { current_password: 'not my password at all', new_password: NEW_PASSWORD, sign_out_others: 'yes' });
    expect(res.status).toBe(400);
    expect(text(res.body)).toContain('That is not your current password.');
    expect(res.body).not.toContain(NEW_PASSWORD);
    expect((await server.stores.users.authenticate(person.email, person.password)).ok).toBe(true);
    expect(await isSignedIn(there)).toBe(true);
  });

  it('throttles guesses at the current password like the sign-in page does: 429 and Retry-After', async () => {
    const { person, here } = await twoDevices();
    let res;
    for (let attempt = 0; attempt < 10; attempt += 1) {
      res = await post(here, '/account/password', '/account/password', { current_password: `guess number ${attempt}`, new_password: NEW_PASSWORD });
      if (res.status === 429) break;
      expect(res.status).toBe(400);
    }
    expect(res!.status).toBe(429);
    expect(Number(res!.headers.get('retry-after'))).toBeGreaterThan(0);
    // Even the right password waits now: the limit is on guessing, not on being wrong.
    const right = await post(here, '/account/password', '/account/password', { current_password: person.password, new_password: NEW_PASSWORD });
    expect(right.status).toBe(429);
    expect((await server.stores.users.authenticate(person.email, person.password)).ok).toBe(true);
  });

  it.each(['password1', 'qwertyuiop', 'short'])('refuses the weak new password %j with the checker\'s advice', async (weak) => {
    const { person, here } = await twoDevices();
    // Unticked on purpose: the page shown again keeps the person's choice.
    const res = await post(here, '/account/password', '/account/password', { current_password: person.password, new_password: weak });
    expect(res.status).toBe(400);
    expect(text(res.body)).toContain(checkNewPassword(weak, [person.email, person.name])!.message);
    expect(res.body).toMatch(/id="new-password"[^>]*aria-describedby="form-error new-password-hint"[^>]*aria-invalid="true"/);
    expect(res.body).toMatch(/name="sign_out_others" value="yes">/);
    expect((await server.stores.users.authenticate(person.email, person.password)).ok).toBe(true);
  });

  it('changes it and keeps the other sessions when the box is unticked', async () => {
    const { person, here, there } = await twoDevices();
    const res = await post(here, '/account/password', '/account/password', { current_password: person.password, new_password: NEW_PASSWORD });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/account/password?notice=password-changed');
    expect(text((await here.request(`${server.issuer}/account/password?notice=password-changed`)).body)).toContain('Your password is changed.');
    expect((await server.stores.users.authenticate(person.email, NEW_PASSWORD)).ok).toBe(true);
    expect(await isSignedIn(there)).toBe(true);
    const [event] = (await server.audit.list({ type: 'user.password_changed', userId: person.id })).items;
    expect(event).toMatchObject({ actor: { type: 'user', id: person.id }, details: { sessionsEnded: 0 } });
  });

  it('changes it and signs out every other session when the box is ticked (as it is by default)', async () => {
    const { person, here, there } = await twoDevices();
    const form = await here.request(`${server.issuer}/account/password`);
    expect(form.body).toMatch(/name="sign_out_others" value="yes" checked>/);
    expect(form.body).toMatch(/name="current_password" type="password" autocomplete="current-password"/);
    expect(form.body).toMatch(/name="new_password" type="password" autocomplete="new-password"/);
    const res = await post(here, '/account/password', '/account/password', { current_password: person.password, new_password: NEW_PASSWORD, sign_out_others: 'yes' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/account/password?notice=password-changed-others-ended');
    expect(await isSignedIn(there)).toBe(false);
    expect(await isSignedIn(here)).toBe(true);
  });
});
