// A JWT access token verified once is remembered, so the next presentation of it skips the
// signature: what the memory must never do is let a token through that jwtVerify would refuse now.
// The JWTs are the server's own, from client_credentials; the verifier is built as the provider
// builds it, on the same database, with a clock the test moves instead of sleeping.
import { decodeJwt, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digest } from '../../src/crypto/digest.js';
import { createDatabase } from '../../src/db/knex.js';
import { ChangeListener, listenerSettingsFor } from '../../src/db/notifications.js';
import { createLogger } from '../../src/logger.js';
import { OidcRecords } from '../../src/records/index.js';
import { JwtAccessTokens } from '../../src/tokens/jwt-access-tokens.js';
import { truthCache } from '../../src/tokens/jwt-truth.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { startAnswerHoldingProxy } from '../support/tcp-proxy.js';

const API = 'https://api.jwt-memory.test';
let server: TestServer;
let jwks: JSONWebKeySet;
let token: string;

let worker: { clientId: string; clientSecret: string };

/** A fresh JWT for the API, by client_credentials. */
async function newToken(): Promise<string> {
  const res = await fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${worker.clientId}:${worker.clientSecret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: API, scope: 'read' }),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

beforeAll(async () => {
  server = await startTestServer();
  await server.stores.resources.create({ identifier: API, scope: 'read' });
  const { client, clientSecret } = await server.stores.clients.create({ name: 'Worker', clientCredentials: true, scope: 'read' });
  worker = { clientId: client.clientId, clientSecret: clientSecret! };
  token = await newToken();
  jwks = (await (await fetch(`${server.issuer}/jwks`)).json()) as JSONWebKeySet;
});
afterAll(async () => { await server?.stop(); });

function verifier(clock: { now: number }) {
  return new JwtAccessTokens(server.testDb.db, {
    issuer: server.issuer,
    jwks,
    userinfoAudience: `${server.issuer}/me`,
    records: new OidcRecords(server.testDb.db),
    now: () => clock.now,
  });
}

describe('verified JWT access tokens, remembered', () => {
  it('answers a token again after its signature verified, and not once it has expired', async () => {
    const { exp } = decodeJwt(token);
    const clock = { now: Date.now() };
    const jwts = verifier(clock);
    expect((await jwts.resolve(token, 'introspection'))?.claims.aud).toBe(API);
    expect((await jwts.resolve(token, 'introspection'))?.claims.aud, 'the second presentation, from memory').toBe(API);
    clock.now = exp! * 1000;
    expect(await jwts.resolve(token, 'introspection'), 'spent at its exp').toBeUndefined();
    // Revocation keeps its clock tolerance, from memory as when verified.
    expect(await jwts.resolve(token, 'revocation')).toBeDefined();
  });

  it('checks the audience a use requires on every presentation, not only the first', async () => {
    const jwts = verifier({ now: Date.now() });
    expect(await jwts.resolve(token, 'introspection')).toBeDefined();
    // Issued for the API alone: userinfo's audience is not among its audiences.
    expect(await jwts.resolve(token, 'userinfo')).toBeUndefined();
  });

  it('remembers the whole value: the same claims under another signature are verified, and refused', async () => {
    const jwts = verifier({ now: Date.now() });
    expect(await jwts.resolve(token, 'introspection')).toBeDefined();
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const forged = `${header}.${payload}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
    expect(await jwts.resolve(forged, 'introspection')).toBeUndefined();
  });

  it('still asks whether the token stands: one revoked after it was remembered is refused', async () => {
    const jwts = verifier({ now: Date.now() });
    expect(await jwts.resolve(token, 'introspection')).toBeDefined();
    await jwts.revoke(String(decodeJwt(token).jti));
    expect(await jwts.resolve(token, 'introspection')).toBeUndefined();
  });
});

describe('a token asked about again while an earlier read of it is under way', () => {
  // The earlier read may have been answered from before a revocation whose notification has since
  // arrived: the cache does not keep that answer, and a request that came after the notification
  // must not be handed it either. Here the database's answer is held back by a proxy until the
  // revocation has been heard, as a slow network would hold it.
  it('is read afresh once the revocation has been heard, not handed the earlier read', async () => {
    const settings = listenerSettingsFor(server.testDb.db);
    if (!settings) {
      expect(server.testDb.kind).toBe('pglite'); // no change feed, so nothing is cached or shared past a change
      return;
    }
    const target = new URL(server.testDb.url!);
    const proxy = await startAnswerHoldingProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const proxied = new URL(target.href);
    proxied.host = `127.0.0.1:${proxy.port}`;
    // One connection: the second read waits for the first to be answered, as under load it might.
    const db = createDatabase({ url: proxied.href, embeddedDir: null, poolMax: 1 });
    const feed = new ChangeListener(settings, createLogger('silent'));
    try {
      await feed.start();
      await db.raw('select 1'); // connected before answers are held
      const jwts = new JwtAccessTokens(db, { issuer: server.issuer, jwks, userinfoAudience: `${server.issuer}/me`, records: new OidcRecords(db), truthCache: truthCache(feed) });
      const fresh = await newToken();

      proxy.holdAnswers();
      const before = jwts.resolve(fresh, 'introspection');
      await proxy.answerHeld(); // the database has answered: standing, as it was then
      await server.testDb.db('revoked_access_tokens').insert({ jti_digest: digest(String(decodeJwt(fresh).jti)), expires_at: new Date(Date.now() + 3_600_000) });
      await feed.caughtUp(); // the revocation has been heard here
      const after = jwts.resolve(fresh, 'introspection');
      proxy.release();

      expect(await before, 'asked before the revocation: the answer from before it').toBeDefined();
      expect(await after, 'asked after the revocation was heard').toBeUndefined();
    } finally {
      await feed.stop();
      await db.destroy();
      await proxy.close();
    }
  });
});
