// What people type where they should not: a password in the sign-in email box, a password in the
// console's search, a wrong current password. None of it may be kept — not in the audit log, not
// in any other table, not in a log line — except an email that names an account, which is kept in
// a failed sign-in's audit entry. An email that names none is kept as a keyed digest, so repeated
// attempts at one value can still be told apart. The target and the helpers are in ./target.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signInToAccount } from '../../account/support.js';
import { adminApi } from '../../admin/api/support.js';
import { createAdmin, signInToConsole } from '../../admin/console/support.js';
import { authorizationRequest } from '../../support/flows.js';
import type { TestServer } from '../../support/gatehouse.js';
import { formOf, UserAgent } from '../../support/user-agent.js';
import { startAttackTarget, type AttackTarget } from './target.js';

let target: AttackTarget;
let server: TestServer;

beforeAll(async () => {
  // Two failures start the delays, so a few attempts reach the throttle's refusal too.
  target = await startAttackTarget({ SIGNIN_MAX_CONSECUTIVE_FAILURES: '2' });
  ({ server } = target);
}, 60_000);

afterAll(async () => { await target?.stop(); });

/** A password-like secret, different each time, that no page, table or log line may hold. */
let typed = 0;
const secret = () => `Hunter2-zebra-${typed += 1}-${Date.now()}-sapphire`;

/** The tables, besides the logs, whose rows hold the text anywhere (any column, any case). */
async function tablesHolding(text: string): Promise<string[]> {
  await server.audit.flush();
  const db = server.testDb.db;
  const { rows } = await db.raw(`select table_name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE'`);
  const found: string[] = [];
  for (const { table_name: table } of rows as Array<{ table_name: string }>) {
    const { rows: [hit] } = await db.raw('select count(*)::int as n from ?? t where position(lower(?) in lower(t::text)) > 0', [table, text]);
    if (hit.n > 0) found.push(table);
  }
  return found;
}

async function expectKeptNowhere(text: string): Promise<void> {
  expect(await tablesHolding(text), text).toEqual([]);
  expect(server.rawLogs.filter((line) => line.toLowerCase().includes(text.toLowerCase())), text).toEqual([]);
}

/** Submits the sign-in form of a fresh authorization request with what was typed. */
async function typeIntoSignIn(email: string, password: string, agent = new UserAgent(server.issuer)) {
  const page = await agent.follow((await authorizationRequest(target.app)).url.href);
  const login = formOf(page.body, /\/login$/);
  return agent.request(new URL(login.action, page.url).href, { form: { csrf: login.csrf, email, password } });
}

async function failedSignIns(): Promise<Array<{ user_id: string | null; details: Record<string, unknown> }>> {
  await server.audit.flush();
  return server.db('audit_events').where({ type: 'sign_in.failed' }).orderBy('id');
}

describe('the sign-in email box', () => {
  it('a password typed as the email is not kept: the audit entry holds its keyed digest instead', async () => {
    const typedAsEmail = secret();
    const before = (await failedSignIns()).length;
    expect((await typeIntoSignIn(typedAsEmail, 'whatever was typed next')).status).toBe(401);
    const entries = (await failedSignIns()).slice(before);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ user_id: null, details: { reason: 'unknown_email', emailDigest: expect.stringMatching(/^[\w-]{22}$/) } });
    expect(entries[0]!.details).not.toHaveProperty('email');
    await expectKeptNowhere(typedAsEmail);
  });

  it('the same text typed again (in another case, with spaces) has the same digest; other text another one', async () => {
    const typedAsEmail = secret();
    const before = (await failedSignIns()).length;
    await typeIntoSignIn(typedAsEmail, 'x');
    await typeIntoSignIn(`  ${typedAsEmail.toUpperCase()} `, 'x');
    await typeIntoSignIn(secret(), 'x');
    const [first, again, other] = (await failedSignIns()).slice(before).map((entry) => entry.details.emailDigest);
    expect(first).toBeTruthy();
    expect(again).toBe(first);
    expect(other).not.toBe(first);
  });

  it('an email that names an account is kept, so an operator sees whose sign-ins failed', async () => {
    const other = new UserAgent(server.issuer);
    const before = (await failedSignIns()).length;
    expect((await typeIntoSignIn(target.person.email, secret(), other)).status).toBe(401);
    const [entry] = (await failedSignIns()).slice(before);
    expect(entry).toMatchObject({ user_id: target.person.id, details: { reason: 'wrong_password', email: target.person.email } });
    expect(entry!.details).not.toHaveProperty('emailDigest');
  });

  it('attempts the throttle refuses keep nothing typed either', async () => {
    const typedAsEmail = secret();
    const statuses: number[] = [];
    for (let i = 0; i < 4; i += 1) statuses.push((await typeIntoSignIn(typedAsEmail, secret())).status);
    expect(statuses).toContain(429);
    await expectKeptNowhere(typedAsEmail);
  });
});

describe('the other boxes people type into', () => {
  it('a wrong current password on the account password form is kept nowhere', async () => {
    const { agent } = await signInToAccount(server, target.person);
    const page = await agent.request(`${server.issuer}/account/password`);
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)![1]!;
    const wrong = secret();
    const res = await agent.request(`${server.issuer}/account/password`, { form: { csrf, current_password: wrong, new_password: 'lantern orchard velvet compass' } });
    expect([400, 429]).toContain(res.status);
    await expectKeptNowhere(wrong);
  });

  it('a password typed into the console\'s search and filters is kept nowhere', async () => {
    const { agent } = await signInToConsole(server, await createAdmin(server));
    const typedText = secret();
    for (const query of ['search', 'actor', 'user', 'client', 'since']) {
      const res = await agent.request(`${server.issuer}/admin/${query === 'search' ? 'people' : 'audit'}?${query}=${encodeURIComponent(typedText)}`);
      expect([200, 400], `${query}: ${res.status}`).toContain(res.status);
    }
    await expectKeptNowhere(typedText);
  });

  it('a password typed into the admin API\'s search and filters is kept nowhere', async () => {
    const api = await adminApi(server);
    const typedText = secret();
    for (const path of ['/users?search=', '/audit-events?actor_id=', '/audit-events?user_id=', '/audit-events?client_id=', '/audit-events?since=']) {
      expect((await api.get(`${path}${encodeURIComponent(typedText)}`)).status).toBeLessThan(500);
    }
    await expectKeptNowhere(typedText);
  });
});
