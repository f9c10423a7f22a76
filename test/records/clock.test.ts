// One clock decides "still live" for every read of oidc_records: the repository's injected one,
// in the listings, counts and revocations as in oidc-provider's own lookups — never the
// database's now(). Moving the repository's clock past a grant's expiry hides it everywhere at
// once, and moving it back before an expiry the database's clock has passed shows it again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listConnectedApps } from '../../src/grants/connected-apps.js';
import { GrantStore } from '../../src/grants/store.js';
import { OidcRecords } from '../../src/records/index.js';
import { SessionStore } from '../../src/sessions/store.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { insertGrant, insertSession, modelsOf } from '../support/oidc-records.js';

const HOUR_MS = 3_600_000;

let testDb: TestDatabase;

beforeAll(async () => {
  testDb = await createTestDatabase();
});

afterAll(async () => {
  await testDb?.destroy();
});

/** A person with one grant consenting to offline access and one session, both expiring at `expiresAt`. */
async function personWithGrant(accountId: string, expiresAt: Date): Promise<{ grantId: string; handle: string }> {
  const grantId = await insertGrant(testDb.db, { accountId, clientId: 'clock-app', scope: 'openid offline_access', expiresAt });
  const { handle } = await insertSession(testDb.db, { accountId, authorizations: { 'clock-app': grantId }, expiresAt });
  return { grantId, handle };
}

describe('liveness by the repository clock', () => {
  it('hides a grant and session expired by the injected clock from every listing, count and revocation', async () => {
    const person = 'clock-ahead';
    const { grantId, handle } = await personWithGrant(person, new Date(Date.now() + HOUR_MS));
    const later = new OidcRecords(testDb.db, () => Date.now() + 2 * HOUR_MS);
    const grants = new GrantStore(testDb.db, later);
    const sessions = new SessionStore(testDb.db, later);

    expect((await grants.listByUser(person)).items).toEqual([]);
    expect(await grants.find(grantId)).toBeUndefined();
    expect((await listConnectedApps(testDb.db, person, {}, later)).items).toEqual([]);
    expect(await later.latestGrant(person, 'clock-app')).toBeUndefined();
    expect((await sessions.listByUser(person)).items).toEqual([]);
    expect(await sessions.grantIdsOf(person, handle)).toEqual([]);
    expect(await grants.revokeOfflineOfUser(person)).toBe(0);
    expect(await sessions.endAll(person)).toEqual({ sessions: 0, grants: 0, signedOut: [] });
    // Nothing was deleted as if it were live: the janitor's business, by the same clock.
    expect(await modelsOf(testDb.db, { account_id: person })).toEqual(['Grant', 'Session']);

    // The same rows, read by a repository whose clock is now, are live.
    const now = new OidcRecords(testDb.db);
    expect((await new GrantStore(testDb.db, now).listByUser(person)).items.map((grant) => grant.id)).toEqual([grantId]);
    expect((await listConnectedApps(testDb.db, person, {}, now)).items.map((app) => app.grantCount)).toEqual([1]);
    expect((await new SessionStore(testDb.db, now).listByUser(person)).items.map((session) => session.id)).toEqual([handle]);
  });

  it('lists, and revokes as live, what the injected clock says has not expired yet, whatever the database’s clock says', async () => {
    const person = 'clock-behind';
    const { grantId, handle } = await personWithGrant(person, new Date(Date.now() - HOUR_MS));
    const earlier = new OidcRecords(testDb.db, () => Date.now() - 2 * HOUR_MS);
    const grants = new GrantStore(testDb.db, earlier);
    const sessions = new SessionStore(testDb.db, earlier);

    expect((await grants.listByUser(person)).items.map((grant) => grant.id)).toEqual([grantId]);
    expect((await listConnectedApps(testDb.db, person, {}, earlier)).items.map((app) => app.grantCount)).toEqual([1]);
    expect((await earlier.latestGrant(person, 'clock-app'))?.jti).toBe(grantId);
    expect((await sessions.listByUser(person)).items.map((session) => session.id)).toEqual([handle]);
    expect(await grants.revokeOfflineOfUser(person)).toBe(1);
    expect(await modelsOf(testDb.db, { account_id: person })).toEqual(['Session']);
  });
});
