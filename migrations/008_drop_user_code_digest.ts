import type { Knex } from 'knex';

// The device flow is off and Gatehouse stores no device codes (src/oidc/adapter.ts,
// refuseDeviceFlow), so nothing writes or reads user_code_digest any more. Dropping the column
// drops its unique index with it.
//
// Upgrading several instances sharing one database: an instance still running the previous
// release writes this column in every save, and fails once it is gone. Replace every instance
// (or stop the old ones) before the first new one starts and runs this migration.
export async function up(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists oidc_records_user_code_idx');
  await knex.schema.alterTable('oidc_records', (t) => {
    t.dropColumn('user_code_digest');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('oidc_records', (t) => {
    t.text('user_code_digest');
  });
  await knex.raw('create unique index oidc_records_user_code_idx on oidc_records (model, user_code_digest) where user_code_digest is not null');
}
