// Attacks on the mailed-link pages (src/recovery): forged forms (CSRF) that would mail a link,
// set a password or mark a browser known; SQL injection and malformed input in the address and
// the token; a token of one purpose or person used for another. Neutral answers, single use and
// expiry are in test/recovery/; this file is what an attacker crafts by hand.
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OneTimeLinks, type LinkPurpose } from '../../../src/links/store.js';
import { OUTBOX_TABLE } from '../../../src/outbox/store.js';
import { createPerson } from '../../support/flows.js';
import type { TestServer } from '../../support/gatehouse.js';
import { formOf, UserAgent, type Response as AgentResponse } from '../../support/user-agent.js';
import {
  DATABASE_ERROR, expectErrorPage, INJECTED_SQL, SQL_INJECTION, sqlTextsSentBy, startAttackTarget, type AttackTarget, type Person,
} from './target.js';

const NEW_PASSWORD = 'lantern orchard velvet compass';

let target: AttackTarget;
let server: TestServer;
let victim: Person;
let links: OneTimeLinks;
let sqlSent: string[];

beforeAll(async () => {
  target = await startAttackTarget({ TRUST_PROXY: 'true' });
  server = target.server;
  victim = target.person;
  links = new OneTimeLinks(server.db);
  sqlSent = sqlTextsSentBy(server);
});
afterAll(async () => { await target?.stop(); });

/** A link as the mail would carry it, issued straight into the store. */
async function issued(purpose: LinkPurpose, person: Person = victim): Promise<string> {
  return server.db.transaction(async (trx) => (await links.issue(trx as Knex.Transaction, { purpose, userId: person.id, email: person.email, ttlSeconds: 600 })).token);
}

async function outboxRows(): Promise<number> {
  const [row] = await server.db(OUTBOX_TABLE).count<Array<{ count: string | number }>>({ count: '*' });
  return Number(row!.count);
}

/** A browser of its own with a form token, from an address of its own. */
async function browserWithToken(): Promise<{ agent: UserAgent; csrf: string; from: string }> {
  const agent = new UserAgent(server.issuer);
  const from = `192.0.2.${1 + Math.floor(Math.random() * 250)}`;
  const page = await agent.request(`${server.issuer}/recover`, { headers: { 'x-forwarded-for': from } });
  return { agent, csrf: formOf(page.body, /\/recover$/).csrf, from };
}

describe('forged forms', () => {
  it('without the form token, or with another browser\'s, mail nothing, set nothing and spend no link', async () => {
    const recovery = await issued('recovery');
    const signIn = await issued('sign_in');
    const victimBrowser = await browserWithToken();
    const attacker = await browserWithToken();
    const before = await outboxRows();
    const forms: Array<[string, Record<string, string>]> = [
      ['/recover', { email: victim.email }],
      ['/sign-in-link', { email: victim.email }],
      ['/recover/new-password', { token: recovery, new_password: NEW_PASSWORD, sign_out_everywhere: 'yes' }],
      ['/sign-in-link/confirm', { token: signIn }],
    ];
    for (const [path, form] of forms) {
      for (const csrf of [undefined, attacker.csrf]) {
        const res = await victimBrowser.agent.request(`${server.issuer}${path}`, { form: { ...form, ...(csrf ? { csrf } : {}) } });
        expectErrorPage(res, 403);
        expect(res.body).toContain('This form has expired');
      }
    }
    expect(await outboxRows()).toBe(before);
    expect((await server.stores.users.authenticate(victim.email, victim.password)).ok).toBe(true);
    expect(await links.find(recovery, 'recovery')).toBeDefined();
    expect(await links.find(signIn, 'sign_in')).toBeDefined();
    expect(victimBrowser.agent.cookies.has('gh_device')).toBe(false);
  });
});

describe('crafted input', () => {
  function expectNoDatabaseError(res: AgentResponse, statuses: number[]) {
    expectPage(res, statuses);
    expect(res.body).not.toMatch(DATABASE_ERROR);
    expect(sqlSent.filter((sql) => INJECTED_SQL.test(sql)), `${res.url}: a payload became SQL`).toEqual([]);
  }

  function expectPage(res: AgentResponse, statuses: number[]) {
    expect(statuses, `${res.status}: ${res.body.slice(0, 300)}`).toContain(res.status);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  }

  it.each(SQL_INJECTION)('%j as the address, the token and the sign-in id: a page, never a 5xx', async (payload) => {
    const { agent, csrf, from } = await browserWithToken();
    const headers = { 'x-forwarded-for': from };
    expectNoDatabaseError(await agent.request(`${server.issuer}/recover`, { form: { csrf, email: payload, interaction: payload }, headers }), [400]);
    expectNoDatabaseError(await agent.request(`${server.issuer}/sign-in-link`, { form: { csrf, email: `${payload}@example.test`, interaction: payload }, headers }), [200, 400]);
    expectNoDatabaseError(await agent.request(`${server.issuer}/recover/new-password?${new URLSearchParams({ token: payload, interaction: payload })}`), [410]);
    expectNoDatabaseError(await agent.request(`${server.issuer}/sign-in-link?${new URLSearchParams({ token: payload })}`), [410]);
    expectNoDatabaseError(await agent.request(`${server.issuer}/recover/new-password`, { form: { csrf, token: payload, new_password: payload } }), [410]);
    expectNoDatabaseError(await agent.request(`${server.issuer}/sign-in-link/confirm`, { form: { csrf, token: payload } }), [410]);
  });

  it('refuses repeated fields, an oversized form and a NUL in the address with a 4xx', async () => {
    const { agent, csrf } = await browserWithToken();
    const token = await issued('recovery');
    const twice = await agent.request(`${server.issuer}/recover/new-password?token=${token}&token=${token}`);
    expect(twice.status).toBe(410);
    const nul = await agent.request(`${server.issuer}/recover`, { form: { csrf, email: `${victim.email}\u0000` } });
    expect(nul.status).toBe(400);
    const huge = await agent.request(`${server.issuer}/recover`, { form: { csrf, email: 'a'.repeat(40 * 1024) } });
    expect(huge.status).toBe(413);
    expect(await links.find(token, 'recovery')).toBeDefined();
  });

  it('a link of one purpose does nothing as another, and a link of one person is no one else\'s', async () => {
    const { agent, csrf } = await browserWithToken();
    const signIn = await issued('sign_in');
    const asRecovery = await agent.request(`${server.issuer}/recover/new-password`, { form: { csrf, token: signIn, new_password: NEW_PASSWORD } });
    expect(asRecovery.status).toBe(410);
    const recovery = await issued('recovery');
    const asSignIn = await agent.request(`${server.issuer}/sign-in-link/confirm`, { form: { csrf, token: recovery } });
    expect(asSignIn.status).toBe(410);
    expect((await server.stores.users.authenticate(victim.email, victim.password)).ok).toBe(true);

    // The token names its person: no field of the form can point it at another.
    const other = await createPerson(server);
    const forOther = await issued('recovery', other);
    const set = await agent.request(`${server.issuer}/recover/new-password`, { form: { csrf, token: forOther, new_password: NEW_PASSWORD, username: victim.email, email: victim.email } });
    expect(set.status).toBe(303);
    expect((await server.stores.users.authenticate(victim.email, victim.password)).ok).toBe(true);
    expect((await server.stores.users.authenticate(other.email, NEW_PASSWORD)).ok).toBe(true);
  });
});
