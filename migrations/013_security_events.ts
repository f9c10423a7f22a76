import type { Knex } from 'knex';

// Security events pushed to apps and APIs (src/security-events/, issue #16):
//
//   clients.events_endpoint           where an app receives Security Event Tokens (RFC 8935 push);
//   resource_servers.events_endpoint  the same for an API. Null: the receiver gets none.
//
// And one thing the outbox (migration 008) did not have: order.
//
//   outbox.queue  rows sharing a queue are delivered one at a time, in the order written: a row
//                 is claimable only while no earlier row of its queue is pending (a security
//                 event for a receiver waits while an earlier one is retrying). Null: no order,
//                 as mail has always been delivered.
//   outbox.seq    the order rows were written in (a sequence; created_at can tie within one act).
//
// The partial index is what the "no earlier pending row of this queue" test reads, and what the
// console's per-receiver delivery summary reads.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clients', (t) => {
    t.text('events_endpoint');
  });
  await knex.schema.alterTable('resource_servers', (t) => {
    t.text('events_endpoint');
  });
  await knex.raw('alter table outbox add column queue text');
  await knex.raw('alter table outbox add column seq bigserial');
  await knex.raw('create index outbox_queue_idx on outbox (queue, seq) where queue is not null');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists outbox_queue_idx');
  await knex.raw('alter table outbox drop column if exists seq');
  await knex.raw('alter table outbox drop column if exists queue');
  await knex.schema.alterTable('resource_servers', (t) => {
    t.dropColumn('events_endpoint');
  });
  await knex.schema.alterTable('clients', (t) => {
    t.dropColumn('events_endpoint');
  });
}
