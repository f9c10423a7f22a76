import type { Knex } from 'knex';

// The outbox (src/outbox/): what Gatehouse must deliver to the outside world — mail now, pushed
// security events and back-channel logout over HTTP later — written in the same transaction as the
// act that causes it, and delivered afterwards by a sender that retries with backoff.
//
//   kind             the delivery channel ('mail'); an instance claims only the kinds it can deliver
//   payload          what to deliver, sealed (AES-256-GCM under a key derived from
//                    KEY_ENCRYPTION_KEY): mail carries single-use links. Erased once settled
//   next_attempt_at  not before this; pushed back exponentially after each failed attempt
//   attempts         attempts begun, counted when claimed, so a message that crashes its sender
//                    still backs off
//   last_error       the last failure's class, code and message, never the payload
//   leased_by/until  the sender delivering it now; a crashed sender's lease lapses and another
//                    instance takes over
//   delivered_at     the receiving server accepted it
//   failed_at        given up (OUTBOX_GIVE_UP_AFTER), or its payload no longer opens
// The janitor deletes settled rows after OUTBOX_RETENTION. Settled rows keep their metadata until
// then, for operators.
//
// Every insert announces itself on the change feed (migration 003's channel, key 'outbox:<kind>'),
// so each instance's sender wakes when a message commits instead of polling for it; identical
// notifications in one transaction fold into one.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('outbox', (t) => {
    t.uuid('id').primary();
    t.text('kind').notNullable();
    t.text('payload');
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('next_attempt_at', { useTz: true }).notNullable();
    t.integer('attempts').notNullable().defaultTo(0);
    t.text('last_error');
    t.text('leased_by');
    t.timestamp('leased_until', { useTz: true });
    t.timestamp('delivered_at', { useTz: true });
    t.timestamp('failed_at', { useTz: true });
  });
  // What a sender looks for: the pending rows, by when they are due. Settled rows leave it.
  await knex.raw('create index outbox_pending_idx on outbox (next_attempt_at) where delivered_at is null and failed_at is null');
  // What the janitor looks for: settled rows, by when they settled.
  await knex.raw('create index outbox_settled_idx on outbox ((coalesce(delivered_at, failed_at))) where delivered_at is not null or failed_at is not null');
  await knex.raw(`
    create or replace function gatehouse_outbox_added() returns trigger
    language plpgsql as $$
    begin
      perform gatehouse_notify_change('outbox', new.kind);
      return null;
    end $$`);
  await knex.raw('create trigger gatehouse_outbox_notify after insert on outbox for each row execute function gatehouse_outbox_added()');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop trigger if exists gatehouse_outbox_notify on outbox');
  await knex.raw('drop function if exists gatehouse_outbox_added()');
  await knex.schema.dropTableIfExists('outbox');
}
