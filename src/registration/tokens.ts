// Initial access tokens (RFC 7591 §3): what an operator hands a developer so their app can register
// itself. Each says which scopes its apps may hold at most, how many apps it may register and until
// when. The table keeps only the token's digest; a registration counts against it in the
// registration's own transaction (spend), so N uses are N apps however many requests race.
import { digest, randomSecret } from '../crypto/digest.js';
import type { Database } from '../db/knex.js';
import { isStorableKey, isStorableText, NUL_MESSAGE, NUL_REFUSAL } from '../db/text.js';
import { GatehouseError } from '../errors.js';
import { DAY } from '../lifetimes.js';
import { ADMIN_SCOPE } from '../vocabulary.js';
import { DEFAULT_APP_SCOPE, issueWords, scopeSchema, type FieldLabels } from '../clients/schema.js';

/** Marks a Gatehouse initial access token, so secret scanners and people can tell what it is. */
const TOKEN_PREFIX = 'ghiat_';
/** A token lives at most a year: an operator who wants longer hands out a new one. */
export const MAX_REGISTRATION_TOKEN_SECONDS = 365 * DAY;

export interface RegistrationToken {
  id: string;
  description: string | null;
  /** The scopes an app registered with it may hold at most. */
  scope: string;
  /** How many apps it may register; null: any number. */
  maxUses: number | null;
  uses: number;
  expiresAt: Date | null;
  revokedAt: Date | null;
  createdAt: Date;
}

export interface NewRegistrationToken {
  scope?: string | undefined;
  uses?: number | undefined;
  /** Seconds from now; none: until revoked (at most a year is still enforced: see above). */
  expiresIn?: number | undefined;
  description?: string | undefined;
}

interface Row {
  id: string;
  token_digest: string;
  description: string | null;
  scope: string;
  max_uses: number | null;
  uses: number;
  expires_at: Date | null;
  revoked_at: Date | null;
  created_at: Date;
}

function fromRow(row: Row): RegistrationToken {
  return {
    id: row.id,
    description: row.description,
    scope: row.scope,
    maxUses: row.max_uses,
    uses: row.uses,
    expiresAt: row.expires_at ? new Date(row.expires_at) : null,
    revokedAt: row.revoked_at ? new Date(row.revoked_at) : null,
    createdAt: new Date(row.created_at),
  };
}

/** The console's label of each field of a new token: a refusal names the field so. */
const TOKEN_FIELDS: FieldLabels = { scope: 'admin.tokens.scopeField', description: 'admin.tokens.descriptionField' };
const MAX_USES = 1_000_000;

const TABLE = 'registration_tokens';
const USABLE = '(revoked_at is null and (expires_at is null or expires_at > now()) and (max_uses is null or uses < max_uses))';

export class RegistrationTokens {
  constructor(private readonly db: Database) {}

  /** Issues a token; its value is returned only here. */
  async create(input: NewRegistrationToken, trx: Database = this.db): Promise<{ token: string; registrationToken: RegistrationToken }> {
    const scope = scopeSchema.safeParse(input.scope ?? DEFAULT_APP_SCOPE);
    if (!scope.success) throw new GatehouseError('invalid_input', scope.error.issues[0]!.message, 'scope', issueWords(scope.error.issues[0]!, TOKEN_FIELDS, 'scope'));
    if (!scope.data.includes('openid')) throw new GatehouseError('invalid_input', 'The scope must include openid: registered apps sign people in.', 'scope', { key: 'admin.tokens.problem.openid' });
    if (scope.data.includes(ADMIN_SCOPE)) throw new GatehouseError('invalid_input', `No registered app may hold ${ADMIN_SCOPE}.`, 'scope', { key: 'admin.tokens.problem.adminScope', values: { scope: ADMIN_SCOPE } });
    if (input.uses !== undefined && (!Number.isInteger(input.uses) || input.uses < 1 || input.uses > MAX_USES)) {
      throw new GatehouseError('invalid_input', `Uses is a whole number from 1 to ${MAX_USES}.`, 'uses', { key: 'admin.tokens.problem.usesRange', values: { max: MAX_USES } });
    }
    const expiresIn = input.expiresIn ?? MAX_REGISTRATION_TOKEN_SECONDS;
    if (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > MAX_REGISTRATION_TOKEN_SECONDS) {
      // The words are the console's, whose form asks for days (the API and the CLI take seconds).
      throw new GatehouseError('invalid_input', `Expires-in is a whole number of seconds from 1 to ${MAX_REGISTRATION_TOKEN_SECONDS} (a year).`, 'expiresIn', {
        key: 'admin.tokens.problem.daysRange', values: { max: MAX_REGISTRATION_TOKEN_SECONDS / DAY },
      });
    }
    const description = input.description?.trim() || null;
    if (description && description.length > 200) {
      throw new GatehouseError('invalid_input', 'The description is at most 200 characters.', 'description', { key: 'problem.input.tooLong', values: { field: { key: 'admin.tokens.descriptionField' }, max: 200 } });
    }
    if (description && !isStorableText(description)) {
      throw new GatehouseError('invalid_input', `The description ${NUL_MESSAGE}.`, 'description', { key: NUL_REFUSAL.params.words.key, values: { field: { key: 'admin.tokens.descriptionField' } } });
    }
    const token = `${TOKEN_PREFIX}${randomSecret()}`;
    const [row] = await trx<Row>(TABLE)
      .insert({
        token_digest: digest(token),
        description,
        scope: scope.data.join(' '),
        max_uses: input.uses ?? null,
        expires_at: trx.raw('now() + make_interval(secs => ?)', [expiresIn]),
      } as never)
      .returning('*');
    return { token, registrationToken: fromRow(row as Row) };
  }

  /** The token a request presents, while it may still register an app; undefined otherwise. */
  async findUsable(token: unknown): Promise<RegistrationToken | undefined> {
    if (!isStorableKey(token, 200)) return undefined;
    const row = await this.db<Row>(TABLE).where({ token_digest: digest(token) }).whereRaw(USABLE).first();
    return row ? fromRow(row) : undefined;
  }

  /**
   * Counts one registration against the token, in the caller's transaction, only if it may still
   * register one (one UPDATE: racing registrations cannot both take its last use). Undefined if not.
   */
  async spend(id: string, trx: Database): Promise<RegistrationToken | undefined> {
    const [row] = await trx<Row>(TABLE).where({ id }).whereRaw(USABLE).increment('uses', 1).returning('*');
    return row ? fromRow(row as Row) : undefined;
  }

  /** Newest first; tokens expired or revoked over a week ago are left out. */
  async list(trx: Database = this.db): Promise<RegistrationToken[]> {
    const rows = await trx<Row>(TABLE)
      .whereRaw("coalesce(least(expires_at, revoked_at), expires_at, revoked_at, 'infinity') > now() - interval '7 days'")
      .orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }])
      .limit(200);
    return rows.map(fromRow);
  }

  async find(id: string, trx: Database = this.db): Promise<RegistrationToken | undefined> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
    const row = await trx<Row>(TABLE).where({ id }).first();
    return row ? fromRow(row) : undefined;
  }

  /** Stops the token registering more apps; apps it registered stay. Undefined if there is none. */
  async revoke(id: string, trx: Database = this.db): Promise<RegistrationToken | undefined> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
    const [row] = await trx<Row>(TABLE).where({ id }).update({ revoked_at: trx.raw('coalesce(revoked_at, now())') } as never).returning('*');
    return row ? fromRow(row as Row) : undefined;
  }
}
