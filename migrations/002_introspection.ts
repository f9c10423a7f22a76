import type { Knex } from 'knex';

// Introspection and revocation of JWT access tokens, which are never stored: a revoked one is
// remembered by the digest of its jti until it would have expired anyway.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('revoked_access_tokens', (t) => {
    t.text('jti_digest').primary();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('revoked_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw('create index revoked_access_tokens_expires_idx on revoked_access_tokens (expires_at)');

  // RFC 9701: an API registered for it receives introspection responses as signed JWTs.
  await knex.schema.alterTable('clients', (t) => {
    t.text('introspection_signed_response_alg');
    // private_key_jwt (RFC 7523): the client's public keys; it authenticates with signed assertions.
    t.jsonb('jwks');
  });
  // Which API a caller is, when it authenticates to introspect (joined on every client lookup).
  await knex.raw('create index resource_servers_client_idx on resource_servers (client_id) where client_id is not null');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists resource_servers_client_idx');
  await knex.schema.alterTable('clients', (t) => {
    t.dropColumn('introspection_signed_response_alg');
    t.dropColumn('jwks');
  });
  await knex.schema.dropTable('revoked_access_tokens');
}
