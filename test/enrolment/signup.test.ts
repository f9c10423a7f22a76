// Self-service sign-up (SIGNUP=open), over real HTTP with mail over real SMTP: the sign-in page
// offers it; the account is created unusable and a mailed link (GET shows, POST spends) verifies the
// address and activates it; until then the right password only earns "confirm your address first"
// (and, at most every few minutes, a new link), and no token works for it. Signing up with an
// address that has an account answers exactly the same and mails its owner a note instead; mail is
// throttled per address and per network; a sign-up nobody verified in a day frees the address.
// With SIGNUP=closed none of these routes exist. The browser walk is enrolment.browser.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizationRequest, createPerson, obtainTokens, registerApp, type App } from '../support/flows.js';
import { usingPostgres } from '../support/database.js';
import { startTestServer } from '../support/gatehouse.js';
import { formOf, UserAgent, type Response } from '../support/user-agent.js';
import { followAndSubmit, linkIn, readable, startMailedServer, tokenOf, userinfoWithMintedToken, type MailedServer } from './support.js';

const PASSWORD = 'marble quiver tundra pelican';
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const onPostgres = await usingPostgres();

let mailed: MailedServer;
let app: App;

beforeAll(async () => {
  // Behind a trusted proxy, so each test signs up from an address of its own (the per-network limit).
  mailed = await startMailedServer({ SIGNUP: 'open', TRUST_PROXY: 'true' });
  app = await registerApp(mailed.server);
});
afterAll(async () => { await mailed?.stop(); });

let network = 0;
/** A browser at an address of its own. */
function visitor(): UserAgent & { ip: string } {
  network += 1;
  return Object.assign(new UserAgent(mailed.server.issuer), { ip: `198.51.100.${network}` });
}

async function signUp(agent: UserAgent & { ip: string }, fields: { name?: string; email: string; password?: string }): Promise<Response> {
  const headers = { 'x-forwarded-for': agent.ip };
  const page = await agent.request(`${mailed.server.issuer}/signup`, { headers });
  expect(page.status).toBe(200);
  const { action, csrf } = formOf(page.body);
  return agent.request(new URL(action, mailed.server.issuer).href, { form: { csrf, name: fields.name ?? 'New Person', email: fields.email, password: fields.password ?? PASSWORD }, headers });
}

/** Types an email and password on the sign-in page of an app's authorization request. */
async function tryToSignIn(email: string, password: string) {
  const agent = new UserAgent(mailed.server.issuer);
  const page = await agent.follow(String((await authorizationRequest(app)).url));
  const login = formOf(page.body, /\/login$/);
  return agent.follow(new URL(login.action, page.url).href, { form: { csrf: login.csrf, email, password } });
}

let counter = 0;
const newAddress = () => { counter += 1; return `signup${counter}@example.test`; };

describe('signing up', () => {
  it('is offered on the sign-in page', async () => {
    const page = await new UserAgent(mailed.server.issuer).follow(String((await authorizationRequest(app)).url));
    expect(page.body).toMatch(/<a href="\/signup">Create an account<\/a>/);
  });

  it('creates an unusable account and mails a link; following it (GET shows, POST spends) verifies the address and activates the account', async () => {
    const email = newAddress();
    const answer = await signUp(visitor(), { email, name: 'Sign Upper' });
    expect(answer.status).toBe(303);
    expect(answer.headers.get('location')).toBe('/signup/sent');
    const person = (await mailed.server.stores.users.findByEmail(email))!;
    expect(person).toMatchObject({ name: 'Sign Upper', emailVerified: false, activatedAt: null, invitedAt: null });

    const [mail] = await mailed.deliver();
    expect(mail?.to).toEqual([email]);
    const link = linkIn(mail!, '/signup/verify');
    expect(readable(mail!)).toContain('24 hours');
    // The mail says the link needs the password chosen at sign-up, so a reader who did not sign up knows to stop.
    expect(readable(mail!).replace(/\s+/g, ' ')).toContain('enter the password you chose when you signed up');

    // Not yet: the right password gets exactly the answer a wrong one gets (whoever signed up
    // chose it, so it proves nothing), which says how a new account is confirmed; and no second
    // mail while the first link is minutes old.
    const wrong = await tryToSignIn(email, 'not the password at all');
    expect(wrong.status).toBe(401);
    const unverified = await tryToSignIn(email, PASSWORD);
    expect(unverified.status).toBe(401);
    expect(unverified.body).toContain('confirm your email address first');
    // Byte for byte, but for what differs on every sign-in page: its CSRF token and interaction id.
    const page = (body: string) => body.replace(/name="csrf" value="[^"]*"/g, '').replace(/interaction[=/][\w-]+/g, 'interaction');
    expect(page(unverified.body)).toBe(page(wrong.body));
    expect(await mailed.deliver()).toEqual([]);
    // Nor does a token made for them behind the sign-in page's back work.
    expect((await userinfoWithMintedToken(mailed.server, app, person.id)).status).toBe(401);

    const agent = new UserAgent(mailed.server.issuer);
    for (let i = 0; i < 2; i += 1) expect((await agent.request(link)).status).toBe(200);
    const done = await followAndSubmit(agent, link, { password: PASSWORD });
    expect(done.status, done.body).toBe(200);
    expect(done.body).toContain('Your account is ready');
    expect(await mailed.server.stores.users.findById(person.id)).toMatchObject({ emailVerified: true, activatedAt: expect.any(Date) });
    const { tokens } = await obtainTokens(mailed.server, app, { email, password: PASSWORD });
    expect(tokens.claims()).toMatchObject({ sub: person.id });

    const reused = await agent.request(link);
    expect(reused.status).toBe(410);
    expect(reused.body).toContain('This link no longer works');
  });

  it('a sign-in to a waiting account sends a new link once the last is ten minutes old; the older link dies with it', async () => {
    const email = newAddress();
    await signUp(visitor(), { email });
    const first = linkIn((await mailed.deliver())[0]!, '/signup/verify');
    mailed.advance(11 * MINUTE);
    try {
      expect((await tryToSignIn(email, PASSWORD)).status).toBe(401);
      const [mail] = await mailed.deliver();
      const second = linkIn(mail!, '/signup/verify');
      expect(second).not.toBe(first);
      const agent = new UserAgent(mailed.server.issuer);
      expect((await agent.request(first)).status).toBe(410);
      expect((await followAndSubmit(agent, second, { password: PASSWORD })).status).toBe(200);
    } finally {
      mailed.advance(-11 * MINUTE);
    }
  });

  it('sign-ins to a waiting account sent at once send one new link between them', async () => {
    const email = newAddress();
    await signUp(visitor(), { email });
    expect(await mailed.deliver()).toHaveLength(1);
    mailed.advance(11 * MINUTE);
    try {
      const answers = await Promise.all(Array.from({ length: 4 }, () => tryToSignIn(email, PASSWORD)));
      expect(answers.map((answer) => answer.status)).toEqual([401, 401, 401, 401]);
      const mails = await mailed.deliver();
      expect(mails.filter((mail) => linkIn(mail, '/signup/verify'))).toHaveLength(1);
    } finally {
      mailed.advance(-11 * MINUTE);
    }
  });

  it('with an address that has an account: the same answer, no new account, and a note to the owner instead of a link', async () => {
    const owner = await createPerson(mailed.server);
    const fresh = await signUp(visitor(), { email: newAddress() });
    const taken = await signUp(visitor(), { email: owner.email.toUpperCase() });
    expect(taken.status).toBe(fresh.status);
    expect(taken.headers.get('location')).toBe(fresh.headers.get('location'));
    expect(taken.body).toBe(fresh.body);

    const mails = await mailed.deliver();
    expect(mails.map((m) => m.to[0]).sort()).toEqual([owner.email, `signup${counter}@example.test`].sort());
    const note = readable(mails.find((m) => m.to[0] === owner.email)!);
    expect(note).toContain('Someone just tried to create an account');
    expect(note).not.toMatch(/\/signup\/verify|token=/);
    expect((await mailed.server.stores.users.authenticate(owner.email, owner.password)).ok).toBe(true);
    const refused = await mailed.server.testDb.db('audit_events').where({ type: 'user.sign_up_refused', user_id: owner.id });
    expect(refused).toHaveLength(1);
  });

  it('sign-ins with the sign-up\'s own password meet the throttle on the same try at a taken address as at a free one', async () => {
    // Sign up an address with a password of one's choosing, then sign in with it: at a free address
    // that is the sign-up's right password, at a taken one a wrong password for its owner. Were the
    // first not counted, only the second would ever be refused, and the 429 would say which
    // addresses have accounts. Each try comes from a network of its own, so what refuses is the
    // account's own limit (20 failures in 15 minutes), which no clock can slip past in a test.
    const password = 'saffron lantern oyster gravel';
    const owner = await createPerson(mailed.server);
    const statuses = async (email: string) => {
      await signUp(visitor(), { email, password });
      const answers: number[] = [];
      for (let attempt = 0; attempt < 21; attempt += 1) {
        const agent = visitor();
        const page = await agent.follow(String((await authorizationRequest(app)).url));
        const login = formOf(page.body, /\/login$/);
        const headers = { 'x-forwarded-for': agent.ip };
        answers.push((await agent.request(new URL(login.action, page.url).href, { form: { csrf: login.csrf, email, password }, headers })).status);
      }
      return answers;
    };
    const atTaken = await statuses(owner.email);
    expect(atTaken).toEqual([...Array.from({ length: 20 }, () => 401), 429]);
    expect(await statuses(newAddress())).toEqual(atTaken);
    await mailed.deliver(); // the sign-ups' links and the owner's note, not the next test's mail
  });

  it('refuses a weak password or a malformed address on the form itself, creating nothing', async () => {
    const email = newAddress();
    const weak = await signUp(visitor(), { email, password: 'password123' });
    expect(weak.status).toBe(400);
    expect(weak.body).toContain('Create an account');
    expect(weak.body).toContain(email);
    expect(weak.body).not.toContain('password123');
    expect((await signUp(visitor(), { email: 'not an address' })).status).toBe(400);
    // A name no account could hold is refused alike whether or not the address has an account.
    expect((await signUp(visitor(), { email, name: 'Nul\u0000Name' })).status).toBe(400);
    expect((await signUp(visitor(), { email: (await createPerson(mailed.server)).email, name: 'Nul\u0000Name' })).status).toBe(400);
    expect(await mailed.server.stores.users.findByEmail(email)).toBeUndefined();
    // And a form without this browser's CSRF token does nothing.
    const forged = await new UserAgent(mailed.server.issuer).request(`${mailed.server.issuer}/signup`, { form: { csrf: 'forged', name: 'X', email, password: PASSWORD } });
    expect(forged.status).toBe(403);
    expect(await mailed.deliver()).toEqual([]);
  });

  it('mails one address at most three times an hour from one network, and one network at most ten sign-ups an hour, answering alike', async () => {
    const email = newAddress();
    const answers: Response[] = [];
    const from = visitor();
    for (let i = 0; i < 4; i += 1) answers.push(await signUp(from, { email }));
    expect(new Set(answers.map((a) => `${a.status} ${a.headers.get('location')}`)).size).toBe(1);
    // The sign-up's own link, then two notes; the fourth sends nothing.
    expect((await mailed.deliver()).map((m) => m.to[0])).toEqual([email, email, email]);

    const place = visitor();
    for (let i = 0; i < 11; i += 1) expect((await signUp(place, { email: newAddress() })).status).toBe(303);
    expect(await mailed.deliver()).toHaveLength(10);
  });

  it('frees the address of a sign-up nobody verified within a day', async () => {
    const email = newAddress();
    await signUp(visitor(), { email, name: 'Squatter' });
    const squatter = (await mailed.server.stores.users.findByEmail(email))!;
    const stale = linkIn((await mailed.deliver())[0]!, '/signup/verify');
    mailed.advance(25 * 60 * MINUTE);
    try {
      await signUp(visitor(), { email, name: 'Owner' });
      const owner = (await mailed.server.stores.users.findByEmail(email))!;
      expect(owner.id).not.toBe(squatter.id);
      expect(owner.name).toBe('Owner');
      const agent = new UserAgent(mailed.server.issuer);
      expect((await agent.request(stale)).status).toBe(410);
      expect((await followAndSubmit(agent, linkIn((await mailed.deliver())[0]!, '/signup/verify'), { password: PASSWORD })).status).toBe(200);
    } finally {
      mailed.advance(-25 * 60 * MINUTE);
    }
  });

  it('leaves no token or link in a log line or an audit entry', async () => {
    const email = newAddress();
    await signUp(visitor(), { email });
    const link = linkIn((await mailed.deliver())[0]!, '/signup/verify');
    expect((await followAndSubmit(new UserAgent(mailed.server.issuer), link, { password: PASSWORD })).status).toBe(200);
    const person = (await mailed.server.stores.users.findByEmail(email))!;
    const entries = await mailed.server.testDb.db('audit_events').where({ user_id: person.id }).orderBy('id');
    expect(entries.map((e) => e.type)).toEqual(['user.signed_up', 'user.sign_up_verified']);
    expect(JSON.stringify(entries)).not.toContain(tokenOf(link));
    expect(JSON.stringify(entries)).not.toContain(PASSWORD);
    expect(mailed.server.rawLogs.join('\n')).not.toContain(tokenOf(link));
  });
});

describe('someone signing up with another person\'s address (pre-hijack)', () => {
  // The attacker signs up as the victim with a password of their own; the victim gets the mail.
  const ATTACKER_PASSWORD = 'saffron lantern oyster gravel';

  it('the mailbox holder\'s click alone does not activate the account: without its password, 400, the link still works, and nothing changes', async () => {
    const email = newAddress();
    await signUp(visitor(), { email, name: 'Not The Victim', password: ATTACKER_PASSWORD });
    const squatter = (await mailed.server.stores.users.findByEmail(email))!;
    const link = linkIn((await mailed.deliver())[0]!, '/signup/verify');

    const victim = new UserAgent(mailed.server.issuer);
    const page = await victim.request(link);
    expect(page.status).toBe(200);
    expect(page.body).toContain('Enter the password of the account this address is being added to');
    expect(page.body).toContain('If you did not sign up, ignore this page');
    for (const password of [undefined, '', PASSWORD, 'x'.repeat(2000)]) {
      const refused = await followAndSubmit(victim, link, password === undefined ? {} : { password });
      expect(refused.status, String(password)).toBe(400);
      expect(refused.body).toMatch(/Enter the password of the account this address is being added to|That is not the password of the account this address is being added to/);
      expect(refused.body).toContain('Confirm your address');
    }
    expect(await mailed.server.stores.users.findById(squatter.id)).toMatchObject({ emailVerified: false, activatedAt: null });
    expect((await tryToSignIn(email, ATTACKER_PASSWORD)).status).toBe(401);
    const audit = await mailed.server.testDb.db('audit_events').where({ user_id: squatter.id, type: 'user.sign_up_verified' });
    expect(audit).toEqual([]);

    // The link still works: whoever chose the password (here, the one who signed up) may still spend it.
    const done = await followAndSubmit(victim, link, { password: ATTACKER_PASSWORD });
    expect(done.status).toBe(200);
    expect(done.body).toContain('Your account is ready');
    expect(await mailed.server.stores.users.findById(squatter.id)).toMatchObject({ emailVerified: true, activatedAt: expect.any(Date) });
  });

  it('the sign-up\'s link taken to the address-verification page does nothing there: no verified address without the password, and the link still works', async () => {
    const email = newAddress();
    await signUp(visitor(), { email, name: 'Not The Victim', password: ATTACKER_PASSWORD });
    const squatter = (await mailed.server.stores.users.findByEmail(email))!;
    const link = linkIn((await mailed.deliver())[0]!, '/signup/verify');
    const elsewhere = `${mailed.server.issuer}/verify-email?token=${tokenOf(link)}`;

    const victim = new UserAgent(mailed.server.issuer);
    expect((await victim.request(elsewhere)).status).toBe(410);
    const { csrf } = formOf((await victim.request(`${mailed.server.issuer}/signup`)).body);
    const posted = await victim.request(`${mailed.server.issuer}/verify-email`, { form: { csrf, token: tokenOf(link) } });
    expect(posted.status).toBe(410);
    expect(await mailed.server.stores.users.findById(squatter.id)).toMatchObject({ emailVerified: false, activatedAt: null });
    expect(await mailed.server.testDb.db('audit_events').where({ user_id: squatter.id, type: 'user.email_verified' })).toEqual([]);

    const done = await followAndSubmit(victim, link, { password: ATTACKER_PASSWORD });
    expect(done.status).toBe(200);
    expect(done.body).toContain('Your account is ready');
  });

  it('guesses at the sign-up\'s password on the link\'s page are throttled like sign-in: 429 and Retry-After, even for the right one', async () => {
    const email = newAddress();
    await signUp(visitor(), { email, password: ATTACKER_PASSWORD });
    const link = linkIn((await mailed.deliver())[0]!, '/signup/verify');
    const agent = new UserAgent(mailed.server.issuer);
    let res: Response | undefined;
    for (let attempt = 0; attempt < 10; attempt += 1) {
      res = await followAndSubmit(agent, link, { password: `guess number ${attempt}` });
      if (res.status === 429) break;
      expect(res.status).toBe(400);
    }
    expect(res!.status).toBe(429);
    expect(Number(res!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(res!.body).toContain('Too many attempts');
    expect((await followAndSubmit(agent, link, { password: ATTACKER_PASSWORD })).status).toBe(429);
    expect(await mailed.server.stores.users.findByEmail(email)).toMatchObject({ emailVerified: false, activatedAt: null });
  });
});

// Last in the file: it moves the server's clock on by weeks.
describe('a sign-up nobody verifies', () => {
  it.skipIf(!onPostgres)('signing in as the janitor deletes it gets the answer any failed sign-in gets, not a 500', async () => {
    const email = newAddress();
    expect((await signUp(visitor(), { email })).status).toBe(303);
    const { id } = (await mailed.server.stores.users.findByEmail(email))!;
    await mailed.deliver();
    // Past the resend interval: the sign-in below sends a new link.
    mailed.advance(11 * MINUTE);
    const db = mailed.server.testDb.db;
    const janitor = await db.transaction();
    try {
      // The janitor's lock on the row (Enrolment.deleteAbandoned), held by hand.
      await janitor('users').where({ id }).forUpdate().first();
      const attempt = tryToSignIn(email, PASSWORD);
      // The new link's insert waits on that lock: then the janitor deletes and commits.
      for (let polls = 0; ; polls += 1) {
        const { rows } = await db.raw<{ rows: Array<{ waiting: number }> }>(`select count(*)::int as waiting from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`);
        if (rows[0]!.waiting > 0) break;
        if (polls > 2000) throw new Error('the sign-in never waited on the lock');
      }
      await janitor('users').where({ id }).delete();
      await janitor.commit();
      const answer = await attempt;
      expect(answer.status).toBe(401);
      expect(answer.body).toContain('confirm your email address first');
      expect(await mailed.server.stores.users.findByEmail(email)).toBeUndefined();
    } finally {
      if (!janitor.isCompleted()) await janitor.rollback();
    }
  });

  it('is deleted by the janitor a week on, audited; one sent a new link meanwhile stays until that link expires', async () => {
    const [abandoned, retried] = [newAddress(), newAddress()];
    expect((await signUp(visitor(), { email: abandoned })).status).toBe(303);
    expect((await signUp(visitor(), { email: retried })).status).toBe(303);
    const active = await createPerson(mailed.server);
    const abandonedId = (await mailed.server.stores.users.findByEmail(abandoned))!.id;
    await mailed.deliver();

    // Six and a half days on, the second person signs in with the right password: a new link
    // is mailed, good for a day.
    mailed.advance(6.5 * DAY);
    expect((await tryToSignIn(retried, PASSWORD)).body).toContain('confirm your email address first');
    expect((await mailed.deliver()).map((mail) => mail.to)).toEqual([[retried]]);

    mailed.advance(0.7 * DAY);
    expect((await mailed.server.janitor.sweep()).abandonedSignUps).toBeGreaterThanOrEqual(1);
    expect(await mailed.server.stores.users.findByEmail(abandoned)).toBeUndefined();
    expect(await mailed.server.stores.users.findByEmail(retried)).toMatchObject({ activatedAt: null });
    expect(await mailed.server.stores.users.findById(active.id)).toBeDefined();
    await mailed.server.audit.flush();
    const [entry] = await mailed.server.db('audit_events').where({ type: 'user.deleted', user_id: abandonedId });
    expect(entry).toMatchObject({ actor_type: 'system', actor_id: 'janitor', details: { reason: 'sign_up_never_verified', afterDays: 7 } });
    // Nothing about the person is kept in the entry: not their address, not their name.
    expect(JSON.stringify(entry)).not.toContain(abandoned);

    // Once that link has expired, the second goes too.
    mailed.advance(0.5 * DAY);
    await mailed.server.janitor.sweep();
    expect(await mailed.server.stores.users.findByEmail(retried)).toBeUndefined();
    // The address is free: signing up with it again starts over.
    expect((await signUp(visitor(), { email: abandoned })).status).toBe(303);
    expect(await mailed.server.stores.users.findByEmail(abandoned)).toMatchObject({ activatedAt: null });
  });
});

describe('with SIGNUP_ABANDONED_DAYS', () => {
  it('keeps a sign-up nobody verifies that many days (or until its link expires), not a week', async () => {
    const short = await startMailedServer({ SIGNUP: 'open', TRUST_PROXY: 'true', SIGNUP_ABANDONED_DAYS: '2' });
    try {
      const email = newAddress();
      const agent = new UserAgent(short.server.issuer);
      const page = await agent.request(`${short.server.issuer}/signup`);
      const { action, csrf } = formOf(page.body);
      expect((await agent.request(new URL(action, short.server.issuer).href, { form: { csrf, name: 'Short Lived', email, password: PASSWORD } })).status).toBe(303);
      const id = (await short.server.stores.users.findByEmail(email))!.id;
      short.advance(1.5 * DAY);
      await short.server.janitor.sweep();
      expect(await short.server.stores.users.findById(id)).toBeDefined();
      short.advance(DAY);
      expect((await short.server.janitor.sweep()).abandonedSignUps).toBe(1);
      expect(await short.server.stores.users.findById(id)).toBeUndefined();
      await short.server.audit.flush();
      const [entry] = await short.server.db('audit_events').where({ type: 'user.deleted', user_id: id });
      expect(entry).toMatchObject({ details: { reason: 'sign_up_never_verified', afterDays: 2 } });
    } finally {
      await short.stop();
    }
  });
});

describe('with SIGNUP=closed (the default)', () => {
  it('has no sign-up: the routes answer 404 and the sign-in page does not offer it', async () => {
    const server = await startTestServer();
    try {
      const agent = new UserAgent(server.issuer);
      for (const path of ['/signup', '/signup/sent', '/signup/verify?token=x']) expect((await agent.request(`${server.issuer}${path}`)).status).toBe(404);
      expect((await agent.request(`${server.issuer}/signup`, { form: { name: 'X', email: 'x@example.test', password: PASSWORD } })).status).toBe(404);
      const closedApp = await registerApp(server);
      const login = await agent.follow(String((await authorizationRequest(closedApp)).url));
      expect(login.status).toBe(200);
      expect(login.body).not.toContain('Create an account');
      expect(await server.stores.users.findByEmail('x@example.test')).toBeUndefined();
    } finally {
      await server.stop();
    }
  });
});
