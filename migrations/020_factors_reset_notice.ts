import type { Knex } from 'knex';

// An administrator's factor reset (src/factors/acts.ts) is shown to the person at their next
// sign-in, once (issue #14): the moment of the reset waits on their own row until a sign-in takes
// it. On the row the password check already reads, so a sign-in with nothing to tell costs no
// query of its own.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.timestamp('factors_reset_at', { useTz: true }).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.dropColumn('factors_reset_at');
  });
}
