// A person disabled or deleted behind Gatehouse's back (plain SQL) still has a session cookie in
// their browser: the next authorization request asks them to sign in, never a 500.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizationRequest, createPerson, obtainTokens, registerApp, type App } from '../support/flows.js';
import { written } from '../support/changes.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';

let server: TestServer;
let app: App;
beforeAll(async () => {
  server = await startTestServer();
  app = await registerApp(server);
});
afterAll(async () => { await server?.stop(); });

describe('a session whose person is gone', () => {
  it.each([
    ['disabled in SQL', (id: string) => server.db('users').where({ id }).update({ disabled_at: new Date() })],
    ['deleted in SQL', (id: string) => server.db('users').where({ id }).delete()],
  ])('leads to the sign-in page when the person was %s', async (_how, change) => {
    const person = await createPerson(server);
    const { agent } = await obtainTokens(server, app, person);
    // The person's row is cached; the database's notification of the change reaches the cache a
    // moment after the commit, as it would before anyone's next request.
    await written(server, () => change(person.id));
    const request = await authorizationRequest(app);
    const page = await agent.follow(String(request.url));
    expect(page.status).toBe(200);
    expect(page.body).toContain('name="password"');
  });
});
