// Driving the admin console over HTTP as an admin's browser would: sign in through the normal
// login page, then read pages and submit their forms (with the CSRF token each form carries).
import { expect } from 'vitest';
import { PASSWORD } from '../../support/flows.js';
import type { TestServer } from '../../support/gatehouse.js';
import { formOf, UserAgent, type Response } from '../../support/user-agent.js';

let counter = 0;

/** A human admin, as `gatehouse user create … --admin` makes one. */
export async function createAdmin(server: TestServer, overrides: { email?: string; name?: string } = {}) {
  counter += 1;
  const email = overrides.email ?? `admin${counter}.${Date.now()}@example.test`;
  const user = await server.stores.users.create({ email, name: overrides.name ?? `Admin ${counter}`, password: PASSWORD, emailVerified: true, isAdmin: true });
  return { ...user, password: PASSWORD };
}

/**
 * Opens a console page in a new browser: sent to sign in, signs in, and is brought back to the
 * page. Returns the browser, the page it landed on, and a CSRF token of this browser.
 */
export async function signInToConsole(server: TestServer, person: { email: string; password: string }, path = '/admin/people'): Promise<{ agent: UserAgent; page: Response; csrf: string }> {
  const agent = new UserAgent(server.issuer);
  const login = await agent.follow(`${server.issuer}${path}`);
  expect(login.url, login.body.slice(0, 300)).toMatch(/\/interaction\//);
  const form = formOf(login.body, /\/login$/);
  const page = await agent.follow(new URL(form.action, login.url).href, { form: { csrf: form.csrf, email: person.email, password: person.password } });
  // The login form's token is good for every form of this browser (one CSRF secret per browser).
  return { agent, page, csrf: form.csrf };
}

/** A page's form (by its action), ready to submit with more fields. */
export async function openForm(agent: UserAgent, url: string, action: RegExp): Promise<{ action: string; csrf: string; page: Response }> {
  const page = await agent.request(url);
  expect(page.status, page.body.slice(0, 500)).toBe(200);
  const form = formOf(page.body, action);
  return { action: new URL(form.action, url).href, csrf: form.csrf, page };
}

/** Submits a form found on a page; returns the answer (not following its redirect). */
export async function submit(agent: UserAgent, url: string, action: RegExp, fields: Record<string, string> = {}): Promise<Response> {
  const form = await openForm(agent, url, action);
  return agent.request(form.action, { form: { csrf: form.csrf, ...fields } });
}

/** Where a 303 sends the browser, as a path with its query. */
export function locationOf(res: Response): string {
  expect(res.status, res.body.slice(0, 500)).toBe(303);
  const location = new URL(res.headers.get('location')!, res.url);
  return `${location.pathname}${location.search}`;
}

/** The visible text of a page, tags dropped and entities decoded, for asserting what people read. */
export function textOf(html: string): string {
  return html
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#39;/g, "'").replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ');
}
