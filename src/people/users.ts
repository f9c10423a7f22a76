// People who sign in at Gatehouse. Accounts are created only on purpose (CLI, admin API, console,
// demo seed, an invitation, a sign-up when SIGNUP=open) — never implicitly at sign-in. An invited
// or signed-up person exists before they can sign in: see `AccountState`.
import { z } from 'zod';
import { deletedRows, type Database } from '../db/knex.js';
import { isUniqueViolation } from '../db/errors.js';
import { cursorTimestamp, decodeCursor, pageOf, pageSize, type Page, type PageRequest } from '../db/pages.js';
import { isOneLine, isStorableText, NUL_MESSAGE, ONE_LINE_MESSAGE } from '../db/text.js';
import { GatehouseError } from '../errors.js';
import type { Message } from '../i18n/catalogs.js';
import { checkNewPassword, type PasswordHasher } from './passwords.js';

export interface User {
  id: string;
  email: string;
  emailVerified: boolean;
  name: string;
  givenName: string | null;
  familyName: string | null;
  isAdmin: boolean;
  disabledAt: Date | null;
  /** When the latest invitation was sent; null if they were never invited. */
  invitedAt: Date | null;
  /** When the account became usable; null while an invitation or a sign-up's verification is pending. */
  activatedAt: Date | null;
  /** The language they last used (src/i18n/), for mails they did not cause; null: DEFAULT_LOCALE. */
  locale: string | null;
  /** When an administrator last removed their second factors, until a sign-in has told them. */
  factorsResetAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * Whether the account can be used: `invited` has no password until the invitation is accepted;
 * `unverified` signed up and has not yet followed the link sent to the address. Neither can sign
 * in or hold tokens. (Disabled is apart: an admin's decision, on an account of any state.)
 */
export type AccountState = 'active' | 'invited' | 'unverified';

export function accountState(user: Pick<User, 'activatedAt' | 'invitedAt'>): AccountState {
  if (user.activatedAt) return 'active';
  return user.invitedAt ? 'invited' : 'unverified';
}

/** May sign in and hold tokens: activated and not disabled. */
export function isUsable(user: Pick<User, 'activatedAt' | 'disabledAt'>): boolean {
  return user.activatedAt !== null && user.disabledAt === null;
}

interface UserRow {
  id: string;
  email: string;
  email_verified: boolean;
  name: string;
  given_name: string | null;
  family_name: string | null;
  password_hash: string | null;
  is_admin: boolean;
  disabled_at: Date | null;
  invited_at: Date | null;
  activated_at: Date | null;
  locale: string | null;
  factors_reset_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

const USER_COLUMNS = [
  'id', 'email', 'email_verified', 'name', 'given_name', 'family_name', 'is_admin', 'disabled_at', 'invited_at', 'activated_at', 'locale', 'factors_reset_at', 'created_at', 'updated_at',
] as const;

function userFromRow(row: Omit<UserRow, 'password_hash'>): User {
  return {
    id: row.id,
    email: row.email,
    emailVerified: row.email_verified,
    name: row.name,
    givenName: row.given_name,
    familyName: row.family_name,
    isAdmin: row.is_admin,
    disabledAt: row.disabled_at ? new Date(row.disabled_at) : null,
    invitedAt: row.invited_at ? new Date(row.invited_at) : null,
    activatedAt: row.activated_at ? new Date(row.activated_at) : null,
    locale: row.locale ?? null,
    factorsResetAt: row.factors_reset_at ? new Date(row.factors_reset_at) : null,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

/** A person's id (users.id is a uuid): anything else can match no one and must not reach a uuid cast. */
export const isUuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const emailSchema = z.string().trim().max(254).refine(isStorableText, NUL_MESSAGE).pipe(z.email({ message: 'Enter a valid email address.' }));

/** An address emailSchema refused: its English reason, and the page's words for every reason alike. */
export function invalidEmail(error: z.ZodError): GatehouseError {
  return new GatehouseError('invalid_input', error.issues[0]?.message ?? 'Enter a valid email address.', 'email', { key: 'problem.emailInvalid' });
}

/** A refused person's field in a page's words: the address, or a name (missing, too long, or holding what cannot be stored). */
function fieldWords(issue: z.core.$ZodIssue): Message | undefined {
  const field = String(issue.path[0] ?? '');
  if (field === 'email') return { key: 'problem.emailInvalid' };
  if (!['name', 'givenName', 'familyName'].includes(field)) return undefined;
  if (issue.code === 'too_small') return { key: 'problem.nameRequired' };
  return issue.code === 'custom' ? { key: 'problem.namePlainText' } : { key: 'problem.nameTooLong' };
}

const newUserSchema = z.object({
  email: emailSchema,
  name: z.string().trim().min(1, 'A name is required.').max(200).refine(isStorableText, NUL_MESSAGE).refine(isOneLine, ONE_LINE_MESSAGE),
  givenName: z.string().trim().max(200).refine(isStorableText, NUL_MESSAGE).refine(isOneLine, ONE_LINE_MESSAGE).optional(),
  familyName: z.string().trim().max(200).refine(isStorableText, NUL_MESSAGE).refine(isOneLine, ONE_LINE_MESSAGE).optional(),
  /**
   * Only for the development demo's person and for tests: every surface (admin API, console, CLI)
   * creates people unverified, and only a followed verification link verifies an address.
   */
  emailVerified: z.boolean().optional(),
  isAdmin: z.boolean().optional(),
  password: z.string().optional(),
});

export type NewUser = z.input<typeof newUserSchema>;

/** A new name for a person, as they or an admin give it: a name, and a given and family name or none. */
export interface ProfileChanges {
  name?: string;
  /** Empty or null: none. */
  givenName?: string | null;
  familyName?: string | null;
}

const optionalName = z.string().trim().max(200).refine(isStorableText, NUL_MESSAGE).refine(isOneLine, ONE_LINE_MESSAGE).nullable().optional();
const profileSchema = z.object({ name: newUserSchema.shape.name.optional(), givenName: optionalName, familyName: optionalName });

/** The claims a profile change can change (OIDC Core §5.1), with their new values; null: gone. */
export type ChangedNames = Partial<Record<'name' | 'given_name' | 'family_name', string | null>>;

/**
 * What new names would change for `current`, checked as at creation, by claim: an emptied given
 * or family name is null (the claim goes). Empty when nothing would change.
 */
export function profileChangesOf(current: Pick<User, 'name' | 'givenName' | 'familyName'>, changes: ProfileChanges): ChangedNames {
  const parsed = profileSchema.safeParse(changes);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new GatehouseError('invalid_input', issue.message, String(issue.path[0] ?? ''), fieldWords(issue));
  }
  const wanted = parsed.data;
  const changed: ChangedNames = {};
  if (wanted.name !== undefined && wanted.name !== current.name) changed.name = wanted.name;
  if (wanted.givenName !== undefined && (wanted.givenName || null) !== current.givenName) changed.given_name = wanted.givenName || null;
  if (wanted.familyName !== undefined && (wanted.familyName || null) !== current.familyName) changed.family_name = wanted.familyName || null;
  return changed;
}

export interface UserQuery extends PageRequest {
  /** The start of an email or name, any case. */
  search?: string;
}

/** `like` pattern for "starts with", with the pattern characters of the prefix taken literally. */
function startsWith(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** The words of a person's record, which their password must not be made of. */
function personalWords(user: { email: string; name: string; givenName?: string | null; familyName?: string | null }): string[] {
  return [user.email, user.name, user.givenName ?? '', user.familyName ?? ''].filter(Boolean);
}

export type AuthenticationResult =
  | { ok: true; user: User }
  | { ok: false; reason: 'unknown_email' | 'wrong_password' | 'disabled' | 'invited'; userId?: string }
  /** The right password for an account whose sign-up is not verified yet: the one caller who may be told so. */
  | { ok: false; reason: 'unverified'; userId: string; user: User };

/**
 * How a new account starts: `active` (an admin set its password), `invited` (no password; an
 * invitation will set it), `unverified` (a sign-up: its own password, usable once the address is
 * verified).
 */
export type NewAccount = 'active' | 'invited' | 'unverified';

/**
 * Locks the person's row until `trx` ends; false if there is no such person. Acts on a person that
 * also change their sessions, grants, factors or links take this row first, so that two at once
 * wait for each other instead of each holding what the other needs (a deadlock, which PostgreSQL
 * ends by failing one). FOR NO KEY UPDATE, as an update of the row would take: it leaves alone
 * the foreign-key checks of rows inserted for the person (a link, a factor), which would
 * otherwise wait on it, and could close a cycle of their own. For a module that does not read the person.
 */
export async function lockPerson(trx: Database, userId: string): Promise<boolean> {
  if (typeof userId !== 'string' || !isUuidPattern.test(userId)) return false;
  return (await trx('users').where({ id: userId }).forNoKeyUpdate().first('id')) !== undefined;
}

export class UserStore {
  constructor(
    private readonly db: Database,
    private readonly passwords: PasswordHasher,
  ) {}

  async create(input: NewUser, trx: Database = this.db, as: NewAccount = 'active'): Promise<User> {
    const parsed = newUserSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new GatehouseError('invalid_input', issue.message, String(issue.path[0] ?? ''), fieldWords(issue));
    }
    const user = parsed.data;
    let passwordHash: string | null = null;
    if (as === 'invited') {
      if (user.password !== undefined) throw new GatehouseError('invalid_input', 'An invited person chooses their own password.', 'password');
    } else {
      const problem = checkNewPassword(user.password ?? '', personalWords(user));
      if (problem) throw new GatehouseError('weak_password', problem.message, 'password', problem.words);
      passwordHash = await this.passwords.hash(user.password!);
    }
    const now = trx.raw('now()');
    const [row] = await trx<UserRow>('users')
      .insert({
        email: user.email,
        name: user.name,
        given_name: user.givenName ?? null,
        family_name: user.familyName ?? null,
        email_verified: user.emailVerified ?? false,
        is_admin: user.isAdmin ?? false,
        password_hash: passwordHash,
        invited_at: as === 'invited' ? now : null,
        activated_at: as === 'active' ? now : null,
      } as never)
      .returning(USER_COLUMNS)
      .catch((error: unknown) => {
        if (isUniqueViolation(error)) {
          throw new GatehouseError('email_taken', `An account with the email ${user.email} already exists.`, 'email', { key: 'problem.emailTaken' });
        }
        throw error;
      });
    return userFromRow(row!);
  }

  async findById(id: string, trx: Database = this.db): Promise<User | undefined> {
    if (typeof id !== 'string' || !isUuidPattern.test(id)) return undefined;
    const row = await trx<UserRow>('users').select([...USER_COLUMNS]).where({ id }).first();
    return row ? userFromRow(row) : undefined;
  }

  /**
   * The person, their row locked until `trx` ends (as lockPerson locks it): for a change worked out
   * from what is there now, and for acts that take the person's row before the rest of theirs.
   */
  async findForUpdate(id: string, trx: Database): Promise<User | undefined> {
    if (typeof id !== 'string' || !isUuidPattern.test(id)) return undefined;
    const row = await trx<UserRow>('users').select([...USER_COLUMNS]).where({ id }).forNoKeyUpdate().first();
    return row ? userFromRow(row) : undefined;
  }

  /**
   * People oldest first, keyset-paginated on (created_at, id). A search matches the start of the
   * email or the name in any case, in the `lower(...) like 'prefix%'` form the text_pattern_ops
   * indexes of migration 005 serve.
   */
  async list(query: UserQuery = {}): Promise<Page<User>> {
    const limit = pageSize(query.limit);
    const search = query.search?.trim() ?? '';
    if (search.length > 254 || !isStorableText(search)) return { items: [], nextCursor: null };
    const rows = this.db<UserRow>('users')
      .select([...USER_COLUMNS])
      .select(this.db.raw(`${cursorTimestamp('created_at')} as cursor_at`))
      .orderBy([{ column: 'created_at', order: 'asc' }, { column: 'id', order: 'asc' }])
      .limit(limit + 1);
    if (search) {
      const pattern = startsWith(search);
      rows.where((q) => q.whereRaw('lower(email) like lower(?)', [pattern]).orWhereRaw('lower(name) like lower(?)', [pattern]));
    }
    if (query.cursor !== undefined) {
      const [at, id] = decodeCursor(query.cursor, ['timestamp', 'text']);
      if (!isUuidPattern.test(id!)) throw new GatehouseError('invalid_input', 'The cursor is not one this API returned.', 'cursor');
      rows.whereRaw('(created_at, id) > (?::timestamptz, ?::uuid)', [at!, id!]);
    }
    const found = (await rows) as unknown as Array<Omit<UserRow, 'password_hash'> & { cursor_at: string }>;
    return pageOf(found, limit, userFromRow, (row) => [row.cursor_at, row.id]);
  }

  /** Disables or re-enables a person; undefined if there is no such person. Keeps the first disabled_at. */
  async setDisabled(id: string, disabled: boolean, trx: Database = this.db): Promise<User | undefined> {
    if (typeof id !== 'string' || !isUuidPattern.test(id)) return undefined;
    const [row] = await trx<UserRow>('users')
      .where({ id })
      .update({ disabled_at: disabled ? trx.raw('coalesce(disabled_at, now())') : null } as never)
      .returning(USER_COLUMNS);
    return row ? userFromRow(row) : undefined;
  }

  /** The language the person last used (src/i18n/), for the mails they do not cause themselves. */
  async rememberLocale(id: string, locale: string, trx: Database = this.db): Promise<void> {
    // Not a change to the profile apps see: updated_at stays.
    await trx('users').where({ id }).update({ locale } as never);
  }

  /** An administrator removed the person's second factors: their next sign-in tells them (takeFactorsReset). */
  async markFactorsReset(id: string, trx: Database = this.db): Promise<void> {
    await trx('users').where({ id }).update({ factors_reset_at: trx.fn.now() } as never);
  }

  /**
   * The moment of an administrator's factor reset the person has not been told of, taken so that
   * it is told once; undefined when there is none. `known`, the person's row as the sign-in
   * already read it, spares the query when it shows nothing to tell.
   */
  async takeFactorsReset(id: string, known?: Pick<User, 'factorsResetAt'>): Promise<Date | undefined> {
    if (known && known.factorsResetAt === null) return undefined;
    if (typeof id !== 'string' || !isUuidPattern.test(id)) return undefined;
    // The row is locked as it is read: two sign-ins at once tell it once.
    const { rows } = await this.db.raw<{ rows: Array<{ was: Date }> }>(
      `update users set factors_reset_at = null
         from (select id, factors_reset_at as was from users where id = ? and factors_reset_at is not null for update) earlier
        where users.id = earlier.id
    returning earlier.was`,
      [id],
    );
    return rows[0] ? new Date(rows[0].was) : undefined;
  }

  /**
   * Marks the person's address verified, but only while it is still `email` (the address a link
   * was sent to): false when the account has another address by now, or no such person.
   * Only a followed verification link calls this (src/verification/).
   */
  async markEmailVerified(id: string, email: string, trx: Database = this.db): Promise<boolean> {
    if (typeof id !== 'string' || !isUuidPattern.test(id)) return false;
    const changed = await trx('users').where({ id, email }).update({ email_verified: true, updated_at: trx.raw('now()') } as never);
    return deletedRows(changed) > 0;
  }

  /**
   * Moves the person from address `from` to `to`, verified (a followed link) or not (an admin's
   * change). Undefined when their address is no longer `from`; `email_taken` when another account
   * has `to` in any case (users_email_lower_key decides, at this very moment).
   */
  async replaceEmail(id: string, from: string, to: string, verified: boolean, trx: Database = this.db): Promise<User | undefined> {
    if (typeof id !== 'string' || !isUuidPattern.test(id)) return undefined;
    const [row] = await trx<UserRow>('users')
      .where({ id, email: from })
      .update({ email: to, email_verified: verified, updated_at: trx.raw('now()') } as never)
      .returning(USER_COLUMNS)
      .catch((error: unknown) => {
        if (isUniqueViolation(error)) throw new GatehouseError('email_taken', 'Another account already uses that email address.', 'email', { key: 'problem.emailTaken' });
        throw error;
      });
    return row ? userFromRow(row) : undefined;
  }

  /** Writes what profileChangesOf found changed; the person as they are now, undefined if there is no such person. */
  async updateProfile(id: string, changed: ChangedNames, trx: Database = this.db): Promise<User | undefined> {
    if (!isUuidPattern.test(id)) return undefined;
    const [row] = await trx<UserRow>('users')
      .where({ id })
      .update({
        ...('name' in changed ? { name: changed.name } : {}),
        ...('given_name' in changed ? { given_name: changed.given_name } : {}),
        ...('family_name' in changed ? { family_name: changed.family_name } : {}),
        updated_at: trx.raw('now()'),
      } as never)
      .returning(USER_COLUMNS);
    return row ? userFromRow(row) : undefined;
  }

  /**
   * Replaces a person's password, checked as at creation. Hashed before the UPDATE, so a
   * transaction around this holds no row lock while argon2 runs. Undefined if there is no such person.
   */
  async setPassword(id: string, password: string, trx: Database = this.db): Promise<User | undefined> {
    const user = await this.findById(id, trx);
    if (!user) return undefined;
    const problem = checkNewPassword(password, personalWords(user));
    if (problem) throw new GatehouseError('weak_password', problem.message, 'password', problem.words);
    const passwordHash = await this.passwords.hash(password);
    const [row] = await trx<UserRow>('users')
      .where({ id })
      .update({ password_hash: passwordHash, password_changed_at: trx.raw('now()') } as never)
      .returning(USER_COLUMNS);
    return row ? userFromRow(row) : undefined;
  }

  /**
   * Whether this is the person's current password (self-service asks before changing it).
   * An unknown person costs a verification too.
   */
  async verifyPassword(userId: string, password: string): Promise<boolean> {
    const row = typeof userId === 'string' && isUuidPattern.test(userId)
      ? await this.db<UserRow>('users').first('password_hash').where({ id: userId })
      : undefined;
    if (typeof password !== 'string') return false;
    if (!row?.password_hash) return this.passwords.verifyDecoy(password);
    return this.passwords.verify(row.password_hash, password);
  }

  /** Records that an invitation was (re)sent to a person who has not accepted one; undefined if there is no such person. */
  async markInvited(id: string, trx: Database = this.db): Promise<User | undefined> {
    if (typeof id !== 'string' || !isUuidPattern.test(id)) return undefined;
    const [row] = await trx<UserRow>('users').where({ id }).whereNull('activated_at')
      .update({ invited_at: trx.raw('now()') } as never).returning(USER_COLUMNS);
    return row ? userFromRow(row) : undefined;
  }

  /**
   * Makes a pending account usable, once its holder proved the address is theirs (they followed a
   * link mailed to it): the address becomes verified, and an invited person's chosen password is
   * set (checked as every password is). Undefined if the person is gone or already active.
   */
  async activate(id: string, proof: { email: string; password?: string }, trx: Database = this.db): Promise<User | undefined> {
    const user = await this.findById(id, trx);
    if (!user || user.activatedAt || user.email.toLowerCase() !== proof.email.toLowerCase()) return undefined;
    let change: Record<string, unknown> = {};
    if (proof.password !== undefined) {
      const problem = checkNewPassword(proof.password, personalWords(user));
      if (problem) throw new GatehouseError('weak_password', problem.message, 'password', problem.words);
      change = { password_hash: await this.passwords.hash(proof.password), password_changed_at: trx.raw('now()') };
    }
    const update = trx<UserRow>('users').where({ id }).whereNull('activated_at').whereRaw('lower(email) = lower(?)', [proof.email]);
    // Without a new password, only an account that already has one (a sign-up) can become active.
    if (proof.password === undefined) update.whereNotNull('password_hash');
    const [row] = await update
      .update({ ...change, email_verified: true, activated_at: trx.raw('now()'), updated_at: trx.raw('now()') } as never)
      .returning(USER_COLUMNS);
    return row ? userFromRow(row) : undefined;
  }

  /** Spends the time checking a password costs, where there is no account to check it against (no enumeration by timing). */
  async spendPasswordCheck(password: string): Promise<void> {
    await this.passwords.verifyDecoy(typeof password === 'string' ? password : '');
  }

  /** Deletes the person's row; false if there was none. Their sessions and grants are the caller's to end first. */
  /**
   * Whether `id` is an active administrator (enabled, invitation or sign-up done) and no other is:
   * an act that would disable or delete them would leave Gatehouse with no one to administer it.
   * Every active administrator's row is taken first, in id order, so two such acts at once (two
   * admins removing each other) run one after the other and the second sees the first's outcome.
   * Call it first in the act's transaction: it takes the person's row too, as the act would.
   */
  async isLastAdmin(id: string, trx: Database): Promise<boolean> {
    if (typeof id !== 'string' || !isUuidPattern.test(id)) return false;
    const admins = await trx<UserRow>('users').select('id').where({ is_admin: true }).whereNull('disabled_at').whereNotNull('activated_at')
      .orderBy('id').forNoKeyUpdate();
    return admins.length === 1 && admins[0]!.id === id;
  }

  async delete(id: string, trx: Database = this.db): Promise<boolean> {
    if (typeof id !== 'string' || !isUuidPattern.test(id)) return false;
    return deletedRows(await trx('users').where({ id }).delete()) > 0;
  }

  /**
   * Sign-ups nobody verified (never activated, never invited) made before `before`, oldest first,
   * after `after` (the last of the previous page): for the janitor.
   */
  async unverifiedSignUpsBefore(before: Date, limit: number, after?: { createdAt: Date; id: string }): Promise<Array<{ id: string; createdAt: Date }>> {
    const query = this.db('users')
      .select('id', 'created_at')
      .whereNull('activated_at')
      .whereNull('invited_at')
      .where('created_at', '<', before)
      .orderBy([{ column: 'created_at' }, { column: 'id' }])
      .limit(limit);
    if (after) query.whereRaw('(created_at, id) > (?, ?)', [after.createdAt, after.id]);
    const rows: Array<{ id: string; created_at: Date }> = await query;
    return rows.map((row) => ({ id: row.id, createdAt: new Date(row.created_at) }));
  }

  /**
   * Locks a person's row for the rest of `trx` while they are still a sign-up nobody verified:
   * true if they are. The janitor deleting an abandoned sign-up and a sign-in sending it a new
   * link both take it first, so one waits for the other.
   */
  async lockUnverified(id: string, trx: Database): Promise<boolean> {
    if (typeof id !== 'string' || !isUuidPattern.test(id)) return false;
    const row = await trx('users').select('id').where({ id }).whereNull('activated_at').whereNull('invited_at').forUpdate().first();
    return row !== undefined;
  }

  /** The email and name of each of these people, in one query; ids that name no one are skipped. */
  async namesOf(ids: readonly string[]): Promise<Map<string, { email: string; name: string }>> {
    const wanted = [...new Set(ids.filter((id) => typeof id === 'string' && isUuidPattern.test(id)))];
    if (wanted.length === 0) return new Map();
    const rows = await this.db<UserRow>('users').select('id', 'email', 'name').whereIn('id', wanted);
    return new Map(rows.map((row) => [row.id, { email: row.email, name: row.name }]));
  }

  async findByEmail(email: string, trx: Database = this.db): Promise<User | undefined> {
    if (typeof email !== 'string' || email.length > 254 || !isStorableText(email)) return undefined;
    const row = await trx<UserRow>('users').select([...USER_COLUMNS]).whereRaw('lower(email) = lower(?)', [email]).first();
    return row ? userFromRow(row) : undefined;
  }

  /**
   * Checks an email and password. Unknown emails cost one argon2 verification like wrong
   * passwords do, so timing does not tell them apart; the reason is for server-side logs only.
   */
  async authenticate(email: string, password: string): Promise<AuthenticationResult> {
    const row = typeof email === 'string' && email.length <= 254 && isStorableText(email)
      ? await this.db<UserRow>('users').select([...USER_COLUMNS, 'password_hash']).whereRaw('lower(email) = lower(?)', [email.trim()]).first()
      : undefined;
    if (!row) {
      await this.passwords.verifyDecoy(password);
      return { ok: false, reason: 'unknown_email' };
    }
    // No password yet: any password is wrong, after the same work a wrong one costs.
    if (row.password_hash === null) {
      await this.passwords.verifyDecoy(password);
      return { ok: false, reason: 'invited', userId: row.id };
    }
    if (!(await this.passwords.verify(row.password_hash, password))) {
      return { ok: false, reason: 'wrong_password', userId: row.id };
    }
    if (row.disabled_at) return { ok: false, reason: 'disabled', userId: row.id };
    if (!row.activated_at) return { ok: false, reason: 'unverified', userId: row.id, user: userFromRow(row) };
    if (this.passwords.needsRehash(row.password_hash)) {
      await this.db('users').where({ id: row.id }).update({ password_hash: await this.passwords.hash(password) });
    }
    return { ok: true, user: userFromRow(row) };
  }
}

/** OIDC standard claims for the scopes Gatehouse supports (OIDC Core §5.4). */
export function standardClaims(user: User): Record<string, unknown> {
  return {
    sub: user.id,
    name: user.name,
    given_name: user.givenName ?? undefined,
    family_name: user.familyName ?? undefined,
    updated_at: Math.floor(user.updatedAt.getTime() / 1000),
    email: user.email,
    email_verified: user.emailVerified,
  };
}
