import type { Knex } from 'knex';

// The ways a person proves who they are beyond their password (src/factors/). The password
// itself stays on users; passkeys keep a table of their own (src/passkeys/) and join the same
// listing through the Factor shape.
//
// factors                one row per second factor a person enrolled
//   kind                 'totp' (an authenticator app) or 'recovery_codes' (the set of ten)
//   name                 what the person calls it ("Phone"), shown on /account/security
//   secret_sealed        a TOTP secret, sealed under KEY_ENCRYPTION_KEY for this row's id
//                        (src/crypto/sealed.ts); null for recovery codes
//   confirmed_at         null while an authenticator app is being enrolled: such a row is no
//                        factor until one valid code confirms it
//   last_step            the newest RFC 6238 time step accepted: a code is accepted only for a
//                        later step (one atomic update), so no code works twice
//   created_at, last_used_at
//
// recovery_codes         one row per code of a person's current set; keyed digest only
//   used_at              set once, atomically, when the code is spent
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('factors', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('user_id').notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.text('kind').notNullable();
    t.text('name').notNullable();
    t.text('secret_sealed');
    t.timestamp('confirmed_at', { useTz: true });
    t.bigInteger('last_step');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_used_at', { useTz: true });
    t.index(['user_id']);
  });
  await knex.raw(`alter table factors add constraint factors_kind_check check (kind in ('totp', 'recovery_codes'))`);
  // An app's minimum authentication level (src/factors/levels.ts; CLI --require-acr): sign-ins
  // for it must reach this level or the app gets unmet_authentication_requirements.
  await knex.schema.alterTable('clients', (t) => {
    t.text('require_acr');
  });
  await knex.schema.createTable('recovery_codes', (t) => {
    t.uuid('factor_id').notNullable().references('id').inTable('factors').onDelete('CASCADE');
    t.text('digest').notNullable();
    t.timestamp('used_at', { useTz: true });
    t.primary(['factor_id', 'digest']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('recovery_codes');
  await knex.schema.dropTableIfExists('factors');
  await knex.schema.alterTable('clients', (t) => {
    t.dropColumn('require_acr');
  });
}
