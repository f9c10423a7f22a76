import type { Knex } from 'knex';

// Sign-in throttling state shared by every instance (src/security/sign-in-throttle.ts), in the
// table layout rate-limiter-flexible's RateLimiterPostgres expects: one row per counter, `points`
// consumed in the current window and `expire` the window's end in epoch milliseconds. The store is
// told the table exists (`tableCreated: true`), so it never runs DDL while serving requests.
//
// Keys are HMAC digests (never an email or an address in clear), prefixed by the kind of counter.
// Expired rows are never read — the library resets a row whose window has passed on its next use —
// and the janitor deletes them (deleteExpiredRateLimits), using the index on expire.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('rate_limits', (t) => {
    t.string('key', 255).primary();
    t.integer('points').notNullable().defaultTo(0);
    t.bigInteger('expire');
  });
  await knex.raw('create index rate_limits_expire_idx on rate_limits (expire)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('rate_limits');
}
