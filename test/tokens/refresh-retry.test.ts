// A refresh whose response the client never read, retried: within the window, by the same client,
// while the successor is unused, it gets the same successor back and the grant lives; anything
// else is reuse and revokes the grant (src/tokens/refresh-retry.ts). The clock the storage decides
// the window by is the test's: it moves instead of sleeping.
//
// These are also the upgrade tripwire for what refresh-retry.ts relies on in oidc-provider's
// refresh_token grant: that a found token without `consumed` skips the reuse branch (the grant
// lives), that rotateRefreshToken answering false rotates nothing (no third row, the successor
// unconsumed), and that the response's refresh_token is the presented value until replaced (the
// retry gets exactly the successor the lost response carried).
import { once } from 'node:events';
import net from 'node:net';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digest } from '../../src/crypto/digest.js';
import { openSuccessor } from '../../src/tokens/refresh-retry.js';
import { createPerson, obtainTokens, registerApp, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';

const API = 'https://api.example.test';
const SCOPE = 'openid offline_access read';

let server: TestServer;
let app: App;
let otherApp: App;
let publicApp: App;
/** Registered for no scope of the API: its access tokens are opaque, stored like refresh tokens. */
let opaqueApp: App;
let person: Awaited<ReturnType<typeof createPerson>>;
let clock = Date.now();
const pastRetryWindow = () => { clock += 31_000; };

beforeAll(async () => {
  server = await startTestServer({}, { now: () => clock });
  await server.stores.resources.create({ identifier: API, scope: 'read', isDefault: true });
  app = await registerApp(server, { scope: SCOPE });
  otherApp = await registerApp(server, { scope: SCOPE });
  publicApp = await registerApp(server, { scope: SCOPE, public: true });
  opaqueApp = await registerApp(server, { scope: 'openid offline_access' });
  person = await createPerson(server);
});

afterAll(async () => {
  await server?.stop();
});

interface RefreshRow {
  consumed_at: Date | null;
  grant_id: string;
  expires_at: Date;
  successor_sealed: string | null;
  successor_digest: string | null;
}

const refreshTokenRow = (token: string) =>
  server.testDb.db('oidc_records').first<RefreshRow | undefined>('*').where({ model: 'RefreshToken', id_digest: digest(token) });

const refreshTokensOfGrant = async (grantId: string) =>
  Number((await server.testDb.db('oidc_records').where({ model: 'RefreshToken', grant_id: grantId }).count<{ count: string }[]>('* as count'))[0]!.count);

function refreshRequest(a: App, refreshToken: string): { headers: Record<string, string>; body: string } {
  const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken });
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (a.clientSecret) headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(a.clientId)}:${encodeURIComponent(a.clientSecret)}`).toString('base64')}`;
  else form.set('client_id', a.clientId);
  return { headers, body: form.toString() };
}

/** A refresh the server answers but whose response this client drops: what a retry follows. */
async function lostRefresh(a: App, refreshToken: string): Promise<client.TokenEndpointResponse> {
  const { headers, body } = refreshRequest(a, refreshToken);
  const res = await fetch(`${server.issuer}/token`, { method: 'POST', headers, body });
  expect(res.status).toBe(200);
  return (await res.json()) as client.TokenEndpointResponse;
}

/**
 * Sends a refresh over a raw connection, never reads a byte of the answer, and hangs up once the
 * database shows the rotation committed: a client that timed out just as the server finished.
 */
async function refreshAndHangUp(a: App, refreshToken: string): Promise<void> {
  const { headers, body } = refreshRequest(a, refreshToken);
  const url = new URL(server.issuer);
  const socket = net.connect(Number(url.port), url.hostname);
  await once(socket, 'connect');
  socket.pause();
  const head = Object.entries({ ...headers, host: url.host, 'content-length': String(Buffer.byteLength(body)) })
    .map(([name, value]) => `${name}: ${value}`).join('\r\n');
  socket.write(`POST /token HTTP/1.1\r\n${head}\r\n\r\n${body}`);
  await expect.poll(async () => (await refreshTokenRow(refreshToken))?.consumed_at ?? null).toBeInstanceOf(Date);
  socket.destroy();
}

async function auditEvents(type: string, clientId: string): Promise<Array<{ details: Record<string, unknown>; actor_id: string | null }>> {
  await server.audit.flush();
  return server.testDb.db('audit_events').where({ type, client_id: clientId }).select('details', 'actor_id');
}

async function userinfoWorks(a: App, accessToken: string): Promise<boolean> {
  try {
    await client.fetchUserInfo(a.config, accessToken, person.id);
    return true;
  } catch {
    return false;
  }
}

describe('a refresh retried after its response was lost', () => {
  it('gets the successor the server committed, and the grant and its chain go on', async () => {
    const { tokens } = await obtainTokens(server, app, person, { scope: SCOPE });

    await refreshAndHangUp(app, tokens.refresh_token!);
    const retried = await client.refreshTokenGrant(app.config, tokens.refresh_token!);

    const old = (await refreshTokenRow(tokens.refresh_token!))!;
    expect(digest(retried.refresh_token!)).toBe(old.successor_digest);
    // Nothing rotated on the retry: the predecessor and the one successor, still unused.
    expect(await refreshTokensOfGrant(old.grant_id)).toBe(2);
    expect((await refreshTokenRow(retried.refresh_token!))?.consumed_at).toBeNull();
    expect(await userinfoWorks(app, retried.access_token)).toBe(true);
    const next = await client.refreshTokenGrant(app.config, retried.refresh_token!);
    const after = await client.refreshTokenGrant(app.config, next.refresh_token!);
    expect(await userinfoWorks(app, after.access_token)).toBe(true);
  });

  it('answers the same request sent twice with the same refresh token, and both access tokens work', async () => {
    const { tokens } = await obtainTokens(server, app, person, { scope: SCOPE });

    const first = await lostRefresh(app, tokens.refresh_token!);
    const second = await client.refreshTokenGrant(app.config, tokens.refresh_token!);

    expect(second.refresh_token).toBe(first.refresh_token);
    expect(second.access_token).not.toBe(first.access_token);
    expect(await userinfoWorks(app, first.access_token)).toBe(true);
    expect(await userinfoWorks(app, second.access_token)).toBe(true);
    const next = await client.refreshTokenGrant(app.config, second.refresh_token!);
    expect(await userinfoWorks(app, next.access_token)).toBe(true);
    // The lost copy is the same token: presented again within the window, it is a retry of that
    // rotation and gets the same next one.
    await expect(client.refreshTokenGrant(app.config, first.refresh_token!)).resolves.toMatchObject({ refresh_token: next.refresh_token });
  });

  it('gives two concurrent retries the same successor', async () => {
    const { tokens } = await obtainTokens(server, app, person, { scope: SCOPE });
    const lost = await lostRefresh(app, tokens.refresh_token!);

    const retries = await Promise.all([1, 2].map(() => client.refreshTokenGrant(app.config, tokens.refresh_token!)));

    expect(retries.map((r) => r.refresh_token)).toEqual([lost.refresh_token, lost.refresh_token]);
    expect(await refreshTokensOfGrant((await refreshTokenRow(tokens.refresh_token!))!.grant_id)).toBe(2);
  });

  it('records a rotation\'s first forgiven retry in the audit log, with ids and no token, and only the first', async () => {
    const { tokens } = await obtainTokens(server, app, person, { scope: SCOPE });
    const lost = await lostRefresh(app, tokens.refresh_token!);
    const before = (await auditEvents('refresh_token.retry_forgiven', app.clientId)).length;

    // The audit log keeps every entry: an app retrying again and again in each window it opens
    // must not be able to fill it. Every retry is still forgiven.
    for (let retry = 0; retry < 3; retry += 1) {
      await expect(client.refreshTokenGrant(app.config, tokens.refresh_token!)).resolves.toMatchObject({ refresh_token: lost.refresh_token });
    }

    const events = await auditEvents('refresh_token.retry_forgiven', app.clientId);
    expect(events).toHaveLength(before + 1);
    const { grant_id: grantId } = (await refreshTokenRow(tokens.refresh_token!))!;
    expect(events.at(-1)).toMatchObject({ actor_id: app.clientId, details: { grantId, secondsSinceRotation: expect.any(Number) } });
    const text = JSON.stringify(events);
    for (const secret of [tokens.refresh_token!, lost.refresh_token!, lost.access_token]) expect(text).not.toContain(secret);
  });

  it('issues a fresh opaque access token that works, when the app gets opaque ones', async () => {
    const { tokens } = await obtainTokens(server, opaqueApp, person, { scope: 'openid offline_access' });
    const lost = await lostRefresh(opaqueApp, tokens.refresh_token!);
    expect(lost.access_token.split('.')).toHaveLength(1);

    const retried = await client.refreshTokenGrant(opaqueApp.config, tokens.refresh_token!);

    expect(retried.refresh_token).toBe(lost.refresh_token);
    expect(retried.access_token.split('.')).toHaveLength(1);
    expect(await userinfoWorks(opaqueApp, retried.access_token)).toBe(true);
  });

  it('leaves a public app\'s successor with the lifetime it was given', async () => {
    const { tokens } = await obtainTokens(server, publicApp, person, { scope: SCOPE });
    const lost = await lostRefresh(publicApp, tokens.refresh_token!);
    const { expires_at: expiresAt } = (await refreshTokenRow(lost.refresh_token!))!;

    const retried = await client.refreshTokenGrant(publicApp.config, tokens.refresh_token!);

    expect(retried.refresh_token).toBe(lost.refresh_token);
    expect((await refreshTokenRow(lost.refresh_token!))?.expires_at).toEqual(expiresAt);
  });
});

describe('what stays reuse, and revokes the grant', () => {
  async function expectGrantRevoked(lost: client.TokenEndpointResponse, a: App = app): Promise<void> {
    await expect(client.refreshTokenGrant(a.config, lost.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await userinfoWorks(a, lost.access_token)).toBe(false);
  }

  it('a retry after the window', async () => {
    const { tokens } = await obtainTokens(server, app, person, { scope: SCOPE });
    const lost = await lostRefresh(app, tokens.refresh_token!);
    const before = (await auditEvents('refresh_token.reuse_detected', app.clientId)).length;
    pastRetryWindow();

    await expect(client.refreshTokenGrant(app.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });

    await expectGrantRevoked(lost);
    expect((await auditEvents('refresh_token.reuse_detected', app.clientId)).length).toBeGreaterThan(before);
  });

  it('another client presenting the token within the window', async () => {
    const { tokens } = await obtainTokens(server, app, person, { scope: SCOPE });
    const lost = await lostRefresh(app, tokens.refresh_token!);

    await expect(client.refreshTokenGrant(otherApp.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });

    await expectGrantRevoked(lost);
    expect(await auditEvents('refresh_token.reuse_detected', otherApp.clientId)).not.toHaveLength(0);
  });

  it('a retry once the successor has been used', async () => {
    const { tokens } = await obtainTokens(server, app, person, { scope: SCOPE });
    const lost = await lostRefresh(app, tokens.refresh_token!);
    const next = await client.refreshTokenGrant(app.config, lost.refresh_token!);

    await expect(client.refreshTokenGrant(app.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });

    await expectGrantRevoked(next);
  });

  it('a retry of a token two rotations back', async () => {
    const { tokens } = await obtainTokens(server, app, person, { scope: SCOPE });
    const first = await client.refreshTokenGrant(app.config, tokens.refresh_token!);
    const second = await client.refreshTokenGrant(app.config, first.refresh_token!);

    await expect(client.refreshTokenGrant(app.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });

    await expectGrantRevoked(second);
  });
});

describe('the successor kept for a retry, at rest', () => {
  it('is sealed: the row holds nothing anyone can present, and only the old token opens it', async () => {
    const { tokens } = await obtainTokens(server, app, person, { scope: SCOPE });
    const lost = await lostRefresh(app, tokens.refresh_token!);

    const row = (await refreshTokenRow(tokens.refresh_token!))!;
    expect(row.successor_sealed).toEqual(expect.any(String));
    expect(JSON.stringify(row)).not.toContain(lost.refresh_token!);
    for (const stolen of [row.successor_sealed!, row.successor_digest!]) {
      await expect(client.refreshTokenGrant(app.config, stolen)).rejects.toMatchObject({ error: 'invalid_grant' });
    }
    expect(openSuccessor(lost.refresh_token!, row.successor_sealed!)).toBeUndefined();
    expect(openSuccessor(row.successor_digest!, row.successor_sealed!)).toBeUndefined();
    expect(openSuccessor(tokens.refresh_token!, row.successor_sealed!)).toBe(lost.refresh_token);
    // Presenting what the row holds revoked nothing: the successor still works.
    await expect(client.refreshTokenGrant(app.config, lost.refresh_token!)).resolves.toMatchObject({ token_type: 'bearer' });
  });
});

describe('with REFRESH_TOKEN_RETRY_WINDOW=0', () => {
  let strict: TestServer;
  let strictApp: App;
  let strictPerson: Awaited<ReturnType<typeof createPerson>>;

  beforeAll(async () => {
    strict = await startTestServer({ REFRESH_TOKEN_RETRY_WINDOW: '0' });
    strictApp = await registerApp(strict, { scope: 'openid offline_access' });
    strictPerson = await createPerson(strict);
  });

  afterAll(async () => {
    await strict?.stop();
  });

  it('keeps no successor, and a retry revokes the grant as before', async () => {
    const { tokens } = await obtainTokens(strict, strictApp, strictPerson, { scope: 'openid offline_access' });
    const lost = await client.refreshTokenGrant(strictApp.config, tokens.refresh_token!);

    const row = await strict.testDb.db('oidc_records').first<RefreshRow>('*').where({ model: 'RefreshToken', id_digest: digest(tokens.refresh_token!) });
    expect(row).toMatchObject({ successor_sealed: null, successor_digest: null });
    await expect(client.refreshTokenGrant(strictApp.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(client.refreshTokenGrant(strictApp.config, lost.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });
});
