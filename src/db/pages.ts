// Keyset pagination, shared by every admin and self-service listing. A page ends at a row's sort key
// and the next one starts strictly after it, so rows inserted or deleted meanwhile never shift a
// page the way OFFSET would, and every page costs an index descent, however deep.
import { isStorableText } from './text.js';
import { GatehouseError } from '../errors.js';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

export interface PageRequest {
  /** 1..200, default 50; values outside are clamped, as the audit log does. */
  limit?: number;
  /** The `nextCursor` of the previous page. */
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

export function pageSize(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return DEFAULT_PAGE_SIZE;
  return Math.min(Math.max(Math.floor(limit), 1), MAX_PAGE_SIZE);
}

/**
 * A timestamp with all of PostgreSQL's microseconds, as SQL selects it for a cursor. A JS Date
 * keeps milliseconds only: a cursor cut to them would skip the rows between the cut and the
 * real value.
 */
export function cursorTimestamp(column: string): string {
  return `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}
const TIMESTAMP_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/**
 * Whether a cursor's timestamp names an instant PostgreSQL will take. Date.parse rolls 30 February
 * over to 2 March and 24:00 to the next day, where PostgreSQL refuses them: a valid one reads back
 * the same to the second. Year 0 does not exist in PostgreSQL (1 BC comes before 1 AD).
 */
function isRealInstant(part: string): boolean {
  if (!TIMESTAMP_PATTERN.test(part) || part.startsWith('0000')) return false;
  const date = new Date(`${part.slice(0, 19)}Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 19) === part.slice(0, 19);
}

/** The opaque cursor for a sort key of text parts: base64url of their JSON. */
export function encodeCursor(parts: string[]): string {
  return Buffer.from(JSON.stringify(parts), 'utf8').toString('base64url');
}

function malformed(): GatehouseError {
  return new GatehouseError('invalid_input', 'The cursor is not one this API returned.', 'cursor');
}

/**
 * The sort key a cursor carries, checked against its shape: `timestamp` parts must be what
 * cursorTimestamp produced, `text` parts any storable string. Anything else is invalid_input.
 */
export function decodeCursor(cursor: string, shape: Array<'timestamp' | 'text'>): string[] {
  if (typeof cursor !== 'string' || cursor.length > 2000 || !/^[\w-]*$/.test(cursor)) throw malformed();
  let parts: unknown;
  try {
    parts = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw malformed();
  }
  if (!Array.isArray(parts) || parts.length !== shape.length) throw malformed();
  shape.forEach((kind, i) => {
    const part: unknown = parts[i];
    if (typeof part !== 'string' || part.length > 1000 || !isStorableText(part)) throw malformed();
    if (kind === 'timestamp' && !isRealInstant(part)) throw malformed();
  });
  return parts as string[];
}

/** The page of `limit` rows out of `limit + 1` fetched, and the cursor after its last row. */
export function pageOf<Row, T>(rows: Row[], limit: number, item: (row: Row) => T, cursorOf: (row: Row) => string[]): Page<T> {
  const shown = rows.slice(0, limit);
  const last = shown[shown.length - 1];
  return {
    items: shown.map(item),
    nextCursor: rows.length > limit && last !== undefined ? encodeCursor(cursorOf(last)) : null,
  };
}
