import type { Knex } from 'knex';

// What an app says about itself (OpenID Connect Dynamic Client Registration §2, RFC 7591 §2): its
// home page, logo, privacy policy and terms of service, and who to contact about it. Stored so an
// RFC 7592 read returns what was registered, and so the consent page can link the policy and terms
// before a person allows the app (src/interaction/). Operators set them through the admin API.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clients', (t) => {
    t.text('client_uri');
    t.text('logo_uri');
    t.text('policy_uri');
    t.text('tos_uri');
    t.jsonb('contacts').notNullable().defaultTo('[]');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clients', (t) => {
    t.dropColumns('client_uri', 'logo_uri', 'policy_uri', 'tos_uri', 'contacts');
  });
}
