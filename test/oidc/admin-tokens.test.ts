// Admin API tokens: only an operator-made admin client gets one, by client_credentials, for the
// admin API's audience alone, short-lived, and a rotated secret keeps working only for its overlap.
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/gatehouse.js';

let server: TestServer;
beforeAll(async () => { server = await startTestServer(); });
afterAll(async () => { await server?.stop(); });

async function clientCredentials(clientId: string, secret: string, params: Record<string, string>) {
  const res = await fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...params }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('admin API tokens', () => {
  it('go to an admin client asking for gatehouse:admin, for the admin API only', async () => {
    const { client, clientSecret } = await server.stores.clients.create({ name: 'Automation', clientCredentials: true, admin: true });
    const { status, body } = await clientCredentials(client.clientId, clientSecret!, { scope: 'gatehouse:admin' });
    expect(status).toBe(200);
    const claims = decodeJwt(String(body.access_token));
    expect(claims.aud).toBe(`${server.issuer}/admin/api/v1`);
    expect(claims.scope).toBe('gatehouse:admin');
    expect(claims.client_id).toBe(client.clientId);
    expect(Number(body.expires_in)).toBeLessThanOrEqual(300);
    expect(await server.oidc.verifyAccessToken(String(body.access_token))).toMatchObject({ client_id: client.clientId });
  });

  it('are refused to a machine client that is not an admin', async () => {
    await server.stores.resources.create({ identifier: 'https://api.example.test', scope: 'read' });
    const { client, clientSecret } = await server.stores.clients.create({ name: 'Worker', clientCredentials: true, scope: 'read' });
    // Asking gets it nothing but invalid_scope (RFC 6749 §5.2): no token at all.
    const asked = await clientCredentials(client.clientId, clientSecret!, { scope: 'gatehouse:admin' });
    expect(asked.status).toBe(400);
    expect(asked.body.error).toBe('invalid_scope');
    expect(asked.body.access_token).toBeUndefined();
    const named = await clientCredentials(client.clientId, clientSecret!, { resource: `${server.issuer}/admin/api/v1`, scope: 'gatehouse:admin' });
    expect(named.status).toBe(400);
    expect(named.body.error).toBe('invalid_target');
  });

  it('cannot be held by an app that signs people in', async () => {
    await expect(server.stores.clients.create({ name: 'Sneaky', redirectUris: ['https://app.example.test/cb'], scope: 'openid gatehouse:admin' }))
      .rejects.toThrow(/admin/);
  });
});

describe('a rotated client secret', () => {
  // Rotated as an admin does it (the admin act returns once this instance's caches heard of the
  // change): the store alone leaves this instance's cached client to the change notification.
  const admin = { type: 'client', id: 'rotation-test' } as const;
  const rotateSecret = (clientId: string, overlapSeconds: number) => server.operations.apps.rotateClientSecret(admin, clientId, { overlapSeconds });

  it('keeps the old secret working during the overlap and only then', async () => {
    const { client, clientSecret: first } = await server.stores.clients.create({ name: 'Rotating', clientCredentials: true, admin: true });
    const rotated = await rotateSecret(client.clientId, 3600);
    expect((await clientCredentials(client.clientId, rotated!.clientSecret, { scope: 'gatehouse:admin' })).status).toBe(200);
    expect((await clientCredentials(client.clientId, first!, { scope: 'gatehouse:admin' })).status).toBe(200);

    const again = await rotateSecret(client.clientId, 0);
    expect((await clientCredentials(client.clientId, again!.clientSecret, { scope: 'gatehouse:admin' })).status).toBe(200);
    expect((await clientCredentials(client.clientId, rotated!.clientSecret, { scope: 'gatehouse:admin' })).status).toBe(401);
    expect((await clientCredentials(client.clientId, first!, { scope: 'gatehouse:admin' })).status).toBe(401);
  });
});
