import type { Knex } from 'knex';

// Whether a person is an administrator is read through the people cache (src/people/cache.ts)
// when an admin API token is issued for them (src/oidc/configuration.ts, adminPersonStands), but
// the users trigger (003, then 010) did not announce it: a person no longer an administrator could
// still be issued admin API tokens for up to the cache's five minutes on an instance that had
// read them before. The trigger now announces is_admin too.
const COLUMNS_BEFORE = 'disabled_at, activated_at, email, email_verified, name, given_name, family_name';
const CHANGED_BEFORE = `old.disabled_at is distinct from new.disabled_at or old.activated_at is distinct from new.activated_at
      or old.email is distinct from new.email
      or old.email_verified is distinct from new.email_verified or old.name is distinct from new.name
      or old.given_name is distinct from new.given_name or old.family_name is distinct from new.family_name`;

async function notifyOn(knex: Knex, columns: string, changed: string): Promise<void> {
  await knex.raw('drop trigger if exists gatehouse_users_notify_update on users');
  await knex.raw(`create trigger gatehouse_users_notify_update
    after update of ${columns} on users for each row
    when (${changed})
    execute function gatehouse_user_changed()`);
}

export async function up(knex: Knex): Promise<void> {
  await notifyOn(knex, `${COLUMNS_BEFORE}, is_admin`, `${CHANGED_BEFORE}
      or old.is_admin is distinct from new.is_admin`);
}

export async function down(knex: Knex): Promise<void> {
  await notifyOn(knex, COLUMNS_BEFORE, CHANGED_BEFORE);
}
