import type { Knex } from 'knex';

// What administration needs: an append-only audit log; what a person's sessions show (device,
// address, last activity); a client secret's predecessor during a rotation's overlap; APIs that
// can be switched off; and the indexes behind every admin and self-service listing, each walked
// newest first with (created_at, key) as the keyset cursor.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('audit_events', (t) => {
    t.bigIncrements('id').primary();
    t.timestamp('occurred_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // src/audit/events.ts lists every type.
    t.text('type').notNullable();
    // Who did it: 'user' (a person, admin or not), 'client' (an automation client), 'system'
    // (Gatehouse itself, the CLI), 'anonymous' (a failed sign-in, a refused token).
    t.text('actor_type').notNullable();
    t.text('actor_id');
    // What it was about. Plain text, no foreign keys: the record outlives the user or client.
    t.text('user_id');
    t.text('client_id');
    t.text('ip');
    // Server-side detail (a failed sign-in's reason, the scopes revoked); never a secret.
    t.jsonb('details').notNullable().defaultTo('{}');
  });
  // The log is read newest first by (occurred_at, id) (src/audit/log.ts): every index ends in that
  // order, so a filter with a time window is one index range read from its newest end.
  await knex.raw('create index audit_events_occurred_idx on audit_events (occurred_at desc, id desc)');
  await knex.raw('create index audit_events_actor_idx on audit_events (actor_id, occurred_at desc, id desc) where actor_id is not null');
  await knex.raw('create index audit_events_user_idx on audit_events (user_id, occurred_at desc, id desc) where user_id is not null');
  await knex.raw('create index audit_events_client_idx on audit_events (client_id, occurred_at desc, id desc) where client_id is not null');
  await knex.raw('create index audit_events_type_idx on audit_events (type, occurred_at desc, id desc)');
  // The application only appends. Retention is the operator's: TRUNCATE or a partition drop,
  // deliberate acts outside the application, still work.
  await knex.raw(`
    create or replace function gatehouse_audit_append_only() returns trigger
    language plpgsql as $$
    begin
      raise exception 'audit_events is append-only' using errcode = 'insufficient_privilege';
    end $$`);
  await knex.raw(`create trigger gatehouse_audit_append_only before update or delete on audit_events
    for each row execute function gatehouse_audit_append_only()`);

  // Sessions: recorded from the request that saved them (src/oidc/adapter.ts).
  await knex.schema.alterTable('oidc_records', (t) => {
    t.text('user_agent');
    t.text('ip');
    t.timestamp('last_active_at', { useTz: true });
  });
  // Listings: a person's sessions or grants, and an app's grants, newest first, keyset-paginated.
  await knex.raw('drop index if exists oidc_records_account_idx');
  await knex.raw(`create index oidc_records_account_idx on oidc_records (account_id, model, created_at desc, id_digest desc)
    where account_id is not null`);
  await knex.raw(`create index oidc_records_client_grants_idx on oidc_records (client_id, created_at desc, id_digest desc)
    where model = 'Grant'`);

  await knex.schema.alterTable('clients', (t) => {
    // During a secret rotation's overlap the previous secret still authenticates, until it expires.
    t.text('previous_secret_digest');
    t.timestamp('previous_secret_expires_at', { useTz: true });
  });
  await knex.raw('create index clients_created_at_id_idx on clients (created_at, client_id)');

  await knex.schema.alterTable('resource_servers', (t) => {
    // A disabled API gets no new tokens; its introspection client is disabled with it.
    t.timestamp('disabled_at', { useTz: true });
  });
  await knex.raw('create index resource_servers_created_at_idx on resource_servers (created_at, identifier)');

  // Admin search: by email or name prefix, case-insensitively.
  await knex.raw('create index users_email_prefix_idx on users (lower(email) text_pattern_ops)');
  await knex.raw('create index users_name_prefix_idx on users (lower(name) text_pattern_ops)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists users_name_prefix_idx');
  await knex.raw('drop index if exists users_email_prefix_idx');
  await knex.raw('drop index if exists resource_servers_created_at_idx');
  await knex.schema.alterTable('resource_servers', (t) => t.dropColumn('disabled_at'));
  await knex.raw('drop index if exists clients_created_at_id_idx');
  await knex.schema.alterTable('clients', (t) => {
    t.dropColumn('previous_secret_digest');
    t.dropColumn('previous_secret_expires_at');
  });
  await knex.raw('drop index if exists oidc_records_client_grants_idx');
  await knex.raw('drop index if exists oidc_records_account_idx');
  await knex.raw('create index oidc_records_account_idx on oidc_records (account_id, model, created_at desc) where account_id is not null');
  await knex.schema.alterTable('oidc_records', (t) => {
    t.dropColumn('user_agent');
    t.dropColumn('ip');
    t.dropColumn('last_active_at');
  });
  await knex.schema.dropTable('audit_events');
  await knex.raw('drop function if exists gatehouse_audit_append_only()');
}
