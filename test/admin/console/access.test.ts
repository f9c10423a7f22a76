// Who gets into the admin console: signed-in administrators only. Everyone else is sent to sign
// in, or told the console is for administrators; a form from anywhere else changes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerson } from '../../support/flows.js';
import { startTestServer, type TestServer } from '../../support/gatehouse.js';
import { formOf, UserAgent } from '../../support/user-agent.js';
import { createAdmin, locationOf, openForm, signInToConsole, submit, textOf } from './support.js';

let server: TestServer;
beforeAll(async () => { server = await startTestServer(); });
afterAll(async () => { await server?.stop(); });

const PAGES = ['/admin', '/admin/people', '/admin/people/new', '/admin/apps', '/admin/apps/new', '/admin/apis', '/admin/apis/new', '/admin/keys', '/admin/audit'];

describe('someone not signed in', () => {
  it.each(PAGES)('opening %s is sent to sign in with Gatehouse\'s own client, to come back to it', async (path) => {
    const res = await new UserAgent(server.issuer).request(`${server.issuer}${path}?x=1`);
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location')!, server.issuer);
    expect(location.pathname).toBe('/auth');
    expect(location.searchParams.get('client_id')).toBe('gatehouse');
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('lands on the page they asked for after signing in', async () => {
    const admin = await createAdmin(server);
    const { page } = await signInToConsole(server, admin, '/admin/keys?from=bookmark');
    expect(page.status).toBe(200);
    expect(new URL(page.url).pathname + new URL(page.url).search).toBe('/admin/keys?from=bookmark');
    expect(page.body).toContain('<h1 id="page-title">Signing keys</h1>');
  });

  it('/admin itself opens the People page', async () => {
    const admin = await createAdmin(server);
    const { page } = await signInToConsole(server, admin, '/admin');
    expect(new URL(page.url).pathname).toBe('/admin/people');
    expect(page.body).toContain('<h1 id="page-title">People</h1>');
  });

  it('a form posted without a session is refused as expired, and changes nothing', async () => {
    const person = await createPerson(server);
    // A browser with a CSRF secret and a real token for it, but no one signed in.
    const agent = new UserAgent(server.issuer);
    const login = await agent.follow(`${server.issuer}/admin`);
    const { csrf } = formOf(login.body, /\/login$/);
    const res = await agent.request(`${server.issuer}/admin/people/${person.id}/disable`, { form: { csrf } });
    expect(res.status).toBe(403);
    expect(textOf(res.body)).toContain('This form has expired');
    expect((await server.stores.users.findById(person.id))?.disabledAt).toBeNull();
  });
});

describe('a signed-in person who is not an administrator', () => {
  let agent: UserAgent;
  let csrf: string;

  beforeAll(async () => {
    ({ agent, csrf } = await signInToConsole(server, await createPerson(server)));
  });

  it.each(PAGES)('%s: 403, "Only administrators can open the console"', async (path) => {
    const res = await agent.request(`${server.issuer}${path}`);
    expect(res.status).toBe(403);
    expect(res.body).toContain('Only administrators can open the console');
    expect(res.body).toContain('href="/session/end"');
    expect(res.body).not.toContain('aria-label="Admin console"');
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('a form with a valid CSRF token is refused too, and changes nothing', async () => {
    const victim = await createPerson(server);
    // The token is valid for this browser: the console refuses the person, not the form.
    const res = await agent.request(`${server.issuer}/admin/people/${victim.id}/disable`, { form: { csrf } });
    expect(res.status).toBe(403);
    expect((await server.stores.users.findById(victim.id))?.disabledAt).toBeNull();
  });
});

describe('an administrator', () => {
  it('who stops being one is refused on the next request', async () => {
    const admin = await createAdmin(server);
    const { agent, page } = await signInToConsole(server, admin);
    expect(page.status).toBe(200);
    await server.db('users').where({ id: admin.id }).update({ is_admin: false });
    const res = await agent.request(`${server.issuer}/admin/people`);
    expect(res.status).toBe(403);
    expect(res.body).toContain('Only administrators can open the console');
  });

  it('who is disabled by another administrator is signed out of the console at once', async () => {
    const admin = await createAdmin(server);
    const other = await createAdmin(server);
    const { agent } = await signInToConsole(server, admin);
    const { agent: otherAgent } = await signInToConsole(server, other);
    expect(locationOf(await submit(otherAgent, `${server.issuer}/admin/people/${admin.id}`, /\/disable$/))).toBe(`/admin/people/${admin.id}?done=person-disabled`);
    const res = await agent.request(`${server.issuer}/admin/people`);
    expect(res.status).toBe(302);
    expect(new URL(res.headers.get('location')!, server.issuer).pathname).toBe('/auth');
  });

  it('cannot disable or delete their own account', async () => {
    const admin = await createAdmin(server);
    const { agent } = await signInToConsole(server, admin);
    const page = `${server.issuer}/admin/people/${admin.id}`;
    const disable = await submit(agent, page, /\/disable$/);
    expect(disable.status).toBe(409);
    expect(textOf(disable.body)).toContain('You cannot do this to your own account');
    const remove = await submit(agent, `${page}/delete`, /\/delete$/);
    expect(remove.status).toBe(409);
    expect(await server.stores.users.findById(admin.id)).toMatchObject({ disabledAt: null });
  });

  it('cannot reset their own password or sign-in methods here: that is for their account pages, which ask for proof', async () => {
    const admin = await createAdmin(server);
    const { agent } = await signInToConsole(server, admin);
    const before = await server.testDb.db('users').where({ id: admin.id }).first('password_hash');
    // The console's token for this browser (any form's), posted to both acts for oneself.
    const { csrf } = await openForm(agent, `${server.issuer}/admin/people/${(await createAdmin(server)).id}`, /\/password$/);
    for (const act of ['password', 'factors/reset']) {
      const res = await agent.request(`${server.issuer}/admin/people/${admin.id}/${act}`, { form: { csrf, password: 'a brand new passphrase here' } });
      expect(res.status, act).toBe(409);
      expect(textOf(res.body)).toContain('on your account pages');
    }
    expect(await server.testDb.db('users').where({ id: admin.id }).first('password_hash')).toEqual(before);
  });

  it('sees their own session marked on their page', async () => {
    const admin = await createAdmin(server);
    const { agent } = await signInToConsole(server, admin);
    const page = await agent.request(`${server.issuer}/admin/people/${admin.id}`);
    expect(page.body).toContain('This is you');
  });

  it('posting a form without its CSRF token, or with a wrong one, is refused and changes nothing', async () => {
    const admin = await createAdmin(server);
    const person = await createPerson(server);
    const { agent } = await signInToConsole(server, admin);
    const { action, csrf } = await openForm(agent, `${server.issuer}/admin/people/${person.id}`, /\/disable$/);
    for (const form of [{}, { csrf: '' }, { csrf: `${csrf}x` }, { csrf: 'a'.repeat(300) }] as Array<Record<string, string>>) {
      const res = await agent.request(action, { form });
      expect(res.status).toBe(403);
      expect(textOf(res.body)).toContain('This form has expired');
    }
    expect((await server.stores.users.findById(person.id))?.disabledAt).toBeNull();
    expect(locationOf(await agent.request(action, { form: { csrf } }))).toBe(`/admin/people/${person.id}?done=person-disabled`);
    expect((await server.stores.users.findById(person.id))?.disabledAt).toBeInstanceOf(Date);
  });

  it('an oversized or non-form body is a 4xx page and changes nothing; a badly encoded one is never a 5xx', async () => {
    const admin = await createAdmin(server);
    const person = await createPerson(server);
    const { agent, csrf } = await signInToConsole(server, admin);
    const action = `${server.issuer}/admin/people/${person.id}/disable`;
    const send = (body: string, type: string) => fetch(action, { method: 'POST', redirect: 'manual', headers: { cookie: agent.cookieHeader(), 'content-type': type, accept: 'text/html' }, body });
    const oversized = await send(`csrf=${csrf}&pad=${'a'.repeat(100 * 1024)}`, 'application/x-www-form-urlencoded');
    expect(oversized.status).toBe(413);
    expect(await oversized.text()).toContain('<h1');
    expect((await send(JSON.stringify({ csrf }), 'application/json')).status).toBe(403);
    expect((await send(`csrf=${csrf}`, 'text/plain')).status).toBe(403);
    expect((await send(`csrf=${csrf}&csrf=${csrf}`, 'application/x-www-form-urlencoded')).status).toBe(403);
    expect((await server.stores.users.findById(person.id))?.disabledAt).toBeNull();
    // Broken percent-encoding in a field the form does not use is read leniently, never a 5xx.
    const broken = await send(`csrf=${csrf}&name=%E0%A4%A&%FF=%`, 'application/x-www-form-urlencoded');
    expect(broken.status).toBeLessThan(500);
  });

  it('a confirmation shows only fixed messages: an arbitrary `done` says nothing', async () => {
    const admin = await createAdmin(server);
    const { agent } = await signInToConsole(server, admin);
    const known = await agent.request(`${server.issuer}/admin/people?done=person-deleted`);
    expect(known.body).toContain('role="status">The person was deleted');
    const made = await agent.request(`${server.issuer}/admin/people?done=${encodeURIComponent('<b>Your account is compromised</b>')}`);
    expect(made.body).not.toContain('role="status"');
    expect(made.body).not.toContain('compromised');
    const inherited = await agent.request(`${server.issuer}/admin/people?done=constructor`);
    expect(inherited.body).not.toContain('role="status"');
  });

  it('/admin/api/… is never answered by the console', async () => {
    const admin = await createAdmin(server);
    const { agent } = await signInToConsole(server, admin);
    for (const path of ['/admin/api/v1/users', '/admin/api/v2/anything', '/admin/api']) {
      for (const browser of [agent, new UserAgent(server.issuer)]) {
        const res = await browser.request(`${server.issuer}${path}`);
        expect(res.status, path).not.toBe(200);
        expect(res.headers.get('location'), path).toBeNull();
        expect(res.body, path).not.toContain('Gatehouse admin');
      }
    }
  });
});
