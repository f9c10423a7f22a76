import type { Knex } from 'knex';

// Each sign-in or session keeps only its newest few passkey challenges (src/passkeys/challenges.ts,
// MAX_LIVE_CHALLENGES): every challenge issued looks up the others of its binding, newest first.
// Without this index that lookup reads the whole table, which is what an option request repeated
// by the thousand would make large.
export async function up(knex: Knex): Promise<void> {
  await knex.raw('create index passkey_challenges_bound_to_idx on passkey_challenges (bound_to, expires_at)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists passkey_challenges_bound_to_idx');
}
