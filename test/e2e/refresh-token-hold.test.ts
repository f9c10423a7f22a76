// A refresh that fails for the database rotates nothing: the 503 tells the app to retry after a
// while, and the retry must refresh, however long the outage lasted. Were the presented token
// consumed before the failure, a retry past REFRESH_TOKEN_RETRY_WINDOW would present a used token,
// which is what a stolen one looks like: the grant revoked, the person signed out by a failover.
// The faults are real: the write or read the refresh depends on waits on a lock the test holds
// until PostgreSQL's lock_timeout gives up (55P03), as on a contended or failing-over
// database. The server's clock is the test's: it moves instead of sleeping.
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digest } from '../../src/crypto/digest.js';
import { written } from '../support/changes.js';
import { queriesDuring, usingPostgres } from '../support/database.js';
import { faultOn, faultOnRead } from '../support/faults.js';
import { createPerson, obtainTokens, registerApp, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';

const API = 'https://api.example.test';
const JWT_SCOPE = 'openid offline_access read';
/** Registered for no scope of the API: the app's access tokens are opaque, stored like refresh tokens. */
const OPAQUE_SCOPE = 'openid offline_access';
/** The steps the clock moves while the fault lasts: past the 30 s retry window by the last. */
const OUTAGE_STEPS_MS = [0, 10_500, 10_500, 10_500];

let server: TestServer;
let jwtApp: App;
let opaqueApp: App;
let person: Awaited<ReturnType<typeof createPerson>>;
let clock = Date.now();

const onPostgres = await usingPostgres();

beforeAll(async () => {
  server = await startTestServer({}, { now: () => clock });
  await server.stores.resources.create({ identifier: API, scope: 'read', isDefault: true });
  jwtApp = await registerApp(server, { scope: JWT_SCOPE });
  opaqueApp = await registerApp(server, { scope: OPAQUE_SCOPE });
  person = await createPerson(server);
});

afterAll(async () => {
  await server?.stop();
});

interface Answer {
  status: number;
  retryAfter: string | null;
  body: Record<string, unknown>;
}

/** The refresh an app sends, over HTTP, with its answer as it came. */
async function refresh(app: App, refreshToken: string): Promise<Answer> {
  const res = await fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${app.clientId}:${app.clientSecret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
  });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Record<string, unknown> };
}

const refreshTokenRow = (token: string) => server.testDb.db('oidc_records')
  .first<{ consumed_at: Date | null; grant_id: string } | undefined>('consumed_at', 'grant_id')
  .where({ model: 'RefreshToken', id_digest: digest(token) });

const storedOfGrant = async (grantId: string, model: string) =>
  Number((await server.testDb.db('oidc_records').where({ model, grant_id: grantId }).count<{ count: string }[]>('* as count'))[0]!.count);

async function reuseDetected(app: App): Promise<number> {
  await server.audit.flush();
  return (await server.testDb.db('audit_events').where({ type: 'refresh_token.reuse_detected', client_id: app.clientId })).length;
}

/**
 * Refreshes with the fault in place, the clock moving in steps past the retry window: every answer
 * a 503 the app is told to retry, carrying no token, and the presented token still unused.
 */
async function refreshThroughOutage(app: App, refreshToken: string): Promise<void> {
  for (const step of OUTAGE_STEPS_MS) {
    clock += step;
    const failed = await refresh(app, refreshToken);
    expect(failed.status).toBe(503);
    expect(failed.body).toMatchObject({ error: 'temporarily_unavailable' });
    expect(failed.body).not.toHaveProperty('access_token');
    expect(failed.body).not.toHaveProperty('refresh_token');
    expect(Number(failed.retryAfter)).toBeGreaterThan(0);
    expect((await refreshTokenRow(refreshToken))?.consumed_at).toBeNull();
  }
}

/** The retry after the outage refreshes, its tokens work, and the grant goes on. */
async function expectRetryRefreshes(app: App, refreshToken: string): Promise<void> {
  const reusedBefore = await reuseDetected(app);
  const retried = await refresh(app, refreshToken);
  expect(retried.status).toBe(200);
  expect(typeof retried.body.refresh_token).toBe('string');
  expect(retried.body.refresh_token).not.toBe(refreshToken);
  expect((await refreshTokenRow(refreshToken))?.consumed_at).toBeInstanceOf(Date);
  expect(await client.fetchUserInfo(app.config, retried.body.access_token as string, person.id)).toMatchObject({ sub: person.id });
  const next = await client.refreshTokenGrant(app.config, retried.body.refresh_token as string);
  expect(await client.fetchUserInfo(app.config, next.access_token, person.id)).toMatchObject({ sub: person.id });
  expect(await reuseDetected(app)).toBe(reusedBefore);
}

describe('a refresh the database fails', () => {
  it.skipIf(!onPostgres)('answers 503 and rotates nothing, an opaque-token app\'s access token insert failing, through an outage past the retry window; the retry then refreshes and the grant stands', async () => {
    const { tokens } = await obtainTokens(server, opaqueApp, person, { scope: OPAQUE_SCOPE });
    const { grant_id: grantId } = (await refreshTokenRow(tokens.refresh_token!))!;
    const accessTokensBefore = await storedOfGrant(grantId, 'AccessToken');

    const release = await faultOn(server.testDb.db, 'AccessToken', 'insert');
    try {
      await refreshThroughOutage(opaqueApp, tokens.refresh_token!);
    } finally {
      await release();
    }
    // Nothing was stored for the failed refreshes: no successor, no access token.
    expect(await storedOfGrant(grantId, 'RefreshToken')).toBe(1);
    expect(await storedOfGrant(grantId, 'AccessToken')).toBe(accessTokensBefore);

    await expectRetryRefreshes(opaqueApp, tokens.refresh_token!);
  });

  it.skipIf(!onPostgres)('answers 503 and rotates nothing, a JWT app\'s API lookup failing (its cache cold), through an outage past the retry window; the retry then refreshes and the grant stands', async () => {
    const { tokens } = await obtainTokens(server, jwtApp, person, { scope: JWT_SCOPE });
    // A change to the API empties every instance's cache of it: the refresh must read it.
    await written(server, () => server.testDb.db('resource_servers').where({ identifier: API }).update({ updated_at: new Date() }));

    const release = await faultOnRead(server.testDb.db, 'resource_servers');
    try {
      await refreshThroughOutage(jwtApp, tokens.refresh_token!);
    } finally {
      await release();
    }

    await expectRetryRefreshes(jwtApp, tokens.refresh_token!);
  });
});

describe('a refresh still rotates once', () => {
  // Counted on PostgreSQL: on the embedded database there is no change feed, so the caches are
  // bypassed and a refresh also reads its app, person and grant.
  it.skipIf(!onPostgres)('stores an opaque-token app\'s rotation and access token in one statement after the lookup', async () => {
    const { tokens } = await obtainTokens(server, opaqueApp, person, { scope: OPAQUE_SCOPE });
    // The first refresh warms what a steady stream of them finds cached (the app, its API).
    const first = await refresh(opaqueApp, tokens.refresh_token!);

    let answer: Answer | undefined;
    const statements = await queriesDuring(server.testDb.db, async () => {
      answer = await refresh(opaqueApp, first.body.refresh_token as string);
    });

    expect(answer?.status).toBe(200);
    // The token lookup, then the rotation, which stores the access token too.
    expect(statements).toHaveLength(2);
    expect(statements[1]).toMatch(/^with consumed as \(\s*update oidc_records/);
    expect(await client.fetchUserInfo(opaqueApp.config, answer!.body.access_token as string, person.id)).toMatchObject({ sub: person.id });
  });

  it('of 20 parallel refreshes of an opaque-token app\'s token, one rotation is stored, every answer carries its successor, and every access token works', async () => {
    const { tokens } = await obtainTokens(server, opaqueApp, person, { scope: OPAQUE_SCOPE });

    const answers = await Promise.all(Array.from({ length: 20 }, () => refresh(opaqueApp, tokens.refresh_token!)));

    expect(answers.map((a) => a.status)).toEqual(Array.from({ length: 20 }, () => 200));
    expect(new Set(answers.map((a) => a.body.refresh_token)).size).toBe(1);
    const { grant_id: grantId } = (await refreshTokenRow(tokens.refresh_token!))!;
    expect(await storedOfGrant(grantId, 'RefreshToken')).toBe(2);
    for (const answer of answers) {
      expect(await client.fetchUserInfo(opaqueApp.config, answer.body.access_token as string, person.id)).toMatchObject({ sub: person.id });
    }
  });

  it('refuses a rotated token presented after the retry window, revoking the grant, as before', async () => {
    const { tokens } = await obtainTokens(server, opaqueApp, person, { scope: OPAQUE_SCOPE });
    const rotated = await refresh(opaqueApp, tokens.refresh_token!);
    expect(rotated.status).toBe(200);
    clock += 31_000;

    const replayed = await refresh(opaqueApp, tokens.refresh_token!);

    expect(replayed.status).toBe(400);
    expect(replayed.body).toMatchObject({ error: 'invalid_grant' });
    expect(replayed.body).not.toHaveProperty('access_token');
    await expect(client.refreshTokenGrant(opaqueApp.config, rotated.body.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(client.fetchUserInfo(opaqueApp.config, rotated.body.access_token as string, person.id)).rejects.toMatchObject({ status: 401 });
  });
});

describe('with REFRESH_TOKEN_RETRY_WINDOW=0', () => {
  let strict: TestServer;
  let strictApp: App;
  let strictPerson: Awaited<ReturnType<typeof createPerson>>;

  beforeAll(async () => {
    strict = await startTestServer({ REFRESH_TOKEN_RETRY_WINDOW: '0' });
    strictApp = await registerApp(strict, { scope: OPAQUE_SCOPE });
    strictPerson = await createPerson(strict);
  });

  afterAll(async () => {
    await strict?.stop();
  });

  it('of parallel refreshes of one token at most one rotates; the rest (those that lose the held rotation among them) are refused as reuse with no token, and the grant is revoked', async () => {
    const { tokens } = await obtainTokens(strict, strictApp, strictPerson, { scope: OPAQUE_SCOPE });
    const app = strictApp;

    const answers = await Promise.all(Array.from({ length: 10 }, async () => {
      const res = await fetch(`${strict.issuer}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${app.clientId}:${app.clientSecret}`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    }));

    expect(answers.filter((a) => a.status === 200).length).toBeLessThanOrEqual(1);
    for (const refused of answers.filter((a) => a.status !== 200)) {
      expect(refused).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
      expect(refused.body).not.toHaveProperty('access_token');
      expect(refused.body).not.toHaveProperty('refresh_token');
    }
    for (const issued of answers.filter((a) => a.status === 200)) {
      await expect(client.refreshTokenGrant(app.config, issued.body.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_grant' });
      await expect(client.fetchUserInfo(app.config, issued.body.access_token as string, strictPerson.id)).rejects.toMatchObject({ status: 401 });
    }
  });
});
