import type { Knex } from 'knex';

// Dynamic client registration (RFC 7591, src/registration/):
//
//   registration_tokens   initial access tokens an operator hands to a developer: the token only as
//                         its SHA-256 digest, the scopes an app registered with it may hold at most,
//                         how many registrations it allows (null: any) and how many it has made
//                         (counted in the registration's own transaction), when it stops working,
//                         and whether an operator revoked it
//   clients.registered_at       set for an app that registered itself, shown as such in the console
//   clients.registration_scope  the scopes it may hold at most, its token's; an update through
//                               RFC 7592 is held to the same ceiling
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('registration_tokens', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.text('token_digest').notNullable().unique();
    t.text('description');
    t.text('scope').notNullable();
    t.integer('max_uses');
    t.integer('uses').notNullable().defaultTo(0);
    t.timestamp('expires_at', { useTz: true });
    t.timestamp('revoked_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.schema.alterTable('clients', (t) => {
    t.timestamp('registered_at', { useTz: true });
    t.text('registration_scope');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clients', (t) => {
    t.dropColumn('registration_scope');
    t.dropColumn('registered_at');
  });
  await knex.schema.dropTableIfExists('registration_tokens');
}
