// oidc-provider's router matches its routes whatever the letter case of their fixed parts and with
// one trailing slash. Every control in front of it that compares the path exactly (per-client
// limits, JWT handles, unauthorized_client, the discovery rewrite, the resume guard, caching) would
// be walked around by `/TOKEN` or `/token/`. Any such spelling is a 404; the canonical one works.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../support/gatehouse.js';

let server: TestServer;

beforeAll(async () => { server = await startTestServer(); });
afterAll(async () => { await server?.stop(); });

const VARIANTS: Array<[method: 'GET' | 'POST', canonical: string, variants: string[]]> = [
  ['POST', '/token', ['/TOKEN', '/Token', '/token/']],
  ['POST', '/token/introspection', ['/token/Introspection', '/TOKEN/introspection', '/token/introspection/']],
  ['POST', '/token/revocation', ['/token/REVOCATION', '/token/revocation/']],
  ['POST', '/request', ['/Request', '/request/']],
  ['GET', '/me', ['/ME', '/me/']],
  ['GET', '/jwks', ['/JWKS', '/jwks/']],
  ['GET', '/.well-known/openid-configuration', ['/.well-known/OpenID-Configuration', '/.well-known/openid-configuration/']],
  ['GET', '/.well-known/oauth-authorization-server', ['/.WELL-KNOWN/oauth-authorization-server', '/.well-known/oauth-authorization-server/']],
  ['GET', '/auth', ['/AUTH', '/Auth', '/auth/']],
  ['GET', '/auth/some-uid', ['/AUTH/some-uid', '/Auth/some-uid', '/auth/some-uid/']],
  ['GET', '/session/end', ['/SESSION/end', '/session/end/']],
  ['GET', '/session/end/success', ['/session/END/success', '/session/end/success/']],
];

describe('another spelling of one of oidc-provider\'s routes', () => {
  it.each(VARIANTS)('%s %s: every other spelling is not found, and reaches nothing behind it', async (method, canonical, variants) => {
    const send = (path: string) => fetch(`${server.issuer}${path}`, {
      method,
      headers: { accept: 'application/json', ...(method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      ...(method === 'POST' ? { body: 'grant_type=client_credentials' } : {}),
      redirect: 'manual',
    });
    const honest = await send(canonical);
    expect(honest.status, canonical).not.toBe(404);
    for (const variant of variants) {
      const res = await send(variant);
      expect(res.status, variant).toBe(404);
      expect(await res.json(), variant).toEqual({ error: 'not_found', error_description: 'There is nothing at this address.' });
    }
  });

  it('leaves an interaction\'s own address, and letters in an id, alone', async () => {
    // /auth/:uid's uid is the caller's to spell: only the fixed part must be exact.
    expect((await fetch(`${server.issuer}/auth/MixedCaseUid`, { redirect: 'manual', headers: { accept: 'application/json' } })).status).not.toBe(404);
  });
});
