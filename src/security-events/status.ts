// How a receiver's security events stand, for operators (the console's app and API pages): what
// its outbox queue holds for a push (rows the janitor keeps for OUTBOX_RETENTION), and what waits
// for its poll (./polls.ts).
import type { Database } from '../db/knex.js';
import { queueSummary, type QueueSummary } from '../outbox/store.js';
import { waitingForPoll } from './polls.js';
import { queueOf, type Receiver } from './receivers.js';

export interface DeliveryStatus extends QueueSummary {
  /** SETs waiting for the receiver to poll and acknowledge them, and since when the oldest has. */
  polled: { waiting: number; oldest: Date | null };
}

export async function deliveryStatus(db: Database, receiver: Receiver): Promise<DeliveryStatus> {
  const [pushed, polled] = await Promise.all([queueSummary(db, queueOf(receiver)), waitingForPoll(db, receiver)]);
  return { ...pushed, polled };
}
