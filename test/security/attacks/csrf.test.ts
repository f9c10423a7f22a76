// CSRF on the logout confirmation and on cancelling a sign-in.
// The target (Gatehouse, its apps, a person, the example API) and the helpers are in ./target.ts.
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerson, obtainTokens, type App } from '../../support/flows.js';
import type { TestServer } from '../../support/gatehouse.js';
import { formOf, UserAgent } from '../../support/user-agent.js';
import {
  expectErrorPage, FORM, isSignedIn, POST_LOGOUT, REDIRECT, startAttackTarget, type AttackTarget,
  type Person,
} from './target.js';

let target: AttackTarget;
let server: TestServer;
let app: App;
let person: Person;

beforeAll(async () => {
  target = await startAttackTarget();
  ({ server, app, person } = target);
});

afterAll(async () => {
  await target?.stop();
});

describe('CSRF on the logout confirmation', () => {
  async function openLogout(agent: UserAgent, idToken: string) {
    const page = await agent.request(`${server.issuer}/session/end?${new URLSearchParams({ id_token_hint: idToken, post_logout_redirect_uri: POST_LOGOUT })}`);
    expect(page.status).toBe(200);
    const form = /<form id="op\.logoutForm" method="post" action="([^"]+)">([\s\S]*?)<\/form>/.exec(page.body)!;
    return { action: new URL(form[1]!, server.issuer).href, xsrf: /name="xsrf" value="([^"]+)"/.exec(form[2]!)![1]! };
  }

  it('a confirmation without the xsrf value is refused and the person stays signed in', async () => {
    const { tokens, agent } = await obtainTokens(server, app, person);
    const { action } = await openLogout(agent, tokens.id_token!);
    const res = await agent.request(action, { form: { logout: 'yes' } });
    expectErrorPage(res, 400);
    expect(res.headers.get('location')).toBeNull();
    expect(await isSignedIn(agent)).toBe(true);
  });

  it('a confirmation carrying another browser\'s xsrf value is refused and the person stays signed in', async () => {
    const attacker = await obtainTokens(server, app, await createPerson(server));
    const attackerForm = await openLogout(attacker.agent, attacker.tokens.id_token!);
    const victim = await obtainTokens(server, app, person);
    const { action } = await openLogout(victim.agent, victim.tokens.id_token!);
    const res = await victim.agent.request(action, { form: { xsrf: attackerForm.xsrf, logout: 'yes' } });
    expectErrorPage(res, 400);
    expect(res.headers.get('location')).toBeNull();
    expect(await isSignedIn(victim.agent)).toBe(true);
    // The attacker's own confirmation still works for the attacker: the value is per session.
    const done = await attacker.agent.request(attackerForm.action, { form: { xsrf: attackerForm.xsrf, logout: 'yes' } });
    expect(done.status).toBe(303);
  });

  it('a cross-site confirmation (no cookies: SameSite=Lax keeps them home) signs nobody out', async () => {
    const { tokens, agent } = await obtainTokens(server, app, person);
    const { action, xsrf } = await openLogout(agent, tokens.id_token!);
    const res = await fetch(action, { method: 'POST', headers: { 'content-type': FORM, accept: 'text/html', origin: 'https://evil.example.test' }, body: new URLSearchParams({ xsrf, logout: 'yes' }), redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(await isSignedIn(agent)).toBe(true);
  });
});

describe('CSRF on cancelling a sign-in', () => {
  it('an abort carrying another browser\'s token is refused, and the sign-in can still finish', async () => {
    const other = new UserAgent(server.issuer);
    const otherPage = await other.follow((await client.buildAuthorizationUrl(app.config, {
      redirect_uri: REDIRECT, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', state: 'x',
    })).href);
    const otherToken = formOf(otherPage.body, /\/login$/).csrf;

    const agent = new UserAgent(server.issuer);
    const page = await agent.follow((await client.buildAuthorizationUrl(app.config, {
      redirect_uri: REDIRECT, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', state: 'y',
    })).href);
    const abortAction = new URL(/action="([^"]*\/abort)"/.exec(page.body)![1]!, page.url).href;
    const res = await agent.request(abortAction, { form: { csrf: otherToken } });
    expectErrorPage(res, 403);
    expect(res.headers.get('location')).toBeNull();

    const login = formOf(page.body, /\/login$/);
    const done = await agent.follow(new URL(login.action, page.url).href, { form: { csrf: login.csrf, email: person.email, password: person.password } });
    expect(done.leftTo ?? done.body).toMatch(/code=|name="decision"/);
  });
});
