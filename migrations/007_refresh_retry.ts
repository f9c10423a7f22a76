import type { Knex } from 'knex';

// A refresh token's rotation keeps its successor for a short while, so that the same client
// retrying a refresh whose response it never read gets the same successor back instead of
// tripping reuse detection (src/tokens/refresh-retry.ts). Kept on the consumed token's row:
//   successor_sealed   the successor's value, AES-256-GCM under a key derived from the consumed
//                      token's value, which the database never holds: useless to anyone reading it
//   successor_digest   the successor's id_digest, so a retry checks in one query that it is unused
// The janitor clears both once the retry window has passed; the partial index keeps that sweep
// to the few rows rotated since its last run.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('oidc_records', (t) => {
    t.text('successor_sealed');
    t.text('successor_digest');
  });
  await knex.raw('create index oidc_records_successor_idx on oidc_records (consumed_at) where successor_sealed is not null');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists oidc_records_successor_idx');
  await knex.schema.alterTable('oidc_records', (t) => {
    t.dropColumn('successor_digest');
    t.dropColumn('successor_sealed');
  });
}
