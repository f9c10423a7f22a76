// A replayed refresh token or code revokes its grant inside consume(); the repository says which
// grant, so this process drops what it cached of it without waiting for the change feed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OidcRecords } from '../../src/records/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let testDb: TestDatabase;
beforeAll(async () => { testDb = await createTestDatabase(); });
afterAll(async () => { await testDb?.destroy(); });

describe('a replay detected by consume()', () => {
  it('names the grant it revoked, and only on a replay', async () => {
    const revoked: string[] = [];
    const tokens = new OidcRecords(testDb.db).of('RefreshToken', { onGrantRevoked: (grantId) => revoked.push(grantId) });
    const grants = new OidcRecords(testDb.db).of('Grant');
    await grants.upsert('grant-1', { accountId: 'a', clientId: 'c' }, 3600);
    await tokens.upsert('token-1', { grantId: 'grant-1', accountId: 'a', clientId: 'c' }, 3600);

    await tokens.consume('token-1');
    expect(revoked).toEqual([]);
    await expect(tokens.consume('token-1')).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(revoked).toEqual(['grant-1']);
    expect(await grants.find('grant-1')).toBeUndefined();
  });
});
