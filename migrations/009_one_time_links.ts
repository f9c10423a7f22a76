import type { Knex } from 'knex';

// One-time links sent by mail (src/links/): recovering a password, verifying an address, accepting
// an invitation, signing in when a new browser is refused. Each is a bearer credential for one
// act on one account, so only its digest is kept (a dump of this table opens nothing), it expires,
// and it is spent by the first use.
//
//   purpose       what the link may do: 'recovery' | 'verification' | 'invitation' | 'sign_in'
//   token_digest  base64url(SHA-256(token)); the token (256 random bits) is only ever in the mail
//   user_id       whose account it acts on; the link goes with the account
//   email         the address it was sent to: a link for an address the account no longer has is
//                 dead, and a verification link verifies exactly this address
//   expires_at    spent or not, dead after this
//   consumed_at   set by the one use that wins; siblings of the same purpose die with it
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('one_time_links', (t) => {
    t.uuid('id').primary();
    t.text('purpose').notNullable();
    t.text('token_digest').notNullable().unique();
    t.uuid('user_id').notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.text('email').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('consumed_at', { useTz: true });
  });
  await knex.raw(`alter table one_time_links add constraint one_time_links_purpose_check
    check (purpose in ('recovery', 'verification', 'invitation', 'sign_in'))`);
  // A person's outstanding links of one purpose: spent together, revoked together, and counted.
  await knex.raw('create index one_time_links_user_idx on one_time_links (user_id, purpose) where consumed_at is null');
  // The janitor's sweep.
  await knex.raw('create index one_time_links_expiry_idx on one_time_links (expires_at)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('one_time_links');
}
