import type { Knex } from 'knex';

// Grants are cached by every instance (src/oidc/storage.ts, GrantAdapter), so userinfo and the
// code exchange need not read one per request. Migration 003 announces a grant only when it is
// deleted or its expiry brought forward — all the JWT truth cache depends on. A cached grant also
// depends on its payload: a person consenting to more scopes on one instance must show in userinfo
// on every other at once. So a Grant row whose payload changes announces itself too, on the same
// `grant:<id_digest>` key. Re-saving an unchanged grant (every authorization that reuses one) stays
// quiet: jsonb compares by value.
// A function of its own rather than 003's gatehouse_grant_changed, so that each migration's
// down() drops only what its up() made.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create or replace function gatehouse_grant_payload_changed() returns trigger
    language plpgsql as $$
    begin
      perform gatehouse_notify_change('grant', new.id_digest);
      return null;
    end $$`);
  await knex.raw(`
    create trigger gatehouse_grants_notify_payload
    after update of payload on oidc_records for each row
    when (old.model = 'Grant' and old.payload is distinct from new.payload)
    execute function gatehouse_grant_payload_changed()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop trigger if exists gatehouse_grants_notify_payload on oidc_records');
  await knex.raw('drop function if exists gatehouse_grant_payload_changed()');
}
