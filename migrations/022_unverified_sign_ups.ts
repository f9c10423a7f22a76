import type { Knex } from 'knex';

// Sign-ups nobody verified, oldest first, for the janitor (src/enrolment/acts.ts deleteAbandoned):
// a partial index holds only those, so the sweep reads none of the activated accounts.
export async function up(knex: Knex): Promise<void> {
  await knex.raw('create index users_unverified_created_at_idx on users (created_at) where activated_at is null and invited_at is null');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists users_unverified_created_at_idx');
}
