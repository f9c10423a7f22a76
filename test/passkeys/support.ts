// What the passkey browser tests share: pages with Chromium's virtual authenticator (DevTools
// protocol WebAuthn domain) standing in for a platform authenticator with resident keys and user
// verification, and the steps a person takes on them.
import * as client from 'openid-client';
import type { CDPSession, Page } from 'playwright-core';
import { sentTo, type SeparateBrowsers } from '../support/browser.js';
import type { App, AuthorizationRequest } from '../support/flows.js';

export interface Authenticator {
  cdp: CDPSession;
  id: string;
}

type Person = { email: string; password: string };

export class PasskeyPages {
  /** `issuer` and `app` are read when a step runs: the tests set them up in beforeAll. */
  constructor(private readonly browsers: SeparateBrowsers, private readonly issuer: () => string, private readonly app: () => App) {}

  /**
   * A page with its own authenticator. Chromium's virtual authenticator answers an autofill request
   * at once, as if the person had picked the passkey among the email field's suggestions, which
   * would sign in without the password: `autofill: 'off'` keeps the sign-in page from offering it;
   * 'unless-asked' offers it unless the page's sessionStorage holds `no-autofill`.
   */
  newPage = async (autofill: 'off' | 'unless-asked'): Promise<{ page: Page; authenticator: Authenticator }> => {
    const page = await this.browsers.newPage();
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
    await page.addInitScript((always) => {
      const pkc = (globalThis as unknown as { PublicKeyCredential?: { isConditionalMediationAvailable?: unknown } }).PublicKeyCredential;
      const asked = (globalThis as unknown as { sessionStorage: { getItem(key: string): string | null } }).sessionStorage.getItem('no-autofill');
      if (pkc && (always || asked)) pkc.isConditionalMediationAvailable = () => Promise.resolve(false);
    }, autofill === 'off');
    // The app's callback is not served by anything: the tests read the code off the request (sentTo).
    await page.route(`${this.app().redirectUri}**`, (route) => route.fulfill({ status: 200, contentType: 'text/plain', body: 'back at the app' }));
    return { page, authenticator: { cdp, id: authenticatorId } };
  };

  passwordSignIn = async (page: Page, person: Person): Promise<void> => {
    await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
    await page.getByLabel('Email').fill(person.email);
    await page.getByLabel('Password').fill(person.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  };

  /** Signs in with the password on the way to the passkeys page (no second factor yet), and adds a passkey named `name` there. */
  enrol = async (page: Page, person: Person, name: string): Promise<void> => {
    await page.goto(`${this.issuer()}/account/passkeys`);
    await this.passwordSignIn(page, person);
    await page.waitForURL(`${this.issuer()}/account/passkeys`);
    await this.addPasskey(page, name);
  };

  addPasskey = async (page: Page, name: string): Promise<void> => {
    await page.getByLabel('Name it').fill(name);
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.waitForURL(`${this.issuer()}/account/passkeys?notice=passkey-added`);
  };

  signOut = async (page: Page): Promise<void> => {
    await page.goto(`${this.issuer()}/session/end`);
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.getByRole('heading', { name: 'You are signed out' }).waitFor();
  };

  /** Allows the app on the consent page; the app exchanges its code and reads the ID token. */
  backAtTheApp = async (page: Page, request: AuthorizationRequest) => {
    const app = this.app();
    const callback = await sentTo(page, app.redirectUri, () => page.getByRole('button', { name: 'Allow' }).click());
    const tokens = await client.authorizationCodeGrant(app.config, callback, {
      pkceCodeVerifier: request.codeVerifier, expectedState: request.state, expectedNonce: request.nonce,
    });
    return tokens.claims()!;
  };
}
