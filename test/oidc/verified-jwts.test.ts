// The memory of verified JWT access tokens: it may only ever save work jose would have done with
// the same answer, so a remembered token must stop being accepted in the very second jose would
// start refusing it.
import { generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { VerifiedJwts } from '../../src/oidc/verified-jwts.js';

const TOLERANCE = 15;
const EXP = 2_000_000_000;

describe('verified JWTs', () => {
  it('accepts a remembered token in exactly the seconds jose accepts it, and forgets it after', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwt = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setExpirationTime(EXP).sign(privateKey);
    const verified = new VerifiedJwts({ maxEntries: 10, clockToleranceSeconds: TOLERANCE });
    verified.remember(jwt, { exp: EXP });

    for (let second = EXP - 2; second <= EXP + TOLERANCE + 2; second++) {
      const joseAccepts = await jwtVerify(jwt, publicKey, { clockTolerance: TOLERANCE, currentDate: new Date(second * 1000) }).then(() => true, () => false);
      // The last millisecond of each second, where rounding would show first.
      expect(verified.get(jwt, second * 1000 + 999) !== undefined, `second ${second - EXP} after exp`).toBe(joseAccepts);
    }
    expect(verified.size).toBe(0);
  });

  it('keeps at most maxEntries, dropping the oldest verification first', () => {
    const verified = new VerifiedJwts({ maxEntries: 2, clockToleranceSeconds: TOLERANCE });
    verified.remember('a', { exp: EXP, jti: 'a' });
    verified.remember('b', { exp: EXP, jti: 'b' });
    verified.remember('c', { exp: EXP, jti: 'c' });

    const now = (EXP - 60) * 1000;
    expect(verified.get('a', now)).toBeUndefined();
    expect(verified.get('b', now)).toEqual({ exp: EXP, jti: 'b' });
    expect(verified.get('c', now)).toEqual({ exp: EXP, jti: 'c' });
  });

  it('hands every caller its own copy of the claims', () => {
    const verified = new VerifiedJwts({ maxEntries: 2, clockToleranceSeconds: TOLERANCE });
    const claims = { exp: EXP, aud: ['https://api.example.test'] };
    verified.remember('t', claims);
    claims.aud.push('changed after verification');

    const first = verified.get('t', 0)!;
    (first.aud as string[]).push('changed by a caller');
    expect(verified.get('t', 0)).toEqual({ exp: EXP, aud: ['https://api.example.test'] });
  });

  it('remembers nothing without an expiry', () => {
    const verified = new VerifiedJwts({ maxEntries: 2, clockToleranceSeconds: TOLERANCE });
    verified.remember('t', {});
    expect(verified.size).toBe(0);
  });
});
