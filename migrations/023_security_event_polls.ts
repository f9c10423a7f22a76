import type { Knex } from 'knex';

// Security events that wait for their receiver to poll for them (RFC 8936; src/security-events/
// polls.ts): one row per SET, written in the transaction of the act that caused it, as pushed SETs
// are written to the outbox, and deleted when the receiver acknowledges it.
//
//   receiver    whose it is: 'security-events:app:<client_id>' or 'security-events:api:<identifier>'
//               (src/security-events/receivers.ts, queueOf: the name its pushes are queued under)
//   jti         the SET's id, what a receiver acknowledges
//   sealed      the SET's claims, sealed as the outbox's payloads are (AES-256-GCM under a key
//               derived from KEY_ENCRYPTION_KEY, bound to the jti): they name people, and a claims
//               change carries the new address or name. Signed when handed out
//   created_at  when the act was: SETs are handed out in this order, and SECURITY_EVENTS_DROP_AFTER
//               after it an unacknowledged one is dropped (the janitor)
//
// Every insert announces itself on the change feed (migration 003's channel, key
// 'security-event-poll:<receiver>'), so a poll held open on another instance answers at once.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('security_event_polls', (t) => {
    t.bigIncrements('id').primary();
    t.text('receiver').notNullable();
    t.text('jti').notNullable().unique();
    t.text('sealed').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
  });
  // A poll reads a receiver's oldest SETs first; the janitor drops the oldest of all.
  await knex.raw('create index security_event_polls_receiver_idx on security_event_polls (receiver, created_at, id)');
  await knex.raw('create index security_event_polls_created_at_idx on security_event_polls (created_at)');
  await knex.raw(`
    create or replace function gatehouse_security_event_poll_added() returns trigger
    language plpgsql as $$
    begin
      perform gatehouse_notify_change('security-event-poll', new.receiver);
      return null;
    end $$`);
  await knex.raw('create trigger gatehouse_security_event_poll_notify after insert on security_event_polls for each row execute function gatehouse_security_event_poll_added()');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop trigger if exists gatehouse_security_event_poll_notify on security_event_polls');
  await knex.raw('drop function if exists gatehouse_security_event_poll_added()');
  await knex.schema.dropTableIfExists('security_event_polls');
}
