import type { Knex } from 'knex';

// Languages (src/i18n/):
//   users.locale                              the language the person last used (set when they sign
//                                             in or sign up), for mails they did not cause: notices,
//                                             invitations sent again. Null until then: DEFAULT_LOCALE.
//   resource_servers.localized_scope_descriptions
//                                             per language, what each scope lets an app do:
//                                             {"de": {"read": "..."}}. scope_descriptions stays the
//                                             default language's.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.text('locale').nullable();
  });
  await knex.schema.alterTable('resource_servers', (t) => {
    t.jsonb('localized_scope_descriptions').notNullable().defaultTo('{}');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.dropColumn('locale');
  });
  await knex.schema.alterTable('resource_servers', (t) => {
    t.dropColumn('localized_scope_descriptions');
  });
}
