// Addresses naming nothing (a person, app, API, session or grant that does not exist, or that
// belongs to someone else) are a 404 page in the console, and change nothing.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerson, obtainTokens, registerApp } from '../../support/flows.js';
import { startTestServer, type TestServer } from '../../support/gatehouse.js';
import type { UserAgent } from '../../support/user-agent.js';
import { createAdmin, signInToConsole, textOf } from './support.js';

let server: TestServer;
let agent: UserAgent;
let csrf: string;

beforeAll(async () => {
  server = await startTestServer();
  ({ agent, csrf } = await signInToConsole(server, await createAdmin(server)));
});
afterAll(async () => { await server?.stop(); });

function expectNotFound(res: { status: number; body: string; headers: Headers }, what?: string) {
  expect(res.status, res.body.slice(0, 300)).toBe(404);
  expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  expect(res.body).toContain('aria-label="Admin console"');
  if (what) expect(textOf(res.body)).toContain(what);
}

const UNKNOWN_IDS = [randomUUID(), 'not-a-uuid', '%00', `${randomUUID()}'--`];
const UNKNOWN_API = encodeURIComponent('https://nowhere.example.test');

describe('pages of things that do not exist', () => {
  it.each(UNKNOWN_IDS)('person %s', async (id) => {
    for (const path of ['', '/delete']) expectNotFound(await agent.request(`${server.issuer}/admin/people/${encodeURIComponent(id)}${path}`), 'No such person');
  });

  it.each(UNKNOWN_IDS)('app %s', async (id) => {
    for (const path of ['', '/delete']) expectNotFound(await agent.request(`${server.issuer}/admin/apps/${encodeURIComponent(id)}${path}`), 'No such app');
  });

  it('an API', async () => {
    for (const path of ['', '/delete']) expectNotFound(await agent.request(`${server.issuer}/admin/apis/${UNKNOWN_API}${path}`), 'No such API');
    expectNotFound(await agent.request(`${server.issuer}/admin/apis/not-a-uri`), 'No such API');
  });

  it('Gatehouse\'s own sign-in client is not an app to manage', async () => {
    expectNotFound(await agent.request(`${server.issuer}/admin/apps/gatehouse`));
  });
});

describe('forms for things that do not exist', () => {
  it.each(['disable', 'enable', 'password', 'sessions/end-all', 'delete', 'sessions/x/end', 'grants/x/revoke', 'apps/x/revoke'])('a person\'s %s', async (action) => {
    const res = await agent.request(`${server.issuer}/admin/people/${randomUUID()}/${action}`, { form: { csrf, password: 'a fine long passphrase 42' } });
    expectNotFound(res, 'No such person');
  });

  it.each(['edit', 'rotate-secret', 'disable', 'enable', 'revoke-grants', 'delete', 'grants/x/revoke'])('an app\'s %s', async (action) => {
    expectNotFound(await agent.request(`${server.issuer}/admin/apps/unknown-app/${action}`, { form: { csrf, name: 'x' } }), 'No such app');
  });

  it.each(['edit', 'rotate-secret', 'disable', 'enable', 'delete'])('an API\'s %s', async (action) => {
    expectNotFound(await agent.request(`${server.issuer}/admin/apis/${UNKNOWN_API}/${action}`, { form: { csrf, name: 'x', scopes: 'a' } }), 'No such API');
  });
});

describe('sessions and grants a person does not have', () => {
  it('an unknown session or grant of a real person: their page again, with a 404', async () => {
    const person = await createPerson(server);
    const base = `${server.issuer}/admin/people/${person.id}`;
    const session = await agent.request(`${base}/sessions/${encodeURIComponent('no-such-session')}/end`, { form: { csrf } });
    expectNotFound(session, 'No such session.');
    expect(session.body).toContain(`<h1 id="page-title">${person.name}</h1>`);
    expectNotFound(await agent.request(`${base}/grants/no-such-grant/revoke`, { form: { csrf } }), 'No such grant');
    expectNotFound(await agent.request(`${base}/apps/no-such-app/revoke`, { form: { csrf } }), 'No such grant of this person for this app.');
  });

  it('another person\'s session or grant, through this person\'s address, is not found and stays', async () => {
    const app = await registerApp(server);
    const owner = await createPerson(server);
    const other = await createPerson(server);
    await obtainTokens(server, app, owner);
    const [grant] = await server.db('oidc_records').where({ model: 'Grant', account_id: owner.id });
    const [session] = await server.db('oidc_records').where({ model: 'Session', account_id: owner.id });
    const base = `${server.issuer}/admin/people/${other.id}`;
    expectNotFound(await agent.request(`${base}/grants/${encodeURIComponent(grant.grant_id)}/revoke`, { form: { csrf } }), 'No such grant');
    expectNotFound(await agent.request(`${base}/sessions/${encodeURIComponent(session.uid_digest)}/end`, { form: { csrf } }), 'No such session');
    expectNotFound(await agent.request(`${base}/apps/${app.clientId}/revoke`, { form: { csrf } }));
    expectNotFound(await agent.request(`${server.issuer}/admin/apps/${(await registerApp(server)).clientId}/grants/${encodeURIComponent(grant.grant_id)}/revoke`, { form: { csrf } }), 'No such grant');
    expect(await server.db('oidc_records').where({ model: 'Grant', account_id: owner.id })).toHaveLength(1);
    expect(await server.db('oidc_records').where({ model: 'Session', account_id: owner.id })).toHaveLength(1);
  });
});
