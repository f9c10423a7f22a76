import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PASSWORD_LENGTH, PasswordHasher } from '../../src/people/passwords.js';
import { profileChangesOf, standardClaims, UserStore } from '../../src/people/users.js';
import { isGatehouseError } from '../../src/errors.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const OWASP = { memoryKiB: 19456, timeCost: 2, parallelism: 1 };

let testDb: TestDatabase;
let users: UserStore;

beforeAll(async () => {
  testDb = await createTestDatabase();
  users = new UserStore(testDb.db, new PasswordHasher(OWASP));
});

afterAll(async () => {
  await testDb?.destroy();
});

/** The argon2 variant and cost encoded in a PHC string, e.g. "argon2id m=19456 t=2 p=1". */
function parameters(hash: string): string {
  const [, variant, , params] = hash.split('$');
  const byName = Object.fromEntries(params!.split(',').map((kv) => kv.split('=')));
  return `${variant} m=${byName.m} t=${byName.t} p=${byName.p}`;
}

async function storedHash(id: string): Promise<string> {
  const row = await testDb.db('users').where({ id }).first('password_hash');
  return row.password_hash as string;
}

describe('people and passwords', () => {
  it('hashes with argon2id at the configured parameters', async () => {
    const user = await users.create({ email: 'ada@example.test', name: 'Ada', password: 'analytical engine' });
    expect(parameters(await storedHash(user.id))).toBe('argon2id m=19456 t=2 p=1');
  });

  it('finds people by email whatever its case, and refuses a second account for it', async () => {
    await users.create({ email: 'Grace@Example.test', name: 'Grace', password: 'compiler pioneer' });
    expect((await users.findByEmail('grace@example.TEST'))?.name).toBe('Grace');
    await expect(users.create({ email: 'GRACE@example.test', name: 'Other', password: 'another password' }))
      .rejects.toSatisfy((e) => isGatehouseError(e, 'email_taken'));
  });

  it('refuses passwords that are too short or longer than the cap, before hashing', async () => {
    await expect(users.create({ email: 'short@example.test', name: 'S', password: 'seven77' }))
      .rejects.toSatisfy((e) => isGatehouseError(e, 'weak_password'));
    await expect(users.create({ email: 'long@example.test', name: 'L', password: 'x'.repeat(MAX_PASSWORD_LENGTH + 1) }))
      .rejects.toSatisfy((e) => isGatehouseError(e, 'weak_password'));
  });

  it('refuses common and guessable passwords with advice, but not long or unusual ones, and has no composition rules', async () => {
    for (const password of ['password1', '12345678', 'qwertyuiop', 'iloveyou123']) {
      await expect(users.create({ email: `weak-${password}@example.test`, name: 'W', password }), password)
        .rejects.toSatisfy((e) => isGatehouseError(e, 'weak_password') && /common|heavily used|frequently used|guess/i.test(e.message));
    }
    // The person's own email is not a password.
    await expect(users.create({ email: 'margaret.hamilton@example.test', name: 'Margaret Hamilton', password: 'margaret.hamilton@example.test' }))
      .rejects.toSatisfy((e) => isGatehouseError(e, 'weak_password'));
    // Lowercase words only, 64 characters, no digits or symbols: fine.
    const long = 'apollo guidance computer rope memory lunar module descent stage ok'.slice(0, 64);
    await expect(users.create({ email: 'apollo@example.test', name: 'A', password: long })).resolves.toMatchObject({ email: 'apollo@example.test' });
  });

  it('refuses a malformed email with a message for the person', async () => {
    await expect(users.create({ email: 'not an email', name: 'N', password: 'long enough password' }))
      .rejects.toSatisfy((e) => isGatehouseError(e, 'invalid_input') && e.field === 'email');
  });

  it('refuses a name that is not one line of plain text: it goes into mail and pages as written', async () => {
    for (const name of ['Bob\n\nYOUR MAILBOX WILL BE CLOSED', 'Bob \u202Eelpmaxe.live\u202C']) {
      await expect(users.create({ email: 'lines@example.test', name, password: 'long enough password' }), name)
        .rejects.toSatisfy((e) => isGatehouseError(e, 'invalid_input') && e.field === 'name');
    }
    const person = await users.create({ email: 'lines@example.test', name: 'Bob', password: 'long enough password' });
    expect(() => profileChangesOf(person, { familyName: 'Line\nBreak' })).toThrow(/one line/);
  });

  it('authenticates the right password only, and tells unknown email from wrong password only server-side', async () => {
    const alan = await users.create({ email: 'alan@example.test', name: 'Alan', password: 'universal machine' });
    expect(await users.authenticate('alan@example.test', 'universal machine')).toMatchObject({ ok: true });
    expect(await users.authenticate('alan@example.test', 'wrong password')).toEqual({ ok: false, reason: 'wrong_password', userId: alan.id });
    expect(await users.authenticate('nobody@example.test', 'universal machine')).toEqual({ ok: false, reason: 'unknown_email' });
  });

  it('never creates an account at sign-in', async () => {
    const before = await testDb.db('users').count<{ count: number }[]>('* as count');
    await users.authenticate('newcomer@example.test', 'some password');
    const after = await testDb.db('users').count<{ count: number }[]>('* as count');
    expect(after[0]!.count).toBe(before[0]!.count);
  });

  it('refuses a disabled person even with the right password', async () => {
    const user = await users.create({ email: 'disabled@example.test', name: 'D', password: 'right password' });
    await testDb.db('users').where({ id: user.id }).update({ disabled_at: new Date() });
    expect(await users.authenticate('disabled@example.test', 'right password')).toEqual({ ok: false, reason: 'disabled', userId: user.id });
  });

  it('rehashes at sign-in when the parameters have been raised', async () => {
    const user = await users.create({ email: 'rehash@example.test', name: 'R', password: 'stronger later' });
    const stronger = new UserStore(testDb.db, new PasswordHasher({ ...OWASP, timeCost: 3 }));
    expect(await stronger.authenticate('rehash@example.test', 'stronger later')).toMatchObject({ ok: true });
    expect(parameters(await storedHash(user.id))).toBe('argon2id m=19456 t=3 p=1');
    // A failed attempt changes nothing.
    const hash = await storedHash(user.id);
    await new UserStore(testDb.db, new PasswordHasher({ ...OWASP, timeCost: 4 })).authenticate('rehash@example.test', 'wrong');
    expect(await storedHash(user.id)).toBe(hash);
  });

  it('answers lookups by a malformed id with nothing rather than a database error', async () => {
    expect(await users.findById("1' or '1'='1")).toBeUndefined();
    expect(await users.findById('')).toBeUndefined();
  });

  it('releases the standard claims of the profile and email scopes', async () => {
    const user = await users.create({ email: 'claims@example.test', name: 'Claire Voyant', givenName: 'Claire', familyName: 'Voyant', emailVerified: true, password: 'crystal ball gazing' });
    expect(standardClaims(user)).toMatchObject({
      sub: user.id, name: 'Claire Voyant', given_name: 'Claire', family_name: 'Voyant', email: 'claims@example.test', email_verified: true,
    });
  });
});

describe('administering people', () => {
  it('lists people oldest first, a page at a time, and refuses a cursor it did not hand out', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await users.list({ limit: 3, ...(cursor ? { cursor } : {}) });
      seen.push(...page.items.map((u) => u.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    const all = await testDb.db('users').select('id').orderBy([{ column: 'created_at' }, { column: 'id' }]);
    expect(seen).toEqual(all.map((row: { id: string }) => row.id));
    await expect(users.list({ cursor: 'garbage!' })).rejects.toSatisfy((e) => isGatehouseError(e, 'invalid_input') && e.field === 'cursor');
  });

  it('searches the start of the email or the name in any case, taking % and _ literally', async () => {
    await users.create({ email: 'percy_b@example.test', name: 'Percival Shelley', password: 'ozymandias king of kings' });
    await users.create({ email: 'percyxb@example.test', name: '100% Percy', password: 'prometheus unbound' });
    await users.create({ email: 'hundred@example.test', name: '1000 Percys', password: 'a thousand percies' });
    const emails = async (search: string) => (await users.list({ search })).items.map((u) => u.email);
    expect(await emails('PERCIVAL')).toEqual(['percy_b@example.test']);
    expect(await emails('percy_')).toEqual(['percy_b@example.test']);
    expect(await emails('percy')).toEqual(['percy_b@example.test', 'percyxb@example.test']);
    expect(await emails('100%')).toEqual(['percyxb@example.test']);
    expect(await emails('100')).toEqual(['percyxb@example.test', 'hundred@example.test']);
    expect(await emails('shelley')).toEqual([]);
  });

  it('disables and re-enables a person, keeping the moment they were first disabled', async () => {
    const user = await users.create({ email: 'toggle@example.test', name: 'T', password: 'light switch rave' });
    const disabled = await users.setDisabled(user.id, true);
    expect(disabled?.disabledAt).toBeInstanceOf(Date);
    expect((await users.setDisabled(user.id, true))?.disabledAt).toEqual(disabled?.disabledAt);
    expect((await users.setDisabled(user.id, false))?.disabledAt).toBeNull();
    expect(await users.setDisabled('00000000-0000-4000-8000-000000000000', true)).toBeUndefined();
  });

  it('sets a new password as strictly as at creation, and records when', async () => {
    const user = await users.create({ email: 'newpass@example.test', name: 'Newton', password: 'gravity and apples' });
    const before = await testDb.db('users').where({ id: user.id }).first('password_changed_at');
    await expect(users.setPassword(user.id, 'password1')).rejects.toSatisfy((e) => isGatehouseError(e, 'weak_password') && e.field === 'password');
    await expect(users.setPassword(user.id, 'newpass@example.test')).rejects.toSatisfy((e) => isGatehouseError(e, 'weak_password'));
    await users.setPassword(user.id, 'calculus of fluxions');
    const after = await testDb.db('users').where({ id: user.id }).first('password_changed_at');
    expect(after.password_changed_at.getTime()).toBeGreaterThan(before.password_changed_at.getTime());
    expect(await users.authenticate('newpass@example.test', 'calculus of fluxions')).toMatchObject({ ok: true });
    expect(await users.verifyPassword(user.id, 'calculus of fluxions')).toBe(true);
    expect(await users.verifyPassword(user.id, 'gravity and apples')).toBe(false);
    expect(await users.verifyPassword('00000000-0000-4000-8000-000000000000', 'calculus of fluxions')).toBe(false);
    expect(await users.setPassword('00000000-0000-4000-8000-000000000000', 'calculus of fluxions')).toBeUndefined();
  });

  it('deletes a person', async () => {
    const user = await users.create({ email: 'gone@example.test', name: 'G', password: 'vanishing act now' });
    expect(await users.delete(user.id)).toBe(true);
    expect(await users.findById(user.id)).toBeUndefined();
    expect(await users.delete(user.id)).toBe(false);
  });
});
