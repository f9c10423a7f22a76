// The writer's side of the outbox: how a feature says "deliver this" so that the delivery commits
// or rolls back with the act that causes it. A mail about a password change is written in the
// password change's own transaction: no mail for a change that rolled back, and no change whose
// mail is lost because the process died before sending it. The sender (./sender.ts) delivers.
//
// Payloads are sealed before they reach the database (src/crypto/sealed.ts): a recovery link in a
// backup or a replica is as good as a password.
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { composeMail, type MailMessage } from '../email/message.js';
import type { LogoutNotice } from '../logout/logout-token.js';
import type { SecurityEventDelivery } from '../security-events/delivery.js';
import { openJson, sealJson, subkey } from '../crypto/sealed.js';
import { insertRow } from './store.js';

/**
 * What the outbox can carry, by kind. A kind names a delivery channel: a member here and a channel
 * in the sender (./deliveries.ts).
 */
export interface OutboxPayloads {
  mail: MailMessage;
  /** A back-channel logout token to one app, signed when delivered (src/logout/). */
  'backchannel-logout': LogoutNotice;
  /** A Security Event Token for one receiver (src/security-events/), pushed by RFC 8935. */
  'security-event': SecurityEventDelivery;
}

export type OutboxKind = keyof OutboxPayloads;

/**
 * `queue`: entries sharing one are delivered one at a time in the order enqueued, a later one
 * waiting while an earlier one is retried (e.g. one queue per receiver of security events).
 */
export type OutboxEntry = { [K in OutboxKind]: { kind: K; payload: OutboxPayloads[K]; queue?: string } }[OutboxKind];

/** Called must be inside a transaction: the act and its delivery commit together or not at all. */
export class OutsideTransactionError extends Error {
  constructor() {
    super('outbox.enqueue must be given the transaction of the act that causes the delivery');
    this.name = 'OutsideTransactionError';
  }
}

export class Outbox {
  readonly #key: Uint8Array;
  readonly #committed = new Set<() => void>();

  constructor(keyEncryptionKey: Uint8Array, private readonly now: () => number = Date.now) {
    this.#key = payloadKey(keyEncryptionKey);
  }

  /**
   * Writes `entry` in `trx`; returns its id (the Message-ID of a mail derives from it). Nothing is
   * delivered unless and until `trx` commits.
   */
  async enqueue(trx: Knex.Transaction, entry: OutboxEntry): Promise<string> {
    if (!trx?.isTransaction) throw new OutsideTransactionError();
    const id = await this.#insert(trx, entry);
    // This instance's sender hears of it as soon as the transaction ends, without waiting for the
    // change feed (and on the embedded database, which has none). After a rollback the wake finds
    // nothing to do; the caller hears of the rollback from its own promise.
    trx.executionPromise.then(this.#wake, this.#wake);
    return id;
  }

  /**
   * Writes `entry` on its own, committed at once: for a delivery no act causes (a sign-in's
   * notice). One statement needs no transaction around it, so this saves the two round trips of
   * one on the sign-in path.
   */
  async enqueueAlone(db: Knex, entry: OutboxEntry): Promise<string> {
    const id = await this.#insert(db, entry);
    this.#wake();
    return id;
  }

  async #insert(db: Knex, entry: OutboxEntry): Promise<string> {
    const payload = entry.kind === 'mail' ? composeMail(entry.payload) : entry.payload;
    const id = randomUUID();
    await insertRow(db, { id, kind: entry.kind, payload: await sealJson(payload, this.#key, id), now: new Date(this.now()), queue: entry.queue });
    return id;
  }

  readonly #wake = () => { for (const listener of this.#committed) listener(); };

  /** `listener` runs whenever a transaction that enqueued something ends. For the sender. */
  onCommitted(listener: () => void): () => void {
    this.#committed.add(listener);
    return () => this.#committed.delete(listener);
  }
}

/** The key payloads are sealed under, derived from KEY_ENCRYPTION_KEY for this purpose alone. */
export function payloadKey(keyEncryptionKey: Uint8Array): Uint8Array {
  return subkey(keyEncryptionKey, 'outbox payload');
}

/** The payload of row `id`, opened; throws when it does not open under `key`. */
export function openPayload(sealed: string, key: Uint8Array, id: string): Promise<unknown> {
  return openJson(sealed, key, id);
}
