// A refresh_token grant through the real provider: the presented refresh token is consumed and its
// successor stored in one statement, once the response is ready (src/oidc/models/refresh-token.ts,
// RefreshTokenModel; held-issuance.ts). That relies on oidc-provider consuming the old token before
// saving the new one in the same request; these tests pin that order, and that a rotation stays
// race-free and replay-proof when done this way (test/e2e/refresh-token-hold.test.ts: that a
// refresh the database fails rotates nothing). The
// retry window (src/tokens/refresh-retry.ts, test/tokens/refresh-retry.test.ts) is at its default; the
// clock moves past it where a test needs a replay to be one.
import type { Adapter } from 'oidc-provider';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digest } from '../../src/crypto/digest.js';
import { queriesDuring, usingPostgres } from '../support/database.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { createPerson, obtainTokens, registerApp, type App } from '../support/flows.js';

let server: TestServer;
let app: App;
let person: Awaited<ReturnType<typeof createPerson>>;
let clock = Date.now();
/** Past the default retry window (REFRESH_TOKEN_RETRY_WINDOW): a replay is a replay again. */
const pastRetryWindow = () => { clock += 31_000; };

beforeAll(async () => {
  server = await startTestServer({}, { now: () => clock });
  await server.stores.resources.create({ identifier: 'https://api.example.test', scope: 'read', isDefault: true });
  app = await registerApp(server, { scope: 'openid offline_access read' });
  person = await createPerson(server);
});

afterAll(async () => {
  await server?.stop();
});

const refreshTokenRow = (token: string) =>
  server.testDb.db('oidc_records').first<{ consumed_at: Date | null; grant_id: string; successor_digest: string | null } | undefined>('consumed_at', 'grant_id', 'successor_digest')
    .where({ model: 'RefreshToken', id_digest: digest(token) });

// Counted on PostgreSQL: on the embedded database there is no change feed, so the caches are
// bypassed and a refresh also reads its app, person and grant — more statements, same rotation.
const onPostgres = await usingPostgres();

describe('refresh-token rotation', () => {
  it.skipIf(!onPostgres)('consumes the presented token and stores its successor in one round trip after the lookup', async () => {
    const { tokens } = await obtainTokens(server, app, person, { scope: 'openid offline_access read' });

    let refreshed: client.TokenEndpointResponse | undefined;
    const statements = await queriesDuring(server.testDb.db, async () => {
      refreshed = await client.refreshTokenGrant(app.config, tokens.refresh_token!);
    });

    // The token lookup (token, grant, app and person in one query), then the rotation, which
    // also keeps the successor for a retry: no round trip of its own.
    expect(statements).toHaveLength(2);
    expect(statements[1]).toMatch(/^with consumed as \(\s*update oidc_records/);
    const old = await refreshTokenRow(tokens.refresh_token!);
    const successor = await refreshTokenRow(refreshed!.refresh_token!);
    expect(old?.consumed_at).toBeInstanceOf(Date);
    expect(old?.successor_digest).toBe(digest(refreshed!.refresh_token!));
    expect(successor).toMatchObject({ consumed_at: null, grant_id: old!.grant_id });
  });

  it('of 20 parallel refreshes with one token stores exactly one successor, and every request gets it', async () => {
    const { tokens } = await obtainTokens(server, app, person, { scope: 'openid offline_access read' });

    const results = await Promise.all(Array.from({ length: 20 }, () => client.refreshTokenGrant(app.config, tokens.refresh_token!)));

    // Duplicates of one request by its own client: the losers of the rotation get the winner's successor.
    expect(new Set(results.map((r) => r.refresh_token)).size).toBe(1);
    const { grant_id: grantId } = (await refreshTokenRow(tokens.refresh_token!))!;
    const stored = await server.testDb.db('oidc_records').where({ model: 'RefreshToken', grant_id: grantId }).count<{ count: string }[]>('* as count');
    expect(Number(stored[0]!.count)).toBe(2);
  });

  it('refuses a rotated token presented again after the retry window, and its successor with it', async () => {
    const { tokens } = await obtainTokens(server, app, person, { scope: 'openid offline_access read' });
    const rotated = await client.refreshTokenGrant(app.config, tokens.refresh_token!);
    pastRetryWindow();

    await expect(client.refreshTokenGrant(app.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // A replay looks like a stolen token: the successor's tokens go with the grant.
    await expect(client.refreshTokenGrant(app.config, rotated.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(client.fetchUserInfo(app.config, rotated.access_token, person.id)).rejects.toMatchObject({ status: 401 });
    await server.audit.flush();
    const reused = await server.testDb.db('audit_events').where({ type: 'refresh_token.reuse_detected', client_id: app.clientId }).count<{ count: string }[]>('* as count');
    expect(Number(reused[0]!.count)).toBeGreaterThan(0);
  });

  it('writes a consume outside a refresh_token grant at once, as before', async () => {
    const { tokens } = await obtainTokens(server, app, person, { scope: 'openid offline_access read' });
    // The provider's own RefreshToken storage, called outside any request.
    const adapter = (server.oidc.provider.RefreshToken as unknown as { adapter: Adapter }).adapter;

    await adapter.consume(tokens.refresh_token!);

    expect((await refreshTokenRow(tokens.refresh_token!))?.consumed_at).toBeInstanceOf(Date);
    await expect(client.refreshTokenGrant(app.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  describe('a rotation refused after the consume', () => {
    // The refresh names a resource its grant does not cover: oidc-provider refuses it (invalid_target)
    // after it consumed the presented token and built the successor, with no token in the answer.
    async function refreshFor(resource: string, refreshToken: string) {
      const res = await fetch(`${server.issuer}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${app.clientId}:${app.clientSecret}`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, resource }),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    }

    it('spends the presented token, as before rotations were held, and keeps its successor for a retry in the window', async () => {
      const { tokens } = await obtainTokens(server, app, person, { scope: 'openid offline_access read' });

      const refused = await refreshFor('https://elsewhere.example.test', tokens.refresh_token!);

      expect(refused).toMatchObject({ status: 400, body: { error: 'invalid_target' } });
      expect(refused.body).not.toHaveProperty('refresh_token');
      const old = await refreshTokenRow(tokens.refresh_token!);
      expect(old?.consumed_at).toBeInstanceOf(Date);
      // The app, retrying as it should have asked, gets the successor that was kept.
      const retried = await client.refreshTokenGrant(app.config, tokens.refresh_token!);
      expect(digest(retried.refresh_token!)).toBe(old?.successor_digest);
    });

    it.skipIf(!onPostgres)('that fails when written is logged as an error naming the grant, never the token, and leaves the token usable', async () => {
      const { tokens } = await obtainTokens(server, app, person, { scope: 'openid offline_access read' });
      const { grant_id: grantId } = (await refreshTokenRow(tokens.refresh_token!))!;
      const db = server.testDb.db;
      // The database itself refuses the write: the failure a swallowed error would have hidden.
      await db.raw(`create function refuse_held_consume() returns trigger language plpgsql as $$
        begin raise exception 'the database refused the consume'; end $$`);
      await db.raw(`create trigger refuse_held_consume before update on oidc_records for each row
        when (old.id_digest = '${digest(tokens.refresh_token!)}') execute function refuse_held_consume()`);
      try {
        const refused = await refreshFor('https://elsewhere.example.test', tokens.refresh_token!);
        expect(refused).toMatchObject({ status: 400, body: { error: 'invalid_target' } });

        await expect.poll(() => server.logs.find((line) => line.event === 'refresh_token.consume_failed')).toMatchObject({
          level: 50, grantId, clientId: app.clientId, requestId: expect.any(String),
          err: { message: expect.stringContaining('the database refused the consume') },
        });
        expect((await refreshTokenRow(tokens.refresh_token!))?.consumed_at).toBeNull();
        expect(server.rawLogs.some((line) => line.includes(tokens.refresh_token!))).toBe(false);
      } finally {
        await db.raw('drop trigger refuse_held_consume on oidc_records');
        await db.raw('drop function refuse_held_consume()');
      }
    });
  });
});
