// A code exchange that fails for the database spends nothing: the 503 tells the app to retry, and
// the retry must succeed. A second authorization in the same browser is exchanged under the grant
// the first sign-in's tokens belong to (oidc-provider reuses the session's grant), so a retry
// refused as a replay would revoke that grant and sign the person out of the app. The faults are
// real: the write the exchange depends on waits on a lock the test holds until PostgreSQL's
// lock_timeout gives up (55P03), as on a contended or failing-over database.
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digest } from '../../src/crypto/digest.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { written } from '../support/changes.js';
import { usingPostgres } from '../support/database.js';
import { faultOn } from '../support/faults.js';
import { authorizationRequest, createPerson, obtainTokens, registerApp, signIn, type App, type AuthorizationRequest } from '../support/flows.js';
import { UserAgent } from '../support/user-agent.js';

const API = 'https://api.example.test';

let server: TestServer;
let person: Awaited<ReturnType<typeof createPerson>>;
const apps = new Map<string, App>();

/** The three ways an exchange issues: its last write the refresh token's, the access token's, or none. */
const KINDS = [
  { kind: 'a JWT app with offline_access', scope: 'openid email offline_access read', registered: 'openid email offline_access read', refresh: true, faultOn: 'RefreshToken' },
  { kind: 'an opaque-token app', scope: 'openid email', registered: 'openid email', refresh: false, faultOn: 'AccessToken' },
  { kind: 'an opaque-token app with offline_access', scope: 'openid email offline_access', registered: 'openid email offline_access', refresh: true, faultOn: 'AccessToken' },
  { kind: 'a JWT app without offline_access', scope: 'openid email read', registered: 'openid email read', refresh: false, faultOn: undefined },
] as const;
type Kind = (typeof KINDS)[number];

const onPostgres = await usingPostgres();

beforeAll(async () => {
  server = await startTestServer();
  await server.stores.resources.create({ identifier: API, scope: 'read write', isDefault: true });
  person = await createPerson(server, { name: 'Grace Hopper' });
  for (const { registered } of KINDS) if (!apps.has(registered)) apps.set(registered, await registerApp(server, { scope: registered }));
});

afterAll(async () => {
  await server?.stop();
});

const appFor = (kind: Kind): App => apps.get(kind.registered)!;

interface Answer {
  status: number;
  retryAfter: string | null;
  body: Record<string, unknown>;
}

/** The token request an app sends for a code, over HTTP, with its answer as it came. */
async function exchange(app: App, callback: URL, request: AuthorizationRequest): Promise<Answer> {
  const res = await fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${app.clientId}:${app.clientSecret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: app.redirectUri, code_verifier: request.codeVerifier }),
  });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Record<string, unknown> };
}

/** The same exchange while the database fails every `operation` on `model`'s rows. */
async function exchangeUnderFault(model: string, operation: 'insert' | 'update', ...args: Parameters<typeof exchange>): Promise<Answer> {
  const release = await faultOn(server.testDb.db, model, operation);
  try {
    return await exchange(...args);
  } finally {
    await release();
  }
}

/** The person signs in to the app, gets tokens, and then, in the same browser, authorizes it again: its second code. */
async function signedInWithASecondCode(kind: Kind) {
  const app = appFor(kind);
  const first = await obtainTokens(server, app, person, { scope: kind.scope });
  const request = await authorizationRequest(app, { scope: kind.scope });
  const callback = await signIn(first.agent, request.url, person);
  return { app, first: first.tokens, request, callback };
}

const codeRow = (callback: URL) => server.testDb.db('oidc_records')
  .first<{ consumed_at: Date | null; grant_id: string }>('consumed_at', 'grant_id')
  .where({ model: 'AuthorizationCode', id_digest: digest(callback.searchParams.get('code')!) });

/** The first sign-in's tokens still work: userinfo takes its access token, and its refresh token (if any) refreshes. */
async function expectStillSignedIn(app: App, tokens: client.TokenEndpointResponse): Promise<void> {
  expect(await client.fetchUserInfo(app.config, tokens.access_token, person.id)).toMatchObject({ sub: person.id });
  if (tokens.refresh_token) expect((await client.refreshTokenGrant(app.config, tokens.refresh_token)).access_token).toBeTruthy();
}

describe('a code exchange the database fails', () => {
  for (const kind of KINDS.filter((k) => k.faultOn !== undefined)) {
    it.skipIf(!onPostgres)(`answers 503, spends nothing, and its retry succeeds, the first sign-in's tokens still working: ${kind.kind} (its ${kind.faultOn} insert fails)`, async () => {
      const { app, first, request, callback } = await signedInWithASecondCode(kind);

      const failed = await exchangeUnderFault(kind.faultOn!, 'insert', app, callback, request);
      expect(failed.status).toBe(503);
      expect(failed.body).toMatchObject({ error: 'temporarily_unavailable' });
      expect(failed.body).not.toHaveProperty('access_token');
      expect(Number(failed.retryAfter)).toBeGreaterThan(0);
      expect((await codeRow(callback))?.consumed_at).toBeNull();

      const retried = await exchange(app, callback, request);
      expect(retried.status).toBe(200);
      expect(typeof retried.body.access_token).toBe('string');
      expect(typeof retried.body.id_token).toBe('string');
      expect(retried.body.refresh_token !== undefined).toBe(kind.refresh);
      expect((await codeRow(callback))?.consumed_at).toBeInstanceOf(Date);

      await expectStillSignedIn(app, first);
      await expectStillSignedIn(app, { ...retried.body, token_type: 'bearer' } as client.TokenEndpointResponse);
    });
  }

  it.skipIf(!onPostgres)('answers 503 and sends no token when the consume written after the response is ready fails (a JWT app without offline_access); its retry succeeds', async () => {
    const kind = KINDS[3];
    const { app, first, request, callback } = await signedInWithASecondCode(kind);

    const failed = await exchangeUnderFault('AuthorizationCode', 'update', app, callback, request);
    expect(failed.status).toBe(503);
    expect(failed.body).toEqual({ error: 'temporarily_unavailable', error_description: expect.any(String) });
    expect((await codeRow(callback))?.consumed_at).toBeNull();

    const retried = await exchange(app, callback, request);
    expect(retried.status).toBe(200);
    expect(retried.body.refresh_token).toBeUndefined();
    await expectStillSignedIn(app, first);
  });
});

describe('a code is still exchanged at most once', () => {
  for (const kind of KINDS) {
    it(`of 10 parallel exchanges of one code exactly one succeeds, and the rest are refused as replays: ${kind.kind}`, async () => {
      const app = appFor(kind);
      const agent = new UserAgent(server.issuer);
      const request = await authorizationRequest(app, { scope: kind.scope });
      const callback = await signIn(agent, request.url, person);
      const { grant_id: grantId } = (await codeRow(callback))!;

      const answers = await Promise.all(Array.from({ length: 10 }, () => exchange(app, callback, request)));

      expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
      expect(answers.filter((a) => a.status === 400 && a.body.error === 'invalid_grant')).toHaveLength(9);
      for (const refused of answers.filter((a) => a.status !== 200)) expect(refused.body).not.toHaveProperty('access_token');
      // Each stored token of the code's grant came from the one exchange that succeeded, or none
      // is left: a replay revokes the grant.
      const issued = await server.testDb.db('oidc_records').whereIn('model', ['AccessToken', 'RefreshToken']).andWhere({ grant_id: grantId }).count<{ count: string }[]>('* as count');
      expect(Number(issued[0]!.count)).toBe(0);
    });

    it(`refuses a code exchanged again after it succeeded, and revokes what the first exchange issued: ${kind.kind}`, async () => {
      const app = appFor(kind);
      const agent = new UserAgent(server.issuer);
      const request = await authorizationRequest(app, { scope: kind.scope });
      const callback = await signIn(agent, request.url, person);
      const first = await exchange(app, callback, request);
      expect(first.status).toBe(200);

      const again = await exchange(app, callback, request);

      expect(again.status).toBe(400);
      expect(again.body).toMatchObject({ error: 'invalid_grant' });
      await expect(client.fetchUserInfo(app.config, first.body.access_token as string, person.id)).rejects.toMatchObject({ status: 401 });
      if (kind.refresh) await expect(client.refreshTokenGrant(app.config, first.body.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_grant' });
    });
  }

  it('spends a code whose exchange is refused after the consume, as before: a disabled person\'s code', async () => {
    const app = appFor(KINDS[0]);
    const leaving = await createPerson(server);
    const agent = new UserAgent(server.issuer);
    const request = await authorizationRequest(app, { scope: KINDS[0].scope });
    const callback = await signIn(agent, request.url, leaving);
    await written(server, () => server.testDb.db('users').where({ id: leaving.id }).update({ disabled_at: new Date() }));

    const refused = await exchange(app, callback, request);

    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ error: 'invalid_grant' });
    expect((await codeRow(callback))?.consumed_at).toBeInstanceOf(Date);
  });
});
