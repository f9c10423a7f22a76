import type { Knex } from 'knex';

// An address change a person asked for and has not yet confirmed (src/verification/). The new
// address takes effect only when the link mailed to it is followed; until then the account keeps
// its address, and this row says which change the link may make:
//
//   user_id       one pending change per account: asking again replaces it (and kills its link)
//   from_email    the address the account had when the change was asked for: if the account's
//                 address is another by the time the link is followed, the change is dead
//   to_email      the address the change is to; the link names the same one
//   requested_at  when it was asked for (the link's own expiry decides how long it lives)
//
// The verification link (one_time_links, purpose 'verification') alone cannot say this: a link to
// the account's own address verifies it, a link to another address may only change it when a row
// here, for the address the account still has, asks for exactly that.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('email_changes', (t) => {
    t.uuid('user_id').primary().references('id').inTable('users').onDelete('CASCADE');
    t.text('from_email').notNullable();
    t.text('to_email').notNullable();
    t.timestamp('requested_at', { useTz: true }).notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('email_changes');
}
