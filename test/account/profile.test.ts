// A person changes the name apps see, on /account/profile, over real HTTP: the app that was given
// the profile reads the new name at once (userinfo), the change is audited
// by the claims it changed (not their values), a name is required and bounded, and a form that changes nothing
// records nothing.
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerson, obtainTokens, registerApp, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { accountForm, signInToAccount } from './support.js';
import type { UserAgent } from '../support/user-agent.js';

let server: TestServer;
let app: App;

beforeAll(async () => {
  server = await startTestServer();
  app = await registerApp(server, { scope: 'openid profile offline_access' });
});

afterAll(async () => {
  await server?.stop();
});

async function profileForm(agent: UserAgent) {
  const page = await agent.request(`${server.issuer}/account/profile`);
  expect(page.status).toBe(200);
  return { page, form: accountForm(page.body, '/account/profile') };
}

function post(agent: UserAgent, csrf: string, names: { name: string; given_name?: string; family_name?: string }) {
  return agent.request(`${server.issuer}/account/profile`, { form: { csrf, given_name: '', family_name: '', ...names } });
}

async function profileAudits(userId: string) {
  await server.audit.flush();
  return server.db('audit_events').where({ user_id: userId, type: 'user.profile_updated' }).orderBy('id').select('details', 'actor_type', 'actor_id');
}

describe('/account/profile', () => {
  it('changes the name; the app given the profile reads it at once, and the change is audited with its new values', async () => {
    const person = await createPerson(server);
    const { tokens } = await obtainTokens(server, app, person, { scope: 'openid profile offline_access' });
    const { agent } = await signInToAccount(server, person, '/account/profile');
    const { page, form } = await profileForm(agent);
    expect(page.body).toContain(`value="${person.name}"`);

    const saved = await post(agent, form.fields.csrf!, { name: 'Ada Lovelace', given_name: 'Ada', family_name: 'Lovelace' });
    expect(saved.status).toBe(303);
    expect(saved.headers.get('location')).toBe('/account/profile?notice=profile-updated');
    const after = await agent.request(`${server.issuer}/account/profile?notice=profile-updated`);
    expect(after.body).toContain('Your name is saved.');
    expect(after.body).toContain('value="Ada Lovelace"');

    // The profile's claims come from userinfo (oidc-provider conforms ID tokens to OIDC Core §5.4).
    const refreshed = await client.refreshTokenGrant(app.config, tokens.refresh_token!);
    expect(await client.fetchUserInfo(app.config, refreshed.access_token, person.id)).toMatchObject({ name: 'Ada Lovelace', given_name: 'Ada', family_name: 'Lovelace' });

    // The log says which names changed, never the names themselves.
    expect(await profileAudits(person.id)).toEqual([
      { details: { changed: ['name', 'given_name', 'family_name'] }, actor_type: 'user', actor_id: person.id },
    ]);

    // Emptying the given name takes the claim away; the audit says so with null.
    await post(agent, (await profileForm(agent)).form.fields.csrf!, { name: 'Ada Lovelace', family_name: 'Lovelace' });
    const again = await client.refreshTokenGrant(app.config, refreshed.refresh_token!);
    expect(await client.fetchUserInfo(app.config, again.access_token, person.id)).not.toHaveProperty('given_name');
    expect((await profileAudits(person.id))[1]).toMatchObject({ details: { changed: ['given_name'] } });
  });

  it('records nothing for a form that changes nothing', async () => {
    const person = await createPerson(server);
    const { agent } = await signInToAccount(server, person, '/account/profile');
    const res = await post(agent, (await profileForm(agent)).form.fields.csrf!, { name: `  ${person.name} ` });
    expect(res.status).toBe(303);
    expect(await profileAudits(person.id)).toEqual([]);
  });

  it('records one change for the same new name given twice at once, not a second entry that changed nothing', async () => {
    const person = await createPerson(server);
    const admin = { type: 'system' as const, id: null };
    await Promise.all([1, 2].map(() => server.operations.people.updateProfile(admin, person.id, { name: 'Given Twice' })));
    expect((await server.stores.users.findById(person.id))!.name).toBe('Given Twice');
    const audits = await profileAudits(person.id);
    expect(audits).toHaveLength(1);
    expect(audits[0]!.details).toMatchObject({ changed: ['name'] });
  });

  it('refuses an empty or overlong name on the page, keeping what was typed, and changes nothing', async () => {
    const person = await createPerson(server);
    const { agent } = await signInToAccount(server, person, '/account/profile');
    const csrf = (await profileForm(agent)).form.fields.csrf!;
    const empty = await post(agent, csrf, { name: '   ', given_name: 'Kept' });
    expect(empty.status).toBe(400);
    expect(empty.body).toContain('A name is required.');
    expect(empty.body).toContain('value="Kept"');
    const long = await post(agent, csrf, { name: 'Someone', family_name: 'x'.repeat(201) });
    expect(long.status).toBe(400);
    expect(long.body).toContain('Use a shorter name, in plain text.');
    expect((await server.stores.users.findById(person.id))!.name).toBe(person.name);
    expect(await profileAudits(person.id)).toEqual([]);
  });

  it('changes nothing for a form posted without this browser\'s token', async () => {
    const person = await createPerson(server);
    const { agent } = await signInToAccount(server, person, '/account/profile');
    const forged = await post(agent, 'forged', { name: 'Forged' });
    expect(forged.status).toBe(403);
    expect((await server.stores.users.findById(person.id))!.name).toBe(person.name);
  });
});
