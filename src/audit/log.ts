// The audit log: appended to by every part that does something worth accounting for, read by the
// admin API and console. The table refuses updates and deletes (migration 005).
import type { Database } from '../db/knex.js';
import { cursorTimestamp, decodeCursor, pageOf } from '../db/pages.js';
import { storableExcerpt } from '../db/text.js';
import { GatehouseError } from '../errors.js';
import { AUDIT_EVENT_TYPES, type ActorType, type AuditEvent, type AuditEventType, type NewAuditEvent } from './events.js';

export interface AuditFilter {
  actorId?: string;
  userId?: string;
  clientId?: string;
  type?: AuditEventType;
  since?: Date;
  until?: Date;
}

export interface AuditPage {
  items: AuditEvent[];
  /** Pass back as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

interface AuditRow {
  id: string | number;
  occurred_at: Date;
  type: AuditEventType;
  actor_type: ActorType;
  actor_id: string | null;
  user_id: string | null;
  client_id: string | null;
  ip: string | null;
  details: Record<string, unknown>;
}

function auditEventFromRow(row: AuditRow): AuditEvent {
  return {
    id: String(row.id),
    occurredAt: new Date(row.occurred_at),
    type: row.type,
    actor: { type: row.actor_type, id: row.actor_id },
    userId: row.user_id,
    clientId: row.client_id,
    ip: row.ip,
    details: row.details ?? {},
  };
}


export function isAuditEventType(value: unknown): value is AuditEventType {
  return typeof value === 'string' && (AUDIT_EVENT_TYPES as readonly string[]).includes(value);
}

export const MAX_AUDIT_PAGE = 200;

/**
 * Told of every entry appended inside a transaction, before it commits: the audit entry is the
 * act's own account of itself, so what must happen with an act (a security event pushed to the
 * apps it concerns, src/security-events/) is written in the act's transaction by observing it.
 */
export type AuditObserver = (event: NewAuditEvent, trx: Database) => Promise<void>;

export class AuditLog {
  /** Appends started by record() and not yet written; flush() waits for them. */
  readonly #pending = new Set<Promise<void>>();
  readonly #observers: AuditObserver[] = [];

  constructor(
    private readonly db: Database,
    /** Told of an append that failed; the event that caused it has already happened. */
    private readonly onError: (error: unknown, event: NewAuditEvent) => void = () => {},
  ) {}

  /**
   * Appends without making the caller wait: for events observed after the fact (oidc-provider's
   * events fire synchronously, mid-request). A failure goes to onError, never to the request.
   */
  record(event: NewAuditEvent): void {
    const write = this.append(event)
      .catch((error: unknown) => this.onError(error, event))
      .finally(() => this.#pending.delete(write));
    this.#pending.add(write);
  }

  /** Resolves once every record() so far is written (shutdown, and tests reading the log). */
  async flush(): Promise<void> {
    while (this.#pending.size) await Promise.all(this.#pending);
  }

  /** Adds an observer of the entries appended in transactions (see AuditObserver). */
  observe(observer: AuditObserver): void {
    this.#observers.push(observer);
  }

  /** Writes the entry (never its `observed` part, which only the observers are told). */
  async append(event: NewAuditEvent, trx: Database = this.db): Promise<void> {
    if (trx.isTransaction) for (const observer of this.#observers) await observer(event, trx);
    await trx('audit_events').insert({
      type: event.type,
      actor_type: event.actor.type,
      actor_id: storableExcerpt(event.actor.id, 200),
      user_id: storableExcerpt(event.userId ?? null, 200),
      client_id: storableExcerpt(event.clientId ?? null, 200),
      ip: storableExcerpt(event.actor.ip ?? null, 64),
      details: JSON.stringify(event.details ?? {}, (_key, value: unknown) => (typeof value === 'string' ? storableExcerpt(value, 1000) : value)),
    });
  }

  /**
   * Newest first: by (occurred_at desc, id desc), keyset-paginated on that pair, the time with all
   * of its microseconds. Every audit index ends in (occurred_at desc, id desc), so a filter and a
   * time window read one index range from the window's newest end. Ordered by id alone, a window
   * made PostgreSQL walk the primary key back through every newer event (docs/listings.md).
   */
  async list(filter: AuditFilter, page: { limit?: number; cursor?: string } = {}): Promise<AuditPage> {
    const limit = Math.min(Math.max(page.limit ?? 50, 1), MAX_AUDIT_PAGE);
    const query = this.db('audit_events')
      .select('*')
      .select(this.db.raw(`${cursorTimestamp('occurred_at')} as cursor_at`))
      .orderBy([{ column: 'occurred_at', order: 'desc' }, { column: 'id', order: 'desc' }])
      .limit(limit + 1);
    if (page.cursor !== undefined) {
      const [at, id] = decodeCursor(page.cursor, ['timestamp', 'text']);
      if (!/^\d{1,18}$/.test(id!)) throw new GatehouseError('invalid_input', 'The cursor is not one this API returned.', 'cursor');
      query.whereRaw('(occurred_at, id) < (?::timestamptz, ?::bigint)', [at!, id!]);
    }
    if (filter.actorId !== undefined) query.where('actor_id', filter.actorId);
    if (filter.userId !== undefined) query.where('user_id', filter.userId);
    if (filter.clientId !== undefined) query.where('client_id', filter.clientId);
    if (filter.type !== undefined) query.where('type', filter.type);
    if (filter.since !== undefined) query.where('occurred_at', '>=', filter.since);
    if (filter.until !== undefined) query.where('occurred_at', '<', filter.until);
    const rows: Array<AuditRow & { cursor_at: string }> = await query;
    return pageOf(rows, limit, auditEventFromRow, (row) => [row.cursor_at, String(row.id)]);
  }
}
