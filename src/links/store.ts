// One-time links (migration 009): what a mail hands a person so they can do one thing to their
// account without signing in — set a new password, prove an address is theirs, accept an
// invitation, get past a refused new browser. Each link is a bearer credential, so:
//   - only the token's digest is stored: a dump of the table opens nothing;
//   - it names the address it was sent to, and is dead once the account's address is another;
//   - it expires, and the first use spends it, atomically: of two racing uses exactly one wins,
//     and the winner spends every other outstanding link of the same purpose for the account
//     (a second recovery mail must not outlive the reset the first one made).
// Every time is the injected clock's, so tests move time instead of waiting for it.
import { randomUUID } from 'node:crypto';
import { digest, randomSecret } from '../crypto/digest.js';
import { deleteInBatches, deletedRows, type Database } from '../db/knex.js';
import { isStorableKey } from '../db/text.js';
import { lockPerson } from '../people/users.js';

const TABLE = 'one_time_links';

/** What a link may do; one purpose per link. */
export type LinkPurpose = 'recovery' | 'verification' | 'invitation' | 'sign_in';

/** A link's token: 256 random bits, base64url, so 43 characters. Anything else is not one. */
const TOKEN_LENGTH = 43;

export interface NewLink {
  purpose: LinkPurpose;
  userId: string;
  /** The address the mail goes to; the link acts only while the account has it (verification: verifies it). */
  email: string;
  /** How long the link lives, in seconds. */
  ttlSeconds: number;
}

export interface IssuedLink {
  /** The bearer token: put it in the mail, nowhere else. */
  token: string;
  expiresAt: Date;
}

/** An outstanding (or just spent) link, without its token. */
export interface LinkRecord {
  id: string;
  purpose: LinkPurpose;
  userId: string;
  email: string;
  createdAt: Date;
  expiresAt: Date;
}

interface LinkRow {
  id: string;
  purpose: LinkPurpose;
  user_id: string;
  email: string;
  created_at: Date;
  expires_at: Date;
}

function fromRow(row: LinkRow): LinkRecord {
  return {
    id: row.id,
    purpose: row.purpose,
    userId: row.user_id,
    email: row.email,
    createdAt: new Date(row.created_at),
    expiresAt: new Date(row.expires_at),
  };
}

/** Whether `value` could be a token this store issued: checked before any query sees it. */
function isToken(value: unknown): value is string {
  return typeof value === 'string' && value.length === TOKEN_LENGTH && isStorableKey(value, TOKEN_LENGTH) && /^[A-Za-z0-9_-]+$/.test(value);
}

export class OneTimeLinks {
  constructor(
    private readonly db: Database,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Issues a link inside `trx`, the transaction that also writes the mail carrying it (the
   * outbox): a link exists only if its mail will go, and the mail only if the link exists.
   */
  async issue(trx: Database, link: NewLink): Promise<IssuedLink> {
    if (!Number.isFinite(link.ttlSeconds) || link.ttlSeconds <= 0) throw new RangeError('a link must live for a positive number of seconds');
    const token = randomSecret(32);
    const now = this.now();
    const expiresAt = new Date(now + link.ttlSeconds * 1000);
    await trx(TABLE).insert({
      id: randomUUID(),
      purpose: link.purpose,
      token_digest: digest(token),
      user_id: link.userId,
      email: link.email,
      created_at: new Date(now),
      expires_at: expiresAt,
    });
    return { token, expiresAt };
  }

  /**
   * The outstanding link `token` names for `purpose`, if it is neither spent nor expired: for
   * showing the page a link opens, which spends nothing (mail scanners follow links).
   */
  async find(token: unknown, purpose: LinkPurpose, trx: Database = this.db): Promise<LinkRecord | undefined> {
    if (!isToken(token)) return undefined;
    const row: LinkRow | undefined = await trx(TABLE)
      .first('id', 'purpose', 'user_id', 'email', 'created_at', 'expires_at')
      .where({ token_digest: digest(token), purpose })
      .whereNull('consumed_at')
      .where('expires_at', '>', new Date(this.now()));
    return row && fromRow(row);
  }

  /**
   * Spends the link: returns it if this call is the one use that counts, undefined if it is
   * spent, expired, unknown or for another purpose. Every other outstanding link of the same
   * purpose for the account is spent with it. Call it in the transaction of the act it allows,
   * so a failed act leaves the link usable.
   */
  async consume(trx: Database, token: unknown, purpose: LinkPurpose): Promise<LinkRecord | undefined> {
    if (!isToken(token)) return undefined;
    // The person's row before any link (src/people/users.ts, lockPerson): the act the link allows
    // goes on to change the person, and acts on them that revoke their links (a new address asked
    // for or given, disabling them, a new password) take the person's row first too. Two of their
    // links followed at once wait for each other here as well.
    const named = await this.find(token, purpose, trx);
    if (!named || !(await lockPerson(trx, named.userId))) return undefined;
    const at = new Date(this.now());
    const [row]: LinkRow[] = await trx(TABLE)
      .update({ consumed_at: at })
      .where({ token_digest: digest(token), purpose })
      .whereNull('consumed_at')
      .where('expires_at', '>', at)
      .returning(['id', 'purpose', 'user_id', 'email', 'created_at', 'expires_at']);
    if (!row) return undefined;
    await trx(TABLE).update({ consumed_at: at }).where({ user_id: row.user_id, purpose }).whereNull('consumed_at');
    return fromRow(row);
  }

  /** Spends every outstanding link of the account (of one purpose, or all); returns how many. */
  async revokeAll(trx: Database, userId: string, purpose?: LinkPurpose): Promise<number> {
    const query = trx(TABLE).update({ consumed_at: new Date(this.now()) }).where({ user_id: userId }).whereNull('consumed_at');
    if (purpose) query.where({ purpose });
    return deletedRows(await query);
  }

  /** How many links of `purpose` were issued to the account since `sinceMs`: for throttling how often mail is sent. */
  async countIssuedSince(userId: string, purpose: LinkPurpose, sinceMs: number, trx: Database = this.db): Promise<number> {
    const [row] = await trx(TABLE).where({ user_id: userId, purpose }).where('created_at', '>', new Date(sinceMs)).count<Array<{ count: string | number }>>({ count: '*' });
    return Number(row?.count ?? 0);
  }

  /** Which of these accounts hold a link of `purpose` that still works (unspent, unexpired), in one query. */
  async holdingLive(userIds: readonly string[], purpose: LinkPurpose, trx: Database = this.db): Promise<Set<string>> {
    if (!userIds.length) return new Set();
    const rows: Array<{ user_id: string }> = await trx(TABLE).distinct('user_id')
      .whereIn('user_id', [...userIds]).where({ purpose }).whereNull('consumed_at').where('expires_at', '>', new Date(this.now()));
    return new Set(rows.map((row) => row.user_id));
  }

  /** The janitor: deletes links expired before now, spent or not; returns how many went. */
  deleteExpired(batchSize?: number): Promise<number> {
    return deleteInBatches(this.db, TABLE, 'expires_at <= ?', [new Date(this.now())], batchSize);
  }
}
