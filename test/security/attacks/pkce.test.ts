// PKCE attacks: missing, wrong, plain or malformed verifiers, and downgrades at /auth and /request.
// The target (Gatehouse, its apps, a person, the example API) and the helpers are in ./target.ts.
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../support/flows.js';
import type { TestServer } from '../../support/gatehouse.js';
import { UserAgent } from '../../support/user-agent.js';
import {
  creds, expectInvalidGrant, issueCode, post, redeem, REDIRECT, startAttackTarget,
  type AttackTarget,
} from './target.js';

let target: AttackTarget;
let server: TestServer;
let app: App;
let publicApp: App;

beforeAll(async () => {
  target = await startAttackTarget();
  ({ server, app, publicApp } = target);
});

afterAll(async () => {
  await target?.stop();
});

describe('PKCE', () => {
  it('a code redeemed without its code_verifier is invalid_grant', async () => {
    const issued = await issueCode(creds(app), REDIRECT);
    expectInvalidGrant(await redeem(creds(app), issued, { code_verifier: undefined }));
  });

  it('a code redeemed with another (well-formed) code_verifier is invalid_grant', async () => {
    const issued = await issueCode(creds(app), REDIRECT);
    expectInvalidGrant(await redeem(creds(app), issued, { code_verifier: client.randomPKCECodeVerifier() }));
  });

  it('a public client\'s code redeemed with a wrong verifier is invalid_grant', async () => {
    const issued = await issueCode(creds(publicApp), REDIRECT);
    expectInvalidGrant(await redeem(creds(publicApp), issued, { code_verifier: client.randomPKCECodeVerifier() }));
  });

  it('the challenge itself sent as the verifier (plain semantics) is invalid_grant', async () => {
    const issued = await issueCode(creds(app), REDIRECT);
    const challenge = await client.calculatePKCECodeChallenge(issued.verifier);
    expectInvalidGrant(await redeem(creds(app), issued, { code_verifier: challenge }));
  });

  it.each([
    ['too short (42 characters)', 'a'.repeat(42)],
    ['too long (129 characters)', 'a'.repeat(129)],
    ['characters outside the verifier alphabet', `${'a'.repeat(43)}+/=`],
    ['a NUL', `${'a'.repeat(43)}\u0000`],
  ])('a malformed code_verifier (%s) is refused', async (_name, verifier) => {
    const issued = await issueCode(creds(app), REDIRECT);
    const res = await redeem(creds(app), issued, { code_verifier: verifier });
    expect(res.status, res.text).toBe(400);
    expect(['invalid_grant', 'invalid_request']).toContain(res.body.error);
    expect(res.body.access_token).toBeUndefined();
  });

  function authorizeWithout(params: Record<string, string | undefined>): string {
    const all: Record<string, string> = {
      client_id: app.clientId, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', state: 'pkce-state',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    };
    for (const [key, value] of Object.entries(params)) {
      if (value === undefined) delete all[key];
      else all[key] = value;
    }
    return `${server.issuer}/auth?${new URLSearchParams(all)}`;
  }

  /** The app gets an error back at its registered address, and no code. */
  async function expectRefusedToApp(url: string) {
    const res = await new UserAgent(server.issuer).request(url);
    expect(res.status).toBe(303);
    const back = new URL(res.headers.get('location')!);
    expect(back.origin + back.pathname).toBe(REDIRECT);
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(back.searchParams.get('code')).toBeNull();
  }

  it('a code_verifier sent to /auth instead of a challenge (downgrade attempt) is refused', async () => {
    await expectRefusedToApp(authorizeWithout({ code_challenge: undefined, code_challenge_method: undefined, code_verifier: client.randomPKCECodeVerifier() }));
  });

  it('a challenge without code_challenge_method (plain by default in RFC 7636) is refused', async () => {
    await expectRefusedToApp(authorizeWithout({ code_challenge_method: undefined, code_challenge: client.randomPKCECodeVerifier() }));
  });

  it.each([
    ['without a challenge', { code_challenge: undefined, code_challenge_method: undefined }],
    ['with a code_verifier instead of a challenge', { code_challenge: undefined, code_challenge_method: undefined, code_verifier: 'v'.repeat(43) }],
    ['with code_challenge_method=plain', { code_challenge_method: 'plain', code_challenge: 'v'.repeat(43) }],
    ['with a challenge but no method', { code_challenge_method: undefined }],
  ])('a pushed authorization request %s is refused', async (_name, overrides: Record<string, string | undefined>) => {
    const params: Record<string, string> = {
      client_id: app.clientId, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    };
    for (const [key, value] of Object.entries(overrides)) {
      if (value === undefined) delete params[key];
      else params[key] = value;
    }
    const res = await post('/request', creds(app), params);
    expect(res.status, res.text).toBe(400);
    expect(res.body.error).toBe('invalid_request');
    expect(res.body.request_uri).toBeUndefined();
  });
});
