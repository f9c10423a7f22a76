// Loopback redirect URIs (http://127.0.0.1, http://[::1], http://localhost) match exactly, port
// included, for every kind of app: a web app, a public app, and a native app that also registered
// a private-use scheme (which oidc-provider would otherwise let return to any loopback port, RFC
// 8252 §7.3). Another port on the same machine may be another program's listener, so a request
// naming one gets an error page and is never redirected; the same holds after signing out.
// The rule is enforced by overriding two oidc-provider Client methods (src/oidc/models/client.ts): if an
// upgrade stops consulting them, the native app's cases below fail.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerson, signIn } from '../../support/flows.js';
import { UserAgent } from '../../support/user-agent.js';
import { startAttackTarget, type AttackTarget } from './target.js';

const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
const PORT = 8765;
const OTHER_PORTS = [8766, 9999, 80, 1];
const HOSTS = ['127.0.0.1', '[::1]', 'localhost'];
const PRIVATE_USE = 'com.example.native:/callback';

let target: AttackTarget;
/** The kinds of app that may register loopback redirect URIs, each on all three hosts at PORT. */
const apps: Record<string, string> = {};
let native: string;

beforeAll(async () => {
  target = await startAttackTarget();
  const { clients } = target.server.stores;
  const loopbacks = HOSTS.map((host) => `http://${host}:${PORT}/cb`);
  const postLogout = HOSTS.map((host) => `http://${host}:${PORT}/signed-out`);
  apps.confidential = (await clients.create({ name: 'Web (dev)', redirectUris: loopbacks, postLogoutRedirectUris: postLogout })).client.clientId;
  apps.public = (await clients.create({ name: 'CLI', redirectUris: loopbacks, postLogoutRedirectUris: postLogout, public: true })).client.clientId;
  native = (await clients.create({ name: 'Native', redirectUris: [PRIVATE_USE, ...loopbacks], postLogoutRedirectUris: postLogout, public: true })).client.clientId;
  apps.native = native;
}, 60_000);

afterAll(async () => { await target?.stop(); });

function authorize(clientId: string, redirectUri: string): string {
  const url = new URL(`${target.server.issuer}/auth`);
  url.search = new URLSearchParams({
    client_id: clientId, response_type: 'code', scope: 'openid', redirect_uri: redirectUri,
    code_challenge: CHALLENGE, code_challenge_method: 'S256', state: 'loopback',
  }).toString();
  return url.href;
}

describe.each(['confidential', 'public', 'native'])('a %s app registered on loopback port 8765', (kind) => {
  it.each(HOSTS)('on %s, the registered port goes on to sign in', async (host) => {
    const res = await new UserAgent(target.server.issuer).request(authorize(apps[kind]!, `http://${host}:${PORT}/cb`));
    expect(res.status, res.body.slice(0, 300)).toBe(303);
    expect(new URL(res.headers.get('location')!, target.server.issuer).origin).toBe(target.server.issuer);
  });

  it.each(HOSTS)('on %s, every other port gets an error page and no redirect', async (host) => {
    for (const port of OTHER_PORTS) {
      const res = await new UserAgent(target.server.issuer).request(authorize(apps[kind]!, `http://${host}:${port}/cb`));
      expect(res.status, `${host}:${port}`).toBe(400);
      expect(res.headers.get('location'), `${host}:${port}`).toBeNull();
      expect(res.body).toMatch(/Unregistered return address/);
    }
    // No port at all is port 80: another address too.
    const res = await new UserAgent(target.server.issuer).request(authorize(apps[kind]!, `http://${host}/cb`));
    expect(res.status).toBe(400);
  });

  it('after signing out, only the registered post-logout port is returned to', async () => {
    for (const host of HOSTS) {
      const logout = (uri: string) => `${target.server.issuer}/session/end?${new URLSearchParams({ client_id: apps[kind]!, post_logout_redirect_uri: uri })}`;
      const registered = await new UserAgent(target.server.issuer).request(logout(`http://${host}:${PORT}/signed-out`));
      expect(registered.status, `${host}: ${registered.body.slice(0, 300)}`).toBe(200);
      const other = await new UserAgent(target.server.issuer).request(logout(`http://${host}:${PORT + 1}/signed-out`));
      expect(other.status, host).toBe(400);
      expect(other.headers.get('location')).toBeNull();
    }
  });
});

it('a native app signs a person in and gets its code on the loopback port it registered', async () => {
  const person = await createPerson(target.server);
  const back = await signIn(new UserAgent(target.server.issuer), authorize(native, `http://[::1]:${PORT}/cb`), person);
  expect(back.origin + back.pathname).toBe(`http://[::1]:${PORT}/cb`);
  expect(back.searchParams.get('code')).toBeTruthy();
});
