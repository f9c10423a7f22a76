// Signing in to the account pages over plain HTTP, as a browser would: /account sends the person
// to the login page and brings them back.
import { expect } from 'vitest';
import type { TestServer } from '../support/gatehouse.js';
import { formOf, UserAgent, type Response } from '../support/user-agent.js';

export interface Person { email: string; password: string }

/** Opens `path`, signs in on the login page it leads to, and returns the page it comes back to. */
export async function signInToAccount(server: TestServer, person: Person, path = '/account', agent = new UserAgent(server.issuer)): Promise<{ agent: UserAgent; page: Response }> {
  const login = await agent.follow(`${server.issuer}${path}`);
  expect(login.url, login.body.slice(0, 300)).toMatch(/\/interaction\//);
  const form = formOf(login.body, /\/login$/);
  const page = await agent.follow(new URL(form.action, login.url).href, { form: { csrf: form.csrf, email: person.email, password: person.password } });
  expect(page.url).toBe(`${server.issuer}${path}`);
  return { agent, page };
}

/** The form on an account page whose action ends with `action`, with its hidden fields. */
export function accountForm(html: string, action: string, match?: (fields: Record<string, string>) => boolean): { action: string; fields: Record<string, string> } {
  const forms = [...html.matchAll(/<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/g)];
  for (const [, formAction, inner] of forms) {
    if (!formAction!.endsWith(action)) continue;
    const fields = Object.fromEntries([...inner!.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map(([, name, value]) => [name!, decode(value!)]));
    if (!match || match(fields)) return { action: formAction!, fields };
  }
  throw new Error(`no form posting to ${action} in:\n${html.slice(0, 600)}`);
}

function decode(value: string): string {
  return value.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}
