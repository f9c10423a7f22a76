import type { Knex } from 'knex';

// The first schema: people, the apps and APIs they deal with, signing keys, and oidc-provider's
// short-lived records. Nothing here holds a usable credential: tokens, codes, session and
// interaction ids are SHA-256 digests, client secrets are digests, private keys are encrypted
// with a key that lives outside the database.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('users', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.text('email').notNullable();
    t.boolean('email_verified').notNullable().defaultTo(false);
    t.text('name').notNullable();
    t.text('given_name');
    t.text('family_name');
    t.text('password_hash').notNullable();
    t.boolean('is_admin').notNullable().defaultTo(false);
    t.timestamp('disabled_at', { useTz: true });
    t.timestamp('password_changed_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  // Sign-in looks users up by email, case-insensitively.
  await knex.raw('create unique index users_email_lower_key on users (lower(email))');
  await knex.raw('create index users_created_at_id_idx on users (created_at, id)');

  await knex.schema.createTable('clients', (t) => {
    t.text('client_id').primary();
    t.text('name').notNullable();
    // base64url(SHA-256(secret)); secrets are 256 random bits, so a fast digest is enough.
    t.text('secret_digest');
    t.text('token_endpoint_auth_method').notNullable();
    t.jsonb('redirect_uris').notNullable().defaultTo('[]');
    t.jsonb('post_logout_redirect_uris').notNullable().defaultTo('[]');
    t.jsonb('grant_types').notNullable();
    t.text('scope').notNullable();
    t.boolean('is_admin').notNullable().defaultTo(false);
    t.timestamp('disabled_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('resource_servers', (t) => {
    // RFC 8707 resource indicator, an absolute URI.
    t.text('identifier').primary();
    t.text('name').notNullable();
    t.text('scope').notNullable();
    // What each scope lets an app do, in words shown on the consent page: {"read": "Read your notes"}.
    t.jsonb('scope_descriptions').notNullable().defaultTo('{}');
    t.integer('access_token_ttl');
    // The API clients get a token for when they send no `resource` parameter.
    t.boolean('is_default').notNullable().defaultTo(false);
    // The credentials the API uses to introspect (a client of its own; removing the API must
    // remove that client too — the foreign key only clears this column if the client goes first).
    t.text('client_id').references('client_id').inTable('clients').onDelete('SET NULL');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw('create unique index resource_servers_one_default on resource_servers (is_default) where is_default');

  await knex.schema.createTable('signing_keys', (t) => {
    t.text('kid').primary();
    t.text('alg').notNullable();
    t.jsonb('public_jwk').notNullable();
    // Compact JWE (dir, A256GCM) of the private JWK under KEY_ENCRYPTION_KEY.
    t.text('private_jwk_jwe').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // Published from creation; signs from activates_at until a newer key of its alg activates.
    t.timestamp('activates_at', { useTz: true }).notNullable();
    // Set when a newer key takes over: published until then, so tokens it signed still verify.
    t.timestamp('retired_at', { useTz: true });
    t.timestamp('unpublish_at', { useTz: true });
  });
  await knex.raw('create index signing_keys_alg_activates_idx on signing_keys (alg, activates_at desc)');

  // oidc-provider's models: sessions, interactions, grants, codes and tokens. One row per record,
  // keyed by the digest of its id; the payload never holds the id itself.
  await knex.schema.createTable('oidc_records', (t) => {
    t.text('model').notNullable();
    t.text('id_digest').notNullable();
    t.jsonb('payload').notNullable();
    t.text('grant_id');
    t.text('uid_digest');
    t.text('user_code_digest');
    t.text('account_id');
    t.text('client_id');
    t.timestamp('expires_at', { useTz: true });
    t.timestamp('consumed_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['model', 'id_digest']);
  });
  // revokeByGrantId: every token of a grant, per model.
  await knex.raw('create index oidc_records_grant_idx on oidc_records (grant_id, model) where grant_id is not null');
  await knex.raw('create unique index oidc_records_uid_idx on oidc_records (model, uid_digest) where uid_digest is not null');
  await knex.raw('create unique index oidc_records_user_code_idx on oidc_records (model, user_code_digest) where user_code_digest is not null');
  // The janitor deletes expired rows in batches.
  await knex.raw('create index oidc_records_expires_idx on oidc_records (expires_at) where expires_at is not null');
  // A person's sessions and grants, newest first (self-service and admin listings).
  await knex.raw('create index oidc_records_account_idx on oidc_records (account_id, model, created_at desc) where account_id is not null');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('oidc_records');
  await knex.schema.dropTable('signing_keys');
  await knex.schema.dropTable('resource_servers');
  await knex.schema.dropTable('clients');
  await knex.schema.dropTable('users');
}
