// EMAIL_VERIFICATION=false, for a server that may send no mail at all: nothing offers a
// verification link, every way of asking for one is refused plainly (409) with nothing written to
// the outbox, people cannot change their own address, and an administrator's change leaves the
// new address unverified without mailing anyone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { signInToAccount } from '../account/support.js';
import { adminApi, type AdminApiClient } from '../admin/api/support.js';

let server: TestServer;
let api: AdminApiClient;

beforeAll(async () => {
  server = await startTestServer({ EMAIL_VERIFICATION: 'false' });
  api = await adminApi(server);
});
afterAll(async () => {
  await server?.stop();
});

let counter = 0;
async function unverifiedPerson() {
  counter += 1;
  const email = `off${counter}.${Date.now()}@example.test`;
  const user = await server.stores.users.create({ email, name: `Off ${counter}`, password: PASSWORD });
  return { ...user, password: PASSWORD };
}

const outboxRows = async () => Number((await server.testDb.db('outbox').count<Array<{ count: string }>>({ count: '*' }))[0]!.count);

describe('with EMAIL_VERIFICATION=false', () => {
  it('offers no link on the account pages and refuses one asked for anyway, mailing nothing', async () => {
    const person = await unverifiedPerson();
    const { agent, page } = await signInToAccount(server, person, '/account/email');
    // Signing in from a new browser has its own notice (EMAIL_NOTIFICATIONS); counted from here on.
    const before = await outboxRows();
    expect(page.body).toContain('id="verification-off"');
    expect(page.body).not.toContain('/account/email/verify');
    expect(page.body).not.toContain('Change my address');
    // The forms a stale page (or a hand-made request) would post: refused all the same.
    const csrf = /name="csrf" value="([^"]+)"/.exec((await agent.request(`${server.issuer}/account/password`)).body)![1]!;
    const asked = await agent.request(`${server.issuer}/account/email/verify`, { form: { csrf } });
    expect(asked.status).toBe(409);
    expect(asked.body).toContain('Email verification is off');
    const change = await agent.request(`${server.issuer}/account/email`, { form: { csrf, new_email: `moved.${person.email}`, current_password: PASSWORD } });
    expect(change.status).toBe(409);
    expect((await server.stores.users.findById(person.id))?.email).toBe(person.email);
    expect(await outboxRows()).toBe(before);
  });

  it('refuses the admin API a verification link, and changes an address unverified without mail', async () => {
    const person = await unverifiedPerson();
    const before = await outboxRows();
    expect((await api.post(`/users/${person.id}/verification-mail`)).status).toBe(409);
    expect((await api.post(`/users/${person.id}/email`, { email: `new.${person.email}`, send_verification: true })).status).toBe(409);
    const changed = await api.post(`/users/${person.id}/email`, { email: `new.${person.email}` });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ email: `new.${person.email}`, email_verified: false });
    expect(await outboxRows()).toBe(before);
  });
});
