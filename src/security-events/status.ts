// How a receiver's security events stand, for operators (the console's app and API pages): read
// from its outbox queue, whose rows the janitor keeps for OUTBOX_RETENTION.
import type { Database } from '../db/knex.js';
import { queueSummary, type QueueSummary } from '../outbox/store.js';
import { queueOf, type Receiver } from './receivers.js';

export type DeliveryStatus = QueueSummary;

export function deliveryStatus(db: Database, receiver: Receiver): Promise<DeliveryStatus> {
  return queueSummary(db, queueOf(receiver));
}
