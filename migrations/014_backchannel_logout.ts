import type { Knex } from 'knex';

// OpenID Connect Back-Channel Logout 1.0 (§2.2): where an app wants its logout tokens, and whether
// it needs each to name the session (`sid`) it ends.
//
//   backchannel_logout_uri                absolute http(s) URL, no fragment (https in production);
//                                         null: the app is told nothing
//   backchannel_logout_session_required   the app needs `sid` in every logout token, so it is sent
//                                         only those that end a session Gatehouse can name
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clients', (t) => {
    t.text('backchannel_logout_uri');
    t.boolean('backchannel_logout_session_required').notNullable().defaultTo(false);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clients', (t) => {
    t.dropColumn('backchannel_logout_uri');
    t.dropColumn('backchannel_logout_session_required');
  });
}
