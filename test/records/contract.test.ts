// One contract for the oidc_records repository (src/records/), run against every database it must
// work on: the real PostgreSQL when one answers, and always the in-memory PGlite that development
// falls back to. The reference is oidc-provider's memory adapter, which a model's records stand in
// for, plus what Gatehouse adds: nothing a caller could present as proof is stored, consume() and
// rotate() are race-free, and expiry follows the repository's injected clock.
import { randomBytes } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';
import type { AdapterPayload } from 'oidc-provider';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { digest } from '../../src/crypto/digest.js';
import { ModelRecords, OidcRecords, type ModelOptions, type OidcRecordRow } from '../../src/records/index.js';
import { openSuccessor, sealSuccessor } from '../../src/tokens/refresh-retry.js';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../support/database.js';

type Kind = TestDatabase['kind'];

/** A row as stored, with the payload read back as plain JSON. */
type RecordRow = Omit<OidcRecordRow, 'payload'> & { payload: Record<string, unknown> };

const START = Date.UTC(2030, 0, 1);

function randomId(): string {
  return randomBytes(24).toString('base64url');
}

function epochSeconds(ms: number): number {
  return Math.floor(ms / 1000);
}

function adapterContract(name: Kind, makeDb: () => Promise<TestDatabase>): void {
  describe(`oidc_records repository contract (${name})`, () => {
    let database: TestDatabase;
    let clock = START;
    let adapterFor: (model: string) => ModelRecords;
    /** A repository of its own on the shared clock, as another request or instance would hold. */
    const recordsOn = (at: () => number = () => clock) => new OidcRecords(database.db, at);
    const modelOf = (model: string, options: ModelOptions = {}) => recordsOn().of(model, options);

    const advance = (ms: number): void => {
      clock += ms;
    };
    const rows = (): Promise<RecordRow[]> => database.db('oidc_records').select<RecordRow[]>('*');
    const rowOf = async (model: string, id: string): Promise<RecordRow | undefined> =>
      database.db('oidc_records').first<RecordRow | undefined>('*').where({ model, id_digest: digest(id) });

    /** A payload shaped like oidc-provider's opaque token payloads. */
    function tokenPayload(kind: string, id: string, extra: AdapterPayload = {}): AdapterPayload {
      const iat = epochSeconds(clock);
      return { iat, exp: iat + 600, jti: id, kind, accountId: 'account-1', clientId: 'client-1', ...extra };
    }

    /** A grant with a refresh token and an access token (its sibling) under it. */
    async function grantWithRefreshToken(): Promise<{ grantId: string; token: string; sibling: string }> {
      const grantId = randomId();
      const token = randomId();
      const sibling = randomId();
      await adapterFor('Grant').upsert(grantId, tokenPayload('Grant', grantId), 3600);
      await adapterFor('RefreshToken').upsert(token, tokenPayload('RefreshToken', token, { grantId }), 3600);
      await adapterFor('AccessToken').upsert(sibling, tokenPayload('AccessToken', sibling, { grantId }), 600);
      return { grantId, token, sibling };
    }

    beforeAll(async () => {
      database = await makeDb();
      adapterFor = (model) => modelOf(model);
    });

    afterAll(async () => {
      await database?.destroy();
    });

    it('runs on the database it was asked for', () => {
      expect(database.kind).toBe(name);
    });

    it('returns an adapter per model from the factory', () => {
      const adapter = adapterFor('AccessToken');
      expect(adapter).toBeInstanceOf(ModelRecords);
      expect(adapter.model).toBe('AccessToken');
    });

    describe('upsert and find', () => {
      it('round-trips the payload and restores jti from the id', async () => {
        const id = randomId();
        const payload = tokenPayload('AccessToken', id, { grantId: randomId(), scope: 'openid email' });
        await adapterFor('AccessToken').upsert(id, payload, 600);

        expect(await adapterFor('AccessToken').find(id)).toEqual(payload);
      });

      it('fills the columns from the payload and the clock', async () => {
        const id = randomId();
        const grantId = randomId();
        await adapterFor('RefreshToken').upsert(id, tokenPayload('RefreshToken', id, { grantId }), 3600);

        const row = await rowOf('RefreshToken', id);
        expect(row).toMatchObject({
          grant_id: grantId,
          account_id: 'account-1',
          client_id: 'client-1',
          consumed_at: null,
          uid_digest: null,
        });
        expect(row?.expires_at?.getTime()).toBe(clock + 3600 * 1000);
        expect(row?.created_at).toBeInstanceOf(Date);
        expect(row?.payload).not.toHaveProperty('jti');
      });

      it('files a Grant under its own id in grant_id, so a person’s grants can be listed', async () => {
        const grantId = randomId();
        await adapterFor('Grant').upsert(grantId, tokenPayload('Grant', grantId), 600);

        expect(await rowOf('Grant', grantId)).toMatchObject({ grant_id: grantId, account_id: 'account-1', client_id: 'client-1' });
      });

      it('keys records by model: the same id in another model is another record', async () => {
        const id = randomId();
        await adapterFor('AccessToken').upsert(id, tokenPayload('AccessToken', id), 600);

        expect(await adapterFor('RefreshToken').find(id)).toBeUndefined();
      });

      it('replaces the payload and expiry when the same id is saved again', async () => {
        const id = randomId();
        const adapter = adapterFor('Grant');
        await adapter.upsert(id, tokenPayload('Grant', id, { openid: { scope: 'openid' } }), 60);
        const updated = tokenPayload('Grant', id, { openid: { scope: 'openid email' } });
        await adapter.upsert(id, updated, 3600);

        expect(await adapter.find(id)).toEqual(updated);
        const matching = (await rows()).filter((r) => r.id_digest === digest(id));
        expect(matching).toHaveLength(1);
        expect(matching[0]?.expires_at?.getTime()).toBe(clock + 3600 * 1000);
      });

      it('keeps records without expiresIn forever', async () => {
        const id = randomId();
        await adapterFor('Grant').upsert(id, tokenPayload('Grant', id), undefined);

        expect((await rowOf('Grant', id))?.expires_at).toBeNull();
        advance(10 * 365 * 24 * 3600 * 1000);
        expect(await adapterFor('Grant').find(id)).toBeDefined();
      });
    });

    describe('what is stored', () => {
      it('holds neither the raw id nor the session cookie anywhere in the row', async () => {
        const sessionId = randomId();
        const uid = randomId();
        const interactionId = randomId();

        await adapterFor('Session').upsert(sessionId, tokenPayload('Session', sessionId, { uid, loginTs: 1 }), 600);
        await adapterFor('Interaction').upsert(
          interactionId,
          tokenPayload('Interaction', interactionId, {
            session: { accountId: 'account-1', uid, cookie: sessionId },
            params: { client_id: 'client-1' },
          }),
          600,
        );

        const stored = JSON.stringify(await rows());
        for (const secret of [sessionId, interactionId]) {
          expect(stored).not.toContain(secret);
        }
      });

      it('keeps the session uid only as a digest outside the payload, which needs it', async () => {
        const sessionId = randomId();
        const uid = randomId();
        await adapterFor('Session').upsert(sessionId, tokenPayload('Session', sessionId, { uid }), 600);

        const row = await rowOf('Session', sessionId);
        expect(row?.uid_digest).toBe(digest(uid));
        // oidc-provider rebuilds the Session from the payload, so uid (not a credential) stays there.
        const { payload, ...columns } = row!;
        expect(payload.uid).toBe(uid);
        expect(JSON.stringify(columns)).not.toContain(uid);
      });

      it('drops session.cookie from interactions and keeps the rest of the session', async () => {
        const interactionId = randomId();
        const session = { accountId: 'account-1', uid: randomId(), cookie: randomId(), acr: 'urn:mace:incommon:iap:silver' };
        await adapterFor('Interaction').upsert(interactionId, tokenPayload('Interaction', interactionId, { session }), 600);

        const found = await adapterFor('Interaction').find(interactionId);
        expect(found?.jti).toBe(interactionId);
        expect(found?.session).toEqual({ accountId: session.accountId, uid: session.uid, acr: session.acr });
      });

      it('refuses payloads PostgreSQL cannot store as jsonb with a 400, storing nothing', async () => {
        const nul = randomId();
        const surrogate = randomId();
        const interactions = adapterFor('Interaction');

        await expect(
          interactions.upsert(nul, tokenPayload('Interaction', nul, { params: { state: 'a\u0000b' } }), 600),
        ).rejects.toBeInstanceOf(errors.InvalidRequest);
        await expect(
          interactions.upsert(surrogate, tokenPayload('Interaction', surrogate, { params: { claims: { '\ud800': null } } }), 600),
        ).rejects.toBeInstanceOf(errors.InvalidRequest);
        expect(await rowOf('Interaction', nul)).toBeUndefined();
        expect(await rowOf('Interaction', surrogate)).toBeUndefined();
      });
    });

    describe('expiry', () => {
      it('hides a record once the clock reaches its expiry, without deleting it', async () => {
        const id = randomId();
        await adapterFor('AccessToken').upsert(id, tokenPayload('AccessToken', id), 60);

        advance(59_999);
        expect(await adapterFor('AccessToken').find(id)).toBeDefined();
        advance(1);
        expect(await adapterFor('AccessToken').find(id)).toBeUndefined();
        expect(await rowOf('AccessToken', id)).toBeDefined();
      });

      it('applies to lookups by uid', async () => {
        const sessionId = randomId();
        const uid = randomId();
        await adapterFor('Session').upsert(sessionId, tokenPayload('Session', sessionId, { uid }), 30);
        expect(await adapterFor('Session').findByUid(uid)).toBeDefined();

        advance(30_000);
        expect(await adapterFor('Session').findByUid(uid)).toBeUndefined();
      });
    });

    describe('findByUid', () => {
      it('finds the session by uid, without a jti since the raw id is not stored', async () => {
        const sessionId = randomId();
        const uid = randomId();
        const payload = tokenPayload('Session', sessionId, { uid, loginTs: 1, authorizations: { 'client-1': { sid: 'sid-1', grantId: 'g-1' } } });
        await adapterFor('Session').upsert(sessionId, payload, 600);

        const { jti: _jti, ...withoutJti } = payload;
        expect(await adapterFor('Session').findByUid(uid)).toEqual(withoutJti);
        expect(await adapterFor('Session').find(sessionId)).toEqual(payload);
      });

      it('finds nothing for an unknown uid or in another model', async () => {
        const sessionId = randomId();
        const uid = randomId();
        await adapterFor('Session').upsert(sessionId, tokenPayload('Session', sessionId, { uid }), 600);

        expect(await adapterFor('Session').findByUid(randomId())).toBeUndefined();
        expect(await adapterFor('Interaction').findByUid(uid)).toBeUndefined();
      });

      it('follows the session across a new id (resetIdentifier: destroy the old id, save the new)', async () => {
        const oldId = randomId();
        const newId = randomId();
        const uid = randomId();
        const sessions = adapterFor('Session');
        await sessions.upsert(oldId, tokenPayload('Session', oldId, { uid }), 600);
        await sessions.destroy(oldId);
        await sessions.upsert(newId, tokenPayload('Session', newId, { uid, loginTs: 2 }), 600);

        expect(await sessions.findByUid(uid)).toMatchObject({ uid, loginTs: 2 });
        expect(await sessions.find(oldId)).toBeUndefined();
      });
    });

    describe('device codes (RFC 8628)', () => {
      it('keeps the device code and the user code as digests, and finds the record by either', async () => {
        const deviceCode = randomId();
        const userCode = 'WDJBMJHT';
        const devices = adapterFor('DeviceCode');

        await devices.upsert(deviceCode, tokenPayload('DeviceCode', deviceCode, { userCode, clientId: 'tv' }), 600);
        const row = await rowOf('DeviceCode', deviceCode);
        expect(JSON.stringify(row)).not.toContain(userCode);
        expect(JSON.stringify(row)).not.toContain(deviceCode);

        const byUserCode = await devices.findByUserCode(userCode);
        expect(byUserCode).toMatchObject({ userCode, clientId: 'tv' });
        // Saved again by the handle it was found with: the device sees what the person did.
        await devices.upsert(byUserCode!.jti!, { ...byUserCode!, accountId: 'person', grantId: 'g1' }, 600);
        expect(await devices.find(deviceCode)).toMatchObject({ jti: deviceCode, accountId: 'person', grantId: 'g1', clientId: 'tv' });
        expect(byUserCode!.jti).not.toContain(userCode);
        expect(await devices.find(byUserCode!.jti!)).toMatchObject({ accountId: 'person' });
        expect(await devices.findByUserCode('BCDFGHJK')).toBeUndefined();
      });

      it('refuses a user code on any other model', async () => {
        const id = randomId();
        await expect(adapterFor('AccessToken').upsert(id, tokenPayload('AccessToken', id, { userCode: 'WDJBMJHT' }), 600)).rejects.toThrow(/user code/);
        await expect(adapterFor('AccessToken').findByUserCode('WDJBMJHT')).rejects.toThrow(/user code/);
      });
    });

    describe('consume', () => {
      it('marks the record consumed at the clock time, in the column and not in the stored payload', async () => {
        const id = randomId();
        const codes = adapterFor('AuthorizationCode');
        await codes.upsert(id, tokenPayload('AuthorizationCode', id, { grantId: randomId() }), 60);

        await codes.consume(id);

        expect(await codes.find(id)).toMatchObject({ jti: id, consumed: epochSeconds(clock) });
        const row = await rowOf('AuthorizationCode', id);
        expect(row?.consumed_at?.getTime()).toBe(clock);
        expect(row?.payload).not.toHaveProperty('consumed');
      });

      it('stays consumed when the record is saved again without `consumed`', async () => {
        const id = randomId();
        const tokens = adapterFor('RefreshToken');
        const payload = tokenPayload('RefreshToken', id, { grantId: randomId() });
        await tokens.upsert(id, payload, 600);
        await tokens.consume(id);
        const consumedAt = epochSeconds(clock);

        advance(5_000);
        await tokens.upsert(id, { ...payload, scope: 'openid' }, 600);

        expect(await tokens.find(id)).toMatchObject({ scope: 'openid', consumed: consumedAt });
      });

      it('takes `consumed` from the payload when a record is saved already consumed', async () => {
        const id = randomId();
        const consumed = epochSeconds(clock) - 30;
        await adapterFor('DeviceCode').upsert(id, tokenPayload('DeviceCode', id, { consumed, userCode: `C${id.slice(0, 7)}` }), 600);

        expect(await adapterFor('DeviceCode').find(id)).toMatchObject({ consumed });
        expect((await rowOf('DeviceCode', id))?.payload).not.toHaveProperty('consumed');
      });

      it('lets exactly one of 20 concurrent redemptions win and revokes the grant for the rest', async () => {
        const grantId = randomId();
        const otherGrantId = randomId();
        const code = randomId();
        const accessToken = randomId();
        const refreshToken = randomId();
        const otherToken = randomId();
        const sessionId = randomId();
        const interactionId = randomId();

        await adapterFor('Grant').upsert(grantId, tokenPayload('Grant', grantId), 3600);
        await adapterFor('Grant').upsert(otherGrantId, tokenPayload('Grant', otherGrantId), 3600);
        await adapterFor('AuthorizationCode').upsert(code, tokenPayload('AuthorizationCode', code, { grantId }), 60);
        await adapterFor('AccessToken').upsert(accessToken, tokenPayload('AccessToken', accessToken, { grantId }), 600);
        await adapterFor('RefreshToken').upsert(refreshToken, tokenPayload('RefreshToken', refreshToken, { grantId }), 3600);
        await adapterFor('AccessToken').upsert(otherToken, tokenPayload('AccessToken', otherToken, { grantId: otherGrantId }), 600);
        // Not grantable: these belong to the browser, not to the grant.
        await adapterFor('Session').upsert(sessionId, tokenPayload('Session', sessionId, { uid: randomId(), authorizations: { 'client-1': { grantId } } }), 600);
        await adapterFor('Interaction').upsert(interactionId, tokenPayload('Interaction', interactionId, { grantId }), 600);

        // An adapter per request, as separate provider instances behind a load balancer would have.
        const results = await Promise.allSettled(
          Array.from({ length: 20 }, () => modelOf('AuthorizationCode').consume(code)),
        );

        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        const rejections = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
        expect(rejections).toHaveLength(19);
        for (const reason of rejections) {
          expect(reason).toBeInstanceOf(errors.InvalidGrant);
          expect(reason).toMatchObject({ status: 400, error: 'invalid_grant' });
        }
        // The first loser finds the code consumed and revokes; a loser arriving after that finds
        // nothing left at all. Both are refusals; only the detail differs.
        const details = rejections.map((reason) => (reason as errors.InvalidGrant).error_detail);
        expect(details).toContain('grant consumed');
        for (const detail of details) expect(['grant consumed', 'grant not found']).toContain(detail);

        expect(await adapterFor('Grant').find(grantId)).toBeUndefined();
        expect(await adapterFor('AuthorizationCode').find(code)).toBeUndefined();
        expect(await adapterFor('AccessToken').find(accessToken)).toBeUndefined();
        expect(await adapterFor('RefreshToken').find(refreshToken)).toBeUndefined();
        const leftover = await database.db('oidc_records').select('model').where({ grant_id: grantId });
        expect(leftover.map((r: { model: string }) => r.model).sort()).toEqual(['Interaction']);

        expect(await adapterFor('Grant').find(otherGrantId)).toBeDefined();
        expect(await adapterFor('AccessToken').find(otherToken)).toBeDefined();
        expect(await adapterFor('Session').find(sessionId)).toBeDefined();
        expect(await adapterFor('Interaction').find(interactionId)).toBeDefined();
      });

      it('treats a second, later redemption as a replay too', async () => {
        const { grantId, token, sibling } = await grantWithRefreshToken();

        await adapterFor('RefreshToken').consume(token);
        await expect(adapterFor('RefreshToken').consume(token)).rejects.toBeInstanceOf(errors.InvalidGrant);

        expect(await adapterFor('Grant').find(grantId)).toBeUndefined();
        expect(await adapterFor('AccessToken').find(sibling)).toBeUndefined();
      });

      it('rejects redeeming something that does not exist', async () => {
        await expect(adapterFor('AuthorizationCode').consume(randomId())).rejects.toMatchObject({
          error: 'invalid_grant',
          error_detail: 'grant not found',
        });
      });

      it('answers a reused pushed authorization request as oidc-provider does: invalid_request_uri', async () => {
        const id = randomId();
        const requests = adapterFor('PushedAuthorizationRequest');
        await requests.upsert(id, tokenPayload('PushedAuthorizationRequest', id, { request: 'eyJ...' }), 60);

        await requests.consume(id);
        await expect(requests.consume(id)).rejects.toBeInstanceOf(errors.InvalidRequestUri);
      });
    });

    // A client assertion's jti, recorded once (the ReplayDetection model: src/oidc/models/replay-detection.ts).
    describe('insertUnlessLive', () => {
      const replayPayload = (id: string): AdapterPayload => ({ ...tokenPayload('ReplayDetection', id), iss: 'client-1' });

      it('lets exactly one of 20 concurrent inserts of one id win', async () => {
        const id = randomId();
        // An adapter per request, as separate provider instances behind a load balancer would have.
        const results = await Promise.all(
          Array.from({ length: 20 }, () => modelOf('ReplayDetection').insertUnlessLive(id, replayPayload(id), 60)),
        );

        expect(results.filter(Boolean)).toHaveLength(1);
        expect((await rows()).filter((r) => r.id_digest === digest(id))).toHaveLength(1);
      });

      it('refuses a second insert while the first record lives, and takes its place once it has expired', async () => {
        const id = randomId();
        const replays = adapterFor('ReplayDetection');
        expect(await replays.insertUnlessLive(id, replayPayload(id), 60)).toBe(true);
        advance(59_000);
        expect(await replays.insertUnlessLive(id, replayPayload(id), 60)).toBe(false);

        advance(1_000);
        expect(await replays.insertUnlessLive(id, replayPayload(id), 60)).toBe(true);
        expect((await rowOf('ReplayDetection', id))?.expires_at?.getTime()).toBe(clock + 60_000);
        expect(await replays.insertUnlessLive(id, replayPayload(id), 60)).toBe(false);
      });

      it('replaces only an expired record of its own model', async () => {
        const id = randomId();
        await adapterFor('AccessToken').upsert(id, tokenPayload('AccessToken', id), 600);
        expect(await adapterFor('ReplayDetection').insertUnlessLive(id, replayPayload(id), 60)).toBe(true);
        expect(await adapterFor('AccessToken').find(id)).toBeDefined();
      });
    });

    // A refresh-token rotation: consume the presented token and save its successor, as one statement.
    describe('rotate', () => {
      it('consumes the presented token and stores its successor, as find and consume would see them', async () => {
        const { grantId, token } = await grantWithRefreshToken();
        const successor = randomId();
        advance(5_000);

        await adapterFor('RefreshToken').rotate(token, successor, tokenPayload('RefreshToken', successor, { grantId, rotations: 1 }), 3600);

        expect(await adapterFor('RefreshToken').find(token)).toMatchObject({ jti: token, consumed: epochSeconds(clock) });
        expect(await adapterFor('RefreshToken').find(successor)).toEqual(tokenPayload('RefreshToken', successor, { grantId, rotations: 1 }));
        const row = await rowOf('RefreshToken', successor);
        expect(row).toMatchObject({ grant_id: grantId, account_id: 'account-1', client_id: 'client-1', consumed_at: null, uid_digest: null });
        expect(row!.expires_at!.getTime()).toBe(clock + 3600 * 1000);
        // The successor can itself be rotated.
        await adapterFor('RefreshToken').rotate(successor, randomId(), tokenPayload('RefreshToken', randomId(), { grantId }), 3600);
      });

      it('of 20 concurrent rotations of one token stores exactly one successor and revokes the grant for the rest', async () => {
        const { grantId, token, sibling } = await grantWithRefreshToken();
        const successors = Array.from({ length: 20 }, () => randomId());

        const results = await Promise.allSettled(
          successors.map((successor) => modelOf('RefreshToken')
            .rotate(token, successor, tokenPayload('RefreshToken', successor, { grantId }), 3600)),
        );

        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        for (const result of results.filter((r) => r.status === 'rejected')) {
          expect(result.reason).toBeInstanceOf(errors.InvalidGrant);
        }
        // The losers revoked the grant, the winner's successor with it; no loser's successor was stored.
        const stored = await database.db('oidc_records').whereIn('id_digest', successors.map(digest)).count<{ count: string }[]>('* as count');
        expect(Number(stored[0]!.count)).toBe(0);
        expect(await adapterFor('Grant').find(grantId)).toBeUndefined();
        expect(await adapterFor('AccessToken').find(sibling)).toBeUndefined();
      });

      it('of 20 concurrent rotations of a token outside any grant stores exactly one successor', async () => {
        // Without a grant nothing is revoked, so every successor a loser stored would still be here.
        const token = randomId();
        await adapterFor('RefreshToken').upsert(token, tokenPayload('RefreshToken', token), 3600);
        const successors = Array.from({ length: 20 }, () => randomId());

        await Promise.allSettled(successors.map((successor) => modelOf('RefreshToken')
          .rotate(token, successor, tokenPayload('RefreshToken', successor), 3600)));

        const stored = await database.db('oidc_records').whereIn('id_digest', successors.map(digest)).count<{ count: string }[]>('* as count');
        expect(Number(stored[0]!.count)).toBe(1);
      });

      it('refuses an already consumed token as a replay: nothing stored, the grant revoked, the revocation announced', async () => {
        const revoked: string[] = [];
        const adapter = modelOf('RefreshToken', { onGrantRevoked: (id) => revoked.push(id) });
        const { grantId, token, sibling } = await grantWithRefreshToken();
        await adapter.consume(token);
        const successor = randomId();

        await expect(adapter.rotate(token, successor, tokenPayload('RefreshToken', successor, { grantId }), 3600))
          .rejects.toMatchObject({ error: 'invalid_grant', error_detail: 'grant consumed' });

        expect(await rowOf('RefreshToken', successor)).toBeUndefined();
        expect(await adapterFor('AccessToken').find(sibling)).toBeUndefined();
        expect(revoked).toEqual([grantId]);
      });

      it('refuses a token that does not exist, storing nothing', async () => {
        const successor = randomId();
        await expect(adapterFor('RefreshToken').rotate(randomId(), successor, tokenPayload('RefreshToken', successor), 3600))
          .rejects.toMatchObject({ error: 'invalid_grant', error_detail: 'grant not found' });
        expect(await rowOf('RefreshToken', successor)).toBeUndefined();
      });

      it('consumes nothing when the successor cannot be stored: one statement, all or nothing', async () => {
        const { grantId, token } = await grantWithRefreshToken();
        // A successor id already taken makes the insert fail inside the statement that consumes.
        const taken = randomId();
        await adapterFor('RefreshToken').upsert(taken, tokenPayload('RefreshToken', taken, { grantId }), 3600);

        await expect(adapterFor('RefreshToken').rotate(token, taken, tokenPayload('RefreshToken', taken, { grantId, rotations: 1 }), 3600)).rejects.toThrow();

        expect(await adapterFor('RefreshToken').find(token)).not.toHaveProperty('consumed');
        expect(await adapterFor('RefreshToken').find(taken)).not.toHaveProperty('rotations');
      });

      // Migration 007's columns, on this database: what src/tokens/refresh-retry.ts keeps for a retry.
      it('keeps the sealed successor and its digest on the consumed row, and nothing when given none', async () => {
        const kept = await grantWithRefreshToken();
        const plain = await grantWithRefreshToken();
        const [keptSuccessor, plainSuccessor] = [randomId(), randomId()];

        await adapterFor('RefreshToken').rotate(kept.token, keptSuccessor, tokenPayload('RefreshToken', keptSuccessor, { grantId: kept.grantId }), 3600,
          { sealedSuccessor: sealSuccessor(kept.token, keptSuccessor) });
        await adapterFor('RefreshToken').rotate(plain.token, plainSuccessor, tokenPayload('RefreshToken', plainSuccessor, { grantId: plain.grantId }), 3600);

        const row = (await rowOf('RefreshToken', kept.token)) as RecordRow & { successor_sealed: string; successor_digest: string };
        expect(row.successor_digest).toBe(digest(keptSuccessor));
        expect(openSuccessor(kept.token, row.successor_sealed)).toBe(keptSuccessor);
        expect(await rowOf('RefreshToken', plain.token)).toMatchObject({ successor_sealed: null, successor_digest: null });
        // The successor's own row keeps nothing: it has not been rotated.
        expect(await rowOf('RefreshToken', keptSuccessor)).toMatchObject({ successor_sealed: null, successor_digest: null });
      });

      it('spares the grant of a loser forgiveLoss answers true for, storing nothing of it; asks only losers', async () => {
        const { grantId, token, sibling } = await grantWithRefreshToken();
        const [winner, loser] = [randomId(), randomId()];
        const asked: string[] = [];
        const forgiveLoss = (who: string) => async () => { asked.push(who); return true; };

        await adapterFor('RefreshToken').rotate(token, winner, tokenPayload('RefreshToken', winner, { grantId }), 3600, { forgiveLoss: forgiveLoss('winner') });
        await adapterFor('RefreshToken').rotate(token, loser, tokenPayload('RefreshToken', loser, { grantId }), 3600, { forgiveLoss: forgiveLoss('loser') });

        expect(asked).toEqual(['loser']);
        expect(await rowOf('RefreshToken', loser)).toBeUndefined();
        expect(await adapterFor('RefreshToken').find(winner)).toMatchObject({ grantId });
        expect(await adapterFor('AccessToken').find(sibling)).toMatchObject({ grantId });
      });

      it('clears kept successors once the window has passed, a batch at a time, and nothing else', async () => {
        const rotated: string[] = [];
        for (let i = 0; i < 3; i += 1) {
          const { grantId, token } = await grantWithRefreshToken();
          const successor = randomId();
          await adapterFor('RefreshToken').rotate(token, successor, tokenPayload('RefreshToken', successor, { grantId }), 3600,
            { sealedSuccessor: sealSuccessor(token, successor) });
          rotated.push(token);
        }

        const keeping = async () => Number((await database.db('oidc_records').whereNotNull('successor_sealed').count<{ count: string }[]>('* as count'))[0]!.count);
        expect(await recordsOn(() => clock + 29_000).clearKeptSuccessors(30, { batchSize: 2 })).toBe(0);
        const kept = await keeping();
        expect(kept).toBeGreaterThanOrEqual(3);
        expect(await recordsOn(() => clock + 30_000).clearKeptSuccessors(30, { batchSize: 2 })).toBe(kept);
        expect(await keeping()).toBe(0);

        for (const token of rotated) {
          expect(await rowOf('RefreshToken', token)).toMatchObject({ successor_sealed: null, successor_digest: null, consumed_at: new Date(clock) });
        }
      });
    });

    describe('redeem', () => {
      /** A grant with an authorization code under it. */
      async function grantWithCode(): Promise<{ grantId: string; code: string }> {
        const grantId = randomId();
        const code = randomId();
        await adapterFor('Grant').upsert(grantId, tokenPayload('Grant', grantId), 3600);
        await adapterFor('AuthorizationCode').upsert(code, tokenPayload('AuthorizationCode', code, { grantId }), 60);
        return { grantId, code };
      }
      const issued = (model: string, grantId: string, extra: AdapterPayload = {}) => {
        const id = randomId();
        return { model, id, payload: tokenPayload(model, id, { grantId, ...extra }), expiresIn: model === 'AccessToken' ? 600 : 3600 };
      };

      it('consumes the code and stores the tokens issued for it, as find would see them', async () => {
        const { grantId, code } = await grantWithCode();
        const accessToken = issued('AccessToken', grantId);
        const refreshToken = issued('RefreshToken', grantId, { rotations: 0 });
        advance(1_000);

        await adapterFor('AuthorizationCode').redeem(code, [accessToken, refreshToken]);

        expect(await adapterFor('AuthorizationCode').find(code)).toMatchObject({ jti: code, consumed: epochSeconds(clock) });
        expect(await adapterFor('AccessToken').find(accessToken.id)).toEqual(accessToken.payload);
        expect(await adapterFor('RefreshToken').find(refreshToken.id)).toEqual(refreshToken.payload);
        const row = await rowOf('RefreshToken', refreshToken.id);
        expect(row).toMatchObject({ grant_id: grantId, account_id: 'account-1', client_id: 'client-1', consumed_at: null });
        expect(row!.expires_at!.getTime()).toBe(clock + 3600 * 1000);
        expect((await rowOf('AccessToken', accessToken.id))!.expires_at!.getTime()).toBe(clock + 600 * 1000);
      });

      it('stores one token as well, and with none is consume()', async () => {
        const one = await grantWithCode();
        const accessToken = issued('AccessToken', one.grantId);
        await adapterFor('AuthorizationCode').redeem(one.code, [accessToken]);
        expect(await adapterFor('AuthorizationCode').find(one.code)).toHaveProperty('consumed');
        expect(await adapterFor('AccessToken').find(accessToken.id)).toEqual(accessToken.payload);

        const none = await grantWithCode();
        await adapterFor('AuthorizationCode').redeem(none.code, []);
        expect(await adapterFor('AuthorizationCode').find(none.code)).toHaveProperty('consumed');
      });

      it('of 20 concurrent redemptions of one code stores the tokens of exactly one and revokes the grant for the rest', async () => {
        const { grantId, code } = await grantWithCode();
        const attempts = Array.from({ length: 20 }, () => [issued('AccessToken', grantId), issued('RefreshToken', grantId)]);

        const results = await Promise.allSettled(attempts.map((tokens) => modelOf('AuthorizationCode').redeem(code, tokens)));

        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        for (const result of results.filter((r) => r.status === 'rejected')) {
          expect(result.reason).toBeInstanceOf(errors.InvalidGrant);
        }
        // The losers revoked the grant, the winner's tokens with it; no loser's token was stored.
        const ids = attempts.flat().map((token) => digest(token.id));
        const stored = await database.db('oidc_records').whereIn('id_digest', ids).count<{ count: string }[]>('* as count');
        expect(Number(stored[0]!.count)).toBe(0);
        expect(await adapterFor('Grant').find(grantId)).toBeUndefined();
      });

      it('of 20 concurrent redemptions of a code outside any grant stores the tokens of exactly one', async () => {
        // Without a grant nothing is revoked, so every token a loser stored would still be here.
        const code = randomId();
        await adapterFor('AuthorizationCode').upsert(code, tokenPayload('AuthorizationCode', code), 60);
        const attempts = Array.from({ length: 20 }, () => [issued('AccessToken', 'none'), issued('RefreshToken', 'none')].map((token) => ({ ...token, payload: tokenPayload(token.model, token.id) })));

        await Promise.allSettled(attempts.map((tokens) => modelOf('AuthorizationCode').redeem(code, tokens)));

        const stored = await database.db('oidc_records').whereIn('id_digest', attempts.flat().map((token) => digest(token.id))).count<{ count: string }[]>('* as count');
        expect(Number(stored[0]!.count)).toBe(2);
      });

      it('refuses an already consumed code as a replay: nothing stored, the grant revoked, the revocation announced', async () => {
        const revoked: string[] = [];
        const adapter = modelOf('AuthorizationCode', { onGrantRevoked: (id) => revoked.push(id) });
        const { grantId, code } = await grantWithCode();
        await adapter.consume(code);
        const refreshToken = issued('RefreshToken', grantId);

        await expect(adapter.redeem(code, [refreshToken])).rejects.toMatchObject({ error: 'invalid_grant', error_detail: 'grant consumed' });

        expect(await rowOf('RefreshToken', refreshToken.id)).toBeUndefined();
        expect(await adapterFor('Grant').find(grantId)).toBeUndefined();
        expect(revoked).toEqual([grantId]);
      });

      it('refuses a code that does not exist, storing nothing', async () => {
        const accessToken = issued('AccessToken', randomId());
        await expect(adapterFor('AuthorizationCode').redeem(randomId(), [accessToken])).rejects.toMatchObject({ error: 'invalid_grant', error_detail: 'grant not found' });
        expect(await rowOf('AccessToken', accessToken.id)).toBeUndefined();
      });

      it('consumes nothing and stores nothing when a token cannot be stored: one statement, all or nothing', async () => {
        const { grantId, code } = await grantWithCode();
        // A refresh token id already taken makes the insert fail inside the statement that consumes.
        const taken = issued('RefreshToken', grantId);
        await adapterFor('RefreshToken').upsert(taken.id, taken.payload, 3600);
        const accessToken = issued('AccessToken', grantId);

        await expect(adapterFor('AuthorizationCode').redeem(code, [accessToken, { ...taken, payload: { ...taken.payload, rotations: 7 } }])).rejects.toThrow();

        expect(await adapterFor('AuthorizationCode').find(code)).not.toHaveProperty('consumed');
        expect(await rowOf('AccessToken', accessToken.id)).toBeUndefined();
        expect(await adapterFor('RefreshToken').find(taken.id)).not.toHaveProperty('rotations');
        // The code is still usable.
        await adapterFor('AuthorizationCode').redeem(code, [issued('AccessToken', grantId)]);
      });
    });

    describe('destroy', () => {
      it('deletes the record of this model only', async () => {
        const id = randomId();
        await adapterFor('AccessToken').upsert(id, tokenPayload('AccessToken', id), 600);
        await adapterFor('RefreshToken').upsert(id, tokenPayload('RefreshToken', id), 600);

        await adapterFor('AccessToken').destroy(id);

        expect(await adapterFor('AccessToken').find(id)).toBeUndefined();
        expect(await rowOf('AccessToken', id)).toBeUndefined();
        expect(await adapterFor('RefreshToken').find(id)).toBeDefined();
      });

      it('accepts ids that were never stored', async () => {
        await expect(adapterFor('Session').destroy(randomId())).resolves.toBeUndefined();
      });
    });

    describe('revokeByGrantId', () => {
      it('deletes this model’s records of that grant and nothing else', async () => {
        const grantId = randomId();
        const mine = [randomId(), randomId()];
        const otherModel = randomId();
        const otherGrant = randomId();
        for (const id of mine) {
          await adapterFor('AccessToken').upsert(id, tokenPayload('AccessToken', id, { grantId }), 600);
        }
        await adapterFor('RefreshToken').upsert(otherModel, tokenPayload('RefreshToken', otherModel, { grantId }), 600);
        await adapterFor('AccessToken').upsert(otherGrant, tokenPayload('AccessToken', otherGrant, { grantId: randomId() }), 600);
        await adapterFor('Grant').upsert(grantId, tokenPayload('Grant', grantId), 600);

        await adapterFor('AccessToken').revokeByGrantId(grantId);

        for (const id of mine) expect(await rowOf('AccessToken', id)).toBeUndefined();
        expect(await adapterFor('RefreshToken').find(otherModel)).toBeDefined();
        expect(await adapterFor('AccessToken').find(otherGrant)).toBeDefined();
        expect(await adapterFor('Grant').find(grantId)).toBeDefined();
      });
    });

    describe('untrusted ids', () => {
      const badIds: unknown[] = [undefined, null, 42, {}, ['id'], '', 'x'.repeat(4097)];

      it.each(badIds.map((id) => [id === undefined ? 'undefined' : JSON.stringify(id)?.slice(0, 20), id]))(
        'finds nothing for %s, without throwing',
        async (_label, id) => {
          const adapter = adapterFor('AccessToken');
          await expect(adapter.find(id)).resolves.toBeUndefined();
          await expect(adapterFor('Session').findByUid(id)).resolves.toBeUndefined();
        },
      );

      it('accepts ids up to 4096 characters', async () => {
        const id = 'a'.repeat(4096);
        await adapterFor('AccessToken').upsert(id, tokenPayload('AccessToken', id), 600);
        expect(await adapterFor('AccessToken').find(id)).toMatchObject({ jti: id });
      });

      it('ignores bad ids in destroy and revokeByGrantId, and refuses them in upsert', async () => {
        await expect(adapterFor('AccessToken').destroy('')).resolves.toBeUndefined();
        await expect(adapterFor('AccessToken').revokeByGrantId('')).resolves.toBeUndefined();
        await expect(adapterFor('AccessToken').upsert('', tokenPayload('AccessToken', ''), 60)).rejects.toBeInstanceOf(TypeError);
      });
    });

    describe('deleteExpired', () => {
      beforeEach(async () => {
        await database.db('oidc_records').delete();
      });

      it('deletes expired records in batches and leaves live and non-expiring ones', async () => {
        const expired = ['AccessToken', 'Session', 'Grant', 'Interaction', 'AuthorizationCode'].map((model) => ({ model, id: randomId() }));
        const live = { model: 'AccessToken', id: randomId() };
        const forever = { model: 'Grant', id: randomId() };
        for (const { model, id } of expired) await adapterFor(model).upsert(id, tokenPayload(model, id), 60);
        await adapterFor(live.model).upsert(live.id, tokenPayload(live.model, live.id), 3600);
        await adapterFor(forever.model).upsert(forever.id, tokenPayload(forever.model, forever.id), undefined);

        advance(60_000);
        const deleted = await recordsOn().deleteExpired({ batchSize: 2 });

        expect(deleted).toBe(expired.length);
        const remaining = (await rows()).map((r) => r.id_digest).sort();
        expect(remaining).toEqual([digest(live.id), digest(forever.id)].sort());
        expect(await recordsOn().deleteExpired()).toBe(0);
      });

      it('counts a batch that exactly fills the last round', async () => {
        for (let i = 0; i < 4; i += 1) {
          const id = randomId();
          await adapterFor('AccessToken').upsert(id, tokenPayload('AccessToken', id), 1);
        }
        advance(1_000);

        expect(await recordsOn().deleteExpired({ batchSize: 2 })).toBe(4);
        expect(await rows()).toEqual([]);
      });
    });

    describe('as oidc-provider’s adapter', () => {
      let provider: Provider;

      beforeAll(() => {
        // oidc-provider computes exp from the real clock, so these records follow it too.
        provider = new Provider('http://gatehouse.test', {
          adapter: (model: string) => new OidcRecords(database.db).of(model),
          features: { devInteractions: { enabled: false } },
        });
      });

      it('stores and reloads a Session, by its cookie id and by uid', async () => {
        const session = new provider.Session();
        session.loginAccount({ accountId: 'account-1' });
        const cookieId = session.jti;
        await session.save(600);

        const byCookie = await provider.Session.find(cookieId);
        expect(byCookie).toMatchObject({ jti: cookieId, uid: session.uid, accountId: 'account-1' });
        const byUid = await provider.Session.findByUid(session.uid);
        expect(byUid).toMatchObject({ uid: session.uid, accountId: 'account-1' });
        expect(JSON.stringify(await rows())).not.toContain(cookieId);
      });

      it('stores an Interaction without the session cookie and reloads it by uid', async () => {
        const session = new provider.Session();
        session.loginAccount({ accountId: 'account-1' });
        await session.save(600);
        const interactionId = randomId();
        // @types/oidc-provider leaves out Interaction's (jti, payload) constructor.
        const InteractionModel = provider.Interaction as unknown as new (
          jti: string,
          payload: Record<string, unknown>,
        ) => InstanceType<Provider['Interaction']>;
        const interaction = new InteractionModel(interactionId, {
          session,
          params: { client_id: 'client-1', scope: 'openid' },
          prompt: { name: 'consent', reasons: [], details: {} },
          returnTo: 'http://gatehouse.test/auth/resume',
        });
        await interaction.save(600);

        const loaded = await provider.Interaction.find(interactionId);
        expect(loaded?.uid).toBe(interactionId);
        expect(loaded?.session).toEqual({ accountId: 'account-1', uid: session.uid });
        expect(JSON.stringify(await rows())).not.toContain(session.jti);
      });
    });
  });
}

if (await usingPostgres()) adapterContract('postgres', createTestDatabase);
adapterContract('pglite', () => createTestDatabase({ engine: 'pglite' }));
