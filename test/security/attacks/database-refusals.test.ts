// The next hole in validation: input that passes every check Gatehouse makes and is then refused
// by PostgreSQL as a data exception (SQLSTATE class 22, as an impossible date in a page cursor
// was). Each surface must answer it as bad input (4xx, its own kind of answer), log it with its
// SQLSTATE and without the value, and change nothing. The hole is stood in for by a trigger that
// refuses every audit entry about one person with 22008, the code 30 February raised.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signInToAccount } from '../../account/support.js';
import { adminApi, type AdminApiClient } from '../../admin/api/support.js';
import { createAdmin, signInToConsole } from '../../admin/console/support.js';
import { refuseAsDataException } from '../../support/database.js';
import { authorizationRequest, createPerson } from '../../support/flows.js';
import type { TestServer } from '../../support/gatehouse.js';
import { formOf, UserAgent } from '../../support/user-agent.js';
import { DATABASE_ERROR, expectErrorPage, startAttackTarget, type AttackTarget } from './target.js';

const QUOTED_VALUE = 'the value 2026-02-30 that was typed';
/** A state an app sends; oidc-provider stores it with the request, and the trigger refuses that. */
const TRIPWIRE_STATE = 'tripwire-state-2026-02-30';

let target: AttackTarget;
let server: TestServer;
let api: AdminApiClient;
let admin: UserAgent;
let adminCsrf: string;
let tripwire: Awaited<ReturnType<typeof createPerson>>;
let tripwireAccount: UserAgent;
let tripwireCsrf: string;

beforeAll(async () => {
  target = await startAttackTarget();
  ({ server } = target);
  api = await adminApi(server);
  ({ agent: admin, csrf: adminCsrf } = await signInToConsole(server, await createAdmin(server)));
  tripwire = await createPerson(server, { name: 'Trip Wire' });
  ({ agent: tripwireAccount } = await signInToAccount(server, tripwire));
  tripwireCsrf = /name="csrf" value="([^"]+)"/.exec((await tripwireAccount.request(`${server.issuer}/account/sessions`)).body)![1]!;
  await refuseAsDataException(server.testDb.db, {
    name: 'refuse_tripwire', table: 'audit_events', event: 'insert', when: `new.user_id = '${tripwire.id}'`, quoted: QUOTED_VALUE,
  });
  await refuseAsDataException(server.testDb.db, {
    name: 'refuse_tripwire_request', table: 'oidc_records', event: 'insert', when: `new.payload::text like '%${TRIPWIRE_STATE}%'`, quoted: QUOTED_VALUE,
  });
}, 60_000);

afterAll(async () => { await target?.stop(); });

/** The warning each refusal must leave: which SQLSTATE, for which request, and not the value. */
function expectLoggedWithoutTheValue(requestId: string | null): void {
  expect(requestId).toBeTruthy();
  const lines = server.logs.filter((line) => line.requestId === requestId);
  expect(lines).toContainEqual(expect.objectContaining({ event: 'input_reached_database', sqlstate: '22008' }));
  expect(lines.some((line) => line.event === 'unhandled_error')).toBe(false);
  expect(server.rawLogs.join('\n')).not.toContain(QUOTED_VALUE);
}

describe('a value PostgreSQL refuses is bad input on every surface, never a 500', () => {
  it('the admin API: 400 invalid_request as JSON, and nothing changed', async () => {
    const res = await api.post(`/users/${tripwire.id}/password`, { password: 'a new and unguessable passphrase 9q2w' });
    expect(res.status, res.text).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_request' });
    expect(res.text).not.toMatch(DATABASE_ERROR);
    expectLoggedWithoutTheValue(res.headers.get('x-request-id'));
    expect((await server.stores.users.authenticate(tripwire.email, tripwire.password)).ok).toBe(true);
  });

  it('the admin console: a 400 console page, and nothing changed', async () => {
    const res = await admin.request(`${server.issuer}/admin/people/${tripwire.id}/disable`, { form: { csrf: adminCsrf } });
    expectErrorPage(res, 400);
    expect(res.body).toContain('Signing keys'); // the console's own navigation
    expect(res.body).not.toMatch(DATABASE_ERROR);
    expectLoggedWithoutTheValue(res.headers.get('x-request-id'));
    expect((await server.stores.users.findById(tripwire.id))?.disabledAt).toBeNull();
  });

  it('the account pages: a friendly 400 page, and nothing changed', async () => {
    const before = (await server.operations.sessions.listSessions(tripwire.id)).items.length;
    const res = await tripwireAccount.request(`${server.issuer}/account/sessions/end-others`, { form: { csrf: tripwireCsrf } });
    expectErrorPage(res, 400);
    expect(res.body).toContain('This page cannot be shown');
    expect(res.body).not.toMatch(DATABASE_ERROR);
    expectLoggedWithoutTheValue(res.headers.get('x-request-id'));
    expect((await server.operations.sessions.listSessions(tripwire.id)).items.length).toBe(before);
  });

  it('the sign-in pages: a friendly 400 page, and no way into the app', async () => {
    const agent = new UserAgent(server.issuer);
    const page = await agent.follow((await authorizationRequest(target.app)).url.href);
    const login = formOf(page.body, /\/login$/);
    const res = await agent.request(new URL(login.action, page.url).href, { form: { csrf: login.csrf, email: tripwire.email, password: tripwire.password } });
    expectErrorPage(res, 400);
    expect(res.headers.get('location')).toBeNull();
    expect(res.body).not.toMatch(DATABASE_ERROR);
    expectLoggedWithoutTheValue(res.headers.get('x-request-id'));
  });

  it('oidc-provider\'s own endpoints: a 400 page at /auth, where the provider answers errors itself', async () => {
    const page = await new UserAgent(server.issuer).request((await authorizationRequest(target.app, { state: TRIPWIRE_STATE })).url.href);
    expectErrorPage(page, 400);
    expect(page.body).not.toMatch(DATABASE_ERROR);
    expectLoggedWithoutTheValue(page.headers.get('x-request-id'));
  });
});
