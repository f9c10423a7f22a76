import type { Knex } from 'knex';

// Change notifications for the caches on the introspection path (src/db/notifications.ts). Every
// change that can turn a cached answer stale raises `pg_notify('gatehouse_changes', '<kind>:<id>')`
// from a trigger, so any writer — another instance, the CLI, an admin API, hand-written SQL —
// invalidates every instance's caches; a notification is delivered when its transaction commits,
// and PostgreSQL folds identical ones raised in the same transaction.
//
//   client:<client_id>        clients row inserted, updated or deleted; an API's row changed
//   resource:<identifier>     resource_servers row inserted, updated or deleted
//   user:<id>                 a person disabled, re-enabled, their claims changed, or deleted
//   grant:<id_digest>         a Grant deleted (revoked or expired), or its expiry brought forward
//   jti:<jti_digest>          a JWT access token revoked
//   flush                     a table truncated, or an id too long for a notification
//
// Row-level triggers with WHEN clauses rather than statement-level triggers with transition
// tables: oidc_records is the busiest table (sessions, interactions, codes, tokens), and a
// transition table would make every one of its deletes capture its old rows only for the trigger
// to ignore all but Grants. The WHEN clause costs a comparison per row and calls no function.
// revokeByGrantId's bulk deletes stay quiet (they delete tokens, not grants). Every Grant delete
// announces itself, the janitor's included: a cached answer is capped at its grant's expiry by the
// instance's clock, which may lag the database's.
const CHANNEL = 'gatehouse_changes';

/** Each trigger function, by name, with its body. */
const FUNCTIONS: Record<string, string> = {
  // pg_notify refuses payloads of 8000 bytes or more. Only hand-written SQL can store an id that
  // long; flushing every cache is the safe answer then, not failing the write.
  gatehouse_notify_change: `
    create or replace function gatehouse_notify_change(kind text, id text) returns void
    language plpgsql as $$
    begin
      if id is null then
        return;
      elsif octet_length(id) > 7900 then
        perform pg_notify('${CHANNEL}', 'flush');
      else
        perform pg_notify('${CHANNEL}', kind || ':' || id);
      end if;
    end $$`,
  gatehouse_client_changed: `
    create or replace function gatehouse_client_changed() returns trigger
    language plpgsql as $$
    begin
      if tg_op <> 'INSERT' then perform gatehouse_notify_change('client', old.client_id); end if;
      if tg_op <> 'DELETE' then perform gatehouse_notify_change('client', new.client_id); end if;
      return null;
    end $$`,
  // A client's metadata names the API it introspects for (a join), so both sides hear of it.
  gatehouse_resource_changed: `
    create or replace function gatehouse_resource_changed() returns trigger
    language plpgsql as $$
    begin
      if tg_op <> 'INSERT' then
        perform gatehouse_notify_change('resource', old.identifier);
        perform gatehouse_notify_change('client', old.client_id);
      end if;
      if tg_op <> 'DELETE' then
        perform gatehouse_notify_change('resource', new.identifier);
        perform gatehouse_notify_change('client', new.client_id);
      end if;
      return null;
    end $$`,
  gatehouse_user_changed: `
    create or replace function gatehouse_user_changed() returns trigger
    language plpgsql as $$
    begin
      perform gatehouse_notify_change('user', old.id::text);
      return null;
    end $$`,
  gatehouse_grant_changed: `
    create or replace function gatehouse_grant_changed() returns trigger
    language plpgsql as $$
    begin
      perform gatehouse_notify_change('grant', old.id_digest);
      return null;
    end $$`,
  gatehouse_jti_revoked: `
    create or replace function gatehouse_jti_revoked() returns trigger
    language plpgsql as $$
    begin
      perform gatehouse_notify_change('jti', new.jti_digest);
      return null;
    end $$`,
  gatehouse_table_truncated: `
    create or replace function gatehouse_table_truncated() returns trigger
    language plpgsql as $$
    begin
      perform pg_notify('${CHANNEL}', 'flush');
      return null;
    end $$`,
};

/** Each trigger, by name, with its table and definition (after `create trigger <name>`). */
const TRIGGERS: Array<[name: string, table: string, definition: string]> = [
  ['gatehouse_clients_notify', 'clients', 'after insert or update or delete on clients for each row execute function gatehouse_client_changed()'],
  ['gatehouse_resource_servers_notify', 'resource_servers', 'after insert or update or delete on resource_servers for each row execute function gatehouse_resource_changed()'],
  // Only what a cached answer depends on: whether the person is disabled, and the claims
  // findAccount releases (email is also introspection's `username`). A password change or a
  // rehash at sign-in touches none of them.
  ['gatehouse_users_notify_update', 'users',
    `after update of disabled_at, email, email_verified, name, given_name, family_name on users for each row
     when (old.disabled_at is distinct from new.disabled_at or old.email is distinct from new.email
       or old.email_verified is distinct from new.email_verified or old.name is distinct from new.name
       or old.given_name is distinct from new.given_name or old.family_name is distinct from new.family_name)
     execute function gatehouse_user_changed()`],
  ['gatehouse_users_notify_delete', 'users', 'after delete on users for each row execute function gatehouse_user_changed()'],
  ['gatehouse_grants_notify_delete', 'oidc_records',
    `after delete on oidc_records for each row
     when (old.model = 'Grant')
     execute function gatehouse_grant_changed()`],
  // Re-saving a grant extends its expiry, which no cached answer relies on; bringing it forward does.
  ['gatehouse_grants_notify_update', 'oidc_records',
    `after update of expires_at on oidc_records for each row
     when (old.model = 'Grant' and new.expires_at is not null and (old.expires_at is null or new.expires_at < old.expires_at))
     execute function gatehouse_grant_changed()`],
  ['gatehouse_revoked_access_tokens_notify', 'revoked_access_tokens', 'after insert or update on revoked_access_tokens for each row execute function gatehouse_jti_revoked()'],
  ...['clients', 'resource_servers', 'users', 'oidc_records', 'revoked_access_tokens'].map((table): [string, string, string] => [
    `gatehouse_${table}_notify_truncate`, table, `after truncate on ${table} for each statement execute function gatehouse_table_truncated()`,
  ]),
];

export async function up(knex: Knex): Promise<void> {
  for (const body of Object.values(FUNCTIONS)) await knex.raw(body);
  for (const [name, , definition] of TRIGGERS) await knex.raw(`create trigger ${name} ${definition}`);
}

export async function down(knex: Knex): Promise<void> {
  for (const [name, table] of TRIGGERS) await knex.raw(`drop trigger if exists ${name} on ${table}`);
  for (const name of Object.keys(FUNCTIONS).reverse()) await knex.raw(`drop function if exists ${name}${name === 'gatehouse_notify_change' ? '(text, text)' : '()'}`);
}
