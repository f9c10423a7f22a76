// The one-query lookup of opaque tokens and authorization codes: it must answer exactly what a
// model's records' find answers for each model (it stands in for it), in one round trip however
// findToken asks, and hand out a grant or session it read alongside only until the end of that tick.
import { randomBytes, randomUUID } from 'node:crypto';
import type { AdapterPayload } from 'oidc-provider';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthorizationCodeModel } from '../../../src/oidc/models/authorization-code.js';
import { CodeRedemptions } from '../../../src/oidc/models/code-redemption.js';
import { HeldIssuance } from '../../../src/oidc/models/held-issuance.js';
import { SessionModel } from '../../../src/oidc/models/session.js';
import { TokenLookup } from '../../../src/oidc/models/token-lookup.js';
import { OidcRecords, TOKEN_MODELS, type ModelRecords } from '../../../src/records/index.js';
import { createTestDatabase, queriesDuring, type TestDatabase } from '../../support/database.js';

let testDb: TestDatabase;
const countQueries = async (work: () => Promise<unknown>) => (await queriesDuring(testDb.db, work)).length;
let adapterFor: (model: string) => ModelRecords;
let lookup: TokenLookup;

const randomId = () => randomBytes(24).toString('base64url');
/** The person and app the tokens here belong to: the lookup only finds tokens whose both stand. */
const PERSON = randomUUID();
const APP = 'client-1';
const nextTick = () => new Promise((resolve) => setImmediate(resolve));

function payload(kind: string, id: string, extra: AdapterPayload = {}): AdapterPayload {
  const iat = Math.floor(Date.now() / 1000);
  return { iat, exp: iat + 600, jti: id, kind, accountId: PERSON, clientId: APP, ...extra };
}

/** A grant with an access token and a consumed refresh token under it. */
async function grantWithTokens(grantExpiresIn = 3600) {
  const grantId = randomId();
  const accessToken = randomId();
  const refreshToken = randomId();
  await adapterFor('Grant').upsert(grantId, payload('Grant', grantId, { openid: { scope: 'openid' } }), grantExpiresIn);
  await adapterFor('AccessToken').upsert(accessToken, payload('AccessToken', accessToken, { grantId, scope: 'openid', extra: { a: 1 } }), 600);
  await adapterFor('RefreshToken').upsert(refreshToken, payload('RefreshToken', refreshToken, { grantId }), 600);
  await adapterFor('RefreshToken').consume(refreshToken);
  return { grantId, accessToken, refreshToken };
}

beforeAll(async () => {
  testDb = await createTestDatabase();
  const records = new OidcRecords(testDb.db);
  adapterFor = (model) => records.of(model);
  lookup = new TokenLookup(records);
  await testDb.db('clients').insert({ client_id: APP, name: 'App', token_endpoint_auth_method: 'none', grant_types: JSON.stringify([]), scope: '' });
  await testDb.db('users').insert({ id: PERSON, email: 'person@example.test', name: 'Person', password_hash: 'not-a-hash' });
});

afterAll(async () => {
  await testDb?.destroy();
});

describe('TokenLookup', () => {
  it('does not find a token whose person or app is disabled', async () => {
    const { accessToken, refreshToken } = await grantWithTokens();
    await testDb.db('users').where({ id: PERSON }).update({ disabled_at: new Date() });
    expect(await lookup.find('RefreshToken', refreshToken)).toBeUndefined();
    await testDb.db('users').where({ id: PERSON }).update({ disabled_at: null });
    await nextTick();
    await testDb.db('clients').where({ client_id: APP }).update({ disabled_at: new Date() });
    expect(await lookup.find('AccessToken', accessToken)).toBeUndefined();
    await testDb.db('clients').where({ client_id: APP }).update({ disabled_at: null });
    await nextTick();
    expect(await lookup.find('AccessToken', accessToken)).toMatchObject({ jti: accessToken });
  });

  it('answers all three models, as each model’s records would, in one query', async () => {
    const { accessToken, refreshToken } = await grantWithTokens();
    for (const id of [accessToken, refreshToken, randomId()]) {
      await nextTick();
      let found: Array<AdapterPayload | undefined> = [];
      expect(await countQueries(async () => { found = await Promise.all(TOKEN_MODELS.map((model) => lookup.find(model, id))); })).toBe(1);
      const expected = await Promise.all(TOKEN_MODELS.map((model) => adapterFor(model).find(id)));
      expect(found).toEqual(expected);
    }
  });

  it('is sent as a named prepared statement through pg, and answers as knex.raw does on PGlite', async () => {
    const { accessToken, refreshToken } = await grantWithTokens();
    await nextTick();
    const sent: unknown[] = [];
    const original = pg.Client.prototype.query;
    (pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown }).query = function (this: pg.Client, ...args: unknown[]) {
      sent.push(args[0]);
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    };
    let found: Array<AdapterPayload | undefined>;
    try {
      found = await Promise.all([lookup.find('RefreshToken', refreshToken), lookup.find('AccessToken', accessToken)]);
    } finally {
      pg.Client.prototype.query = original;
    }
    if (testDb.kind === 'postgres') {
      expect(sent).toEqual(Array(2).fill(expect.objectContaining({ name: expect.stringMatching(/^gatehouse_token_lookup/), values: expect.any(Array) })));
    } else {
      expect(sent).toEqual([]);
    }
    expect(found).toEqual([await adapterFor('RefreshToken').find(refreshToken), await adapterFor('AccessToken').find(accessToken)]);
  });

  it('costs one query when the models are asked one after another, as with a hint', async () => {
    const { refreshToken } = await grantWithTokens();
    await nextTick();
    expect(await countQueries(async () => {
      expect(await lookup.find('AccessToken', refreshToken)).toBeUndefined();
      expect(await lookup.find('RefreshToken', refreshToken)).toMatchObject({ kind: 'RefreshToken', consumed: expect.any(Number) });
    })).toBe(1);
  });

  it('hands out the grant it read alongside, until the end of the tick', async () => {
    const { grantId, accessToken } = await grantWithTokens();
    await nextTick();
    await lookup.find('AccessToken', accessToken);
    expect(lookup.recentGrant(grantId)).toEqual(await adapterFor('Grant').find(grantId));
    await nextTick();
    expect(lookup.recentGrant(grantId)).toBeUndefined();
  });

  it('does not offer an expired grant, nor a grant after a write to it', async () => {
    const expired = await grantWithTokens(-60);
    await nextTick();
    await lookup.find('AccessToken', expired.accessToken);
    expect(lookup.recentGrant(expired.grantId)).toBeUndefined();

    const live = await grantWithTokens();
    await nextTick();
    await lookup.find('AccessToken', live.accessToken);
    lookup.forget(live.grantId);
    expect(lookup.recentGrant(live.grantId)).toBeUndefined();
  });

  it('finds an authorization code with the session it ends with, each as their records would, until the end of the tick', async () => {
    const { grantId } = await grantWithTokens();
    const sessionId = randomId();
    const uid = randomId();
    const iat = Math.floor(Date.now() / 1000);
    await adapterFor('Session').upsert(sessionId, { iat, exp: iat + 600, jti: sessionId, kind: 'Session', uid, accountId: PERSON, authorizations: { [APP]: { grantId } } }, 600);
    const code = randomId();
    await adapterFor('AuthorizationCode').upsert(code, payload('AuthorizationCode', code, { grantId, expiresWithSession: true, sessionUid: uid, redirectUri: 'https://app.example.test/cb' }), 60);
    await nextTick();

    let found: AdapterPayload | undefined;
    let alongside: Array<AdapterPayload | undefined> = [];
    expect(await countQueries(async () => {
      found = await lookup.find('AuthorizationCode', code);
      alongside = [lookup.recentSession(uid), lookup.recentGrant(grantId)];
    })).toBe(1);
    expect(found).toEqual(await adapterFor('AuthorizationCode').find(code));
    // The digest of the uid, computed by the database, matched the one Session.findByUid looks up.
    expect(alongside).toEqual([await adapterFor('Session').findByUid(uid), await adapterFor('Grant').find(grantId)]);
    expect(alongside[0]).toMatchObject({ uid, accountId: PERSON });
    await nextTick();
    expect(lookup.recentSession(uid)).toBeUndefined();
  });

  it('reads no session for a code that outlives it, for an expired one, or after a write to it', async () => {
    const iat = Math.floor(Date.now() / 1000);
    const session = async (expiresIn: number) => {
      const uid = randomId();
      await adapterFor('Session').upsert(randomId(), { iat, exp: iat + expiresIn, kind: 'Session', uid, accountId: PERSON }, expiresIn);
      return uid;
    };
    const codeFor = async (uid: string, expiresWithSession: boolean) => {
      const code = randomId();
      await adapterFor('AuthorizationCode').upsert(code, payload('AuthorizationCode', code, { expiresWithSession, sessionUid: uid }), 60);
      return code;
    };
    const offline = await session(600);
    expect(await lookup.find('AuthorizationCode', await codeFor(offline, false))).toBeDefined();
    expect(lookup.recentSession(offline)).toBeUndefined();

    const expired = await session(-60);
    await nextTick();
    expect(await lookup.find('AuthorizationCode', await codeFor(expired, true))).toBeDefined();
    expect(lookup.recentSession(expired)).toBeUndefined();

    const live = await session(600);
    await nextTick();
    expect(await lookup.find('AuthorizationCode', await codeFor(live, true))).toBeDefined();
    expect(lookup.recentSession(live)).toBeDefined();
    lookup.forget(live);
    expect(lookup.recentSession(live)).toBeUndefined();
  });

  it('gives each caller its own copy', async () => {
    const { accessToken } = await grantWithTokens();
    await nextTick();
    const [first, second] = await Promise.all([lookup.find('AccessToken', accessToken), lookup.find('AccessToken', accessToken)]);
    (first!.extra as Record<string, unknown>).a = 2;
    expect((second!.extra as Record<string, unknown>).a).toBe(1);
  });
});

describe('the code exchange\'s models', () => {
  /** A live session, and a code that ends with it under a live grant. */
  async function codeWithSession() {
    const { grantId } = await grantWithTokens();
    const uid = randomId();
    const iat = Math.floor(Date.now() / 1000);
    await adapterFor('Session').upsert(randomId(), { iat, exp: iat + 600, kind: 'Session', uid, accountId: PERSON, authorizations: { [APP]: { grantId } } }, 600);
    const code = randomId();
    await adapterFor('AuthorizationCode').upsert(code, payload('AuthorizationCode', code, { grantId, expiresWithSession: true, sessionUid: uid }), 60);
    await nextTick();
    return { code, uid };
  }

  it('Session.findByUid: from the code\'s lookup that tick, from the database otherwise', async () => {
    const sessions = new SessionModel(adapterFor('Session'), lookup);
    const codes = new AuthorizationCodeModel(adapterFor('AuthorizationCode'), lookup, new CodeRedemptions(new HeldIssuance(), () => {}));
    const { code, uid } = await codeWithSession();
    const stored = await adapterFor('Session').findByUid(uid);
    await nextTick();
    expect(await countQueries(async () => {
      await codes.find(code);
      expect(await sessions.findByUid(uid)).toEqual(stored);
    })).toBe(1);
    await nextTick();
    expect(await countQueries(async () => expect(await sessions.findByUid(uid)).toEqual(stored))).toBe(1);
  });

  it('AuthorizationCode: found as its records find it, its person\'s state aside, and forgotten once consumed', async () => {
    const codes = new AuthorizationCodeModel(adapterFor('AuthorizationCode'), lookup, new CodeRedemptions(new HeldIssuance(), () => {}));
    const { code } = await codeWithSession();
    // The exchange refuses a disabled person after consuming the code (findAccount), so a replay
    // still revokes the grant: the code must be found as before.
    await testDb.db('users').where({ id: PERSON }).update({ disabled_at: new Date() });
    try {
      expect(await codes.find(code)).toEqual(await adapterFor('AuthorizationCode').find(code));
      expect(await codes.find(code)).toBeDefined();
    } finally {
      await testDb.db('users').where({ id: PERSON }).update({ disabled_at: null });
    }
    await nextTick();
    await codes.find(code);
    await codes.consume(code);
    expect(await codes.find(code)).toMatchObject({ jti: code, consumed: expect.any(Number) });
  });
});

