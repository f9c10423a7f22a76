// An instance past its bounds, as a separate process: more requests than MAX_CONCURRENT_REQUESTS
// get an immediate 503 with Retry-After while the admitted ones finish and /readyz answers;
// sign-ins past ARGON2_CONCURRENCY + ARGON2_QUEUE are told "busy" and never take the token
// endpoint's slots; and the default per-client limits let an API introspect every call.
//
// Nothing here sleeps or measures time: slow requests are requests whose body the test holds
// back (test/support/held-request.ts), and slow sign-ins are sign-ins holding the one argon2 slot.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PasswordHasher } from '../../src/people/passwords.js';
import { UserStore } from '../../src/people/users.js';
import { ClientStore } from '../../src/clients/store.js';
import { loadConfig } from '../../src/config.js';
import { ResourceServerStore } from '../../src/resources/store.js';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../support/database.js';
import { PASSWORD } from '../support/flows.js';
import { holdRequest, rawRequest, type RawResponse } from '../support/held-request.js';
import { startReadyMain, type ReadyProcess, type Server } from '../support/process.js';
import { formOf, UserAgent } from '../support/user-agent.js';

const MAX_CONCURRENT = 16;
// Slower hashes than the default, so a sign-in holds the argon2 slot while the others arrive.
const ARGON2 = { memoryKiB: 19456, timeCost: 8, parallelism: 1 };

let testDb: TestDatabase;
let running: ReadyProcess | undefined;
let server: Server | undefined;
/** The environment the server process runs with. */
let processEnv: NodeJS.ProcessEnv;
let origin: string;
let api: { clientId: string; clientSecret: string };
let app: { clientId: string; redirectUri: string };
let person: { email: string };

// A process of its own needs a database both it and the test can reach: PostgreSQL.
const postgres = await usingPostgres();

beforeAll(async () => {
  if (!postgres) return;
  testDb = await createTestDatabase();
  const created = await new ResourceServerStore(testDb.db).create({ identifier: 'https://api.example.test', scope: 'notes:read', isDefault: true });
  api = { clientId: created.clientId, clientSecret: created.clientSecret! };
  const redirectUri = 'https://app.example.test/callback';
  const registered = await new ClientStore(testDb.db).create({ name: 'Example App', redirectUris: [redirectUri], scope: 'openid' });
  app = { clientId: registered.client.clientId, redirectUri };
  person = await new UserStore(testDb.db, new PasswordHasher(ARGON2)).create({ email: 'busy@example.test', name: 'Busy Person', password: PASSWORD });
  running = await startReadyMain(testDb.url!, {
    LOG_LEVEL: 'silent',
    MAX_CONCURRENT_REQUESTS: String(MAX_CONCURRENT),
    ARGON2_CONCURRENCY: '1',
    ARGON2_QUEUE: '1',
    ARGON2_MEMORY_KIB: String(ARGON2.memoryKiB),
    ARGON2_TIME_COST: String(ARGON2.timeCost),
  });
  ({ server, origin, env: processEnv } = running);
}, 120_000);

afterAll(async () => {
  await running?.stop();
  await testDb?.destroy();
});

function introspectionHeaders(): Record<string, string> {
  return {
    'content-type': 'application/x-www-form-urlencoded',
    authorization: `Basic ${Buffer.from(`${api.clientId}:${api.clientSecret}`).toString('base64')}`,
  };
}

const introspectionBody = (token = randomBytes(32).toString('base64url')) => new URLSearchParams({ token }).toString();

function introspect(options: { agent?: http.Agent; token?: string } = {}): Promise<RawResponse> {
  return rawRequest(`${origin}/token/introspection`, { method: 'POST', headers: introspectionHeaders(), body: introspectionBody(options.token), ...(options.agent ? { agent: options.agent } : {}) });
}

describe.skipIf(!postgres)('an overloaded instance', () => {
  it('answers requests past MAX_CONCURRENT_REQUESTS with an immediate 503 and Retry-After, finishes the admitted ones, and /readyz still answers', { timeout: 60_000 }, async () => {
    // MAX_CONCURRENT_REQUESTS slow introspections, each admitted and waiting for its body.
    const held = Array.from({ length: MAX_CONCURRENT }, () => holdRequest(`${origin}/token/introspection`, { headers: introspectionHeaders(), body: introspectionBody() }));
    for (const request of held) await request.taken;
    expect(held.map((request) => request.answeredEarly())).toEqual(held.map(() => false));

    // Everything else is refused at once, in the shape its caller reads.
    const shed = await Promise.all([introspect(), introspect(), rawRequest(`${origin}/jwks`)]);
    for (const res of shed) {
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('1');
      expect(res.headers['cache-control']).toBe('no-store');
      expect(JSON.parse(res.body)).toMatchObject({ error: 'temporarily_unavailable' });
    }
    const page = await rawRequest(`${origin}/account`, { headers: { accept: 'text/html,application/xhtml+xml' } });
    expect(page.status).toBe(503);
    expect(page.headers['retry-after']).toBe('1');
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('Gatehouse is busy');

    // The load balancer still hears from the instance, and hears that it is up.
    const ready = await rawRequest(`${origin}/readyz`);
    expect({ status: ready.status, body: JSON.parse(ready.body) }).toEqual({ status: 200, body: { status: 'ready', database: 'ok' } });
    expect((await rawRequest(`${origin}/healthz`)).status).toBe(200);

    // The admitted requests are never cut: each one finishes with its answer.
    const answers = await Promise.all(held.map((request) => request.finish()));
    for (const res of answers) expect({ status: res.status, body: JSON.parse(res.body) }).toEqual({ status: 200, body: { active: false } });
    // And their slots are free again.
    expect((await introspect()).status).toBe(200);
  });

  it('tells sign-ins past the argon2 bound "busy, try again" with the email kept, while the token endpoint keeps answering', { timeout: 120_000 }, async () => {
    const agent = new UserAgent(origin);
    const authorize = new URL('/auth', origin);
    authorize.search = new URLSearchParams({
      client_id: app.clientId, redirect_uri: app.redirectUri, response_type: 'code', scope: 'openid',
      code_challenge: randomBytes(32).toString('base64url'), code_challenge_method: 'S256', state: 'state',
    }).toString();
    const login = await agent.follow(authorize.href);
    expect(login.status).toBe(200);
    const form = formOf(login.body, /\/login$/);
    const signIn = () => agent.request(new URL(form.action, login.url).href, { form: { csrf: form.csrf, email: person.email, password: 'not the password' } });

    // One sign-in hashes, one waits, and the third finds the queue full: it is the first answer.
    const pending = [signIn(), signIn(), signIn()].map((attempt) => attempt.then((res) => ({ res, settled: true })));
    const first = await Promise.race(pending);
    expect(first.res.status).toBe(503);
    expect(first.res.headers.get('retry-after')).toBe('2');
    expect(first.res.body).toContain('Gatehouse is busy right now');
    expect(first.res.body).toContain(`value="${person.email}"`);

    // Two sign-ins hold request slots waiting for argon2; the token endpoints still get theirs.
    for (let i = 0; i < 10; i += 1) expect((await introspect()).status).toBe(200);

    // The waiting sign-ins are checked in turn and told the password is wrong.
    const outcomes = (await Promise.all(pending)).map(({ res }) => res.status).sort();
    expect(outcomes).toEqual([401, 401, 503]);
  });

  it('lets one API introspect 150 times a second for a minute under the default per-client limit', async () => {
    // Reasoned, not sent: 9,000 requests would prove it at the cost of a minute of CPU. The limiter
    // charges an authenticated client one point per request and refuses only once its points are
    // spent (test/security/throttling-endpoints.test.ts: exactly the limit passes, the next is
    // refused), so a minute at 150/s — 9,000 points, however the windows fall — fits when the limit
    // this process runs with, the default, is at least that.
    expect(processEnv.INTROSPECTION_RATE_LIMIT).toBeUndefined();
    expect(loadConfig(processEnv).rateLimits.introspection).toBeGreaterThanOrEqual(150 * 60);

    // And nothing else in front of this process refuses one API a second's worth on one connection:
    // counted against the API like any introspection, and refused on its signature without a
    // database round trip.
    const FORGED_JWT = `${Buffer.from('{"alg":"ES256","typ":"at+jwt"}').toString('base64url')}.${Buffer.from('{}').toString('base64url')}.${randomBytes(64).toString('base64url')}`;
    const statuses = new Map<number, number>();
    const agent = new http.Agent({ keepAlive: true });
    for (let i = 0; i < 150; i += 1) {
      const { status } = await introspect({ agent, token: FORGED_JWT });
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
    agent.destroy();
    expect(Object.fromEntries(statuses)).toEqual({ 200: 150 });
  });
});
