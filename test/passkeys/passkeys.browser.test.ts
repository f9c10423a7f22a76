// Passkeys in a real browser: Chromium's virtual authenticator (DevTools protocol WebAuthn domain)
// stands in for a phone or laptop's platform authenticator, with a resident key and user
// verification. A person adds a passkey on the account page, signs out, and signs an app in with
// it without typing an email; the app's ID token says how (amr). Then as an attacker: the
// virtual authenticator hands the test its private key, so the test signs assertions of its own
// for another origin, another RP ID, a spent challenge, a counter gone back, no user verification,
// and posts them in a real sign-in; each is refused and audited.
import { createHash, createPrivateKey, sign } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { launchChromium, SeparateBrowsers } from '../support/browser.js';
import { authorizationRequest, createPerson, registerApp, type App } from '../support/flows.js';
import { freePort } from '../support/gatehouse.js';
import { startMailingServer, type MailingServer } from '../support/mailing.js';
import { RECENT_SIGN_IN_SECONDS } from '../../src/security/recent-sign-in.js';
import { MAX_LIVE_CHALLENGES } from '../../src/passkeys/challenges.js';
import { MAX_PASSKEYS_PER_PERSON } from '../../src/passkeys/store.js';
import { ageSignIns } from '../support/oidc-records.js';
import { PasskeyPages, type Authenticator } from './support.js';

const CALLBACK = 'https://app.example.test/callback';

let mailing: MailingServer;
let browser: Browser;
let app: App;
let issuer: string;
const browsers = new SeparateBrowsers(() => browser);

beforeAll(async () => {
  // An RP ID must be a domain name: browsers refuse passkeys for an IP address, so this issuer
  // is http://localhost (a secure context), listening on the loopback address.
  const port = await freePort();
  mailing = await startMailingServer({ PORT: String(port), ISSUER: `http://localhost:${port}`, EMAIL_NOTIFICATIONS: 'true' });
  issuer = mailing.server.issuer;
  app = await registerApp(mailing.server, { redirectUri: CALLBACK });
  browser = await launchChromium();
  // A server, its mail receiver and a browser: more than the default minute on a busy machine.
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await mailing?.stop();
});

afterEach(async () => {
  // Passkey pages load two scripts, both from Gatehouse itself: nothing the CSP forbids.
  expect(await browsers.closeAll()).toEqual([]);
});

const passkeyPages = new PasskeyPages(browsers, () => issuer, () => app);
const { passwordSignIn, enrol, addPasskey, signOut, backAtTheApp } = passkeyPages;
/** A browser page with a platform authenticator; the sign-in page offers autofill unless a test says otherwise. */
const pageWithAuthenticator = () => passkeyPages.newPage('unless-asked');

async function credentialsOf(authenticator: Authenticator) {
  const { credentials } = await authenticator.cdp.send('WebAuthn.getCredentials', { authenticatorId: authenticator.id });
  return credentials;
}

async function auditOf(userId: string): Promise<Array<{ type: string; details: Record<string, unknown> }>> {
  await mailing.server.audit.flush();
  return mailing.server.db('audit_events').where({ user_id: userId }).orderBy([{ column: 'occurred_at' }, { column: 'id' }]).select('type', 'details');
}

describe('a person with a passkey', () => {
  it('adds one on the account page, signs out, and signs an app in with it without typing an email, by the button and by autofill; the ID token says hwk or swk and user', async () => {
    const person = await createPerson(mailing.server);
    const { page, authenticator } = await pageWithAuthenticator();
    await enrol(page, person, 'Work laptop');

    const item = page.getByRole('listitem').filter({ has: page.getByRole('heading', { name: 'Work laptop' }) });
    await item.waitFor();
    expect(await item.textContent()).toMatch(/Last used\s*Never/);
    expect(await page.getByRole('status').textContent()).toContain('Passkey added.');
    // A discoverable credential, for this site, made for this person; the server kept its public key only.
    const [credential, ...more] = await credentialsOf(authenticator);
    expect(more).toEqual([]);
    expect(credential).toMatchObject({ isResidentCredential: true, rpId: 'localhost' });
    expect(await mailing.server.passkeys.listFor(person.id)).toEqual([
      { id: expect.any(String), kind: 'passkey', name: 'Work laptop', createdAt: expect.any(Date), lastUsedAt: null },
    ]);
    const stored = await mailing.server.db('passkeys').where({ user_id: person.id }).first();
    expect(Object.keys(stored).sort()).toEqual(['aaguid', 'backed_up', 'counter', 'created_at', 'credential_id', 'id', 'last_used_at', 'name', 'public_key', 'transports', 'user_id']);
    await mailing.deliver();
    expect(mailing.mailsTo(person.email).map((mail) => mail.subject)).toContain('A passkey was added to your Gatehouse account');

    // The button, in a browser that offers no autofill.
    await signOut(page);
    await page.evaluate(() => (globalThis as unknown as { sessionStorage: { setItem(key: string, value: string): void } }).sessionStorage.setItem('no-autofill', 'yes'));
    let request = await authorizationRequest(app);
    await page.goto(request.url.href);
    await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
    // The email field lets the browser suggest passkeys (used below, where autofill is offered).
    expect(await page.getByLabel('Email').getAttribute('autocomplete')).toBe('username webauthn');
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    let claims = await backAtTheApp(page, request);
    expect(claims.sub).toBe(person.id);
    expect(claims.amr).toEqual([expect.stringMatching(/^(hwk|swk)$/), 'user']);
    expect(claims.acr).toBe('urn:gatehouse:acr:phr');
    const [listed] = await mailing.server.passkeys.listFor(person.id);
    expect(listed!.lastUsedAt).toBeInstanceOf(Date);
    const signedIn = (await auditOf(person.id)).filter((event) => event.type === 'sign_in.succeeded').at(-1);
    expect(signedIn?.details).toMatchObject({ method: 'passkey', amr: claims.amr });

    // Autofill: the browser's suggestion signs in as soon as it is picked (the virtual authenticator
    // picks at once), with no click on the page.
    await signOut(page);
    await page.evaluate(() => (globalThis as unknown as { sessionStorage: { removeItem(key: string): void } }).sessionStorage.removeItem('no-autofill'));
    request = await authorizationRequest(app);
    await page.goto(request.url.href);
    claims = await backAtTheApp(page, request);
    expect(claims.sub).toBe(person.id);
    expect(claims.amr).toEqual([expect.stringMatching(/^(hwk|swk)$/), 'user']);
    const audited = await auditOf(person.id);
    const types = audited.map((event) => event.type);
    expect(types.filter((type) => type === 'sign_in.succeeded')).toHaveLength(3);
    // The authenticator's transports, as the browser reported them, are what tell the apps of a
    // platform passkey (credential-change, src/security-events/account-news.ts).
    expect(audited.find((event) => event.type === 'passkey.added')?.details).toMatchObject({ transports: ['internal'] });
  }, 90_000);

  it('removes a passkey only after confirming who they are, with the password or with a passkey', async () => {
    const person = await createPerson(mailing.server);
    const { page } = await pageWithAuthenticator();
    await enrol(page, person, 'Old phone');

    const remove = async (name: string) => {
      await page.getByRole('link', { name: `Remove ${name}` }).click();
      await page.getByRole('heading', { name: 'Remove a passkey' }).waitFor();
    };
    await remove('Old phone');
    // Neither a password nor a passkey: nothing is removed.
    await page.getByRole('button', { name: 'Remove passkey' }).click();
    await page.getByText('Enter your current password, or confirm with a passkey.').waitFor();
    await page.getByLabel('Current password').fill('not my password at all');
    await page.getByRole('button', { name: 'Remove passkey' }).click();
    await page.getByText('That is not your current password.').waitFor();
    expect((await mailing.server.passkeys.listFor(person.id)).map((p) => p.name)).toContain('Old phone');

    await page.getByLabel('Current password').fill(person.password);
    await page.getByRole('button', { name: 'Remove passkey' }).click();
    await page.waitForURL(`${issuer}/account/passkeys?notice=passkey-removed`);
    expect((await mailing.server.passkeys.listFor(person.id)).map((p) => p.name)).not.toContain('Old phone');

    // With a passkey instead of the password.
    await addPasskey(page, 'New phone');
    await remove('New phone');
    await page.getByRole('button', { name: 'Confirm with a passkey and remove' }).click();
    await page.waitForURL(`${issuer}/account/passkeys?notice=passkey-removed`);
    expect(await mailing.server.passkeys.listFor(person.id)).toEqual([]);
    await page.getByText('You have no passkeys yet.').waitFor();

    const types = (await auditOf(person.id)).map((event) => event.type);
    expect(types.filter((type) => type === 'passkey.removed').length).toBe(types.filter((type) => type === 'passkey.added').length);
    await mailing.deliver();
    expect(mailing.mailsTo(person.email).map((mail) => mail.subject)).toContain('A passkey was removed from your Gatehouse account');
    // Two registrations and three password checks (argon2): more than the default half minute on a busy machine.
  }, 90_000);
});

/** What the attacker holds: a passkey's private key, read off the virtual authenticator. */
interface StolenKey {
  credentialId: string;
  userHandle: string;
  sign(data: Buffer): Buffer;
}

async function stealKey(authenticator: Authenticator): Promise<StolenKey> {
  const [credential] = await credentialsOf(authenticator);
  const key = createPrivateKey({ key: Buffer.from(credential!.privateKey, 'base64'), format: 'der', type: 'pkcs8' });
  // Ed25519 (COSE -8) and ML-DSA (which @simplewebauthn offers where the runtime has it, as Node 24
  // does, and Chromium then picks) sign the message itself; ES256 and RS256 sign its SHA-256.
  const pure = key.asymmetricKeyType === 'ed25519' || key.asymmetricKeyType?.startsWith('ml-dsa');
  const digestOf = pure ? null : 'sha256';
  return {
    credentialId: Buffer.from(credential!.credentialId, 'base64').toString('base64url'),
    userHandle: Buffer.from(credential!.userHandle!, 'base64').toString('base64url'),
    sign: (data) => sign(digestOf, data, key),
  };
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest();

/** An assertion signed with the stolen key, saying what the test chooses. */
function assertion(key: StolenKey, claims: { challenge: string; origin?: string; rpId?: string; counter: number; flags?: number }) {
  const counter = Buffer.alloc(4);
  counter.writeUInt32BE(claims.counter);
  // Flags: user present (0x01) and user verified (0x04), unless the test says otherwise.
  const authenticatorData = Buffer.concat([sha256(claims.rpId ?? 'localhost'), Buffer.from([claims.flags ?? 0x05]), counter]);
  const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge: claims.challenge, origin: claims.origin ?? issuer, crossOrigin: false }));
  const signature = key.sign(Buffer.concat([authenticatorData, sha256(clientDataJSON)]));
  return JSON.stringify({
    id: key.credentialId,
    rawId: key.credentialId,
    type: 'public-key',
    response: {
      clientDataJSON: clientDataJSON.toString('base64url'),
      authenticatorData: authenticatorData.toString('base64url'),
      signature: signature.toString('base64url'),
      userHandle: key.userHandle,
    },
    clientExtensionResults: {},
  });
}

/** The sign-in page's passkey form: where it posts, where it asks for a challenge, its CSRF token. */
async function passkeyFormOn(page: Page): Promise<{ action: string; options: string; csrf: string }> {
  const form = page.locator('form[data-passkey-sign-in]');
  return {
    action: (await form.getAttribute('action'))!,
    options: (await form.getAttribute('data-options'))!,
    csrf: (await form.locator('input[name="csrf"]').getAttribute('value'))!,
  };
}

/** On a sign-in page: a challenge for this sign-in, asked for as the page script does. */
async function challengeOn(page: Page): Promise<string> {
  const form = await passkeyFormOn(page);
  const options = await page.evaluate(async ({ options: url, csrf }) => {
    const res = await fetch(url, { method: 'POST', body: new URLSearchParams({ csrf }) });
    return res.json() as Promise<{ challenge: string; rpId: string; userVerification: string }>;
  }, form);
  expect(options).toMatchObject({ rpId: 'localhost', userVerification: 'required' });
  return options.challenge;
}

/** Posts an answer on the sign-in page's passkey form, as the page script would; the status and where it leads. */
async function postAnswer(page: Page, response: string): Promise<{ status: number; location: string | null }> {
  const form = await passkeyFormOn(page);
  return page.evaluate(async ({ action, csrf, answer }) => {
    const res = await fetch(action, { method: 'POST', body: new URLSearchParams({ csrf, response: answer }), redirect: 'manual' });
    // A redirect is opaque to a page's fetch with redirect "manual": status 0, no headers.
    return { status: res.type === 'opaqueredirect' ? 303 : res.status, location: res.headers.get('location') };
  }, { ...form, answer: response });
}

describe('a sign-in more than 15 minutes old', () => {
  it('adding a passkey sends the person to sign in again with the password first, then back to the page, where it is added', async () => {
    const person = await createPerson(mailing.server);
    const { page } = await passkeyPages.newPage('off');
    await page.goto(`${issuer}/account/passkeys`);
    await passwordSignIn(page, person);
    await page.waitForURL(`${issuer}/account/passkeys`);
    // The page stays open while the sign-in grows old (src/security/recent-sign-in.ts).
    await ageSignIns(mailing.server.db, person.id, RECENT_SIGN_IN_SECONDS + 60);
    await page.getByLabel('Name it').fill('Old laptop');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    // The script is told to sign in again: the sign-in page, asking for the password.
    await passwordSignIn(page, person);
    await page.waitForURL(`${issuer}/account/passkeys#passkey-name`);
    expect(await mailing.server.passkeys.listFor(person.id)).toEqual([]);
    await addPasskey(page, 'New laptop');
    expect((await mailing.server.passkeys.listFor(person.id)).map((passkey) => passkey.name)).toEqual(['New laptop']);
  });

  it('a passkey begun just before the limit and sent just after it is kept, not left in the authenticator alone', async () => {
    const person = await createPerson(mailing.server);
    const { page, authenticator } = await passkeyPages.newPage('off');
    await page.goto(`${issuer}/account/passkeys`);
    await passwordSignIn(page, person);
    await page.waitForURL(`${issuer}/account/passkeys`);
    await ageSignIns(mailing.server.db, person.id, RECENT_SIGN_IN_SECONDS - 5);
    // The options come while the sign-in is recent; by the time the new credential is posted, it is not.
    await page.route(`${issuer}/account/passkeys`, async (route) => {
      if (route.request().method() === 'POST') await ageSignIns(mailing.server.db, person.id, 60);
      await route.continue();
    });
    await addPasskey(page, 'Boundary laptop');
    expect((await mailing.server.passkeys.listFor(person.id)).map((passkey) => passkey.name)).toEqual(['Boundary laptop']);
    const [credential] = await credentialsOf(authenticator);
    const stored = await mailing.server.db('passkeys').where({ user_id: person.id }).first();
    expect(stored.credential_id).toBe(Buffer.from(credential!.credentialId, 'base64').toString('base64url'));
  });
});

describe('a person with as many passkeys as they may have', () => {
  /**
   * Passkeys as registering stores them, up to `count` in all (keys a stand-in: these never sign;
   * their ids base64url, as the page hands them to the browser to exclude).
   */
  async function fillUp(userId: string, count: number) {
    const have = (await mailing.server.passkeys.listFor(userId)).length;
    await mailing.server.db.transaction(async (trx) => {
      for (let i = have; i < count; i += 1) {
        await mailing.server.passkeys.store.add({
          userId, credentialId: Buffer.from(`elsewhere ${userId} ${i}`).toString('base64url'), publicKey: 'AA', counter: 0, transports: ['internal'], backedUp: true, aaguid: null, name: `Key ${i}`,
        }, trx);
      }
    });
  }

  /** A page signed in to the passkeys page with the password, ready to add one. */
  async function passkeysPage(person: { email: string; password: string }) {
    const opened = await passkeyPages.newPage('off');
    await opened.page.goto(`${issuer}/account/passkeys`);
    await passwordSignIn(opened.page, person);
    await opened.page.waitForURL(`${issuer}/account/passkeys`);
    return opened;
  }

  it('cannot add one more, even when the last place was taken in another tab after the page asked for its challenge', async () => {
    const person = await createPerson(mailing.server);
    const { page } = await passkeysPage(person);
    await fillUp(person.id, MAX_PASSKEYS_PER_PERSON - 1);
    await page.reload();
    // The page offered room for one; the last place goes while the browser makes the passkey.
    await page.route(`${issuer}/account/passkeys`, async (route) => {
      if (route.request().method() === 'POST') await fillUp(person.id, MAX_PASSKEYS_PER_PERSON);
      await route.continue();
    });
    await page.getByLabel('Name it').fill('One too many');
    const answered = page.waitForResponse((res) => res.url() === `${issuer}/account/passkeys` && res.request().method() === 'POST');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    expect((await answered).status()).toBe(409);
    expect(await page.getByRole('alert').first().textContent()).toContain(`The passkey was not added: you have ${MAX_PASSKEYS_PER_PERSON} passkeys, the most one account can have.`);
    expect(await page.getByRole('button', { name: 'Add a passkey' }).count()).toBe(0);
    const names = (await mailing.server.passkeys.listFor(person.id)).map((passkey) => passkey.name);
    expect(names).toHaveLength(MAX_PASSKEYS_PER_PERSON);
    expect(names).not.toContain('One too many');
    expect((await auditOf(person.id)).filter((event) => event.type === 'passkey.added')).toEqual([]);

  }, 90_000);

  it('a page still offering to add one, once the last place is taken elsewhere, says so before the browser makes a passkey', async () => {
    const person = await createPerson(mailing.server);
    const { page, authenticator } = await passkeysPage(person);
    await fillUp(person.id, MAX_PASSKEYS_PER_PERSON);
    await page.getByLabel('Name it').fill('One too many');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    const problem = page.locator('form[data-passkey-add] [data-passkey-problem]');
    await problem.waitFor();
    expect(await problem.textContent()).toBe(`You have ${MAX_PASSKEYS_PER_PERSON} passkeys, the most one account can have. Remove one you no longer use to add another.`);
    // The authenticator was never asked: it holds no passkey that works nowhere.
    expect(await credentialsOf(authenticator)).toEqual([]);
    expect(await mailing.server.passkeys.listFor(person.id)).toHaveLength(MAX_PASSKEYS_PER_PERSON);
  });

  it('two registrations at once for the last place: one is added, the other refused', async () => {
    const person = await createPerson(mailing.server);
    const first = await passkeysPage(person);
    const second = await passkeysPage(person);
    await fillUp(person.id, MAX_PASSKEYS_PER_PERSON - 1);
    // Both posts are held until both have been made, then sent together.
    let arrived = 0;
    let release!: () => void;
    const together = new Promise<void>((resolve) => { release = resolve; });
    const outcomes = [first.page, second.page].map(async (page, i) => {
      await page.reload();
      await page.route(`${issuer}/account/passkeys`, async (route) => {
        if (route.request().method() === 'POST') {
          arrived += 1;
          if (arrived === 2) release();
          await together;
        }
        await route.continue();
      });
      await page.getByLabel('Name it').fill(`Racer ${i}`);
      const answered = page.waitForResponse((res) => res.url() === `${issuer}/account/passkeys` && res.request().method() === 'POST');
      await page.getByRole('button', { name: 'Add a passkey' }).click();
      return (await answered).status();
    });
    expect((await Promise.all(outcomes)).sort()).toEqual([303, 409]);
    const names = (await mailing.server.passkeys.listFor(person.id)).map((passkey) => passkey.name);
    expect(names).toHaveLength(MAX_PASSKEYS_PER_PERSON);
    expect(names.filter((name) => name.startsWith('Racer'))).toHaveLength(1);
  }, 90_000);
});

async function newSignInPage(page: Page) {
  const request = await authorizationRequest(app);
  await page.goto(request.url.href);
  await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
}

describe('assertions signed with a passkey\'s own key, as an attacker who holds it would', () => {
  let person: Awaited<ReturnType<typeof createPerson>>;
  let key: StolenKey;
  let page: Page;

  beforeEach(async () => {
    page = await browsers.newPage();
  });

  beforeAll(async () => {
    person = await createPerson(mailing.server);
    const enrolled = await pageWithAuthenticator();
    await enrol(enrolled.page, person, 'Phished laptop');
    key = await stealKey(enrolled.authenticator);
    await signOut(enrolled.page);
  }, 120_000);

  it('an assertion signed for another origin or another RP ID is refused, and one without user verification too', async () => {
    await newSignInPage(page);
    for (const claims of [{ origin: 'https://evil.example' }, { rpId: 'evil.example' }, { origin: 'http://localhost:1' }, { flags: 0x01 }]) {
      const challenge = await challengeOn(page);
      expect(await postAnswer(page, assertion(key, { challenge, counter: 50, ...claims }))).toMatchObject({ status: 401 });
    }
    const failures = (await auditOf(person.id)).filter((event) => event.type === 'sign_in.failed');
    expect(failures.map((event) => event.details)).toEqual(Array(4).fill(expect.objectContaining({ method: 'passkey', reason: 'invalid' })));
  });

  it('an answer to a spent challenge is refused, and one to a challenge issued to another sign-in', async () => {
    await newSignInPage(page);
    const challenge = await challengeOn(page);
    // The one valid use: the sign-in goes on (the attacker's own signature is good: the key is real).
    expect(await postAnswer(page, assertion(key, { challenge, counter: 100 }))).toMatchObject({ status: 303 });
    // The same challenge again, signed anew with a higher counter: spent.
    expect(await postAnswer(page, assertion(key, { challenge, counter: 101 }))).toMatchObject({ status: 401 });

    // A challenge handed to one browser's sign-in does not answer another's.
    const other = await browsers.newPage();
    await newSignInPage(other);
    await newSignInPage(page);
    const theirs = await challengeOn(other);
    expect(await postAnswer(page, assertion(key, { challenge: theirs, counter: 102 }))).toMatchObject({ status: 401 });
    expect(await postAnswer(other, assertion(key, { challenge: theirs, counter: 103 }))).toMatchObject({ status: 303 });
  });

  it('a counter that went back is refused and audited as a possibly cloned passkey', async () => {
    await newSignInPage(page);
    const challenge = await challengeOn(page);
    expect(await postAnswer(page, assertion(key, { challenge, counter: 1000 }))).toMatchObject({ status: 303 });
    await newSignInPage(page);
    for (const counter of [1000, 999]) {
      const next = await challengeOn(page);
      expect(await postAnswer(page, assertion(key, { challenge: next, counter }))).toMatchObject({ status: 401 });
    }
    const regressions = (await auditOf(person.id)).filter((event) => event.type === 'passkey.counter_regressed');
    expect(regressions.map((event) => event.details)).toEqual([
      expect.objectContaining({ storedCounter: 1000, presentedCounter: 1000 }),
      expect.objectContaining({ storedCounter: 1000, presentedCounter: 999 }),
    ]);
  });

  it('the authenticator\'s backup flags say the method: swk for a synced passkey, hwk for a device-bound one, with user', async () => {
    const amrOfLastSignIn = async () => (await auditOf(person.id)).filter((event) => event.type === 'sign_in.succeeded').at(-1)?.details.amr;
    await newSignInPage(page);
    // User present, user verified, backup eligible and backed up.
    expect(await postAnswer(page, assertion(key, { challenge: await challengeOn(page), counter: 2000, flags: 0x1d }))).toMatchObject({ status: 303 });
    expect(await amrOfLastSignIn()).toEqual(['swk', 'user']);
    await newSignInPage(page);
    expect(await postAnswer(page, assertion(key, { challenge: await challengeOn(page), counter: 2001, flags: 0x05 }))).toMatchObject({ status: 303 });
    expect(await amrOfLastSignIn()).toEqual(['hwk', 'user']);
  });

  it('a disabled person cannot sign in with their passkey', async () => {
    await mailing.server.operations.people.disableUser({ type: 'system', id: null }, person.id);
    await newSignInPage(page);
    const challenge = await challengeOn(page);
    expect(await postAnswer(page, assertion(key, { challenge, counter: 5000 }))).toMatchObject({ status: 401 });
    const last = (await auditOf(person.id)).filter((event) => event.type === 'sign_in.failed').at(-1);
    expect(last?.details).toMatchObject({ method: 'passkey', reason: 'disabled' });
  });
});

describe('a sign-in that asked for more challenges than it keeps', () => {
  it('refuses an answer to one pushed out by newer ones, and accepts one to the oldest still kept', async () => {
    const person = await createPerson(mailing.server);
    const enrolled = await pageWithAuthenticator();
    await enrol(enrolled.page, person, 'Laptop');
    const key = await stealKey(enrolled.authenticator);
    await signOut(enrolled.page);

    // No autofill: its own challenge, asked for whenever the page's script gets to it, would take a place.
    const { page } = await passkeyPages.newPage('off');
    await newSignInPage(page);
    const issued: string[] = [];
    for (let i = 0; i <= MAX_LIVE_CHALLENGES; i += 1) issued.push(await challengeOn(page));
    const [pushedOut, oldestKept] = issued;
    expect(await postAnswer(page, assertion(key, { challenge: pushedOut!, counter: 10 }))).toMatchObject({ status: 401 });
    // Older than every challenge since: the autofill ceremony, say, left open while the button asked again.
    expect(await postAnswer(page, assertion(key, { challenge: oldestKept!, counter: 11 }))).toMatchObject({ status: 303 });
    const outcomes = (await auditOf(person.id)).filter((event) => event.type.startsWith('sign_in.')).map((event) => [event.type, event.details.reason]);
    expect(outcomes.slice(-2)).toEqual([['sign_in.failed', 'invalid'], ['sign_in.succeeded', undefined]]);
  }, 90_000);
});

describe('without JavaScript', () => {
  it('the sign-in page offers no passkey button and the password still signs in', async () => {
    const person = await createPerson(mailing.server);
    const context = await browser.newContext({ javaScriptEnabled: false });
    try {
      const page = await context.newPage();
      await page.route(`${CALLBACK}**`, (route) => route.fulfill({ status: 200, body: 'back at the app' }));
      const request = await authorizationRequest(app);
      await page.goto(request.url.href);
      await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
      expect(await page.getByRole('button', { name: 'Sign in with a passkey' }).isVisible()).toBe(false);
      await passwordSignIn(page, person);
      expect((await backAtTheApp(page, request)).amr).toEqual(['pwd']);
    } finally {
      await context.close();
    }
  });
});
