// The passkeys table (migration 016): each person's registered WebAuthn credentials. Only public
// keys are kept; what may be shown of one (its name, when added and last used) is a `Factor`,
// the shape every sign-in factor is listed in on the account pages.
import type { Database } from '../db/knex.js';
import { isStorableKey } from '../db/text.js';
import { isUuidPattern } from '../people/users.js';

const TABLE = 'passkeys';

/** A passkey as the account pages list it, beside the person's other factors. */
export interface Factor {
  id: string;
  kind: 'passkey';
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}

/** A stored credential, with what verifying an assertion needs. */
export interface StoredPasskey extends Factor {
  userId: string;
  /** The authenticator's credential id, base64url. */
  credentialId: string;
  /** COSE public key, base64url. */
  publicKey: string;
  counter: number;
  transports: string[];
  backedUp: boolean;
}

export interface NewPasskey {
  userId: string;
  credentialId: string;
  publicKey: string;
  counter: number;
  transports: string[];
  backedUp: boolean;
  aaguid: string | null;
  name: string;
}

interface PasskeyRow {
  id: string;
  user_id: string;
  credential_id: string;
  public_key: string;
  counter: number | string;
  transports: string;
  backed_up: boolean;
  name: string;
  created_at: Date;
  last_used_at: Date | null;
}

/** A passkey's name: what the person typed, trimmed, or a default. */
export const MAX_NAME_LENGTH = 100;

/**
 * How many passkeys one person may have. Enough for every phone, laptop, security key and password
 * manager a person keeps, with room for the spares; a bound, so that neither a person nor someone
 * holding their session can pile up credentials (each one listed, offered and mailed about).
 */
export const MAX_PASSKEYS_PER_PERSON = 20;

/** The longest credential id we accept (the spec allows up to 1023 bytes, i.e. 1364 base64url characters). */
const MAX_CREDENTIAL_ID = 1400;

function fromRow(row: PasskeyRow): StoredPasskey {
  return {
    id: row.id,
    kind: 'passkey',
    userId: row.user_id,
    credentialId: row.credential_id,
    publicKey: row.public_key,
    counter: Number(row.counter),
    transports: row.transports.split(' ').filter(Boolean),
    backedUp: row.backed_up,
    name: row.name,
    createdAt: new Date(row.created_at),
    lastUsedAt: row.last_used_at ? new Date(row.last_used_at) : null,
  };
}

function asFactor(passkey: StoredPasskey): Factor {
  const { id, kind, name, createdAt, lastUsedAt } = passkey;
  return { id, kind, name, createdAt, lastUsedAt };
}

export class PasskeyStore {
  constructor(private readonly db: Database) {}

  /** Every passkey of a person, oldest first, as a factor to list. */
  async listFor(userId: string, db: Database = this.db): Promise<Factor[]> {
    return (await this.credentialsOf(userId, db)).map(asFactor);
  }

  /** Every passkey of a person with its credential, oldest first. */
  async credentialsOf(userId: string, db: Database = this.db): Promise<StoredPasskey[]> {
    if (!isUuidPattern.test(userId)) return [];
    const rows = await db<PasskeyRow>(TABLE).where({ user_id: userId }).orderBy([{ column: 'created_at' }, { column: 'id' }]);
    return rows.map(fromRow);
  }

  /** The passkey an assertion names, whoever it belongs to. */
  async findByCredentialId(credentialId: string): Promise<StoredPasskey | undefined> {
    if (!isStorableKey(credentialId, MAX_CREDENTIAL_ID)) return undefined;
    const row = await this.db<PasskeyRow>(TABLE).where({ credential_id: credentialId }).first();
    return row ? fromRow(row) : undefined;
  }

  /** One of this person's passkeys; undefined when the id names none of theirs. */
  async findOwn(userId: string, id: string, db: Database = this.db): Promise<StoredPasskey | undefined> {
    if (!isUuidPattern.test(userId) || !isUuidPattern.test(id)) return undefined;
    const row = await db<PasskeyRow>(TABLE).where({ id, user_id: userId }).first();
    return row ? fromRow(row) : undefined;
  }

  /** How many passkeys the person has. */
  async countFor(userId: string, db: Database = this.db): Promise<number> {
    if (!isUuidPattern.test(userId)) return 0;
    const [row] = await db(TABLE).where({ user_id: userId }).count<Array<{ count: string | number }>>('* as count');
    return Number(row?.count ?? 0);
  }

  /** Whether a credential id is registered already (to anyone). */
  async exists(credentialId: string, db: Database = this.db): Promise<boolean> {
    return (await db(TABLE).where({ credential_id: credentialId }).first('id')) !== undefined;
  }

  async add(passkey: NewPasskey, trx: Database): Promise<StoredPasskey> {
    const [row] = await trx<PasskeyRow>(TABLE).insert({
      user_id: passkey.userId,
      credential_id: passkey.credentialId,
      public_key: passkey.publicKey,
      counter: passkey.counter,
      transports: passkey.transports.join(' '),
      backed_up: passkey.backedUp,
      aaguid: passkey.aaguid,
      name: passkey.name,
    } as never).returning('*');
    return fromRow(row as PasskeyRow);
  }

  /** Renames one of the person's passkeys; false when it is none of theirs. */
  async rename(userId: string, id: string, name: string, trx: Database): Promise<boolean> {
    if (!isUuidPattern.test(userId) || !isUuidPattern.test(id)) return false;
    return (await trx(TABLE).where({ id, user_id: userId }).update({ name })) > 0;
  }

  /** Whether the person has any passkey (a second step after their password). */
  async hasAny(userId: string, db: Database = this.db): Promise<boolean> {
    if (!isUuidPattern.test(userId)) return false;
    return (await db(TABLE).where({ user_id: userId }).first('id')) !== undefined;
  }

  /**
   * Removes every passkey of the person (an administrator's factor reset); what was removed, as
   * factors with their transports (which tell a platform authenticator from a roaming one).
   */
  async removeAll(userId: string, trx: Database): Promise<Array<Factor & Pick<StoredPasskey, 'transports'>>> {
    if (!isUuidPattern.test(userId)) return [];
    const rows = await trx<PasskeyRow>(TABLE).where({ user_id: userId }).delete().returning('*');
    return (rows as PasskeyRow[]).map(fromRow).map((passkey) => ({ ...asFactor(passkey), transports: passkey.transports }));
  }

  /** Removes one of the person's passkeys; what was removed, or undefined when it was none of theirs. */
  async remove(userId: string, id: string, trx: Database): Promise<StoredPasskey | undefined> {
    if (!isUuidPattern.test(userId) || !isUuidPattern.test(id)) return undefined;
    const [row] = await trx<PasskeyRow>(TABLE).where({ id, user_id: userId }).delete().returning('*');
    return row ? fromRow(row as PasskeyRow) : undefined;
  }

  /**
   * Records a verified use: the new counter, the backup state the authenticator now reports, and
   * when. Only if the counter is still the one the assertion was checked against, so of two
   * assertions racing with one counter value only one counts; false for the other.
   */
  async recordUse(passkey: StoredPasskey, use: { counter: number; backedUp: boolean; at: Date }): Promise<boolean> {
    const updated = await this.db(TABLE)
      .where({ id: passkey.id, counter: passkey.counter })
      .update({ counter: use.counter, backed_up: use.backedUp, last_used_at: use.at });
    return updated > 0;
  }
}
