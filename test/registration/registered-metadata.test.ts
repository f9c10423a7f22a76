// What an app registering itself (RFC 7591) is answered is what Gatehouse registered, and holds it
// to (§3.2.1): the RFC 7592 read of the same app says the same, member by member, after a
// registration and after an update; what Gatehouse cannot hold an app to is refused, not echoed;
// and what the app asked for is enforced: PAR, signed request objects, DPoP, back-channel logout.
import { exportJWK, generateKeyPair } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizationRequest, createPerson, signIn, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { startLogoutReceiver, type LogoutReceiver } from '../support/logout-receiver.js';
import { UserAgent } from '../support/user-agent.js';

const REDIRECT = 'https://app.example.test/callback';
const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';
const SYSTEM = { type: 'system' as const, id: null };
/** What the server issues rather than registers: in the answer, not necessarily in the read. */
const ISSUED = new Set(['client_id', 'client_id_issued_at', 'client_secret', 'client_secret_expires_at', 'registration_access_token', 'registration_client_uri']);
const ABSENT = Symbol('absent');

let server: TestServer;
let person: Awaited<ReturnType<typeof createPerson>>;
const receivers: LogoutReceiver[] = [];

beforeAll(async () => {
  // The logout receivers listen on loopback over http: the operator names that host and scheme.
  server = await startTestServer({ REGISTRATION_REDIRECT_HOSTS: 'app.example.test,127.0.0.1', REGISTRATION_REDIRECT_SCHEMES: 'https,http', REGISTRATION_RATE_LIMIT: '1000' });
  person = await createPerson(server);
});

afterAll(async () => {
  await Promise.all(receivers.map((receiver) => receiver.close()));
  await server?.stop();
});

async function issueToken(): Promise<string> {
  return (await server.operations.registration.create(SYSTEM, {})).token;
}

async function publicJwks() {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  return { jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'signing', alg: 'ES256', use: 'sig' }] }, privateKey };
}

async function post(path: string, body: unknown, token: string, method = 'POST') {
  const res = await fetch(new URL(path, server.issuer), { method, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function read(answer: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await fetch(String(answer.registration_client_uri), { headers: { authorization: `Bearer ${answer.registration_access_token}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

/** Every registered member of the answer is the read's, and the read has nothing the answer lacks. */
function expectAnswerIsRead(answer: Record<string, unknown>, current: Record<string, unknown>): void {
  for (const member of new Set([...Object.keys(answer), ...Object.keys(current)])) {
    if (!ISSUED.has(member)) expect(current[member], member).toEqual(answer[member]);
  }
}

describe('the answer is the registration', () => {
  it('for every member an app may send: kept as sent, replaced by what Gatehouse keeps, or dropped; the read agrees with the answer on each', async () => {
    const { jwks } = await publicJwks();
    // member, what the app sends, what is registered (ABSENT: not answered, not read).
    const table: Array<[string, unknown, unknown]> = [
      ['client_name', 'Every Member', 'Every Member'],
      ['redirect_uris', [REDIRECT], [REDIRECT]],
      ['post_logout_redirect_uris', ['https://app.example.test/bye'], ['https://app.example.test/bye']],
      ['scope', 'openid email', 'openid email'],
      ['grant_types', ['authorization_code', 'refresh_token', DEVICE_CODE], ['authorization_code', 'refresh_token', DEVICE_CODE]],
      ['response_types', ['code'], ['code']],
      ['token_endpoint_auth_method', 'private_key_jwt', 'private_key_jwt'],
      ['jwks', jwks, jwks],
      ['dpop_bound_access_tokens', true, true],
      ['require_pushed_authorization_requests', true, true],
      ['require_signed_request_object', true, true],
      ['backchannel_logout_uri', 'https://app.example.test/backchannel-logout', 'https://app.example.test/backchannel-logout'],
      ['backchannel_logout_session_required', true, true],
      ['introspection_signed_response_alg', 'ES256', 'ES256'],
      ['id_token_signed_response_alg', 'RS256', 'RS256'],
      ['subject_type', 'public', 'public'],
      ['client_uri', 'https://app.example.test/', 'https://app.example.test/'],
      ['logo_uri', 'https://app.example.test/logo.png', 'https://app.example.test/logo.png'],
      ['policy_uri', 'https://app.example.test/privacy', 'https://app.example.test/privacy'],
      ['tos_uri', 'https://app.example.test/terms', 'https://app.example.test/terms'],
      ['contacts', ['ops@app.example.test'], ['ops@app.example.test']],
      // Every ID token carries auth_time; the type follows the redirect URIs (https: a web app).
      ['require_auth_time', false, true],
      ['application_type', 'native', 'web'],
      // Gatehouse never starts a sign-in at the app: informative, and not kept.
      ['initiate_login_uri', 'https://app.example.test/login', ABSENT],
      // Not client metadata oidc-provider knows.
      ['software_id', 'every-member', ABSENT],
    ];
    const { status, body: answer } = await post('/reg', Object.fromEntries(table.map(([member, sent]) => [member, sent])), await issueToken());
    expect(status, JSON.stringify(answer)).toBe(201);
    const current = await read(answer);
    for (const [member, , registered] of table) {
      if (registered === ABSENT) {
        expect(answer, member).not.toHaveProperty(member);
        expect(current, member).not.toHaveProperty(member);
      } else {
        expect(answer[member], `answer: ${member}`).toEqual(registered);
        expect(current[member], `read: ${member}`).toEqual(registered);
      }
    }
    // Nothing is answered that the table does not account for: a member a later oidc-provider
    // echoes shows up here, before an app trusts it.
    const accounted = new Set(table.map(([member]) => member));
    expect(Object.keys(answer).filter((member) => !accounted.has(member) && !ISSUED.has(member))).toEqual([]);
    expectAnswerIsRead(answer, current);

    const stored = await server.stores.clients.find(String(answer.client_id));
    expect(stored).toMatchObject({
      requireDpop: true, requirePar: true, requireSignedRequestObject: true,
      backchannelLogoutUri: 'https://app.example.test/backchannel-logout', backchannelLogoutSessionRequired: true, introspectionSignedResponseAlg: 'ES256',
    });
    // The operator sees in the audit log where Gatehouse will POST this app's logout tokens.
    const [audit] = await server.testDb.db('audit_events').where({ type: 'client.registered', client_id: String(answer.client_id) });
    expect(JSON.stringify(audit.details)).toContain('https://app.example.test/backchannel-logout');
  });

  it('refuses what Gatehouse would not hold the app to, saying why, rather than answering it', async () => {
    const { jwks } = await publicJwks();
    const refused: Array<[string, unknown]> = [
      ['default_acr_values', ['urn:gatehouse:acr:2fa']],
      ['default_max_age', 5],
      ['token_endpoint_auth_signing_alg', 'ES256'],
      ['request_object_signing_alg', 'ES256'],
      ['response_modes', ['query']],
    ];
    const token = await issueToken();
    for (const [member, value] of refused) {
      const { status, body } = await post('/reg', { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'private_key_jwt', jwks, [member]: value }, token);
      expect(status, member).toBe(400);
      expect(body.error, member).toBe('invalid_client_metadata');
      expect(String(body.error_description), member).toContain(`${member} is not supported`);
    }
  });

  it('an RFC 7592 update is stored as answered: requirements turned on, then off by leaving them out', async () => {
    const { jwks } = await publicJwks();
    const { body: registered } = await post('/reg', { redirect_uris: [REDIRECT], jwks }, await issueToken());
    const { registration_access_token: rat, registration_client_uri: uri, client_secret_expires_at: _e, client_id_issued_at: _i, ...rest } = await read(registered);
    const on = await post(String(uri), {
      ...rest, client_secret: registered.client_secret,
      dpop_bound_access_tokens: true, require_pushed_authorization_requests: true, require_signed_request_object: true,
      backchannel_logout_uri: 'https://app.example.test/backchannel-logout', backchannel_logout_session_required: true, introspection_signed_response_alg: 'ES256',
    }, String(rat), 'PUT');
    expect(on.status, JSON.stringify(on.body)).toBe(200);
    expect(on.body).toMatchObject({ dpop_bound_access_tokens: true, require_pushed_authorization_requests: true, require_signed_request_object: true, backchannel_logout_uri: 'https://app.example.test/backchannel-logout', backchannel_logout_session_required: true, introspection_signed_response_alg: 'ES256' });
    expectAnswerIsRead(on.body, await read(on.body));

    const { dpop_bound_access_tokens: _d, require_pushed_authorization_requests: _p, require_signed_request_object: _s, backchannel_logout_uri: _b, backchannel_logout_session_required: _r, introspection_signed_response_alg: _a, ...plain } = rest;
    const off = await post(String(uri), plain, String(on.body.registration_access_token), 'PUT');
    expect(off.status, JSON.stringify(off.body)).toBe(200);
    expect(off.body).toMatchObject({ dpop_bound_access_tokens: false, require_pushed_authorization_requests: false, require_signed_request_object: false, backchannel_logout_session_required: false, introspection_signed_response_alg: 'RS256' });
    expect(off.body).not.toHaveProperty('backchannel_logout_uri');
    expectAnswerIsRead(off.body, await read(off.body));
    expect(await server.stores.clients.find(String(registered.client_id))).toMatchObject({ requireDpop: false, requirePar: false, requireSignedRequestObject: false, backchannelLogoutUri: null });
  });

  it('under REQUIRE_PAR the answer says PAR is required, as the read does', { timeout: 120_000 }, async () => {
    const strict = await startTestServer({ REQUIRE_PAR: 'true', REGISTRATION_REDIRECT_HOSTS: 'app.example.test' });
    try {
      const token = (await strict.operations.registration.create(SYSTEM, {})).token;
      const res = await fetch(`${strict.issuer}/reg`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ redirect_uris: [REDIRECT], require_pushed_authorization_requests: false }) });
      const answer = (await res.json()) as Record<string, unknown>;
      expect(res.status).toBe(201);
      expect(answer.require_pushed_authorization_requests).toBe(true);
      expectAnswerIsRead(answer, (await (await fetch(String(answer.registration_client_uri), { headers: { authorization: `Bearer ${answer.registration_access_token}` } })).json()) as Record<string, unknown>);
    } finally {
      await strict.stop();
    }
  });

  it('no back-channel logout URI from a registrant while the operator allows any host: Gatehouse itself would POST to it', { timeout: 120_000 }, async () => {
    const anyHost = await startTestServer({ REGISTRATION_REDIRECT_SCHEMES: 'https,http' });
    try {
      const token = (await anyHost.operations.registration.create(SYSTEM, {})).token;
      const register = (extra: Record<string, unknown>) => fetch(`${anyHost.issuer}/reg`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ redirect_uris: [REDIRECT], ...extra }) });
      for (const uri of ['https://app.example.test/logout', 'http://10.0.0.7/logout', 'http://169.254.169.254/latest/meta-data']) {
        const res = await register({ backchannel_logout_uri: uri });
        expect(res.status, uri).toBe(400);
        expect(((await res.json()) as { error: string; error_description: string })).toMatchObject({ error: 'invalid_client_metadata', error_description: expect.stringContaining('REGISTRATION_REDIRECT_HOSTS') });
      }
      expect((await register({})).status).toBe(201);
    } finally {
      await anyHost.stop();
    }
  });

  it('a back-channel logout URI only on a host the operator allows (loopback only when named), over http(s)', async () => {
    const token = await issueToken();
    for (const uri of ['https://evil.example.test/logout', 'http://localhost:8080/logout', 'ftp://app.example.test/logout', 'https://app.example.test/logout#x', 'not a url']) {
      const { status, body } = await post('/reg', { redirect_uris: [REDIRECT], backchannel_logout_uri: uri }, token);
      expect(status, uri).toBe(400);
      expect(body.error, uri).toBe('invalid_client_metadata');
    }
  });
});

/** An app registered through /reg with `metadata`, seen through openid-client. */
async function registeredApp(metadata: Partial<client.ClientMetadata>): Promise<App> {
  const config = await client.dynamicClientRegistration(new URL(server.issuer), { redirect_uris: [REDIRECT], scope: 'openid profile email offline_access', ...metadata }, undefined, {
    initialAccessToken: await issueToken(),
    execute: [client.allowInsecureRequests],
  });
  const { client_id: clientId, client_secret: secret } = config.clientMetadata();
  return { config, clientId, clientSecret: typeof secret === 'string' ? secret : undefined, redirectUri: REDIRECT };
}

/** Where a plain authorization request for `app` sends the browser: an error for the app or a page, never a code. */
async function plainRequestRefused(app: App): Promise<string> {
  const res = await fetch((await authorizationRequest(app)).url, { redirect: 'manual', headers: { accept: 'text/html' } });
  const location = res.headers.get('location') ?? '';
  expect(location).not.toMatch(/[?&]code=/);
  if (location.startsWith(REDIRECT)) return new URL(location).searchParams.get('error') ?? '';
  expect(location).not.toContain('/interaction/');
  expect(res.status).toBeGreaterThanOrEqual(400);
  return 'error page';
}

describe('what a registered app asked for is enforced', () => {
  it('require_pushed_authorization_requests: a plain request is refused, a pushed one signs the person in', async () => {
    const app = await registeredApp({ require_pushed_authorization_requests: true });
    expect(await plainRequestRefused(app)).toBe('invalid_request');
    const request = await authorizationRequest(app);
    const pushed = await client.buildAuthorizationUrlWithPAR(app.config, Object.fromEntries(request.url.searchParams));
    const callback = await signIn(new UserAgent(server.issuer), pushed, person);
    const tokens = await client.authorizationCodeGrant(app.config, callback, { pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce });
    expect(tokens.access_token).toBeTruthy();
  });

  it('require_signed_request_object: a plain request is refused', async () => {
    const { jwks } = await publicJwks();
    const app = await registeredApp({ require_signed_request_object: true, jwks } as Partial<client.ClientMetadata>);
    expect(await plainRequestRefused(app)).toBe('invalid_request');
  });

  it('dpop_bound_access_tokens: no token without a proof, a DPoP-bound one with it', async () => {
    const app = await registeredApp({ dpop_bound_access_tokens: true });
    const exchange = async (DPoP?: client.DPoPHandle) => {
      const request = await authorizationRequest(app);
      const callback = await signIn(new UserAgent(server.issuer), request.url, person);
      return client.authorizationCodeGrant(app.config, callback, { pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce }, undefined, DPoP ? { DPoP } : {});
    };
    await expect(exchange()).rejects.toMatchObject({ error: 'invalid_grant' });
    const tokens = await exchange(client.getDPoPHandle(app.config, await client.randomDPoPKeyPair('ES256')));
    expect(tokens.token_type).toBe('dpop');
  });

  it('backchannel_logout_uri: signing out sends the app a logout token naming its sid', async () => {
    const receiver = await startLogoutReceiver();
    receivers.push(receiver);
    const app = await registeredApp({ backchannel_logout_uri: receiver.uri, backchannel_logout_session_required: true });
    const agent = new UserAgent(server.issuer);
    const request = await authorizationRequest(app);
    const callback = await signIn(agent, request.url, person);
    const tokens = await client.authorizationCodeGrant(app.config, callback, { pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce, idTokenExpected: true });
    const sid = tokens.claims()!.sid;

    const page = await agent.request(`${server.issuer}/session/end?client_id=${app.clientId}`);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.body)![1]!;
    expect((await agent.request(`${server.issuer}/session/end/confirm`, { form: { xsrf, logout: 'yes' } })).status).toBe(303);
    await server.deliveries.sender.deliverDue();

    expect(receiver.tokens).toHaveLength(1);
    const [, payload] = receiver.tokens[0]!.split('.');
    expect(JSON.parse(Buffer.from(payload!, 'base64url').toString())).toMatchObject({ aud: app.clientId, sub: person.id, sid });
  });
});
