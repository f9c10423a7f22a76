// PostgreSQL text and jsonb cannot hold U+0000: a query that binds one fails inside the database.
// Input that carries one can match nothing stored and can never be stored, so lookups answer
// "not found" and writes refuse it with a message, before it reaches a query.
const NUL = '\u0000';

export function isStorableText(value: string): boolean {
  return !value.includes(NUL);
}

export const NUL_MESSAGE = 'must not contain NUL characters';

/**
 * NUL_MESSAGE as a zod refinement's second argument, with its catalog words for a page (the field
 * is named where the issue becomes a refusal: firstIssue in src/clients/schema.ts).
 */
export const NUL_REFUSAL = { message: NUL_MESSAGE, params: { words: { key: 'problem.input.nul' } } };

/**
 * A key a lookup may take to the database: a non-empty string no longer than `maxLength` that
 * PostgreSQL can hold. Anything else matches no row, so callers answer "not found" without asking.
 */
export function isStorableKey(value: unknown, maxLength: number): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= maxLength && isStorableText(value);
}

/**
 * Text a client chose (a user agent, a typed email) kept for people to read later: cut to
 * `maxLength`, with what PostgreSQL cannot store (NUL, lone surrogates) replaced rather than refused.
 */
export function storableExcerpt(value: string | null | undefined, maxLength: number): string | null {
  if (typeof value !== 'string' || value.length === 0) return null;
  return value.slice(0, maxLength).replace(/[\u0000\p{Cs}]/gu, '\uFFFD');
}
