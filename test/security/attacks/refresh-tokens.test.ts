// Refresh-token attacks: another client presenting the app's refresh token, and the reverse; and
// the retry window (src/tokens/refresh-retry.ts) used by anyone but the client retrying.
// The target (Gatehouse, its apps, a person, the example API) and the helpers are in ./target.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digest } from '../../../src/crypto/digest.js';
import { obtainTokens, type App } from '../../support/flows.js';
import type { TestServer } from '../../support/gatehouse.js';
import { creds, expectInvalidGrant, post, SCOPE, startAttackTarget, userinfoStatus, type AttackTarget, type Person } from './target.js';

let target: AttackTarget;
let server: TestServer;
let app: App;
let otherApp: App;
let publicApp: App;
let person: Person;

beforeAll(async () => {
  target = await startAttackTarget();
  ({ server, app, otherApp, publicApp, person } = target);
});

afterAll(async () => {
  await target?.stop();
});

describe('refresh tokens', () => {
  let refreshToken: string;

  beforeAll(async () => {
    const { tokens } = await obtainTokens(server, app, person, { scope: SCOPE });
    refreshToken = tokens.refresh_token!;
    expect(refreshToken).toBeTruthy();
  });

  it('another confidential client presenting the app\'s refresh token gets invalid_grant', async () => {
    expectInvalidGrant(await post('/token', creds(otherApp), { grant_type: 'refresh_token', refresh_token: refreshToken }));
  });

  it('a public client presenting the app\'s refresh token gets invalid_grant', async () => {
    expectInvalidGrant(await post('/token', creds(publicApp), { grant_type: 'refresh_token', refresh_token: refreshToken }));
  });

  it('the app\'s client_id without its secret gets invalid_client', async () => {
    const res = await post('/token', { clientId: app.clientId }, { grant_type: 'refresh_token', refresh_token: refreshToken });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_client');
  });

  it('a public client\'s refresh token presented by a confidential client gets invalid_grant', async () => {
    const { tokens } = await obtainTokens(server, publicApp, person, { scope: SCOPE });
    expect(tokens.refresh_token).toBeTruthy();
    expectInvalidGrant(await post('/token', creds(app), { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }));
  });
});

// Within the retry window a rotated token presented again by its own client gets its successor
// back. Nobody else gets anything from it, and nothing about it is usable from the database.
describe('the refresh retry window', () => {
  const refresh = (a: App, token: string) => post('/token', creds(a), { grant_type: 'refresh_token', refresh_token: token });

  async function rotated(a: App): Promise<{ old: string; successor: string; accessToken: string }> {
    const { tokens } = await obtainTokens(server, a, person, { scope: SCOPE });
    const res = await refresh(a, tokens.refresh_token!);
    expect(res.status, res.text).toBe(200);
    return { old: tokens.refresh_token!, successor: String(res.body.refresh_token), accessToken: String(res.body.access_token) };
  }

  it('another client presenting a just-rotated token gets invalid_grant, and the grant is revoked', async () => {
    const { old, successor, accessToken } = await rotated(app);

    expectInvalidGrant(await refresh(otherApp, old));

    expectInvalidGrant(await refresh(app, successor));
    expect(await userinfoStatus(accessToken)).toBe(401);
  });

  it('a just-rotated token presented once its successor was used revokes the grant, public app or not', async () => {
    for (const a of [app, publicApp]) {
      const { old, successor } = await rotated(a);
      const next = await refresh(a, successor);
      expect(next.status, next.text).toBe(200);

      expectInvalidGrant(await refresh(a, old));

      expectInvalidGrant(await refresh(a, String(next.body.refresh_token)));
    }
  });

  it('what the database keeps of a successor for a retry cannot be presented, and revokes nothing', async () => {
    const { old, successor } = await rotated(app);
    const row = await server.testDb.db('oidc_records').first<{ successor_sealed: string; successor_digest: string }>('successor_sealed', 'successor_digest')
      .where({ model: 'RefreshToken', id_digest: digest(old) });

    for (const stolen of [row!.successor_sealed, row!.successor_digest]) expectInvalidGrant(await refresh(app, stolen));

    expect((await refresh(app, successor)).status).toBe(200);
  });
});
