// Forged JWT access tokens at the example API, userinfo and introspection.
// The target (Gatehouse, its apps, a person, the example API) and the helpers are in ./target.ts.
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, SignJWT, UnsecuredJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyStoreFor, signingJwk } from '../../../src/keys/signing-keys.js';
import { obtainTokens, type App } from '../../support/flows.js';
import type { TestServer } from '../../support/gatehouse.js';
import {
  introspect, NOTES_API, SCOPE, startAttackTarget, userinfoStatus, type AttackTarget,
  type Credentials, type Person,
} from './target.js';

let target: AttackTarget;
let server: TestServer;
let notes: Credentials;
let app: App;
let person: Person;
let api: AttackTarget['api'];

beforeAll(async () => {
  target = await startAttackTarget();
  ({ server, notes, app, person, api } = target);
});

afterAll(async () => {
  await target?.stop();
});

/** The server's own signing key, and the claims of a genuine access token it issued. */
async function realKeyAndClaims(): Promise<{ realKey: JWK; claims: Record<string, unknown> }> {
  const keySet = await keyStoreFor(server.config, server.testDb.db).loadKeySet();
  const { tokens } = await obtainTokens(server, app, person, { scope: SCOPE });
  const claims = JSON.parse(Buffer.from(tokens.access_token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
  return { realKey: signingJwk(keySet, 'ES256')!, claims };
}

describe('forged JWT access tokens', () => {
  let realKey: JWK;
  let claims: Record<string, unknown>;

  beforeAll(async () => {
    ({ realKey, claims } = await realKeyAndClaims());
    expect(claims.aud).toContain(NOTES_API);
  });

  async function signedWithRealKey(overrides: Record<string, unknown> = {}): Promise<string> {
    return new SignJWT({ ...claims, jti: randomBytes(8).toString('hex'), ...overrides })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: realKey.kid! })
      .sign(await importJWK(realKey, 'ES256'));
  }

  /** Every forgery: same claims as a real token, signed by anyone but Gatehouse. */
  async function forgeries(): Promise<Array<[string, string]>> {
    const payload = { ...claims, jti: randomBytes(8).toString('hex') };
    const publicJwk = { kty: realKey.kty, crv: realKey.crv, x: realKey.x, y: realKey.y };
    const hs256 = (secret: string) => new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: realKey.kid! }).sign(new TextEncoder().encode(secret));
    const attacker = await generateKeyPair('ES256', { extractable: true });
    const attackerJwk = await exportJWK(attacker.publicKey);
    const withHeader = (header: Record<string, unknown>) => new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', ...header } as { alg: string }).sign(attacker.privateKey);
    return [
      ['alg none', new UnsecuredJWT(payload).setIssuer(String(claims.iss)).encode()],
      ['alg none with typ at+jwt and our kid', `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid: realKey.kid })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.`],
      ['HS256 keyed with our public JWK', await hs256(JSON.stringify(publicJwk))],
      ['HS256 keyed with our public key\'s x coordinate', await hs256(String(realKey.x))],
      ['an attacker key embedded through jwk', await withHeader({ jwk: attackerJwk, kid: realKey.kid })],
      ['an attacker key named through jku', await withHeader({ jku: 'https://evil.example.test/jwks.json', kid: realKey.kid })],
      ['an attacker key named through x5u', await withHeader({ x5u: 'https://evil.example.test/cert.pem', kid: realKey.kid })],
      ['an attacker key under our kid', await withHeader({ kid: realKey.kid })],
      ['an attacker kid', await withHeader({ kid: 'attacker-key' })],
      ['a path-traversal kid', await withHeader({ kid: '../../../../../../dev/null' })],
      ['a SQL-injection kid', await withHeader({ kid: "' UNION SELECT 'AAAA' AS kid --" })],
      ['a kid with a NUL', await withHeader({ kid: `${realKey.kid}\u0000` })],
    ];
  }

  it('a token signed with our real key passes everywhere (the baseline the forgeries depart from)', async () => {
    const token = await signedWithRealKey();
    const res = await fetch(`${api.url}/notes`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(await userinfoStatus(token)).toBe(200);
    expect((await introspect(notes, token)).active).toBe(true);
  });

  it('the example API answers 401 invalid_token to every forgery', async () => {
    for (const [name, token] of await forgeries()) {
      const res = await fetch(`${api.url}/notes`, { headers: { authorization: `Bearer ${token}` } });
      const body = await res.text();
      expect(res.status, `${name}: ${body}`).toBe(401);
      expect(res.headers.get('www-authenticate'), name).toMatch(/error="invalid_token"/);
    }
  });

  it('a sensitive call (introspected) at the example API is refused too', async () => {
    for (const [name, token] of await forgeries()) {
      const res = await fetch(`${api.url}/notes/1`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
      await res.arrayBuffer();
      expect(res.status, name).toBe(401);
    }
  });

  it('userinfo answers 401 to every forgery', async () => {
    for (const [name, token] of await forgeries()) {
      expect(await userinfoStatus(token), name).toBe(401);
    }
  });

  it('introspection reads every forgery inactive, with nothing more', async () => {
    for (const [name, token] of await forgeries()) {
      expect(await introspect(notes, token), name).toEqual({ active: false });
    }
  });
});

// A genuine token replayed just after it expired: userinfo used to accept it for its 15-second
// clock tolerance while introspection refused it. Both now refuse it from its exp on.
describe('a genuine access token seconds past its expiry', () => {
  let realKey: JWK;
  let claims: Record<string, unknown>;

  beforeAll(async () => {
    ({ realKey, claims } = await realKeyAndClaims());
  });

  const expiredSecondsAgo = async (seconds: number) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ ...claims, jti: randomBytes(8).toString('hex'), iat: now - 600, exp: now - seconds })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: realKey.kid! })
      .sign(await importJWK(realKey, 'ES256'));
  };

  it.each([1, 5, 14])('%i s past exp: refused at userinfo as at introspection', async (seconds) => {
    const token = await expiredSecondsAgo(seconds);
    expect(await userinfoStatus(token)).toBe(401);
    expect(await introspect(notes, token)).toEqual({ active: false });
  });

  it('the same token unexpired is accepted by both (the baseline)', async () => {
    const token = await expiredSecondsAgo(-60);
    expect(await userinfoStatus(token)).toBe(200);
    expect((await introspect(notes, token)).active).toBe(true);
  });
});
