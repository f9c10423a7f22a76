// What an operator's Prometheus sees (issue #18): every request by its route, tokens by grant and
// kind, revocations by cause, refresh-token reuse, sign-ins by outcome, throttle blocks, and the
// process's own state — scraped over real HTTP from the metrics listener, after real flows.
// Counters are the process's, so each check compares a scrape before and after the act.
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usingPostgres } from '../support/database.js';
import { createPerson, obtainTokens, PASSWORD, registerApp, authorizationRequest, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { scrape, type Scrape } from '../support/metrics.js';
import { formOf, UserAgent } from '../support/user-agent.js';

let server: TestServer;
let app: App;
let person: Awaited<ReturnType<typeof createPerson>>;
let clock = Date.now();

beforeAll(async () => {
  // Notices off: every sign-in here would put a mail in the outbox, whose depth a test counts exactly.
  server = await startTestServer({ METRICS_PORT: '0', INTROSPECTION_RATE_LIMIT: '1', EMAIL_NOTIFICATIONS: 'false' }, { now: () => clock });
  app = await registerApp(server);
  person = await createPerson(server);
});

afterAll(async () => {
  await server?.stop();
});

const metrics = () => scrape(`${server.metricsAddress}/metrics`);

/** How much each named sample grew between two scrapes (missing before counts as 0). */
function grew(before: Scrape, after: Scrape, name: string, labels: Record<string, string> = {}): number {
  return (after.value(name, labels) ?? 0) - (before.value(name, labels) ?? 0);
}

const onPostgres = await usingPostgres();

describe('the metrics listener', () => {
  it('listens on its own loopback port, and the public port has no /metrics', async () => {
    expect(server.metricsAddress).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(new URL(server.metricsAddress!).port).not.toBe(new URL(server.issuer).port);
    const publicAnswer = await fetch(`${server.issuer}/metrics`, { headers: { accept: 'application/json' } });
    expect(publicAnswer.status).toBe(404);
    expect((await fetch(`${server.metricsAddress}/`)).status).toBe(404);
    const scraped = await fetch(`${server.metricsAddress}/metrics`);
    expect(scraped.status).toBe(200);
    expect(scraped.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it('counts a sign-in, the tokens of a code exchange and its requests by route template, never by raw path or client', async () => {
    const before = await metrics();
    const { tokens } = await obtainTokens(server, app, person);
    expect(tokens.refresh_token).toBeDefined();
    const after = await metrics();

    expect(grew(before, after, 'gatehouse_sign_ins_total', { outcome: 'succeeded', factor: 'password' })).toBe(1);
    for (const kind of ['access_token', 'refresh_token', 'id_token']) {
      expect(grew(before, after, 'gatehouse_tokens_issued_total', { grant_type: 'authorization_code', kind }), kind).toBe(1);
    }
    expect(grew(before, after, 'gatehouse_http_requests_total', { method: 'POST', route: 'token', status: '200' })).toBe(1);
    expect(grew(before, after, 'gatehouse_http_request_duration_seconds_count', { method: 'POST', route: 'token' })).toBe(1);
    expect(grew(before, after, 'gatehouse_http_requests_total', { method: 'GET', route: 'authorization' })).toBeGreaterThanOrEqual(1);
    expect(grew(before, after, 'gatehouse_http_requests_total', { method: 'POST', route: '/interaction/:uid/login' })).toBe(1);
    // The interaction's uid, the app's client_id and the person appear in no label; a route is a template
    // (a router wildcard such as /admin/api/v1/{*rest} included), seen here from any test this worker ran.
    const routes = new Set(after.samples.filter((s) => s.name === 'gatehouse_http_requests_total').map((s) => s.labels.route!));
    const looksLikeAnId = (segment: string) => segment.length >= 16 && /\d/.test(segment) && /[A-Za-z]/.test(segment);
    expect([...routes].filter((route) => !/^(\/[\w.:/{}*-]*|[a-z_.]+)$/.test(route) || route.split('/').some(looksLikeAnId))).toEqual([]);
    expect(after.text).not.toContain(app.clientId);
    expect(after.text).not.toContain(person.id);
  });

  it('counts a refresh, and a refresh token presented again as reuse', async () => {
    const { tokens } = await obtainTokens(server, app, person);
    let before = await metrics();
    await client.refreshTokenGrant(app.config, tokens.refresh_token!);
    let after = await metrics();
    expect(grew(before, after, 'gatehouse_tokens_issued_total', { grant_type: 'refresh_token', kind: 'access_token' })).toBe(1);
    expect(grew(before, after, 'gatehouse_tokens_issued_total', { grant_type: 'refresh_token', kind: 'refresh_token' })).toBe(1);

    // Past REFRESH_TOKEN_RETRY_WINDOW, the rotated-away token again is a replay: its grant goes.
    clock += 31_000;
    before = after;
    await expect(client.refreshTokenGrant(app.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    after = await metrics();
    expect(grew(before, after, 'gatehouse_refresh_token_reuse_detections_total')).toBe(1);
    expect(grew(before, after, 'gatehouse_revocations_total', { cause: 'refresh_token_reuse' })).toBe(1);
    expect(grew(before, after, 'gatehouse_revocations_total')).toBe(1);
    expect(grew(before, after, 'gatehouse_token_requests_refused_total', { grant_type: 'refresh_token', error: 'invalid_grant' })).toBe(1);
    expect(grew(before, after, 'gatehouse_http_requests_total', { method: 'POST', route: 'token', status: '400' })).toBe(1);
  });

  it('counts a token revoked at the revocation endpoint once, though its grant goes with it', async () => {
    const { tokens } = await obtainTokens(server, app, person);
    const before = await metrics();
    await client.tokenRevocation(app.config, tokens.refresh_token!);
    const after = await metrics();
    expect(grew(before, after, 'gatehouse_revocations_total', { cause: 'revocation_endpoint' })).toBe(1);
    expect(grew(before, after, 'gatehouse_revocations_total')).toBe(1);
    expect(grew(before, after, 'gatehouse_http_requests_total', { method: 'POST', route: 'revocation', status: '200' })).toBe(1);
  });

  it('counts grants a person revokes as theirs, and those an admin revokes as the admin\'s', async () => {
    await obtainTokens(server, app, person);
    let before = await metrics();
    const own = await server.selfService.revokeConnectedApp({ type: 'user', id: person.id, ip: null }, app.clientId);
    let after = await metrics();
    expect(own.grantsRevoked).toBeGreaterThan(0);
    expect(grew(before, after, 'gatehouse_revocations_total', { cause: 'user' })).toBe(own.grantsRevoked);
    expect(grew(before, after, 'gatehouse_revocations_total', { cause: 'admin' })).toBe(0);

    await obtainTokens(server, app, person);
    before = after;
    const byAdmin = await server.operations.grants.revokeUserClientGrants({ type: 'system', id: null }, person.id, app.clientId);
    after = await metrics();
    expect(byAdmin.grantsRevoked).toBeGreaterThan(0);
    expect(grew(before, after, 'gatehouse_revocations_total', { cause: 'admin' })).toBe(byAdmin.grantsRevoked);
  });

  it('counts the grants a sign-out ends as revoked by sign-out', async () => {
    // Without offline_access: a grant that holds a refresh token outlives the session on purpose.
    const { agent } = await obtainTokens(server, app, person, { scope: 'openid email' });
    const confirm = await agent.follow(`${server.issuer}/session/end`);
    const form = /<form id="op\.logoutForm" method="post" action="([^"]+)">([\s\S]*?)<\/form>/.exec(confirm.body);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(form![2]!)?.[1];
    const before = await metrics();
    await agent.request(new URL(form![1]!, server.issuer).href, { form: { xsrf: xsrf!, logout: 'yes' } });
    const after = await metrics();
    expect(grew(before, after, 'gatehouse_revocations_total', { cause: 'sign_out' })).toBe(1);
    expect(grew(before, after, 'gatehouse_revocations_total', { cause: 'other' })).toBe(0);
  });

  it('counts a failed sign-in by its reason', async () => {
    const agent = new UserAgent(server.issuer);
    const request = await authorizationRequest(app);
    const page = await agent.follow(String(request.url));
    const login = formOf(page.body, /\/login$/);
    const before = await metrics();
    const refused = await agent.follow(new URL(login.action, page.url).href, { form: { csrf: login.csrf, email: person.email, password: `${PASSWORD} not` } });
    expect(refused.status).toBe(401);
    const after = await metrics();
    expect(grew(before, after, 'gatehouse_sign_ins_total', { outcome: 'wrong_password', factor: 'password' })).toBe(1);
    expect(grew(before, after, 'gatehouse_sign_ins_total', { outcome: 'succeeded' })).toBe(0);
  });

  it('counts a request over its rate limit as a throttle block, under its endpoint', async () => {
    const { tokens } = await obtainTokens(server, app, person);
    const before = await metrics();
    await client.tokenIntrospection(app.config, tokens.access_token);
    await expect(client.tokenIntrospection(app.config, tokens.access_token)).rejects.toMatchObject({ status: 429 });
    const after = await metrics();
    expect(grew(before, after, 'gatehouse_throttle_blocks_total', { limit: 'introspection' })).toBe(1);
    // Refused before oidc-provider saw it, still named as its endpoint.
    expect(grew(before, after, 'gatehouse_http_requests_total', { method: 'POST', route: 'introspection', status: '429' })).toBe(1);
  });

  it('reports the event loop, the pool, the statements, the caches and the outbox', async () => {
    await obtainTokens(server, app, person);
    const scraped = await metrics();
    expect(scraped.value('nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
    expect(scraped.value('process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(scraped.value('gatehouse_db_query_duration_seconds_count', { operation: 'select', outcome: 'ok' })).toBeGreaterThan(0);
    expect(scraped.value('gatehouse_db_query_duration_seconds_count', { operation: 'insert', outcome: 'ok' })).toBeGreaterThan(0);
    expect(scraped.value('gatehouse_outbox_pending')).toBe(0);
    expect(scraped.value('gatehouse_outbox_oldest_pending_age_seconds')).toBe(0);
    expect(scraped.value('gatehouse_cache_requests_total', { cache: 'clients' })).toBeGreaterThan(0);
  });

  it('reports a delivery waiting in the outbox, and how long it has waited, until it is delivered', async () => {
    const mail = { to: 'person@example.test', subject: 'Waiting', text: 'A mail that waits.', html: '<p>A mail that waits.</p>' };
    await server.db.transaction((trx) => server.deliveries.outbox.enqueue(trx, { kind: 'mail', payload: mail }));
    clock += 90_000;
    const waiting = await metrics();
    expect(waiting.value('gatehouse_outbox_pending')).toBe(1);
    expect(waiting.value('gatehouse_outbox_oldest_pending_age_seconds')).toBe(90);

    expect(await server.deliveries.sender.deliverDue()).toMatchObject({ delivered: 1 });
    const delivered = await metrics();
    expect(delivered.value('gatehouse_outbox_pending')).toBe(0);
    expect(delivered.value('gatehouse_outbox_oldest_pending_age_seconds')).toBe(0);
  });

  it.skipIf(!onPostgres)('on PostgreSQL: the pool by its state, and the change listener connected', async () => {
    const scraped = await metrics();
    expect(scraped.value('gatehouse_db_pool_connections_max')).toBeGreaterThan(0);
    expect(scraped.value('gatehouse_db_pool_connections_in_use')).toBeGreaterThanOrEqual(0);
    expect(scraped.value('gatehouse_db_pool_connections_idle')).toBeGreaterThanOrEqual(0);
    expect(scraped.value('gatehouse_db_pool_pending_acquires')).toBe(0);
    expect(scraped.value('gatehouse_change_listener_connected')).toBe(1);
    // With the listener connected, a second lookup of the same app is served from the cache.
    expect(scraped.value('gatehouse_cache_requests_total', { cache: 'clients', result: 'hit' })).toBeGreaterThan(0);
  });
});

describe('/metrics on the public port', () => {
  const token = 'a'.repeat(20) + 'metrics-token-for-tests-only';
  let publicServer: TestServer;

  beforeAll(async () => {
    publicServer = await startTestServer({ METRICS_TOKEN: token });
  });

  afterAll(async () => {
    await publicServer?.stop();
  });

  it('answers only with the bearer token METRICS_TOKEN, and no listener of its own is opened', async () => {
    expect(publicServer.metricsAddress).toBeUndefined();
    const url = `${publicServer.issuer}/metrics`;
    expect((await fetch(url)).status).toBe(401);
    const wrong = await fetch(url, { headers: { authorization: `Bearer ${token.slice(0, -1)}x` } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer');
    const scraped = await scrape(url, token);
    expect(scraped.value('gatehouse_http_requests_total', { route: '/metrics', status: '401' })).toBe(2);
  });
});

describe('the metrics listener with METRICS_TOKEN', () => {
  it('asks for the token too, since it may be reachable from more than Prometheus', async () => {
    const token = 'b'.repeat(20) + 'metrics-token-for-tests-only';
    const both = await startTestServer({ METRICS_PORT: '0', METRICS_TOKEN: token });
    try {
      const url = `${both.metricsAddress}/metrics`;
      expect((await fetch(url)).status).toBe(401);
      expect((await fetch(url, { headers: { authorization: `Bearer ${'c'.repeat(token.length)}` } })).status).toBe(401);
      expect((await scrape(url, token)).value('gatehouse_db_pool_connections_max')).toBeDefined();
    } finally {
      await both.stop();
    }
  });
});
