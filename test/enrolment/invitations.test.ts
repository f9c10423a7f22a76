// Invitations (issue #15, point 4), over real HTTP with mail over real SMTP: an admin invites (the
// admin API, the CLI), the mail's link opens a page that spends nothing, its form sets the first
// password, verifies the address and activates the account; until then the person can neither sign
// in nor hold tokens. Re-inviting spends the older link; a spent or expired link gets a friendly
// 410; no token or link reaches a log line or an audit entry. With SIGNUP=closed there are no
// invitations. The browser walk of the same flow is enrolment.browser.test.ts.
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { ENVIRONMENT_VARIABLES } from '../../src/config.js';
import { adminApi, type AdminApiClient } from '../admin/api/support.js';
import { usingPostgres } from '../support/database.js';
import { authorizationRequest, obtainTokens, registerApp, type App } from '../support/flows.js';
import { startTestServer } from '../support/gatehouse.js';
import { formOf, UserAgent } from '../support/user-agent.js';
import { followAndSubmit, linkIn, readable, startMailedServer, tokenOf, mintedTokenIsActive, userinfoWithMintedToken, type MailedServer } from './support.js';

const PASSWORD = 'kettle orbit saffron lantern';
const WEEK_MS = 7 * 24 * 3600_000;
const postgres = await usingPostgres();

let mailed: MailedServer;
let api: AdminApiClient;
let app: App;

beforeAll(async () => {
  mailed = await startMailedServer({ SIGNUP: 'invite' });
  api = await adminApi(mailed.server);
  app = await registerApp(mailed.server);
});
afterAll(async () => { await mailed?.stop(); });

let counter = 0;
async function invite(overrides: Record<string, unknown> = {}) {
  counter += 1;
  const email = `invitee${counter}@example.test`;
  const res = await api.post('/invitations', { email, name: `Invitee ${counter}`, ...overrides });
  expect(res.status, res.text).toBe(201);
  const [mail] = await mailed.deliver();
  expect(mail?.to).toEqual([email]);
  return { id: res.body.user.id as string, email, body: res.body, mail: mail!, link: linkIn(mail!, '/invitation') };
}

/** Types an email and password on the sign-in page of an app's authorization request. */
async function tryToSignIn(email: string, password: string) {
  const agent = new UserAgent(mailed.server.issuer);
  const page = await agent.follow(String((await authorizationRequest(app)).url));
  const login = formOf(page.body, /\/login$/);
  return agent.follow(new URL(login.action, page.url).href, { form: { csrf: login.csrf, email, password } });
}

describe('an invitation', () => {
  it('creates a person who cannot sign in yet, and mails them a link to choose a password', async () => {
    const { id, email, body, mail } = await invite();
    expect(body.user).toMatchObject({ id, email, status: 'invited', email_verified: false });
    expect(Date.parse(body.expires_at) - Date.now()).toBeGreaterThan(WEEK_MS - 60_000);
    expect(readable(mail)).toContain('Invitee');
    expect(readable(mail)).toContain('7 days');
    expect((await api.get(`/users/${id}`)).body.status).toBe('invited');

    // Whatever they type, the answer is the one a wrong password gets.
    const refused = await tryToSignIn(email, PASSWORD);
    expect(refused.status).toBe(401);
    expect(refused.body).toContain('The email or password is incorrect.');
    // Even a token made for them behind the sign-in page's back is good for nothing: the provider
    // does not know the account (findAccount), so userinfo refuses it.
    expect((await userinfoWithMintedToken(mailed.server, app, id)).status).toBe(401);
    // Nor does introspection call it active, even asked by the app it was minted for.
    expect(await mintedTokenIsActive(mailed.server, app, id)).toBe(false);
  });

  it('opens a page that spends nothing; its form sets the password, verifies the address and lets them sign in', async () => {
    const { id, email, link } = await invite();
    const agent = new UserAgent(mailed.server.issuer);
    // Asked about now, the person is cached as invited; accepting must reach every cache.
    expect((await userinfoWithMintedToken(mailed.server, app, id)).status).toBe(401);
    // A mail scanner's GET, twice: the link still works afterwards.
    for (let i = 0; i < 2; i += 1) expect((await agent.request(link)).status).toBe(200);

    // Without this browser's CSRF token the form does nothing, and the link stays usable.
    const forged = await new UserAgent(mailed.server.issuer).request(`${mailed.server.issuer}/invitation`, { form: { csrf: 'forged', token: tokenOf(link), password: PASSWORD } });
    expect(forged.status).toBe(403);
    const weak = await followAndSubmit(agent, link, { password: 'password1' });
    expect(weak.status).toBe(400);
    expect(weak.body).toContain('Choose a password');

    // The form as it was before acceptance, posted again afterwards (a double click, a replay).
    const form = formOf((await agent.request(link)).body);
    const post = () => agent.request(new URL(form.action, link).href, { form: { csrf: form.csrf, token: tokenOf(link), password: PASSWORD } });
    const accepted = await post();
    expect(accepted.status, accepted.body).toBe(200);
    expect(accepted.body).toContain('Your account is ready');
    const person = await mailed.server.stores.users.findById(id);
    expect(person).toMatchObject({ emailVerified: true, invitedAt: expect.any(Date), activatedAt: expect.any(Date) });
    expect((await api.get(`/users/${id}`)).body).toMatchObject({ status: 'active', email_verified: true });

    const { tokens } = await obtainTokens(mailed.server, app, { email, password: PASSWORD });
    expect(tokens.claims()).toMatchObject({ sub: id });
    const userinfo = await fetch(`${mailed.server.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(await userinfo.json()).toMatchObject({ sub: id, email, email_verified: true });
    // The same kind of minted token that an invited person's is refused with works for them now.
    expect((await userinfoWithMintedToken(mailed.server, app, id)).status).toBe(200);
    expect(await mintedTokenIsActive(mailed.server, app, id)).toBe(true);

    // Spent: opening it again or posting its form again is refused, kindly.
    const again = await agent.request(link);
    expect(again.status).toBe(410);
    expect(again.body).toContain('This link no longer works');
    const replay = await post();
    expect(replay.status).toBe(410);
    expect((await mailed.server.stores.users.authenticate(email, PASSWORD)).ok).toBe(true);
  });

  it('sent again spends the earlier link; only the newest works', async () => {
    const first = await invite();
    const res = await api.post(`/users/${first.id}/invitation`);
    expect(res.status, res.text).toBe(200);
    const [mail] = await mailed.deliver();
    const second = linkIn(mail!, '/invitation');
    expect(second).not.toBe(first.link);

    const agent = new UserAgent(mailed.server.issuer);
    expect((await agent.request(first.link)).status).toBe(410);
    expect((await followAndSubmit(agent, second, { password: PASSWORD })).status).toBe(200);
    // Once accepted, there is nothing to invite them to again.
    expect((await api.post(`/users/${first.id}/invitation`)).status).toBe(409);
  });

  it('expires after seven days', async () => {
    const { link } = await invite();
    mailed.advance(WEEK_MS + 1_000);
    try {
      const page = await new UserAgent(mailed.server.issuer).request(link);
      expect(page.status).toBe(410);
      expect(page.body).toContain('ask whoever invited you to send a new invitation');
    } finally {
      mailed.advance(-(WEEK_MS + 1_000));
    }
  });

  it('is refused for an address that has an account, and a pending person gets no password from an admin', async () => {
    const { id, email } = await invite();
    expect((await api.post('/invitations', { email: email.toUpperCase(), name: 'Again' })).status).toBe(409);
    expect((await api.post(`/users/${id}/password`, { password: PASSWORD })).status).toBe(409);
    // Deleting an invited person works as for anyone.
    expect((await api.delete(`/users/${id}`)).status).toBe(204);
  });

  it('leaves no token or link in a log line or an audit entry, and audits who invited and who accepted', async () => {
    const { id, link } = await invite();
    await followAndSubmit(new UserAgent(mailed.server.issuer), link, { password: PASSWORD });
    const entries = await mailed.server.testDb.db('audit_events').where({ user_id: id }).orderBy('id');
    expect(entries.map((e) => e.type)).toEqual(['user.invited', 'user.invitation_accepted']);
    expect(entries[0]).toMatchObject({ actor_type: 'client' });
    expect(entries[1]).toMatchObject({ actor_type: 'user', actor_id: id });
    const token = tokenOf(link);
    expect(JSON.stringify(entries)).not.toContain(token);
    expect(mailed.server.rawLogs.join('\n')).not.toContain(token);
  });
});

describe('gatehouse user invite', () => {
  function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const name of ENVIRONMENT_VARIABLES) delete env[name];
    return { ...env, NODE_ENV: 'test', DATA_DIR: mailed.dataDir, DATABASE_URL: mailed.server.testDb.url!, ISSUER: mailed.server.issuer, SIGNUP: 'invite', ...extra };
  }

  async function gatehouse(args: string[], env: NodeJS.ProcessEnv) {
    let stdout = '';
    let stderr = '';
    const stdin = new PassThrough();
    stdin.end('');
    const code = await main(args, { env, stdin, stdout: { write: (t: string) => { stdout += t; } }, stderr: { write: (t: string) => { stderr += t; } } });
    return { code, stdout, stderr };
  }

  it.skipIf(!postgres)('invites: prints the person as invited, and the running server delivers the mail; exit 1 for a taken address or with SIGNUP=closed, 2 for a bad command line', async () => {
    const ok = await gatehouse(['user', 'invite', '--email', 'cli.invitee@example.test', '--name', 'Cli Invitee', '--admin'], cliEnv());
    expect(ok.code, ok.stderr).toBe(0);
    const printed = JSON.parse(ok.stdout) as Record<string, string>;
    expect(printed).toEqual({ id: expect.any(String), email: 'cli.invitee@example.test', status: 'invited', invitation_expires_at: expect.any(String) });
    const [mail] = await mailed.deliver();
    const link = linkIn(mail!, '/invitation');
    expect(link.startsWith(`${mailed.server.issuer}/invitation?token=`)).toBe(true);
    expect(ok.stdout).not.toContain(tokenOf(link));
    expect(await mailed.server.stores.users.findById(printed.id!)).toMatchObject({ isAdmin: true, activatedAt: null });

    const taken = await gatehouse(['user', 'invite', '--email', 'CLI.invitee@example.test', '--name', 'Again'], cliEnv());
    expect(taken).toMatchObject({ code: 1, stdout: '' });
    expect(taken.stderr).toMatch(/already exists/);

    const closed = await gatehouse(['user', 'invite', '--email', 'closed@example.test', '--name', 'Closed'], cliEnv({ SIGNUP: 'closed' }));
    expect(closed).toMatchObject({ code: 1, stdout: '' });
    expect(closed.stderr).toMatch(/Invitations are off.*SIGNUP=invite/);
    expect(await mailed.server.stores.users.findByEmail('closed@example.test')).toBeUndefined();

    const usage = await gatehouse(['user', 'invite', '--email', 'x@example.test'], cliEnv());
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--name is required/);
  });
});

describe('with SIGNUP=closed', () => {
  it('sends no invitation: the admin API answers 409 and nobody is created', async () => {
    const server = await startTestServer();
    try {
      const closedApi = await adminApi(server);
      const res = await closedApi.post('/invitations', { email: 'nobody@example.test', name: 'Nobody' });
      expect(res.status).toBe(409);
      expect(res.body.error_description ?? res.text).toMatch(/Invitations are off/);
      expect(await server.stores.users.findByEmail('nobody@example.test')).toBeUndefined();
    } finally {
      await server.stop();
    }
  });
});
