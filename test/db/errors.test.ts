// What a database error leaves in a log line or a trace: PostgreSQL's own words for what it refused
// quote the value, and the value may be anything a person typed. Real errors from the database
// (PostgreSQL, or PGlite where it is absent), logged through Gatehouse's logger.
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withoutQuotedValues } from '../../src/db/errors.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let testDb: TestDatabase;
beforeAll(async () => { testDb = await createTestDatabase(); });
afterAll(async () => { await testDb?.destroy(); });

function logged(error: unknown): string {
  const lines: string[] = [];
  const destination = new Writable({ write(chunk: Buffer, _encoding, callback) { lines.push(chunk.toString('utf8')); callback(); } });
  createLogger('info', destination).error({ event: 'probe', err: error });
  return lines.join('');
}

async function refusal(statement: Promise<unknown>): Promise<Error & { code?: string }> {
  return statement.then(() => { throw new Error('the database accepted it'); }, (error: unknown) => error as Error & { code?: string });
}

describe('a database error in a log line', () => {
  it('keeps the SQLSTATE of a refused value, never the value', async () => {
    const typed = `typed-${randomUUID()}`;
    const error = await refusal(testDb.db.raw('select cast(? as uuid)', [typed]));
    expect(error.message).toContain(typed);
    const line = JSON.parse(logged(error)) as { err: { message: string; code: string; stack: string } };
    expect(line.err).toMatchObject({ code: '22P02', message: 'PostgreSQL refused a value (SQLSTATE 22P02)' });
    expect(JSON.stringify(line)).not.toContain(typed);
  });

  it('keeps which constraint a duplicate broke, never the key', async () => {
    const email = `${randomUUID()}@example.test`;
    const row = { email, name: 'Twice', password_hash: 'x' };
    await testDb.db('users').insert(row);
    const error = await refusal(testDb.db('users').insert(row));
    expect(error.code).toBe('23505');
    const written = logged(error);
    expect(written).toContain('23505');
    expect(written).not.toContain(email);
  });

  it('leaves any other error as it is', async () => {
    const error = await refusal(testDb.db.raw('select * from no_such_table'));
    expect(withoutQuotedValues(error)).toBe(error);
    expect(logged(error)).toContain('no_such_table');
    const plain = new Error('nothing from the database');
    expect(withoutQuotedValues(plain)).toBe(plain);
  });
});
