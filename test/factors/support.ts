// A person with an authenticator app, and the sign-in steps with a second factor, over real HTTP.
import { Secret, TOTP } from 'otpauth';
import { expect } from 'vitest';
import type { TestServer } from '../support/gatehouse.js';
import { formOf, UserAgent, type Response } from '../support/user-agent.js';
import { accountForm } from '../account/support.js';

export interface Authenticator {
  secret: string;
  /** The code the app shows at Gatehouse's clock now (`clock`, ms). */
  code(clock: number): string;
}

export function authenticatorFor(secret: string): Authenticator {
  const totp = new TOTP({ algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(secret) });
  return { secret, code: (clock) => totp.generate({ timestamp: clock }) };
}

/** A form on a page by its action, with its hidden fields, for posting. */
export async function post(agent: UserAgent, page: Response, action: string | RegExp, fields: Record<string, string>): Promise<Response & { leftTo?: string }> {
  const form = typeof action === 'string' ? accountForm(page.body, action) : { action: formOf(page.body, action).action, fields: { csrf: formOf(page.body, action).csrf } };
  return agent.follow(new URL(form.action, page.url).href, { form: { ...form.fields, ...fields } });
}

/**
 * Adds an authenticator app on /account/security as a person would: the secret read off the page
 * (the text under the QR code), the current code typed back. Returns the app and the recovery
 * codes page.
 */
export async function enrolAuthenticator(server: TestServer, agent: UserAgent, clock: number): Promise<{ app: Authenticator; codesPage: Response; recoveryCodes: string[] }> {
  const page = await agent.follow(`${server.issuer}/account/security/authenticator`);
  expect(page.status, page.body.slice(0, 400)).toBe(200);
  expect(page.body).toMatch(/<img src="data:image\/png;base64,/);
  const secret = /<code id="totp-secret">([A-Z2-7 ]+)<\/code>/.exec(page.body)![1]!.replace(/ /g, '');
  const app = authenticatorFor(secret);
  const codesPage = await post(agent, page, '/account/security/authenticator', { code: app.code(clock), name: 'My phone' });
  const recoveryCodes = [...codesPage.body.matchAll(/<li><code>([a-z2-9-]+)<\/code><\/li>/g)].map((m) => m[1]!);
  return { app, codesPage, recoveryCodes };
}
