// People through the admin API: create, find, page through thousands, disable and enable, reset a
// password, delete; and what it answers to input it cannot use.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PasswordHasher } from '../../../src/people/passwords.js';
import { startTestServer, type TestServer, TEST_ARGON2 } from '../../support/gatehouse.js';
import { adminApi, type AdminApiClient } from './support.js';

const PASSWORD = 'a long and unguessable passphrase';
const BULK = 2_500;

let server: TestServer;
let api: AdminApiClient;

beforeAll(async () => {
  server = await startTestServer();
  api = await adminApi(server);
});
afterAll(async () => { await server?.stop(); });

let counter = 0;
async function newPerson(overrides: Record<string, unknown> = {}) {
  counter += 1;
  const res = await api.post('/users', { email: `person${counter}@example.test`, name: `Person ${counter}`, password: PASSWORD, ...overrides });
  expect(res.status, res.text).toBe(201);
  return res.body as { id: string; email: string; name: string };
}

describe('creating a person', () => {
  it('answers 201 with the person and where to find them, never the password or its hash', async () => {
    const res = await api.post('/users', { email: 'ada@example.test', name: 'Ada Lovelace', given_name: 'Ada', family_name: 'Lovelace', password: PASSWORD });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ email: 'ada@example.test', name: 'Ada Lovelace', given_name: 'Ada', family_name: 'Lovelace', email_verified: false, is_admin: false, disabled_at: null });
    expect(res.headers.get('location')).toBe(`${server.issuer}/admin/api/v1/users/${res.body.id}`);
    expect(res.text).not.toContain(PASSWORD);
    expect(res.text).not.toMatch(/argon2|password/);
    expect((await api.get(`/users/${res.body.id}`)).body).toEqual(res.body);
    // And the person can sign in with the password given.
    expect((await server.stores.users.authenticate('ada@example.test', PASSWORD)).ok).toBe(true);
  });

  it('never makes an admin: that is for an operator at the command line', async () => {
    const res = await api.post('/users', { email: 'sneaky@example.test', name: 'Sneaky', password: PASSWORD, is_admin: true });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_request', field: 'is_admin' });
    expect(await server.stores.users.findByEmail('sneaky@example.test')).toBeUndefined();
  });

  it('never marks an address verified: only the person following a mailed link does', async () => {
    const res = await api.post('/users', { email: 'claimed@example.test', name: 'Claimed', password: PASSWORD, email_verified: true });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_request', field: 'email_verified' });
    expect(await server.stores.users.findByEmail('claimed@example.test')).toBeUndefined();
  });

  it('answers 409 for an email already taken, in any case', async () => {
    await newPerson({ email: 'taken@example.test' });
    const res = await api.post('/users', { email: 'TAKEN@example.test', name: 'Again', password: PASSWORD });
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ error: 'conflict', field: 'email' });
  });

  it.each([
    ['a missing email', { name: 'X', password: PASSWORD }, 'email'],
    ['an email that is not one', { email: 'not an email', name: 'X', password: PASSWORD }, 'email'],
    ['an empty name', { email: 'x1@example.test', name: '', password: PASSWORD }, 'name'],
    ['a name that is a number', { email: 'x2@example.test', name: 42, password: PASSWORD }, 'name'],
    ['a guessable password', { email: 'x3@example.test', name: 'X', password: 'password123' }, 'password'],
    ['a 129-character password', { email: 'x4@example.test', name: 'X', password: 'x'.repeat(129) }, 'password'],
    ['a NUL in the name', { email: 'x5@example.test', name: 'A\u0000B', password: PASSWORD }, 'name'],
  ])('answers 400 naming the field for %s', async (_, body, field) => {
    const res = await api.post('/users', body);
    expect(res.status, res.text).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_request', field });
    expect(res.body.error_description.length).toBeGreaterThan(5);
  });

  it('takes JSON only: 415 for a form or no content type, 400 for malformed JSON or not an object, 413 when large', async () => {
    const form = await api.call('POST', '/users', { raw: new URLSearchParams({ email: 'f@example.test', name: 'F', password: PASSWORD }).toString(), contentType: 'application/x-www-form-urlencoded' });
    expect(form.status).toBe(415);
    expect(form.body.error).toBe('unsupported_media_type');
    expect((await api.call('POST', '/users', { raw: '{"email":"t@example.test"}', contentType: 'text/plain' })).status).toBe(415);
    expect((await api.call('POST', '/users', {})).status).toBe(415);
    const broken = await api.call('POST', '/users', { raw: '{"email": "b@example.test",', contentType: 'application/json' });
    expect(broken.status).toBe(400);
    expect(broken.body.error).toBe('invalid_request');
    expect((await api.call('POST', '/users', { raw: '"just a string"', contentType: 'application/json' })).status).toBe(400);
    expect((await api.call('POST', '/users', { raw: '[1,2,3]', contentType: 'application/json' })).status).toBe(400);
    const nested = '{"a":'.repeat(5000) + '1' + '}'.repeat(5000);
    expect((await api.call('POST', '/users', { raw: nested, contentType: 'application/json' })).status).toBe(400);
    // A body that does not decompress as its Content-Encoding says: the caller's fault, said so.
    for (const encoding of ['gzip', 'deflate', 'br']) {
      const corrupt = await api.call('POST', '/users', { raw: '{"email":"z@example.test"}', contentType: 'application/json', headers: { 'content-encoding': encoding } });
      expect(corrupt.status, encoding).toBe(400);
      expect(corrupt.body.error, encoding).toBe('invalid_request');
    }
    // Bytes that are not UTF-8 are read as U+FFFD: data, never an error.
    const bytes = Buffer.concat([Buffer.from('{"email":"utf8@example.test","name":"Bad '), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from(`","password":"${PASSWORD}"}`)]);
    const badUtf8 = await api.call('POST', '/users', { raw: bytes, contentType: 'application/json' });
    expect(badUtf8.status).toBe(201);
    expect(badUtf8.body.name).toMatch(/^Bad \uFFFD/);
    const large = await api.post('/users', { email: 'l@example.test', name: 'x'.repeat(100_000), password: PASSWORD });
    expect(large.status).toBe(413);
    expect(large.body.error).toBe('payload_too_large');
  });
});

describe('finding people', () => {
  it('answers 404 for an unknown id and for anything that cannot be an id', async () => {
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid', '1', 'ada@example.test', '%00']) {
      const res = await api.get(`/users/${id}`);
      expect(res.status, id).toBe(404);
      expect(res.body.error).toBe('not_found');
    }
  });

  it('searches by the start of an email or a name, in any case', async () => {
    const grace = await newPerson({ email: 'grace.hopper@navy.example.test', name: 'Grace Hopper' });
    for (const search of ['grace.h', 'GRACE', 'Grace Hop']) {
      const res = await api.get(`/users?search=${encodeURIComponent(search)}`);
      expect(res.status).toBe(200);
      expect(res.body.items.map((u: { id: string }) => u.id), search).toEqual([grace.id]);
    }
    // Pattern characters are taken literally, and the middle of a word does not match.
    for (const search of ['%', '_race', 'hopper', 'navy']) {
      expect((await api.get(`/users?search=${encodeURIComponent(search)}`)).body.items, search).toEqual([]);
    }
  });

  it.each([
    ['limit=0'], ['limit=201'], ['limit=abc'], ['limit=1.5'], ['limit=1&limit=2'], ['cursor=not-a-cursor'], ['cursor=' + Buffer.from('["x","y"]').toString('base64url')], ['search=' + 'a'.repeat(255)],
  ])('answers 400 to %s', async (query) => {
    const res = await api.get(`/users?${query}`);
    expect(res.status, res.text).toBe(400);
    expect(res.body.error).toBe('invalid_request');
  });

  it(`pages through ${BULK} people: each exactly once, oldest first, with and without a search`, async () => {
    // One INSERT for all of them, sharing one creation time: the page boundaries fall inside ties.
    const hash = await new PasswordHasher(TEST_ARGON2).hash(PASSWORD);
    await server.db.raw(
      `insert into users (email, name, password_hash, created_at)
       select 'bulk' || lpad(g::text, 5, '0') || '@example.test', 'Bulk ' || g, ?, now() from generate_series(1, ?) g`,
      [hash, BULK],
    );
    const total = Number((await server.db('users').count<Array<{ count: string }>>({ count: '*' }))[0]!.count);

    async function all(query: string, limit: number): Promise<string[]> {
      const ids: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res: { status: number; body: { items: Array<{ id: string }>; next_cursor: string | null } } = await api.get(`/users?limit=${limit}${query}${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.status).toBe(200);
        expect(res.body.items.length).toBeLessThanOrEqual(limit);
        ids.push(...res.body.items.map((u) => u.id));
        cursor = res.body.next_cursor;
        pages += 1;
      } while (cursor);
      expect(pages).toBe(Math.max(1, Math.ceil(ids.length / limit)));
      return ids;
    }

    const everyone = await all('', 200);
    expect(everyone).toHaveLength(total);
    expect(new Set(everyone).size).toBe(total);
    const inOrder = await server.db('users').select('id').orderBy([{ column: 'created_at' }, { column: 'id' }]);
    expect(everyone).toEqual(inOrder.map((row: { id: string }) => row.id));

    const bulk = await all('&search=BULK', 97);
    expect(bulk).toHaveLength(BULK);
    expect(new Set(bulk).size).toBe(BULK);
    const someBulk = await all('&search=bulk0001', 3); // bulk00010 to bulk00019
    expect(someBulk).toHaveLength(10);
  });
});

describe('changing a person', () => {
  it('disables and enables, and 404s for someone who is not there', async () => {
    const person = await newPerson();
    const disabled = await api.post(`/users/${person.id}/disable`);
    expect(disabled.status).toBe(200);
    expect(disabled.body.disabled_at).toEqual(expect.any(String));
    expect((await server.stores.users.authenticate(person.email, PASSWORD)).ok).toBe(false);
    const enabled = await api.post(`/users/${person.id}/enable`);
    expect(enabled.body.disabled_at).toBeNull();
    expect((await server.stores.users.authenticate(person.email, PASSWORD)).ok).toBe(true);
    expect((await api.post('/users/00000000-0000-4000-8000-000000000000/disable')).status).toBe(404);
    expect((await api.post('/users/nobody/enable')).status).toBe(404);
  });

  it('sets a new password, checked like at creation', async () => {
    const person = await newPerson();
    const weak = await api.post(`/users/${person.id}/password`, { password: 'qwertyuiop' });
    expect(weak.status).toBe(400);
    expect(weak.body.field).toBe('password');
    const res = await api.post(`/users/${person.id}/password`, { password: 'another fine passphrase entirely', end_sessions: false });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ sessions_ended: 0, grants_revoked: 0 });
    expect((await server.stores.users.authenticate(person.email, 'another fine passphrase entirely')).ok).toBe(true);
    expect((await server.stores.users.authenticate(person.email, PASSWORD)).ok).toBe(false);
    expect((await api.post(`/users/${person.id}/password`, { password: 'another fine passphrase entirely', end_sessions: 'no' })).status).toBe(400);
    expect((await api.post('/users/00000000-0000-4000-8000-000000000000/password', { password: 'another fine passphrase entirely' })).status).toBe(404);
  });

  it('renames a person: omitted names stay, an empty or null one goes, checked like at creation, audited only when something changed', async () => {
    const person = await newPerson({ given_name: 'Given', family_name: 'Family' });
    const renamed = await api.patch(`/users/${person.id}`, { name: 'Renamed Person', given_name: null });
    expect(renamed.status, renamed.text).toBe(200);
    expect(renamed.body).toMatchObject({ name: 'Renamed Person', given_name: null, family_name: 'Family' });
    expect((await api.get(`/users/${person.id}`)).body).toEqual(renamed.body);
    expect((await api.patch(`/users/${person.id}`, { family_name: '' })).body).toMatchObject({ name: 'Renamed Person', family_name: null });
    // The same names again change nothing, and are not audited.
    expect((await api.patch(`/users/${person.id}`, { name: 'Renamed Person' })).status).toBe(200);
    const audited = (await api.get(`/audit-events?user_id=${person.id}&type=user.profile_updated`)).body.items;
    // Which names changed, never the names: the append-only log must not outlive an erased account's.
    expect(audited.map((e: { details: unknown }) => e.details)).toEqual([{ changed: ['family_name'] }, { changed: ['name', 'given_name'] }]);

    const empty = await api.patch(`/users/${person.id}`, { name: '   ' });
    expect(empty.status).toBe(400);
    expect(empty.body).toMatchObject({ error: 'invalid_request', field: 'name' });
    expect((await api.patch(`/users/${person.id}`, { name: 'x'.repeat(201) })).status).toBe(400);
    expect((await api.patch(`/users/${person.id}`, { email: 'elsewhere@example.test' })).status).toBe(400);
    expect((await api.patch('/users/00000000-0000-4000-8000-000000000000', { name: 'Nobody' })).status).toBe(404);
  });

  it('deletes a person, after which they are not found', async () => {
    const person = await newPerson();
    expect((await api.delete(`/users/${person.id}`)).status).toBe(204);
    expect((await api.get(`/users/${person.id}`)).status).toBe(404);
    expect((await api.delete(`/users/${person.id}`)).status).toBe(404);
    expect((await server.stores.users.authenticate(person.email, PASSWORD)).ok).toBe(false);
  });

  it('records each act in the audit log with the automation client that did it', async () => {
    const person = await newPerson();
    await api.post(`/users/${person.id}/disable`);
    await api.post(`/users/${person.id}/enable`);
    await api.delete(`/users/${person.id}`);
    const res = await api.get(`/audit-events?user_id=${person.id}`);
    expect(res.body.items.map((e: { type: string }) => e.type)).toEqual(['user.deleted', 'user.enabled', 'user.disabled', 'user.created']);
    for (const event of res.body.items) {
      expect(event.actor).toEqual({ type: 'client', id: api.admin.clientId });
      expect(event.ip).toMatch(/127\.0\.0\.1/);
    }
  });
});

describe('addresses and methods the API does not have', () => {
  it('answers JSON 404 and 405, never the HTML page', async () => {
    const missing = await api.get('/no-such-thing');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/^application\/json/);
    const wrongMethod = await api.call('PUT', '/users');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toMatch(/GET/);
    expect(wrongMethod.headers.get('allow')).toMatch(/POST/);
    const options = await api.call('OPTIONS', '/users/00000000-0000-4000-8000-000000000000/sessions');
    expect(options.status).toBe(405);
    expect(options.headers.get('allow')).toMatch(/GET.*DELETE|DELETE.*GET/);
  });
});
