// PostgreSQL text and jsonb cannot hold U+0000: a query that binds one fails inside the database.
// Input that carries one can match nothing stored and can never be stored, so lookups answer
// "not found" and writes refuse it with a message, before it reaches a query.
const NUL = '\u0000';

export function isStorableText(value: string): boolean {
  return !value.includes(NUL);
}

export const NUL_MESSAGE = 'must not contain NUL characters';
