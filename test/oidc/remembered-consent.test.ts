// Consent remembered across sessions (loadExistingGrant in src/oidc/configuration.ts): what it
// costs in round trips, and that only a live grant is ever remembered.
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OidcRecords, type GrantSelector } from '../../src/records/index.js';
import { authorizationRequest, createPerson, obtainTokens, registerApp, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { insertGrant, randomId } from '../support/oidc-records.js';
import { formOf, UserAgent } from '../support/user-agent.js';

const API = 'https://notes.example.test';
const SCOPE = 'openid profile email read';

let server: TestServer;
let app: App;

const revokeGrants = (selector: GrantSelector) => new OidcRecords(server.db).revokeGrants(selector);
/** The remembered grant as the repository finds it when its clock reads `now`. */
const latestGrant = (accountId: string, clientId: string, now = Date.now()) => new OidcRecords(server.db, () => now).latestGrant(accountId, clientId);

beforeAll(async () => {
  server = await startTestServer();
  await server.stores.resources.create({ identifier: API, scope: 'read write', isDefault: true });
  app = await registerApp(server, { scope: SCOPE });
});

afterAll(async () => {
  await server?.stop();
});

interface Statement { sql: string; bindings: unknown[] }

/** Every statement the server sends while `work` runs, with its bindings. */
async function statementsDuring<T>(work: () => Promise<T>): Promise<{ result: T; statements: Statement[] }> {
  const statements: Statement[] = [];
  const record = (query: { sql: string; bindings?: unknown[] }) => statements.push({ sql: query.sql, bindings: query.bindings ?? [] });
  server.db.on('query', record);
  try {
    return { result: await work(), statements };
  } finally {
    server.db.off('query', record);
  }
}

/** Statements that read Grant rows. */
const grantReads = (statements: Statement[]) =>
  statements.filter((s) => /^\s*select\b/i.test(s.sql) && /oidc_records/.test(s.sql) && s.bindings.includes('Grant'));

/**
 * A new browser signs the person in (prompt=login, so no consent is forced); returns where the
 * login form led: the app's callback when consent was remembered, or the consent page.
 */
async function signInOnNewDevice(person: { email: string; password: string }) {
  const agent = new UserAgent(server.issuer);
  const request = await authorizationRequest(app, { prompt: 'login', scope: SCOPE });
  const loginPage = await agent.follow(request.url.href);
  expect(loginPage.body).toMatch(/name="password"/);
  const login = formOf(loginPage.body, /\/login$/);
  // From the login form to the app: the sign-in, then the resumed authorization that remembers consent.
  const { result: page, statements } = await statementsDuring(() =>
    agent.follow(new URL(login.action, loginPage.url).href, { form: { csrf: login.csrf, email: person.email, password: person.password } }));
  return { page, statements, request };
}

describe('remembered consent', () => {
  it('reads the remembered grant in one round trip, and the new session gets a grant of its own with the same scopes', async () => {
    const person = await createPerson(server);
    const laptop = await obtainTokens(server, app, person, { scope: SCOPE });

    const { page, statements, request } = await signInOnNewDevice(person);
    expect(page.leftTo).toBeDefined();
    // The newest live grant comes back with its payload: no second statement looks it up by id
    // (before, one statement found its id and Grant.find read it again: two).
    const reads = grantReads(statements);
    expect(reads).toHaveLength(1);
    expect(reads[0]!.sql).toMatch(/"payload"/);

    const phone = await client.authorizationCodeGrant(app.config, new URL(page.leftTo!), {
      pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce, idTokenExpected: true,
    });
    expect(phone.scope?.split(' ').sort()).toEqual(laptop.tokens.scope?.split(' ').sort());
    const grantOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).grant_id as unknown;
    expect(grantOf(phone.access_token)).toBeTruthy();
    expect(grantOf(phone.access_token)).not.toBe(grantOf(laptop.tokens.access_token));
  });
});

describe('how long consent is remembered', () => {
  it('a new browser\'s copy of the consent ends when the consent it copies does, not GRANT_TTL later', async () => {
    const person = await createPerson(server);
    await obtainTokens(server, app, person, { scope: SCOPE });
    // Consent given long ago: two hours of GRANT_TTL left.
    const ends = Math.floor(Date.now() / 1000) + 7200;
    await server.db('oidc_records').where({ model: 'Grant', account_id: person.id })
      .update({ expires_at: new Date(ends * 1000), payload: server.db.raw("jsonb_set(payload, '{exp}', to_jsonb(?::bigint))", [ends]) });

    const { page } = await signInOnNewDevice(person);
    expect(page.leftTo).toBeDefined();
    const grants = await server.db('oidc_records').where({ model: 'Grant', account_id: person.id }).select('expires_at');
    expect(grants).toHaveLength(2);
    // To the second (the row's expiry is the adapter's clock plus the remaining seconds).
    for (const grant of grants) expect(Math.abs(new Date(grant.expires_at).getTime() - ends * 1000)).toBeLessThan(1500);
  });
});

describe('a remembered grant that no longer stands', () => {
  it.each([
    ['expired', (personId: string) => server.db('oidc_records').where({ model: 'Grant', account_id: personId }).update({ expires_at: new Date(Date.now() - 60_000) })],
    ['revoked', (personId: string) => revokeGrants({ accountId: personId, clientId: app.clientId })],
  ])('is not reused when %s: the new session is asked for consent', async (_how, end) => {
    const person = await createPerson(server);
    await obtainTokens(server, app, person, { scope: SCOPE });
    await end(person.id);

    const { page, statements } = await signInOnNewDevice(person);
    expect(page.leftTo).toBeUndefined();
    expect(page.body).toMatch(/name="decision"/);
    expect(grantReads(statements)).toHaveLength(1);
  });
});

describe('the latest live grant (OidcRecords.latestGrant)', () => {
  const DAY_MS = 86_400_000;

  it('answers what Grant.find would build, for the newest grant that has not expired', async () => {
    const { Grant } = server.oidc.provider;
    const person = await createPerson(server);
    const older = await insertGrant(server.db, { accountId: person.id, clientId: app.clientId, scope: 'openid', createdAt: new Date(Date.now() - 2 * DAY_MS) });
    const newest = await insertGrant(server.db, { accountId: person.id, clientId: app.clientId, scope: 'openid email', createdAt: new Date(Date.now() - DAY_MS) });
    // Newer still, but expired, or another app's, or another person's: none of them is remembered.
    await insertGrant(server.db, { accountId: person.id, clientId: app.clientId, expiresAt: new Date(Date.now() - 1000) });
    await insertGrant(server.db, { accountId: person.id, clientId: 'another-app' });
    await insertGrant(server.db, { accountId: randomId(), clientId: app.clientId });

    const payload = await latestGrant(person.id, app.clientId);
    expect(payload).toMatchObject({ jti: newest, openid: { scope: 'openid email' } });
    expect(new Grant(payload!)).toEqual(await Grant.find(newest));

    // An hour before the newest grant expires it is still the one; once it has, none is (the
    // older one expires at the same time).
    const expiry = (await server.db('oidc_records').first('expires_at').where({ model: 'Grant', grant_id: newest })).expires_at as Date;
    expect((await latestGrant(person.id, app.clientId, expiry.getTime() - 3_600_000))?.jti).toBe(newest);
    expect(await latestGrant(person.id, app.clientId, expiry.getTime() + 1)).toBeUndefined();

    await revokeGrants({ grantIds: [newest] });
    expect((await latestGrant(person.id, app.clientId))?.jti).toBe(older);
    await revokeGrants({ grantIds: [older] });
    expect(await latestGrant(person.id, app.clientId)).toBeUndefined();
  });
});
