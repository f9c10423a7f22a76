// PostgreSQL text and jsonb cannot hold U+0000, and jsonb refuses an unpaired UTF-16 surrogate
// (text would silently store U+FFFD in its place): a query that binds one fails inside the
// database, or keeps something other than what was sent. Input that carries one can match nothing
// stored and can never be stored, so lookups answer "not found" and writes refuse it with a
// message, before it reaches a query. (Forms and query strings decode to well-formed text; JSON
// bodies are where unpaired surrogates come from.)
const UNSTORABLE = /[\u0000\p{Cs}]/u;

export function isStorableText(value: string): boolean {
  return !UNSTORABLE.test(value);
}

// What a name shown to people (a person's, an app's) must not hold: line breaks and other control
// characters, with which it could pose as more of the mail or page around it, and the
// bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), which reorder
// what is shown ("‮elpmaxe.live‬" reads as a trusted address).
const NOT_ONE_LINE = /[\p{Cc}\u202A-\u202E\u2066-\u2069]/u;

/** True when `value` is one line of text, with no control characters or direction overrides. */
export function isOneLine(value: string): boolean {
  return !NOT_ONE_LINE.test(value);
}

export const ONE_LINE_MESSAGE = 'must be one line of plain text, without control characters or direction overrides';
/** ONE_LINE_MESSAGE as a zod refinement's second argument, with its catalog words for a page. */
export const ONE_LINE_REFUSAL = { message: ONE_LINE_MESSAGE, params: { words: { key: 'problem.input.oneLine' } } };

/** Every string in a JSON value, member names included, is storable text (for jsonb columns). */
export function isStorableJson(value: unknown): boolean {
  if (typeof value === 'string') return isStorableText(value);
  if (Array.isArray(value)) return value.every(isStorableJson);
  if (value !== null && typeof value === 'object') return Object.entries(value).every(([name, member]) => isStorableText(name) && isStorableJson(member));
  return true;
}

export const NUL_MESSAGE = 'must not contain NUL characters or unpaired surrogates';

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
