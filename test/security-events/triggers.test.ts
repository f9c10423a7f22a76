// Which acts push which Security Event Tokens to whom: a real Gatehouse on the suite's database, an
// app and two APIs with real HTTP receivers (test/support/set-receiver.ts), people signing in with
// openid-client. Every SET is verified as a receiver would (jose, Gatehouse's JWKS, its issuer, the
// receiver as audience, typ secevent+jwt), and each receiver must get exactly the events about
// grants it is the app or an API of — no more. The sender's pass is called directly.
import * as client from 'openid-client';
import { decodeJwt } from 'jose';
import { Secret, TOTP } from 'otpauth';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../src/audit/events.js';
import { createPerson, obtainTokens, registerApp, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { startSetReceiver, verifySet, type SetReceiver } from '../support/set-receiver.js';
import { written } from '../support/changes.js';

const NOTES = 'https://notes.example.test';
const BILLING = 'https://billing.example.test';
const SESSION_REVOKED = 'https://schemas.openid.net/secevent/caep/event-type/session-revoked';
const CREDENTIAL_CHANGE = 'https://schemas.openid.net/secevent/caep/event-type/credential-change';
const ACCOUNT_DISABLED = 'https://schemas.openid.net/secevent/risc/event-type/account-disabled';
const CLAIMS_CHANGE = 'https://schemas.openid.net/secevent/caep/event-type/token-claims-change';
const ACCOUNT_PURGED = 'https://schemas.openid.net/secevent/risc/event-type/account-purged';
const ADMIN: Actor = { type: 'client', id: 'automation', ip: '192.0.2.1' };

let server: TestServer;
let appReceiver: SetReceiver;
let otherAppReceiver: SetReceiver;
let notesReceiver: SetReceiver;
let billingReceiver: SetReceiver;
let app: App;
let otherApp: App;
/** The server's clock (storage expiry, the refresh retry window, the outbox): moved, never waited for. */
let now = Date.now();

beforeAll(async () => {
  server = await startTestServer({}, { now: () => now });
  [appReceiver, otherAppReceiver, notesReceiver, billingReceiver] = await Promise.all([startSetReceiver(), startSetReceiver(), startSetReceiver(), startSetReceiver()]);
  await server.stores.resources.create({ identifier: NOTES, scope: 'notes:read', eventsEndpoint: notesReceiver.url });
  await server.stores.resources.create({ identifier: BILLING, scope: 'billing:read', eventsEndpoint: billingReceiver.url });
  app = await registerApp(server, { scope: 'openid profile email offline_access notes:read' });
  await written(server, () => server.stores.clients.update(app.clientId, { eventsEndpoint: appReceiver.url }));
  otherApp = await registerApp(server, { scope: 'openid offline_access billing:read' });
  await written(server, () => server.stores.clients.update(otherApp.clientId, { eventsEndpoint: otherAppReceiver.url }));
});
afterAll(async () => {
  await server.stop();
  await Promise.all([appReceiver, otherAppReceiver, notesReceiver, billingReceiver].map((receiver) => receiver.close()));
});
afterEach(async () => {
  await server.deliveries.sender.deliverDue();
  for (const receiver of [appReceiver, otherAppReceiver, notesReceiver, billingReceiver]) receiver.posts.length = 0;
});

/** A person who signed in to the app for the notes API; the grant id is in the access token. */
async function signedIn(person?: Awaited<ReturnType<typeof createPerson>>) {
  const who = person ?? (await createPerson(server));
  const { tokens, agent } = await obtainTokens(server, app, who, { scope: 'openid offline_access notes:read', resource: NOTES });
  const grantId = decodeJwt(tokens.access_token).grant_id as string;
  expect(grantId).toEqual(expect.any(String));
  return { person: who, tokens, grantId, agent };
}

/** Delivers what is due and returns what each receiver accepted, verified. */
async function delivered() {
  await server.deliveries.sender.deliverDue();
  const verify = async (receiver: SetReceiver, audience: string) => Promise.all(receiver.posts.map(async (post) => {
    expect(post.contentType).toBe('application/secevent+jwt');
    const { payload } = await verifySet(post.body, server.issuer, audience);
    return payload;
  }));
  return {
    app: await verify(appReceiver, app.clientId),
    otherApp: await verify(otherAppReceiver, otherApp.clientId),
    notes: await verify(notesReceiver, NOTES),
    billing: await verify(billingReceiver, BILLING),
  };
}

function sessionRevoked(payload: Record<string, unknown>) {
  return (payload.events as Record<string, Record<string, unknown>>)[SESSION_REVOKED];
}

describe('transmitter metadata', () => {
  it('publishes /.well-known/ssf-configuration: issuer, JWKS, RFC 8935 push and RFC 8936 poll, the events sent', async () => {
    const response = await fetch(`${server.issuer}/.well-known/ssf-configuration`);
    expect(response.status).toBe(200);
    const metadata = await response.json() as Record<string, unknown>;
    expect(metadata).toMatchObject({
      issuer: server.issuer,
      jwks_uri: `${server.issuer}/jwks`,
      delivery_methods_supported: ['urn:ietf:rfc:8935', 'urn:ietf:rfc:8936'],
    });
    expect([...metadata.events_supported as string[]].sort()).toEqual([SESSION_REVOKED, CREDENTIAL_CHANGE, CLAIMS_CHANGE, ACCOUNT_DISABLED, ACCOUNT_PURGED].sort());
    expect((await fetch(metadata.jwks_uri as string)).status).toBe(200);
  });
});

describe('a grant revoked', () => {
  it('by an admin: one session-revoked SET naming the grant goes to the app and to the API, none elsewhere', async () => {
    const { person, grantId } = await signedIn();
    await server.operations.grants.revokeGrant(ADMIN, grantId);
    const got = await delivered();
    expect(got.otherApp).toEqual([]);
    expect(got.billing).toEqual([]);
    expect(got.app).toHaveLength(1);
    expect(got.notes).toHaveLength(1);
    for (const set of [got.app[0]!, got.notes[0]!]) {
      expect(set).toMatchObject({
        iss: server.issuer,
        sub_id: { format: 'complex', user: { format: 'iss_sub', iss: server.issuer, sub: person.id }, session: { format: 'opaque', id: grantId }, application: { format: 'opaque', id: app.clientId } },
      });
      expect(set.jti).toEqual(expect.any(String));
      expect(set.iat).toEqual(expect.any(Number));
      expect(sessionRevoked(set)).toMatchObject({ initiating_entity: 'admin', event_timestamp: expect.any(Number) });
    }
    // One act, one transaction id; a SET per receiver, each its own jti.
    expect(got.app[0]!.txn).toBe(got.notes[0]!.txn);
    expect(got.app[0]!.jti).not.toBe(got.notes[0]!.jti);
  });

  it('by the person on their account pages: initiated by the user', async () => {
    const { person, grantId } = await signedIn();
    await server.selfService.revokeConnectedApp({ type: 'user', id: person.id }, app.clientId);
    const got = await delivered();
    expect(got.app.map((set) => [sessionRevoked(set)?.initiating_entity, (set.sub_id as { session: { id: string } }).session.id])).toEqual([['user', grantId]]);
    expect(got.notes).toHaveLength(1);
    expect(got.otherApp.concat(got.billing)).toEqual([]);
  });

  it('for a refresh token presented again after rotation: initiated by policy', async () => {
    const { tokens, grantId } = await signedIn();
    await client.refreshTokenGrant(app.config, tokens.refresh_token!);
    // Past the retry window (REFRESH_TOKEN_RETRY_WINDOW, 30 s) a replay is reuse: the grant goes.
    now += 31_000;
    await expect(client.refreshTokenGrant(app.config, tokens.refresh_token!)).rejects.toThrow();
    const got = await delivered();
    expect(got.app.map((set) => (set.sub_id as { session: { id: string } }).session.id)).toEqual([grantId]);
    expect(sessionRevoked(got.app[0]!)).toMatchObject({ initiating_entity: 'policy' });
    expect(got.notes).toHaveLength(1);
    expect(got.otherApp.concat(got.billing)).toEqual([]);
  });

  it('when the app is disabled: every grant of the app, to the app and its API, none to another app', async () => {
    const disposable = await registerApp(server, { scope: 'openid offline_access billing:read' });
    const receiver = await startSetReceiver();
    try {
      await written(server, () => server.stores.clients.update(disposable.clientId, { eventsEndpoint: receiver.url }));
      const person = await createPerson(server);
      const { tokens } = await obtainTokens(server, disposable, person, { scope: 'openid offline_access billing:read', resource: BILLING });
      const grantId = decodeJwt(tokens.access_token).grant_id;
      await server.operations.apps.disableClient(ADMIN, disposable.clientId);
      const got = await delivered();
      const accepted = await Promise.all(receiver.posts.map(async (post) => (await verifySet(post.body, server.issuer, disposable.clientId)).payload));
      expect(accepted.map((set) => (set.sub_id as { session: { id: string } }).session.id)).toEqual([grantId]);
      expect(got.billing.map((set) => (set.sub_id as { session: { id: string } }).session.id)).toEqual([grantId]);
      expect(got.app.concat(got.otherApp, got.notes)).toEqual([]);
    } finally {
      await receiver.close();
    }
  });
});

describe('oidc-provider revoking a grant on its own', () => {
  it('when the app revokes its refresh token (RFC 7009): initiated by the system', async () => {
    const { tokens, grantId } = await signedIn();
    await client.tokenRevocation(app.config, tokens.refresh_token!, { token_type_hint: 'refresh_token' });
    const got = await delivered();
    expect(got.app.map((set) => [sessionRevoked(set)?.initiating_entity, (set.sub_id as { session: { id: string } }).session.id])).toEqual([['system', grantId]]);
    expect(got.notes).toHaveLength(1);
    expect(got.otherApp.concat(got.billing)).toEqual([]);
  });
});

describe('a session ended', () => {
  it('by an admin: the grants of the apps signed in through it are revoked, and their receivers told', async () => {
    const { person, grantId } = await signedIn();
    const [session] = (await server.operations.sessions.listSessions(person.id)).items;
    await server.operations.sessions.endSession(ADMIN, person.id, session!.id);
    const got = await delivered();
    expect(got.app.map((set) => (set.sub_id as { session: { id: string } }).session.id)).toEqual([grantId]);
    expect(got.notes).toHaveLength(1);
    expect(got.otherApp.concat(got.billing)).toEqual([]);
  });

  it('by the person, of their other sessions: initiated by the user', async () => {
    const { person, grantId } = await signedIn();
    await server.selfService.endOtherSessions({ type: 'user', id: person.id }, 'a-session-that-is-not-theirs');
    const got = await delivered();
    expect(got.app.map((set) => [sessionRevoked(set)?.initiating_entity, (set.sub_id as { session: { id: string } }).session.id])).toEqual([['user', grantId]]);
  });
});

describe('a person', () => {
  it('disabled: their grants revoked and account-disabled, in that order, to the apps and APIs they had grants with only', async () => {
    const { person, grantId } = await signedIn();
    await server.operations.people.disableUser(ADMIN, person.id);
    const got = await delivered();
    for (const sets of [got.app, got.notes]) {
      expect(sets.map((set) => Object.keys(set.events as object)[0])).toEqual([SESSION_REVOKED, ACCOUNT_DISABLED]);
      expect(sets[0]!.sub_id).toMatchObject({ session: { id: grantId } });
      expect(sets[1]).toMatchObject({ sub_id: { format: 'iss_sub', iss: server.issuer, sub: person.id } });
      expect((sets[1]!.events as Record<string, unknown>)[ACCOUNT_DISABLED]).toMatchObject({ initiating_entity: 'admin' });
      // One act: one transaction id on both.
      expect(sets[1]!.txn).toBe(sets[0]!.txn);
    }
    expect(got.otherApp.concat(got.billing)).toEqual([]);
  });

  it('whose password an admin resets: credential-change about them, to their apps and APIs', async () => {
    const { person } = await signedIn();
    await server.operations.people.resetPassword(ADMIN, person.id, 'an entirely new passphrase', { endSessions: false, revokeOfflineAccess: false });
    const got = await delivered();
    for (const sets of [got.app, got.notes]) {
      expect(sets).toHaveLength(1);
      expect(sets[0]).toMatchObject({
        sub_id: { format: 'iss_sub', iss: server.issuer, sub: person.id },
        events: { [CREDENTIAL_CHANGE]: { credential_type: 'password', change_type: 'update', initiating_entity: 'admin' } },
      });
    }
    expect(got.otherApp.concat(got.billing)).toEqual([]);
  });

  it('who changes their own password and ends their offline access: the grants revoked, then credential-change', async () => {
    const { person, grantId } = await signedIn();
    await server.selfService.changeOwnPassword({ type: 'user', id: person.id }, person.password, 'another entirely new passphrase', { revokeOfflineAccess: true });
    const got = await delivered();
    expect(got.app.map((set) => Object.keys(set.events as object)[0])).toEqual([SESSION_REVOKED, CREDENTIAL_CHANGE]);
    expect(got.app[0]!.sub_id).toMatchObject({ session: { id: grantId } });
    expect((got.app[1]!.events as Record<string, unknown>)[CREDENTIAL_CHANGE]).toMatchObject({ initiating_entity: 'user' });
  });

  it('deleted by an admin: their grants revoked, then account-purged, to the apps and APIs they had grants with only', async () => {
    const { person, grantId } = await signedIn();
    await server.operations.people.deleteUser(ADMIN, person.id);
    const got = await delivered();
    for (const sets of [got.app, got.notes]) {
      expect(eventsOf(sets).map(([type, event]) => [type, event.initiating_entity])).toEqual([[SESSION_REVOKED, 'admin'], [ACCOUNT_PURGED, 'admin']]);
      expect(sets[0]!.sub_id).toMatchObject({ session: { id: grantId } });
      expect(sets[1]!.sub_id).toEqual({ format: 'iss_sub', iss: server.issuer, sub: person.id });
    }
    expect(got.otherApp.concat(got.billing)).toEqual([]);
  });

  it('who deletes their own account: the same, initiated by the user', async () => {
    const { person } = await signedIn();
    await server.selfService.deleteOwnAccount({ type: 'user', id: person.id });
    const got = await delivered();
    expect(eventsOf(got.app).map(([type, event]) => [type, event.initiating_entity])).toEqual([[SESSION_REVOKED, 'user'], [ACCOUNT_PURGED, 'user']]);
    expect(got.notes).toHaveLength(2);
    expect(got.otherApp.concat(got.billing)).toEqual([]);
  });

  it('with no grant anywhere: nothing is sent to anyone', async () => {
    const person = await createPerson(server);
    await server.operations.people.disableUser(ADMIN, person.id);
    const got = await delivered();
    expect(got.app.concat(got.otherApp, got.notes, got.billing)).toEqual([]);
  });
});

/** The one event of each SET, by its type. */
function eventsOf(sets: Array<Record<string, unknown>>): Array<[string, Record<string, unknown>]> {
  return sets.map((set) => Object.entries(set.events as Record<string, Record<string, unknown>>)[0]!);
}

describe("a person's second factors", () => {
  /** Adds an authenticator app for the person through the act the account pages call. */
  async function addAuthenticatorApp(personId: string) {
    const pending = await server.factors.store.beginTotp(personId, 'person', server.issuer);
    const code = new TOTP({ secret: Secret.fromBase32(pending.base32) }).generate({ timestamp: now });
    expect((await server.factors.confirmTotp({ type: 'user', id: personId }, personId, pending.id, code, 'Phone')).confirmed).toBe(true);
  }

  it('an authenticator app added by the person, then every factor removed by an admin: credential-change (app) create, then delete, to their apps and APIs only', async () => {
    const { person } = await signedIn();
    await addAuthenticatorApp(person.id);
    let got = await delivered();
    for (const sets of [got.app, got.notes]) {
      expect(sets.map((set) => set.sub_id)).toEqual([{ format: 'iss_sub', iss: server.issuer, sub: person.id }]);
      expect(eventsOf(sets)).toEqual([[CREDENTIAL_CHANGE, expect.objectContaining({ credential_type: 'app', change_type: 'create', initiating_entity: 'user' })]]);
    }
    expect(got.otherApp.concat(got.billing)).toEqual([]);
    for (const receiver of [appReceiver, notesReceiver]) receiver.posts.length = 0;

    // The reset also signs the person out everywhere: the grant's session-revoked comes first.
    await server.operations.factors.reset(ADMIN, person.id);
    got = await delivered();
    for (const sets of [got.app, got.notes]) {
      expect(eventsOf(sets).map(([type, event]) => [type, event.credential_type, event.change_type, event.initiating_entity]))
        .toEqual([[SESSION_REVOKED, undefined, undefined, 'admin'], [CREDENTIAL_CHANGE, 'app', 'delete', 'admin']]);
    }
    expect(got.otherApp.concat(got.billing)).toEqual([]);
  });

  it('a passkey of the device removed by the person: credential-change (fido2-platform) delete', async () => {
    const { person } = await signedIn();
    const user = (await server.stores.users.findById(person.id))!;
    const passkey = await server.passkeys.store.add({
      userId: person.id, credentialId: 'c3RvcmVkLWZvci10aGUtdGVzdA', publicKey: 'cHVibGljLWtleQ', counter: 0,
      transports: ['internal', 'hybrid'], backedUp: true, aaguid: '00000000-0000-0000-0000-000000000000', name: 'Laptop',
    }, server.db);
    await server.passkeys.remove({ type: 'user', id: person.id }, user, passkey.id);
    const got = await delivered();
    for (const sets of [got.app, got.notes]) {
      expect(eventsOf(sets)).toEqual([[CREDENTIAL_CHANGE, expect.objectContaining({ credential_type: 'fido2-platform', change_type: 'delete', initiating_entity: 'user' })]]);
    }
    expect(got.otherApp.concat(got.billing)).toEqual([]);
  });
});

describe("a person's claims", () => {
  /** A person signed in to the app with `appScope` and to the other app with none of their claims; nothing waiting. */
  async function signedInToBoth(appScope: string) {
    const person = await createPerson(server);
    await obtainTokens(server, app, person, { scope: appScope, resource: NOTES });
    await obtainTokens(server, otherApp, person, { scope: 'openid offline_access billing:read', resource: BILLING });
    await delivered();
    for (const receiver of [appReceiver, otherAppReceiver, notesReceiver, billingReceiver]) receiver.posts.length = 0;
    return person;
  }

  it('a new address from an admin: token-claims-change with the new email to the app whose grant releases it, and to no API or other app', async () => {
    const person = await signedInToBoth('openid email offline_access notes:read');

    const address = `renamed-${person.id}@example.test`;
    await server.operations.people.changeEmail(ADMIN, person.id, address);
    const got = await delivered();
    expect(got.app).toHaveLength(1);
    expect(got.app[0]).toMatchObject({ sub_id: { format: 'iss_sub', iss: server.issuer, sub: person.id } });
    expect(eventsOf(got.app)).toEqual([[CLAIMS_CHANGE, expect.objectContaining({ claims: { email: address, email_verified: false }, initiating_entity: 'admin' })]]);
    // The other app was never given the address, and an access token carries none.
    expect(got.otherApp.concat(got.notes, got.billing)).toEqual([]);
  });

  it('a new name from the person: token-claims-change with the names that changed, to the app given the profile only', async () => {
    const person = await signedInToBoth('openid profile offline_access notes:read');

    await server.selfService.updateOwnProfile({ type: 'user', id: person.id }, { name: 'Grace Hopper', givenName: 'Grace' });
    const got = await delivered();
    expect(eventsOf(got.app)).toEqual([[CLAIMS_CHANGE, expect.objectContaining({ claims: { name: 'Grace Hopper', given_name: 'Grace' }, initiating_entity: 'user' })]]);
    expect(got.otherApp.concat(got.notes, got.billing)).toEqual([]);
  });

  it('an app whose grant releases no claim that changed is told nothing', async () => {
    const { person } = await signedIn();
    await server.operations.people.changeEmail(ADMIN, person.id, `quiet-${person.id}@example.test`);
    const got = await delivered();
    expect(got.app.concat(got.otherApp, got.notes, got.billing)).toEqual([]);
  });
});

describe('an act that rolls back', () => {
  it('sends nothing', async () => {
    const { person } = await signedIn();
    await expect(server.operations.people.resetPassword(ADMIN, person.id, 'short')).rejects.toThrow();
    const got = await delivered();
    expect(got.app.concat(got.notes)).toEqual([]);
  });
});
