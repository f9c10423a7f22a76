// How long a browser stays known to an account (src/security/known-devices.ts): 180 days from the
// account's last sign-in there, by the server's clock, whatever the cookie's own expiry. A known
// browser is spared the account's sign-in limits and the new-browser notice, so a copy of the
// cookie must not keep that for ever. Over real HTTP with a cookie jar, the notice read over SMTP.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyedDigest, normaliseEmail } from '../../src/security/keyed-digest.js';
import { authorizationRequest, createPerson, registerApp, signIn, type App } from '../support/flows.js';
import { startMailingServer, type MailingServer } from '../support/mailing.js';
import { UserAgent } from '../support/user-agent.js';

const NEW_SIGN_IN = 'New sign-in to your Gatehouse account';
const DAY_MS = 86_400_000;
const DEVICE_COOKIES = ['gh_device', 'gh_device.sig'];

let mailing: MailingServer;
let app: App;

beforeAll(async () => {
  mailing = await startMailingServer();
  app = await registerApp(mailing.server);
});

afterAll(async () => {
  await mailing?.stop();
});

/** Signs the person in to the app in this browser. */
async function signInWith(agent: UserAgent, person: { email: string; password: string }): Promise<void> {
  const callback = await signIn(agent, (await authorizationRequest(app)).url, person);
  expect(callback.searchParams.get('code'), callback.href).toBeTruthy();
}

/** A fresh browser holding nothing but a copy of these known-device cookies. */
function browserWith(cookies: Map<string, string>): UserAgent {
  const agent = new UserAgent(mailing.server.issuer);
  for (const name of DEVICE_COOKIES) agent.cookies.set(name, cookies.get(name)!);
  return agent;
}

function deviceCookiesOf(agent: UserAgent): Map<string, string> {
  expect(agent.cookies.get('gh_device'), 'the sign-in remembered the browser').toBeDefined();
  return new Map(DEVICE_COOKIES.map((name) => [name, agent.cookies.get(name)!]));
}

/** How many new-browser notices the person has been mailed so far. */
async function newBrowserNotices(email: string): Promise<number> {
  await mailing.deliver();
  return mailing.mailsTo(email).filter((mail) => mail.subject === NEW_SIGN_IN).length;
}

describe('a copied known-device cookie', () => {
  it('counts as a known browser within 180 days of the sign-in that wrote it, and as a new one after', async () => {
    const person = await createPerson(mailing.server);
    const original = new UserAgent(mailing.server.issuer);
    await signInWith(original, person);
    expect(await newBrowserNotices(person.email)).toBe(1);
    const copied = deviceCookiesOf(original);

    mailing.advance(10 * DAY_MS);
    await signInWith(browserWith(copied), person);
    expect(await newBrowserNotices(person.email), 'day 10: a known browser').toBe(1);

    mailing.advance(169 * DAY_MS);
    await signInWith(browserWith(copied), person);
    expect(await newBrowserNotices(person.email), 'day 179: a known browser').toBe(1);

    mailing.advance(21 * DAY_MS);
    await signInWith(browserWith(copied), person);
    expect(await newBrowserNotices(person.email), 'day 200: a new browser').toBe(2);
  });

  it('is not kept fresh by signing in to another account with it', async () => {
    const person = await createPerson(mailing.server);
    const copier = await createPerson(mailing.server);
    const original = new UserAgent(mailing.server.issuer);
    await signInWith(original, person);
    const copy = browserWith(deviceCookiesOf(original));

    // The copier signs in to their own account with the copy: the cookie is written again.
    mailing.advance(170 * DAY_MS);
    await signInWith(copy, copier);
    mailing.advance(30 * DAY_MS);
    await signInWith(copy, person);
    expect(await newBrowserNotices(person.email), 'the person\'s own sign-in there was 200 days ago').toBe(2);
  });

  it('is refreshed by each sign-in of the same account in that browser', async () => {
    const person = await createPerson(mailing.server);
    const browser = new UserAgent(mailing.server.issuer);
    await signInWith(browser, person);
    mailing.advance(150 * DAY_MS);
    await signInWith(browser, person);
    mailing.advance(150 * DAY_MS);
    await signInWith(browser, person);
    expect(await newBrowserNotices(person.email), 'last signed in there 150 days before').toBe(1);
  });
});

describe('a cookie of the first format, without times', () => {
  it('counts as a new browser once (it could be any age), and the sign-in makes it known again', async () => {
    const { server } = mailing;
    const person = await createPerson(server);
    const tag = keyedDigest(server.config.secrets.keyEncryptionKey, 'known devices', 16)(normaliseEmail(person.email));
    const old = await signedCookie(server.config.secrets.cookieKeys, 'gh_device', `${'A'.repeat(22)}.${tag}`);
    const browser = browserWith(old);

    await signInWith(browser, person);
    expect(await newBrowserNotices(person.email)).toBe(1);
    expect(browser.cookies.get('gh_device')).toMatch(/^v2\./);
    await signInWith(browser, person);
    expect(await newBrowserNotices(person.email)).toBe(1);
  });
});

/** A cookie signed with these keys the way Koa signs Gatehouse's (its `.sig` companion included). */
async function signedCookie(keys: string[], name: string, value: string): Promise<Map<string, string>> {
  const signer = new Koa({ keys });
  signer.use((ctx) => {
    ctx.cookies.set(name, value, { signed: true });
    ctx.status = 204;
  });
  const listener = http.createServer(signer.callback());
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  try {
    const res = await fetch(`http://127.0.0.1:${(listener.address() as AddressInfo).port}/`);
    return new Map(res.headers.getSetCookie().map((line) => {
      const pair = line.split(';')[0]!;
      const eq = pair.indexOf('=');
      return [pair.slice(0, eq), pair.slice(eq + 1)] as [string, string];
    }));
  } finally {
    await new Promise((resolve) => listener.close(resolve));
  }
}
