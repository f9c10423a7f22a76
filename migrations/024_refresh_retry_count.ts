import type { Knex } from 'knex';

// How many times a rotation's kept successor was asked for (src/tokens/refresh-retry.ts): every
// retry of the rotated token within the window counts, in the statement that reads the successor.
// The audit log records a rotation's first forgiven retry only; the rest are counted in the metric
// and logged. Before, each retry wrote an audit entry, and the audit log keeps every entry: one app
// retrying within each window it opens could add thousands an hour. Null is none.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('oidc_records', (t) => {
    t.integer('successor_retries');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('oidc_records', (t) => {
    t.dropColumn('successor_retries');
  });
}
