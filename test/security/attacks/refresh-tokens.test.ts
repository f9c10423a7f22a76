// Refresh-token attacks: another client presenting the app's refresh token, and the reverse.
// The target (Gatehouse, its apps, a person, the example API) and the helpers are in ./target.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { obtainTokens, type App } from '../../support/flows.js';
import type { TestServer } from '../../support/gatehouse.js';
import { creds, expectInvalidGrant, post, SCOPE, startAttackTarget, type AttackTarget, type Person } from './target.js';

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
