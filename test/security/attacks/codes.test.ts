// Authorization-code attacks: replay, redemption by another client, another redirect_uri.
// The target (Gatehouse, its apps, a person, the example API) and the helpers are in ./target.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../support/flows.js';
import {
  creds, expectInvalidGrant, introspect, issueCode, post, redeem, REDIRECT, SECOND_REDIRECT,
  startAttackTarget, userinfoStatus, type AttackTarget, type Credentials,
} from './target.js';

let target: AttackTarget;
let notes: Credentials;
let app: App;
let twoUris: Credentials;
let otherApp: App;
let publicApp: App;

beforeAll(async () => {
  target = await startAttackTarget();
  ({ notes, app, twoUris, otherApp, publicApp } = target);
});

afterAll(async () => {
  await target?.stop();
});

describe('authorization codes', () => {
  it('a replayed code is invalid_grant, and the tokens of the first exchange are revoked', async () => {
    const issued = await issueCode(creds(app), REDIRECT);
    const first = await redeem(creds(app), issued);
    expect(first.status, first.text).toBe(200);
    const accessToken = String(first.body.access_token);
    const refreshToken = String(first.body.refresh_token);
    expect(accessToken.split('.')).toHaveLength(3); // a JWT for the notes API
    expect(await introspect(notes, accessToken)).toMatchObject({ active: true });

    expectInvalidGrant(await redeem(creds(app), issued));

    // RFC 6749 §4.1.2 / RFC 9700 §4.5: everything issued from the replayed code is revoked.
    expect(await introspect(notes, accessToken)).toEqual({ active: false });
    expect(await introspect(creds(app), refreshToken)).toEqual({ active: false });
    expect(await userinfoStatus(accessToken)).toBe(401);
    expectInvalidGrant(await post('/token', creds(app), { grant_type: 'refresh_token', refresh_token: refreshToken }));
  });

  it('a code presented by another confidential client is invalid_grant', async () => {
    const issued = await issueCode(creds(app), REDIRECT);
    expectInvalidGrant(await redeem(creds(otherApp), issued));
  });

  it('a code presented by a public client (no secret) is invalid_grant', async () => {
    const issued = await issueCode(creds(app), REDIRECT);
    expectInvalidGrant(await redeem(creds(publicApp), issued));
  });

  it('a public client\'s code presented by a confidential client is invalid_grant', async () => {
    const issued = await issueCode(creds(publicApp), REDIRECT);
    expectInvalidGrant(await redeem(creds(app), issued));
  });

  it('a code presented with the owner\'s client_id but no secret is refused as invalid_client', async () => {
    const issued = await issueCode(creds(app), REDIRECT);
    const res = await redeem({ clientId: app.clientId }, issued);
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_client');
  });

  it.each([
    ['the app\'s other registered redirect URI', SECOND_REDIRECT],
    ['a trailing slash', `${REDIRECT}/`],
    ['an added query', `${REDIRECT}?x=1`],
    ['an upper-case host', REDIRECT.replace('app.example.test', 'APP.EXAMPLE.TEST')],
    ['another host', 'https://evil.example.test/callback'],
  ])('a code redeemed with another redirect_uri (%s) is invalid_grant', async (_name, redirectUri) => {
    const issued = await issueCode(twoUris, REDIRECT);
    expectInvalidGrant(await redeem(twoUris, issued, { redirect_uri: redirectUri }));
  });

  it('a code redeemed without redirect_uri by an app with several is refused', async () => {
    const issued = await issueCode(twoUris, REDIRECT);
    const res = await redeem(twoUris, issued, { redirect_uri: undefined });
    expect(res.status).toBe(400);
    expect(['invalid_request', 'invalid_grant']).toContain(res.body.error);
    expect(res.body.access_token).toBeUndefined();
  });
});
