// Sign-in throttling, black-box over HTTP on a real database: growing delays for one account from
// one address, account-wide and address-wide limits, the same answers for unknown emails, no
// lockout an attacker can make permanent, and state shared by instances.
//
// TRUST_PROXY is on, so each test signs in "from" addresses of its own through X-Forwarded-For
// (TRUST_PROXY_HOPS=1: the entry our proxy would have appended). Durations are seconds, so the
// tests that wait for a block to end poll a bounded number of times instead of sleeping.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { authorizationRequest, createPerson, registerApp, type App } from '../support/flows.js';
import { freePort, startTestServer, type TestServer } from '../support/gatehouse.js';
import { formOf, UserAgent, type Response as AgentResponse } from '../support/user-agent.js';

const WRONG = 'not the password, sorry';
const TOO_MANY = /Too many attempts\. Try again in (\d+) (second|minute|hour)(s?)\./;
const UNIT_SECONDS: Record<string, number> = { second: 1, minute: 60, hour: 3600 };

let testDb: TestDatabase;
let a: TestServer; // two instances on one database, one issuer: per-pair delays
let b: TestServer;
let q: TestServer; // small account and address limits
let appA: App;
let appQ: App;

/** Instance a's clock: the real one, except while a test holds it still. */
let heldAt: number | undefined;
const clockOfA = () => heldAt ?? Date.now();

beforeAll(async () => {
  testDb = await createTestDatabase();
  const port = await freePort();
  const shared = {
    ISSUER: `http://127.0.0.1:${port}`,
    COOKIE_KEYS: randomBytes(32).toString('base64url'),
    KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
    TRUST_PROXY: 'true',
    // Two free failures, then 1 s, 2 s, 4 s; account and address limits out of the way.
    SIGNIN_MAX_CONSECUTIVE_FAILURES: '2',
    SIGNIN_MAX_BLOCK_SECONDS: '4',
    SIGNIN_ACCOUNT_MAX_FAILURES: '50',
    SIGNIN_IP_MAX_FAILURES: '50',
  };
  a = await startTestServer({ ...shared, PORT: String(port) }, { testDb, now: clockOfA });
  b = await startTestServer(shared, { testDb });
  appA = await registerApp(a);
  q = await startTestServer({
    TRUST_PROXY: 'true',
    SIGNIN_MAX_CONSECUTIVE_FAILURES: '2',
    SIGNIN_MAX_BLOCK_SECONDS: '3',
    SIGNIN_ACCOUNT_MAX_FAILURES: '3',
    SIGNIN_IP_MAX_FAILURES: '4',
  });
  appQ = await registerApp(q);
});

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await q?.stop();
  await testDb?.destroy();
});

let addresses = 0;
/** A client address no other test uses (documentation range, RFC 5737). */
function newAddress(): string {
  addresses += 1;
  return `198.51.100.${addresses}`;
}

interface LoginPage {
  agent: UserAgent;
  page: AgentResponse;
  csrf: string;
  action: string;
}

/** A fresh browser on the sign-in page of a fresh authorization request. */
async function openLogin(app: App, agent = new UserAgent(new URL(app.config.serverMetadata().issuer).origin), params: Record<string, string> = {}): Promise<LoginPage> {
  const request = await authorizationRequest(app, params);
  const page = await agent.follow(request.url.href);
  expect(page.body).toMatch(/name="password"/);
  const login = formOf(page.body, /\/login$/);
  return { agent, page, csrf: login.csrf, action: new URL(login.action, page.url).pathname };
}

/** Submits the sign-in form from an address, to the instance given (the page's own by default). */
async function attempt(login: LoginPage, email: string, password: string, from: string, via?: TestServer): Promise<AgentResponse> {
  const origin = via ? via.address.replace('localhost', '127.0.0.1') : new URL(login.page.url).origin;
  return login.agent.request(`${origin}${login.action}`, {
    form: { csrf: login.csrf, email, password },
    headers: { 'x-forwarded-for': from },
  });
}

/** The page without what differs by design: the email typed in, the interaction and the form's token. */
function normalised(res: AgentResponse, email: string): string {
  return res.body
    .replaceAll(email, 'EMAIL')
    .replace(/\/interaction\/[^/"]+\//g, '/interaction/UID/')
    // The sign-in's id also rides in "Forgot password?" and the sign-in link form (src/recovery).
    .replace(/interaction=[\w-]+/g, 'interaction=UID')
    .replace(/name="interaction" value="[^"]+"/g, 'name="interaction" value="UID"')
    .replace(/name="csrf" value="[^"]+"/g, 'csrf')
    .replace(TOO_MANY, 'Too many attempts. Try again in N.');
}

function expectRefused(res: AgentResponse, email: string) {
  expect(res.status, res.body.slice(0, 300)).toBe(429);
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(Number.isInteger(retryAfter) && retryAfter >= 1, `Retry-After: ${res.headers.get('retry-after')}`).toBe(true);
  expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  expect(res.headers.get('cache-control')).toMatch(/no-store/);
  expect(res.headers.get('location')).toBeNull();
  // The words round the wait up to a readable unit; Retry-After is exact to the second.
  const [, count, unit, plural] = TOO_MANY.exec(res.body) ?? [];
  expect(count, 'the page says how long to wait').toBeDefined();
  const wait = Number(count) * UNIT_SECONDS[unit!]!;
  expect(wait).toBeGreaterThanOrEqual(retryAfter);
  expect(wait).toBeLessThan(retryAfter + UNIT_SECONDS[unit!]!);
  expect(plural).toBe(Number(count) === 1 ? '' : 's');
  expect(res.body).not.toContain('The email or password is incorrect.');
  expect(res.body).toContain(`value="${email}"`);
  // Still a sign-in page to come back to.
  expect(res.body).toMatch(/name="password"/);
  return retryAfter;
}

/**
 * Repeats the attempt until the server stops refusing it, a bounded number of times within a
 * deadline; returns the first answer that is not a 429 and how long the refusals lasted.
 */
async function untilAccepted(send: () => Promise<AgentResponse>, withinSeconds: number): Promise<{ res: AgentResponse; sentAt: number; answeredAt: number; refusals: number }> {
  const started = Date.now();
  let refusals = 0;
  for (let tries = 0; tries < 20_000; tries += 1) {
    const sentAt = Date.now();
    const res = await send();
    if (res.status !== 429) return { res, sentAt, answeredAt: Date.now(), refusals };
    refusals += 1;
    if (Date.now() - started > (withinSeconds + 2) * 1000) break;
  }
  throw new Error(`still refused after ${refusals} tries and ${Date.now() - started} ms`);
}

function failures(server: TestServer): number {
  return server.logs.filter((line) => line.event === 'sign_in.failed').length;
}

describe('one account from one address', () => {
  it('allows a few failures, then delays growing 1 s, 2 s: each a 429 with Retry-After', async () => {
    const person = await createPerson(a);
    const from = newAddress();
    const login = await openLogin(appA);
    for (let i = 0; i < 3; i += 1) {
      // Two free failures; the third goes through and closes the gate behind it for 1 s.
      const res = await attempt(login, person.email, WRONG, from);
      expect(res.status).toBe(401);
      expect(res.body).toContain('The email or password is incorrect.');
    }
    const first = await attempt(login, person.email, WRONG, from);
    expect(expectRefused(first, person.email)).toBe(1);

    const reopened = await untilAccepted(() => attempt(login, person.email, WRONG, from), 1);
    expect(reopened.res.status).toBe(401);
    expect(reopened.refusals).toBeGreaterThan(0);
    const second = await attempt(login, person.email, WRONG, from);
    expect(expectRefused(second, person.email)).toBe(2);

    const again = await untilAccepted(() => attempt(login, person.email, WRONG, from), 2);
    expect(again.res.status).toBe(401);
    expect(again.refusals).toBeGreaterThan(0);
    // The gate the reopened attempt closed held for its two seconds: the attempt let through next
    // was answered at least that long after the one that closed it was sent. A lower bound only,
    // which a slow machine can only lengthen: how long each wait took on the clock is not asserted.
    expect(again.answeredAt - reopened.sentAt).toBeGreaterThanOrEqual(2000);
  });

  it('answers an unknown email exactly as a known one: same status, Retry-After and page', async () => {
    const person = await createPerson(a);
    const unknown = `nobody.${Date.now()}@example.test`;
    const pages: AgentResponse[] = [];
    for (const email of [person.email, unknown]) {
      const from = newAddress();
      const login = await openLogin(appA);
      const answers = [];
      for (let i = 0; i < 4; i += 1) answers.push((await attempt(login, email, WRONG, from)).status);
      expect(answers).toEqual([401, 401, 401, 429]);
      pages.push(await attempt(login, email, WRONG, from));
    }
    const [known, nobody] = pages as [AgentResponse, AgentResponse];
    expect(expectRefused(nobody, unknown)).toBe(expectRefused(known, person.email));
    expect(normalised(nobody, unknown)).toBe(normalised(known, person.email));
  });

  it('refuses a blocked attempt with the right password too, without checking or revealing it', async () => {
    const person = await createPerson(a);
    const from = newAddress();
    const login = await openLogin(appA);
    for (let i = 0; i < 3; i += 1) expect((await attempt(login, person.email, WRONG, from)).status).toBe(401);

    const checked = failures(a);
    const wrong = await attempt(login, person.email, WRONG, from);
    const right = await attempt(login, person.email, person.password, from);
    expectRefused(wrong, person.email);
    expectRefused(right, person.email);
    // Indistinguishable, and neither password was verified (no outcome was logged for them).
    expect(normalised(right, person.email)).toBe(normalised(wrong, person.email));
    expect(failures(a)).toBe(checked);
    expect(login.agent.cookies.has('gh_session')).toBe(false);
  });

  it('never locks the owner out: once the block has passed, the right password works', async () => {
    const person = await createPerson(a);
    const from = newAddress();
    const login = await openLogin(appA);
    for (let i = 0; i < 3; i += 1) expect((await attempt(login, person.email, WRONG, from)).status).toBe(401);
    const retryAfter = expectRefused(await attempt(login, person.email, person.password, from), person.email);

    const { res, refusals } = await untilAccepted(() => attempt(login, person.email, person.password, from), retryAfter);
    expect(refusals).toBeGreaterThan(0);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toMatch(/\/auth\//);
  });

  it('counts each attempt before checking the password: a parallel burst gets no more tries than a sequence', async () => {
    const person = await createPerson(a);
    const from = newAddress();
    const login = await openLogin(appA);
    const checked = failures(a);
    // Time stands still during the burst: a slow machine can take longer than the 1 s gate to
    // answer twelve sign-ins, and then the gate lets one more through, as it would a sequence.
    heldAt = Date.now();
    const answers = await Promise.all(Array.from({ length: 12 }, () => attempt(login, person.email, WRONG, from))).finally(() => {
      heldAt = undefined;
    });
    const statuses = answers.map((res) => res.status).sort();
    // The two free failures and one through the gate; the other nine never reached argon2.
    expect(statuses).toEqual([...Array(3).fill(401), ...Array(9).fill(429)]);
    expect(failures(a) - checked).toBe(3);
  });

  it('holds across instances: failures on one instance, refused on the other', async () => {
    const person = await createPerson(a);
    const from = newAddress();
    const login = await openLogin(appA);
    for (let i = 0; i < 3; i += 1) expect((await attempt(login, person.email, WRONG, from, a)).status).toBe(401);
    expectRefused(await attempt(login, person.email, person.password, from, b), person.email);

    // And the other way round, for another account.
    const other = await createPerson(a);
    for (let i = 0; i < 3; i += 1) expect((await attempt(login, other.email, WRONG, from, b)).status).toBe(401);
    expectRefused(await attempt(login, other.email, WRONG, from, a), other.email);
  });

  it('clears the failures of the email and address a successful sign-in came from', async () => {
    const person = await createPerson(a);
    const from = newAddress();
    const first = await openLogin(appA);
    for (let i = 0; i < 2; i += 1) expect((await attempt(first, person.email, WRONG, from)).status).toBe(401);
    expect((await attempt(first, person.email, person.password, from)).status).toBe(303);

    // Another browser (no cookie of the first) from the same address starts from nothing: two
    // free failures and the third through, where without the reset the second would be refused.
    const second = await openLogin(appA);
    const answers = [];
    for (let i = 0; i < 4; i += 1) answers.push((await attempt(second, person.email, WRONG, from)).status);
    expect(answers).toEqual([401, 401, 401, 429]);
  });
});

describe('one account from many addresses, one address against many accounts', () => {
  it('refuses credential stuffing past the account limit from every address, for a bounded time, known email or not', async () => {
    const person = await createPerson(q);
    const unknown = `nobody.${Date.now()}@example.test`;
    for (const email of [person.email, unknown]) {
      for (let i = 0; i < 3; i += 1) {
        const res = await attempt(await openLogin(appQ), email, WRONG, newAddress());
        expect(res.status).toBe(401);
      }
      const refused = await attempt(await openLogin(appQ), email, email === unknown ? WRONG : person.password, newAddress());
      // Never longer than SIGNIN_MAX_BLOCK_SECONDS.
      expect(expectRefused(refused, email)).toBeLessThanOrEqual(3);
    }

    // The owner, in a new browser somewhere else, gets in once the window is over.
    const owner = await openLogin(appQ);
    const from = newAddress();
    const { res } = await untilAccepted(() => attempt(owner, person.email, person.password, from), 3);
    expect(res.status).toBe(303);
  });

  it('keeps letting the owner in from a browser they signed in from before, during an attack on their account', async () => {
    const person = await createPerson(q);
    const home = newAddress();
    const browser = await openLogin(appQ);
    expect((await attempt(browser, person.email, person.password, home)).status).toBe(303);

    for (let i = 0; i < 3; i += 1) expect((await attempt(await openLogin(appQ), person.email, WRONG, newAddress())).status).toBe(401);
    expectRefused(await attempt(await openLogin(appQ), person.email, person.password, newAddress()), person.email);
    // The attacker's refusal reaches a new browser even at the owner's own address...
    expectRefused(await attempt(await openLogin(appQ), person.email, person.password, home), person.email);

    // ...but not the owner's browser: a typo is just a typo there, and the password works.
    const again = await openLogin(appQ, browser.agent, { prompt: 'login' });
    expect((await attempt(again, person.email, WRONG, home)).status).toBe(401);
    expect((await attempt(again, person.email, person.password, home)).status).toBe(303);
  });

  it('limits one address across accounts, and signing in to its own account does not reset that', async () => {
    const own = await createPerson(q);
    const from = newAddress();
    const login = await openLogin(appQ);
    for (let i = 0; i < 3; i += 1) {
      expect((await attempt(login, `victim${i}.${Date.now()}@example.test`, WRONG, from)).status).toBe(401);
    }
    // The attacker's own account, from the same address, in a fresh browser.
    expect((await attempt(await openLogin(appQ), own.email, own.password, from)).status).toBe(303);

    expect((await attempt(login, `victim3.${Date.now()}@example.test`, WRONG, from)).status).toBe(401);
    const victim = `victim4.${Date.now()}@example.test`;
    const counters = () => q.testDb.db('rate_limits').count<{ count: number }[]>('* as count').then((r) => Number(r[0]!.count));
    const before = await counters();
    const refused = await attempt(login, victim, WRONG, from);
    expectRefused(refused, victim);
    // A spent address is refused on a read: no counters are written for the emails it tries.
    expect(await counters()).toBe(before);
    // A day's budget, not a lockout of anyone's account: the same email from elsewhere is fine.
    expect((await attempt(await openLogin(appQ), victim, WRONG, newAddress())).status).toBe(401);
  });
});
