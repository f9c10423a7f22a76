import { describe, expect, it } from 'vitest';
import { normaliseEmail } from '../../src/security/keyed-digest.js';

describe('the email key of sign-in limits', () => {
  it('matches what the users table matches: case, surrounding space, and a dotted capital İ', () => {
    expect(normaliseEmail('  Ada@Example.TEST ')).toBe('ada@example.test');
    // PostgreSQL's lower('alİce') is 'alice'; JavaScript's adds U+0307. One account, one budget.
    expect(normaliseEmail('alİce@example.test')).toBe(normaliseEmail('alice@example.test'));
  });
});
