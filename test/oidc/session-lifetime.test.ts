// A sign-in session's two lifetimes: SESSION_TTL unused (each use starts it again) and
// SESSION_MAX_LIFETIME in all, from the first sign-in, however often it is used. Without the
// second, a session cookie someone copied and keeps using would sign them in for ever.
//
// The days pass on a moved clock: oidc-provider stamps sessions with Date.now(), the records with
// the server's clock, so Date alone is faked (timers run as usual) and the server's clock reads it.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { replicaEnvironment, startTestServer, type TestServer } from '../support/gatehouse.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { authorizationRequest, createPerson, registerApp, signIn, type App } from '../support/flows.js';
import { UserAgent } from '../support/user-agent.js';

const DAY_MS = 86_400_000;
const DAY = 86_400;

let server: TestServer;
let app: App;

beforeAll(async () => {
  vi.useFakeTimers({ toFake: ['Date'] });
  // The defaults: 14 days unused, 30 days in all.
  server = await startTestServer({}, { now: () => Date.now() });
  app = await registerApp(server);
});

afterAll(async () => {
  await server?.stop();
  vi.useRealTimers();
});

let start: number;
beforeEach(() => {
  start = Date.now();
});

afterEach(() => {
  vi.setSystemTime(start);
});

function onDay(day: number): void {
  vi.setSystemTime(start + day * DAY_MS);
}

/** Signs in to the app in this browser (the first sign-in, consent included). */
async function signInToApp(agent: UserAgent, person: { email: string; password: string }, params: Record<string, string> = {}): Promise<void> {
  const callback = await signIn(agent, (await authorizationRequest(app, params)).url, person);
  expect(callback.searchParams.get('code'), callback.href).toBeTruthy();
}

/** What the app hears when it asks silently (prompt=none) whether this browser is signed in: a code, or the error. */
async function silentAnswer(agent: UserAgent): Promise<string> {
  const page = await agent.follow((await authorizationRequest(app, { prompt: 'none' })).url.href);
  const back = new URL(page.leftTo!);
  return back.searchParams.get('code') ? 'code' : back.searchParams.get('error')!;
}

/** Where /account leaves this browser: the account page, or the sign-in page. */
async function accountPage(agent: UserAgent): Promise<'account' | 'sign-in'> {
  const page = await agent.follow(`${server.issuer}/account`);
  if (/\/interaction\//.test(page.url) && /name="password"/.test(page.body)) return 'sign-in';
  expect(page.status).toBe(200);
  expect(page.url).toBe(`${server.issuer}/account`);
  return 'account';
}

describe('a session kept alive by use', () => {
  it('still signs the person in within its maximum lifetime, and no longer past it', async () => {
    const person = await createPerson(server);
    const agent = new UserAgent(server.issuer);
    await signInToApp(agent, person);
    // Used every 10 days: never unused for 14 days.
    for (const day of [10, 20, 29]) {
      onDay(day);
      expect(await silentAnswer(agent), `day ${day}`).toBe('code');
    }
    expect(await accountPage(agent)).toBe('account');
    expect((await server.operations.sessions.listSessions(person.id)).items).toHaveLength(1);

    onDay(30);
    expect(await silentAnswer(agent)).toBe('login_required');
    expect(await accountPage(agent)).toBe('sign-in');
    expect((await server.operations.sessions.listSessions(person.id)).items).toEqual([]);
  });

  it('is not lengthened by signing in again in it (prompt=login)', async () => {
    const person = await createPerson(server);
    const agent = new UserAgent(server.issuer);
    await signInToApp(agent, person);
    onDay(10);
    expect(await silentAnswer(agent)).toBe('code');
    onDay(20);
    const again = await agent.follow((await authorizationRequest(app, { prompt: 'login' })).url.href);
    expect(again.body, 'prompt=login asks for the password').toMatch(/name="password"/);
    await signInToApp(agent, person, { prompt: 'login' });
    onDay(29);
    expect(await silentAnswer(agent)).toBe('code');
    onDay(30);
    expect(await silentAnswer(agent)).toBe('login_required');
  });

  it('after its end, signing in again starts a new session with a lifetime of its own', async () => {
    const person = await createPerson(server);
    const agent = new UserAgent(server.issuer);
    await signInToApp(agent, person);
    onDay(31);
    expect(await silentAnswer(agent)).toBe('login_required');
    await signInToApp(agent, person);
    // Counted from day 31, the second sign-in.
    for (const day of [44, 57, 60]) {
      onDay(day);
      expect(await silentAnswer(agent), `day ${day}`).toBe('code');
    }
    onDay(61);
    expect(await silentAnswer(agent)).toBe('login_required');
  });
});

describe('a lower SESSION_MAX_LIFETIME', () => {
  let testDb: TestDatabase;
  let current: TestServer | undefined;

  beforeAll(async () => {
    testDb = await createTestDatabase();
  });

  afterAll(async () => {
    await current?.stop();
    await testDb?.destroy();
  });

  it('ends the sessions already older than it at once, though their expiry was set under the higher one', async () => {
    const env = await replicaEnvironment();
    current = await startTestServer({ ...env, SESSION_MAX_LIFETIME: String(60 * DAY) }, { testDb, now: () => Date.now() });
    const own = await registerApp(current);
    const person = await createPerson(current);
    const agent = new UserAgent(current.issuer);
    const silently = async () => {
      const page = await agent.follow((await authorizationRequest(own, { prompt: 'none' })).url.href);
      const back = new URL(page.leftTo!);
      return back.searchParams.get('code') ? 'code' : back.searchParams.get('error')!;
    };
    const callback = await signIn(agent, (await authorizationRequest(own)).url, person);
    expect(callback.searchParams.get('code')).toBeTruthy();
    for (const day of [10, 20, 25]) {
      onDay(day);
      expect(await silently(), `day ${day}`).toBe('code');
    }
    // Saved on day 25 to last until day 39 (14 days unused), within the 60 days.

    await current.stop();
    current = undefined;
    current = await startTestServer({ ...env, SESSION_MAX_LIFETIME: String(30 * DAY) }, { testDb, now: () => Date.now() });
    onDay(29);
    expect((await current.operations.sessions.listSessions(person.id)).items).toHaveLength(1);
    onDay(31);
    expect((await current.operations.sessions.listSessions(person.id)).items).toEqual([]);
    expect(await silently()).toBe('login_required');
  });
});
