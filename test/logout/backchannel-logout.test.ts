// OpenID Connect Back-Channel Logout 1.0, end to end: apps registered with a back-channel logout
// URI (real HTTP receivers on loopback) are sent a logout token through the outbox whenever a
// sign-in of theirs ends, and no one else is. Each token is verified with jose as a relying party
// verifies it (§2.6): signature against Gatehouse's JWKS, typ, iss, aud, iat, exp, jti, events, no
// nonce, and the sid its ID token carried.
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GrantStore } from '../../src/grants/store.js';
import { OidcRecords } from '../../src/records/index.js';
import { signOutEverywhere } from '../../src/sessions/ending.js';
import { SessionStore } from '../../src/sessions/store.js';
import { authorizationRequest, createPerson, PASSWORD, signIn, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { startLogoutReceiver, type LogoutReceiver } from '../support/logout-receiver.js';
import { UserAgent } from '../support/user-agent.js';

const EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const ADMIN = { type: 'system' as const, id: 'test' };

let server: TestServer;
let now = Date.now();
const receivers: LogoutReceiver[] = [];

interface LoggedOutApp extends App {
  receiver: LogoutReceiver;
}

async function appWithReceiver(options: { sessionRequired?: boolean; withoutUri?: boolean } = {}): Promise<LoggedOutApp> {
  const receiver = await startLogoutReceiver();
  receivers.push(receiver);
  const redirectUri = 'https://app.example.test/callback';
  const { client: registered, clientSecret } = await server.stores.clients.create({
    name: 'Logged-out App',
    redirectUris: [redirectUri],
    ...(options.withoutUri ? {} : { backchannelLogoutUri: receiver.uri }),
    backchannelLogoutSessionRequired: options.sessionRequired ?? false,
  });
  const config = await client.discovery(new URL(server.issuer), registered.clientId, clientSecret, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] });
  return { config, clientId: registered.clientId, clientSecret, redirectUri, receiver };
}

/** Signs `person` in to `app` in `agent`'s browser; returns the ID token's claims. */
async function signInTo(agent: UserAgent, app: App, person: { email: string; password: string }) {
  const request = await authorizationRequest(app, { scope: 'openid offline_access' });
  const tokens = await client.authorizationCodeGrant(app.config, await signIn(agent, request.url, person), {
    pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce, idTokenExpected: true,
  });
  return tokens.claims()!;
}

async function deliver() {
  return server.deliveries.sender.deliverDue();
}

/** Verifies a logout token exactly as a relying party must (§2.6), returning its claims. */
async function verifyAsApp(token: string, app: App): Promise<JWTPayload> {
  const jwks = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer: server.issuer, audience: app.clientId, typ: 'logout+jwt', algorithms: ['RS256'], requiredClaims: ['iat', 'exp', 'jti', 'events'],
  });
  expect(protectedHeader.typ).toBe('logout+jwt');
  expect(payload.events).toEqual({ [EVENT]: {} });
  expect(payload).not.toHaveProperty('nonce');
  expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(120);
  return payload;
}

async function sessionHandles(userId: string): Promise<string[]> {
  return (await server.operations.sessions.listSessions(userId)).items.map((session) => session.id);
}

beforeAll(async () => {
  server = await startTestServer({}, { now: () => now });
});

afterAll(async () => {
  await Promise.all(receivers.map((receiver) => receiver.close()));
  await server?.stop();
});

beforeEach(async () => {
  // Nothing left over from an earlier test is delivered into this one's receivers.
  await deliver();
});

describe('back-channel logout', () => {
  it('RP-initiated logout: every app of the session gets a token naming its sid, apps of another session get none', async () => {
    const person = await createPerson(server);
    const [first, second, elsewhere, silent] = [await appWithReceiver(), await appWithReceiver(), await appWithReceiver(), await appWithReceiver({ withoutUri: true })];
    const agent = new UserAgent(server.issuer);
    const firstClaims = await signInTo(agent, first, person);
    const secondClaims = await signInTo(agent, second, person);
    await signInTo(agent, silent, person);
    await signInTo(new UserAgent(server.issuer), elsewhere, person);
    expect(firstClaims.sid).toEqual(expect.any(String));

    const page = await agent.request(`${server.issuer}/session/end?client_id=${first.clientId}`);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.body)![1]!;
    const confirmed = await agent.request(`${server.issuer}/session/end/confirm`, { form: { xsrf, logout: 'yes' } });
    expect(confirmed.status).toBe(303);
    expect((await deliver()).retried).toBe(0);

    expect(first.receiver.tokens).toHaveLength(1);
    expect(second.receiver.tokens).toHaveLength(1);
    expect(elsewhere.receiver.tokens).toEqual([]);
    expect(silent.receiver.tokens).toEqual([]);
    expect(first.receiver.contentTypes[0]).toBe('application/x-www-form-urlencoded');
    const firstToken = await verifyAsApp(first.receiver.tokens[0]!, first);
    expect(firstToken).toMatchObject({ sub: person.id, sid: firstClaims.sid });
    expect(await verifyAsApp(second.receiver.tokens[0]!, second)).toMatchObject({ sub: person.id, sid: secondClaims.sid });
    // A token is for its app alone.
    await expect(verifyAsApp(first.receiver.tokens[0]!, second)).rejects.toThrow();
  });

  it('the account pages (one session, the others) and an administrator ending a session each tell that session\'s apps only', async () => {
    const person = await createPerson(server);
    const app = await appWithReceiver();
    const here = new UserAgent(server.issuer);
    const there = new UserAgent(server.issuer);
    const hereClaims = await signInTo(here, app, person);
    const thereClaims = await signInTo(there, app, person);
    const actor = { type: 'user' as const, id: person.id };
    const handles = await sessionHandles(person.id);
    expect(handles).toHaveLength(2);
    // The person signs out of every other session from this one (listed newest first: `here` is the older).
    const current = handles[1]!;
    await server.selfService.endOtherSessions(actor, current);
    await deliver();
    expect(app.receiver.tokens).toHaveLength(1);
    expect((await verifyAsApp(app.receiver.tokens[0]!, app)).sid).toBe(thereClaims.sid);

    // An administrator ends the one left.
    await server.operations.sessions.endSession(ADMIN, person.id, current);
    await deliver();
    expect(app.receiver.tokens).toHaveLength(2);
    expect((await verifyAsApp(app.receiver.tokens[1]!, app)).sid).toBe(hereClaims.sid);

    // And a session ended from the account pages, by its handle.
    const again = new UserAgent(server.issuer);
    const againClaims = await signInTo(again, app, person);
    await server.selfService.endOwnSession(actor, (await sessionHandles(person.id))[0]!);
    await deliver();
    expect((await verifyAsApp(app.receiver.tokens[2]!, app)).sid).toBe(againClaims.sid);
    expect(app.receiver.tokens).toHaveLength(3);
  });

  it('disabling the person tells every app of every session, and apps holding only a grant of theirs by sub', async () => {
    const person = await createPerson(server);
    const bystander = await createPerson(server);
    const [inSession, offline, requiresSid, notTheirs] = [await appWithReceiver(), await appWithReceiver(), await appWithReceiver({ sessionRequired: true }), await appWithReceiver()];
    const claims = await signInTo(new UserAgent(server.issuer), inSession, person);
    // Signed in once, then that session ended without telling anyone (an expired cookie, say): the grant stays.
    const gone = new UserAgent(server.issuer);
    await signInTo(gone, offline, person);
    await signInTo(gone, requiresSid, person);
    await server.testDb.db('oidc_records').where({ model: 'Session', account_id: person.id }).whereRaw(`jsonb_exists(payload->'authorizations', ?)`, [offline.clientId]).delete();
    await signInTo(new UserAgent(server.issuer), notTheirs, bystander);
    await deliver();

    await server.operations.people.disableUser(ADMIN, person.id);
    await deliver();
    expect(await verifyAsApp(inSession.receiver.tokens[0]!, inSession)).toMatchObject({ sub: person.id, sid: claims.sid });
    const bySub = await verifyAsApp(offline.receiver.tokens[0]!, offline);
    expect(bySub.sub).toBe(person.id);
    expect(bySub).not.toHaveProperty('sid');
    expect(inSession.receiver.tokens).toHaveLength(1);
    expect(offline.receiver.tokens).toHaveLength(1);
    // An app that needs sid cannot use a token without one: it is sent none.
    expect(requiresSid.receiver.tokens).toEqual([]);
    expect(notTheirs.receiver.tokens).toEqual([]);
  });

  it('a password reset by an administrator, a change that signs out everywhere, and signOutEverywhere each tell the apps', async () => {
    const person = await createPerson(server);
    const app = await appWithReceiver();
    const first = await signInTo(new UserAgent(server.issuer), app, person);
    await server.operations.people.resetPassword(ADMIN, person.id, 'a new and rather long passphrase');
    await deliver();
    expect(await verifyAsApp(app.receiver.tokens[0]!, app)).toMatchObject({ sid: first.sid });

    const password = 'a new and rather long passphrase';
    const mine = new UserAgent(server.issuer);
    await signInTo(mine, app, { email: person.email, password });
    const other = await signInTo(new UserAgent(server.issuer), app, { email: person.email, password });
    const handles = await sessionHandles(person.id);
    await server.selfService.changeOwnPassword({ type: 'user', id: person.id }, password, `${PASSWORD} but longer`, { endOtherSessions: true, currentHandle: handles[1]! });
    await deliver();
    expect(app.receiver.tokens).toHaveLength(2);
    expect((await verifyAsApp(app.receiver.tokens[1]!, app)).sid).toBe(other.sid);

    // What the sign-in factors' reset calls.
    const records = new OidcRecords(server.db, () => now);
    const stores = { sessions: new SessionStore(server.db, records, (trx, userId, signedOut, how) => server.logout.sessionsEnded(trx, userId, signedOut, how)), grants: new GrantStore(server.db, records) };
    await server.db.transaction((trx) => signOutEverywhere(stores, trx, person.id));
    await deliver();
    expect(app.receiver.tokens).toHaveLength(3);
    expect(await verifyAsApp(app.receiver.tokens[2]!, app)).toMatchObject({ sub: person.id });
  });

  it('an app that is down gets its token once, when it is back, signed then', async () => {
    const person = await createPerson(server);
    const app = await appWithReceiver();
    await signInTo(new UserAgent(server.issuer), app, person);
    app.receiver.down = true;
    await server.operations.sessions.endAllSessions(ADMIN, person.id);
    expect((await deliver()).retried).toBe(1);
    expect(app.receiver.refused).toBe(1);
    // Retried 5 s later, still down; then 10 s after that, back up.
    now += 5_000;
    expect((await deliver()).retried).toBe(1);
    app.receiver.down = false;
    now += 10_000;
    expect(await deliver()).toMatchObject({ delivered: 1, retried: 0 });
    now += 60_000;
    expect(await deliver()).toMatchObject({ delivered: 0, retried: 0 });
    expect(app.receiver.tokens).toHaveLength(1);
    expect(app.receiver.refused).toBe(2);
    const claims = await verifyAsApp(app.receiver.tokens[0]!, app);
    expect(claims.sub).toBe(person.id);
    expect(decodeProtectedHeader(app.receiver.tokens[0]!).kid).toEqual(expect.any(String));
  });
});
