// Dynamic registration in the console: issuing a registration token (shown once), an app that
// registered itself with it marked as such, the device-flow box, and revoking the token.
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../support/gatehouse.js';
import type { UserAgent } from '../../support/user-agent.js';
import { createAdmin, locationOf, signInToConsole, submit, textOf } from './support.js';

let server: TestServer;
let agent: UserAgent;

beforeAll(async () => {
  server = await startTestServer();
  const admin = await createAdmin(server);
  ({ agent } = await signInToConsole(server, admin));
});
afterAll(async () => { await server?.stop(); });

const TOKENS = () => `${server.issuer}/admin/registration-tokens`;

describe('registration tokens in the console', () => {
  it('issues a token shown once, which registers an app the console marks as registered itself; revoking stops it', async () => {
    const issued = await submit(agent, TOKENS(), /\/admin\/registration-tokens$/, { description: 'Acme', scope: 'openid email', uses: '1', days: '7' });
    expect(issued.status, issued.body.slice(0, 400)).toBe(200);
    expect(textOf(issued.body)).toContain('Copy the token now');
    const token = /<code id="issued-token">([^<]+)<\/code>/.exec(issued.body)![1]!;
    expect((await agent.request(TOKENS())).body).not.toContain(token);

    const registered = await client.dynamicClientRegistration(new URL(server.issuer), { client_name: 'Acme Notes', redirect_uris: ['https://acme.example.test/cb'], scope: 'openid email' }, undefined, {
      initialAccessToken: token, execute: [client.allowInsecureRequests],
    });
    const clientId = registered.clientMetadata().client_id;
    expect(textOf((await agent.request(`${server.issuer}/admin/apps`)).body)).toMatch(/Acme Notes .* registered itself/);
    const page = await agent.request(`${server.issuer}/admin/apps/${clientId}`);
    expect(textOf(page.body)).toContain('registered itself (dynamic registration), allowed at most openid email');

    // The device-flow box, on the app's own settings form.
    const saved = await submit(agent, `${server.issuer}/admin/apps/${clientId}`, /\/edit$/, { form: 'edit', name: 'Acme Notes', redirectUris: 'https://acme.example.test/cb', scope: 'openid email', deviceFlow: 'yes' });
    locationOf(saved);
    expect((await server.stores.clients.find(clientId))?.grantTypes).toContain('urn:ietf:params:oauth:grant-type:device_code');

    const [row] = await server.testDb.db('registration_tokens').select('id');
    const revoked = await submit(agent, TOKENS(), new RegExp(`/admin/registration-tokens/${row.id}/revoke$`));
    expect(locationOf(revoked)).toContain('/admin/registration-tokens');
    expect(textOf((await agent.request(TOKENS())).body)).toContain('Revoked');
  });

  it('a bad number is the form again with the problem, never a 500', async () => {
    const res = await submit(agent, TOKENS(), /\/admin\/registration-tokens$/, { uses: 'many', days: '7' });
    expect(res.status).toBe(400);
    expect(textOf(res.body)).toContain('Uses is a whole number');
  });
});
