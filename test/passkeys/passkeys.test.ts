// Passkeys over plain HTTP: what the pages and their JSON endpoints answer, bad input included
// (never a 500), and the challenges' rules (single use, bound, short-lived). The ceremonies with a
// real authenticator are in passkeys.browser.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digest } from '../../src/crypto/digest.js';
import { Challenges, CHALLENGE_TTL_SECONDS, MAX_LIVE_CHALLENGES } from '../../src/passkeys/challenges.js';
import { passkeyName } from '../../src/passkeys/passkeys.js';
import { MAX_NAME_LENGTH, MAX_PASSKEYS_PER_PERSON } from '../../src/passkeys/store.js';
import { accountForm, signInToAccount } from '../account/support.js';
import { enrolAuthenticator } from '../factors/support.js';
import { authorizationRequest, createPerson, registerApp, type App } from '../support/flows.js';
import { freePort, startTestServer, type TestServer } from '../support/gatehouse.js';
import { formOf, UserAgent } from '../support/user-agent.js';

let server: TestServer;
let app: App;

beforeAll(async () => {
  // Browsers offer passkeys only to a domain name (here localhost), never to an IP address.
  const port = await freePort();
  // TRUST_PROXY: the throttle test asks from a client address of its own (X-Forwarded-For).
  server = await startTestServer({ PORT: String(port), ISSUER: `http://localhost:${port}`, TRUST_PROXY: 'true' });
  app = await registerApp(server);
});

afterAll(async () => {
  await server?.stop();
});

async function auditTypes(userId: string | null): Promise<Array<{ type: string; details: Record<string, unknown> }>> {
  await server.audit.flush();
  const query = server.db('audit_events').orderBy([{ column: 'occurred_at' }, { column: 'id' }]).select('type', 'details');
  return userId === null ? query.whereNull('user_id') : query.where({ user_id: userId });
}

describe('a passkey\'s name', () => {
  it('is what was typed, trimmed and cut to length between characters, never inside an emoji; "Passkey" for nothing usable', () => {
    expect(passkeyName('  Work laptop  ')).toBe('Work laptop');
    const long = `${'a'.repeat(MAX_NAME_LENGTH - 1)}🔑 and more`;
    expect(passkeyName(long)).toBe('a'.repeat(MAX_NAME_LENGTH - 1));
    expect(passkeyName('   ')).toBe('Passkey');
    expect(passkeyName('bad\u0000name')).toBe('Passkey');
  });
});

describe('the passkeys page', () => {
  it('asks for a resident key with user verification for this RP ID, only with the form\'s CSRF token', async () => {
    const person = await createPerson(server);
    const { agent, page } = await signInToAccount(server, person, '/account/passkeys');
    expect(page.body).toContain('You have no passkeys yet.');
    expect(page.body).toMatch(/<script src="\/assets\/webauthn.js" defer><\/script>/);
    const add = accountForm(page.body, '/account/passkeys');

    const forged = await agent.request(`${server.issuer}/account/passkeys/registration-options`, { form: { csrf: 'forged' } });
    expect(forged.status).toBe(403);
    const res = await agent.request(`${server.issuer}/account/passkeys/registration-options`, { form: { csrf: add.fields.csrf! }, headers: { accept: 'application/json' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const options = JSON.parse(res.body) as Record<string, unknown>;
    expect(options).toMatchObject({
      rp: { id: 'localhost', name: 'Gatehouse' },
      user: { name: person.email },
      attestation: 'none',
      authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
      challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    });
    // The challenge is kept as a digest only.
    const stored = await server.db('passkey_challenges').select('challenge_digest');
    expect(stored.map((row: { challenge_digest: string }) => row.challenge_digest)).not.toContain(options.challenge);
  });

  it('refuses an answer that is not a registration, with a page saying so and nothing stored', async () => {
    const person = await createPerson(server);
    const { agent, page } = await signInToAccount(server, person, '/account/passkeys');
    const { fields } = accountForm(page.body, '/account/passkeys');
    for (const response of ['', 'not json', '{"id":"abc","response":{}}', JSON.stringify({ id: 'x'.repeat(9000), response: {} }), 'x'.repeat(20_000)]) {
      const res = await agent.request(`${server.issuer}/account/passkeys`, { form: { csrf: fields.csrf!, name: 'Laptop', response } });
      expect([400, 413]).toContain(res.status);
    }
    const res = await agent.request(`${server.issuer}/account/passkeys`, { form: { csrf: fields.csrf!, name: 'Laptop', response: '{"id":"abc","rawId":"abc","type":"public-key","response":{"clientDataJSON":"e30","attestationObject":"oA"}}' } });
    expect(res.status).toBe(400);
    expect(res.body).toContain('The passkey could not be added');
    expect(await server.passkeys.listFor(person.id)).toEqual([]);
  });

  it('answers a passkey that is not the person\'s with 404, whatever the id looks like', async () => {
    const person = await createPerson(server);
    const { agent, page } = await signInToAccount(server, person, '/account/passkeys');
    const { fields } = accountForm(page.body, '/account/passkeys');
    for (const id of ['not-a-uuid', '00000000-0000-4000-8000-000000000000', 'a\u0000b']) {
      expect((await agent.request(`${server.issuer}/account/passkeys/remove?passkey=${encodeURIComponent(id)}`)).status).toBe(404);
      expect((await agent.request(`${server.issuer}/account/passkeys/remove`, { form: { csrf: fields.csrf!, passkey: id, current_password: person.password } })).status).toBe(404);
      expect((await agent.request(`${server.issuer}/account/passkeys/rename`, { form: { csrf: fields.csrf!, passkey: id, name: 'x' } })).status).toBe(404);
    }
  });

  it('sends someone signed out to sign in, and changes nothing', async () => {
    const agent = new UserAgent(server.issuer);
    const res = await agent.request(`${server.issuer}/account/passkeys/registration-options`, { form: { csrf: 'x' } });
    expect(res.status).toBe(403);
    const page = await agent.request(`${server.issuer}/account/passkeys`);
    expect(page.status).toBe(302);
  });
});

describe('removing the last second factor', () => {
  it('takes the recovery codes with the last passkey once no authenticator app is left, and audits it', async () => {
    const person = await createPerson(server);
    const { agent } = await signInToAccount(server, person, '/account/security');
    await enrolAuthenticator(server, agent, Date.now());
    // A passkey as registering stores one (its key a stand-in: this test never signs with it).
    const passkey = await server.db.transaction((trx) => server.passkeys.store.add({
      userId: person.id, credentialId: `credential-${person.id}`, publicKey: 'AA', counter: 0, transports: ['internal'], backedUp: true, aaguid: null, name: 'Laptop',
    }, trx));
    const kinds = async () => (await server.db('factors').where({ user_id: person.id }).select('kind')).map((row: { kind: string }) => row.kind).sort();

    // The authenticator app goes; the codes stay, backing up the passkey.
    const security = await agent.follow(`${server.issuer}/account/security`);
    const totpId = /name="factor" value="([^"]+)"[\s\S]*?Remove My phone/.exec(security.body)![1]!;
    const removed = accountForm(security.body, '/account/security/remove');
    await agent.request(`${server.issuer}/account/security/remove`, { form: { ...removed.fields, factor: totpId, proof: person.password } });
    expect(await kinds()).toEqual(['recovery_codes']);

    // The last passkey goes, confirmed with the password (the page works without JavaScript): so do the codes.
    const page = await agent.follow(`${server.issuer}/account/passkeys/remove?passkey=${passkey.id}`);
    const { fields } = accountForm(page.body, '/account/passkeys/remove');
    const done = await agent.follow(`${server.issuer}/account/passkeys/remove`, { form: { ...fields, passkey: passkey.id, current_password: person.password } });
    expect(done.status).toBe(200);
    expect(await server.passkeys.listFor(person.id)).toEqual([]);
    expect(await kinds()).toEqual([]);
    const [event] = (await auditTypes(person.id)).filter((entry) => entry.type === 'passkey.removed');
    expect(event!.details.alsoRemoved).toEqual([expect.objectContaining({ kind: 'recovery_codes' })]);
  });
});

describe('the sign-in page', () => {
  async function signInPage(agent: UserAgent) {
    const request = await authorizationRequest(app);
    const page = await agent.follow(request.url.href);
    expect(page.url).toMatch(/\/interaction\//);
    return page;
  }

  it('offers a passkey without an email: any discoverable credential, user verification required', async () => {
    const agent = new UserAgent(server.issuer);
    const page = await signInPage(agent);
    expect(page.body).toContain('autocomplete="username webauthn"');
    const form = formOf(page.body, /\/passkey$/);
    const options = await agent.request(new URL(`${form.action}/options`, page.url).href, { form: { csrf: form.csrf } });
    expect(options.status).toBe(200);
    expect(JSON.parse(options.body)).toMatchObject({ rpId: 'localhost', userVerification: 'required', allowCredentials: [] });
    expect((await agent.request(new URL(`${form.action}/options`, page.url).href, { form: { csrf: 'forged' } })).status).toBe(403);
  });

  it('refuses an answer that is not an assertion with the sign-in page (401), audited, never a 500', async () => {
    const agent = new UserAgent(server.issuer);
    const page = await signInPage(agent);
    const form = formOf(page.body, /\/passkey$/);
    const before = (await auditTypes(null)).length;
    for (const response of ['', 'null', '[]', '{"id":"abc","response":{"userHandle":7}}', '{"id":"abc","rawId":"abc","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"AA","signature":"AA"}}']) {
      const res = await agent.request(new URL(form.action, page.url).href, { form: { csrf: form.csrf, response } });
      expect(res.status).toBe(401);
      expect(res.body).toContain('That passkey could not sign you in.');
    }
    const failures = (await auditTypes(null)).slice(before);
    expect(failures.map((event) => [event.type, event.details.method])).toEqual(Array(5).fill(['sign_in.failed', 'passkey']));
    expect(failures.map((event) => event.details.reason)).toEqual(['malformed', 'malformed', 'malformed', 'malformed', 'unknown_passkey']);
  });
});

describe('passkey sign-in attempts', () => {
  it('are throttled like passwords: failures from one address soon get 429 with Retry-After, before any verification', async () => {
    const agent = new UserAgent(server.issuer);
    const request = await authorizationRequest(app);
    const page = await agent.follow(request.url.href);
    const form = formOf(page.body, /\/passkey$/);
    const from = { 'x-forwarded-for': '198.18.77.1' };
    const statuses: number[] = [];
    // Five free failures, then one attempt per doubling pause: some attempt soon lands in a pause.
    for (let attempt = 0; attempt < 20 && !statuses.includes(429); attempt += 1) {
      const res = await agent.request(new URL(form.action, page.url).href, { form: { csrf: form.csrf, response: '{"id":"guess","response":{}}' }, headers: from });
      statuses.push(res.status);
      if (res.status === 429) {
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(res.body).toContain('Too many attempts.');
      }
    }
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses).toContain(429);
  });
});

describe('challenges', () => {
  it('are spent by their first use, only for their purpose, binding and person, and only while fresh', async () => {
    let now = Date.now();
    const challenges = new Challenges(server.db, () => now);
    const person = await createPerson(server);
    const other = await createPerson(server);
    const binding = { session: 'session-handle' };

    const once = await challenges.issue('registration', binding, person.id);
    expect(await challenges.spend(once, 'registration', binding, person.id)).toBe(true);
    expect(await challenges.spend(once, 'registration', binding, person.id)).toBe(false);

    const bound = await challenges.issue('confirmation', binding, person.id);
    expect(await challenges.spend(bound, 'confirmation', { session: 'another browser' }, person.id)).toBe(false);
    expect(await challenges.spend(bound, 'sign_in', binding)).toBe(false);
    expect(await challenges.spend(bound, 'confirmation', { interaction: 'session-handle' }, person.id)).toBe(false);
    expect(await challenges.spend(bound, 'confirmation', binding, other.id)).toBe(false);

    const stale = await challenges.issue('sign_in', { interaction: 'uid' });
    now += CHALLENGE_TTL_SECONDS * 1000 + 1;
    expect(await challenges.spend(stale, 'sign_in', { interaction: 'uid' })).toBe(false);
    expect(await challenges.spend('x'.repeat(500), 'sign_in', { interaction: 'uid' })).toBe(false);
  });
});

/** Which of these challenges are still stored (as digests), in the order given. */
async function stillStored(challenges: string[]): Promise<string[]> {
  const rows = await server.db('passkey_challenges').whereIn('challenge_digest', challenges.map(digest)).select('challenge_digest');
  const stored = new Set(rows.map((row: { challenge_digest: string }) => row.challenge_digest));
  return challenges.filter((challenge) => stored.has(digest(challenge)));
}

describe('the challenges one sign-in or one session holds', () => {
  async function signInOptions() {
    const agent = new UserAgent(server.issuer);
    const page = await agent.follow((await authorizationRequest(app)).url.href);
    const form = formOf(page.body, /\/passkey$/);
    const url = new URL(`${form.action}/options`, page.url).href;
    return async () => {
      const res = await agent.request(url, { form: { csrf: form.csrf } });
      expect(res.status).toBe(200);
      return (JSON.parse(res.body) as { challenge: string }).challenge;
    };
  }

  it('are the newest few: asking a sign-in\'s options over and over keeps only the last ones', async () => {
    const ask = await signInOptions();
    const issued: string[] = [];
    for (let i = 0; i < MAX_LIVE_CHALLENGES + 3; i += 1) issued.push(await ask());
    // Room for the autofill ceremony and the button's at once, and then some.
    expect(MAX_LIVE_CHALLENGES).toBeGreaterThanOrEqual(2);
    expect(await stillStored(issued)).toEqual(issued.slice(-MAX_LIVE_CHALLENGES));
  });

  it('stay as few when the options are asked for all at once', async () => {
    const ask = await signInOptions();
    const issued = await Promise.all(Array.from({ length: MAX_LIVE_CHALLENGES * 3 }, () => ask()));
    expect(await stillStored(issued)).toHaveLength(MAX_LIVE_CHALLENGES);
  });

  it('are counted per signed-in session too, across the account pages\' registrations and confirmations', async () => {
    const person = await createPerson(server);
    const { agent, page } = await signInToAccount(server, person, '/account/passkeys');
    const { fields } = accountForm(page.body, '/account/passkeys');
    const issued: string[] = [];
    for (let i = 0; i < MAX_LIVE_CHALLENGES + 2; i += 1) {
      const which = i % 2 === 0 ? 'registration-options' : 'confirmation-options';
      const res = await agent.request(`${server.issuer}/account/passkeys/${which}`, { form: { csrf: fields.csrf! }, headers: { accept: 'application/json' } });
      expect(res.status).toBe(200);
      issued.push((JSON.parse(res.body) as { challenge: string }).challenge);
    }
    expect(await stillStored(issued)).toEqual(issued.slice(-MAX_LIVE_CHALLENGES));
    // Another browser's sign-in keeps its own.
    const theirs = await signInOptions();
    const other = await theirs();
    expect(await stillStored([other, ...issued])).toEqual([other, ...issued.slice(-MAX_LIVE_CHALLENGES)]);
  });
});

describe('how many passkeys a person may have', () => {
  it('is bounded: at the limit the page says so and offers no way to add one, and the options are refused', async () => {
    const person = await createPerson(server);
    // Signed in first: with passkeys, signing in would ask for one as the second step.
    const { agent } = await signInToAccount(server, person, '/account/passkeys');
    await server.db.transaction(async (trx) => {
      for (let i = 0; i < MAX_PASSKEYS_PER_PERSON; i += 1) {
        // As registering stores one (keys a stand-in: these never sign).
        await server.passkeys.store.add({
          userId: person.id, credentialId: `credential-${person.id}-${i}`, publicKey: 'AA', counter: 0, transports: ['internal'], backedUp: true, aaguid: null, name: `Key ${i}`,
        }, trx);
      }
    });
    const page = await agent.follow(`${server.issuer}/account/passkeys`);
    expect(page.status).toBe(200);
    expect(page.body).toContain(`<p>You have ${MAX_PASSKEYS_PER_PERSON} passkeys, the most one account can have. Remove one you no longer use to add another.</p>`);
    expect(page.body).not.toContain('data-passkey-add');
    const csrf = accountForm(page.body, '/account/passkeys/rename').fields.csrf!;

    const res = await agent.request(`${server.issuer}/account/passkeys/registration-options`, { form: { csrf }, headers: { accept: 'application/json' } });
    expect(res.status).toBe(409);
    expect(JSON.parse(res.body)).toEqual({ error: 'too_many_passkeys', max: MAX_PASSKEYS_PER_PERSON });
    expect(await server.passkeys.listFor(person.id)).toHaveLength(MAX_PASSKEYS_PER_PERSON);

    // One fewer, and the page offers to add one again.
    const [first] = await server.passkeys.listFor(person.id);
    await server.db('passkeys').where({ id: first!.id }).delete();
    const again = await agent.follow(`${server.issuer}/account/passkeys`);
    expect(again.body).toContain('data-passkey-add');
    expect(again.body).not.toContain('<p>You have ');
    expect((await agent.request(`${server.issuer}/account/passkeys/registration-options`, { form: { csrf }, headers: { accept: 'application/json' } })).status).toBe(200);
  });
});

describe('on an issuer reached by IP address', () => {
  let byAddress: TestServer;

  // A second server on a database of its own: on the embedded database that takes a while.
  beforeAll(async () => {
    byAddress = await startTestServer();
  }, 120_000);

  afterAll(async () => {
    await byAddress?.stop();
  });

  it('offers no passkeys: the sign-in page has no passkey form, and the passkeys page says why', async () => {
    const otherApp = await registerApp(byAddress);
    const agent = new UserAgent(byAddress.issuer);
    const page = await agent.follow((await authorizationRequest(otherApp)).url.href);
    expect(page.body).toContain('autocomplete="username"');
    expect(page.body).not.toContain('data-passkey-sign-in');
    const person = await createPerson(byAddress);
    const { page: passkeys } = await signInToAccount(byAddress, person, '/account/passkeys');
    expect(passkeys.body).toContain('Passkeys are not available here');
    expect(passkeys.body).not.toContain('<script');
  });
});
