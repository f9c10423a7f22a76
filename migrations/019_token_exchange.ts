import type { Knex } from 'knex';

// Token exchange (RFC 8693, src/oidc/grants/token-exchange.ts): which downstream APIs an API may
// exchange a person's access token for. A list of identifiers on the calling API's own row, so the
// token endpoint reads it with the API it already looks up (cached, src/resources/cache.ts), and a
// change to it is a change to that row: migration 003's trigger announces it as `resource:<id>`.
// Deleting an API takes it out of every list (src/resources/store.ts), in the same transaction.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('resource_servers', (t) => {
    t.jsonb('may_exchange_for').notNullable().defaultTo('[]');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('resource_servers', (t) => {
    t.dropColumn('may_exchange_for');
  });
}
