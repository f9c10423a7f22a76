import type { Knex } from 'knex';

// Room for a person who exists before they can sign in (issue #15: invitations and sign-up):
//
//   password_hash  nullable: an invited person has none until they accept and choose one
//   invited_at     when the latest invitation was sent; null for anyone who was not invited
//   activated_at   when the account became usable: created with a password by an admin (now, and
//                  every account before this migration), an invitation accepted, or a sign-up's
//                  address verified. Null: the account exists but cannot sign in or hold tokens.
//                  Defaults to now(): an instance still running the code before this migration
//                  (a rolling deploy) creates people with a password and no word of activation,
//                  and they must be able to sign in. This code always says which it means.
//
// An active account has a password (until passkeys, issue #14, give it another way in).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.timestamp('invited_at', { useTz: true });
    t.timestamp('activated_at', { useTz: true }).defaultTo(knex.fn.now());
  });
  await knex.raw('update users set activated_at = created_at');
  await knex.raw('alter table users alter column password_hash drop not null');
  await knex.raw('alter table users add constraint users_active_has_password check (activated_at is null or password_hash is not null)');
  // Cached people (src/people/cache.ts) must hear of an activation: it decides findAccount's answer.
  await knex.raw('drop trigger if exists gatehouse_users_notify_update on users');
  await knex.raw(`create trigger gatehouse_users_notify_update
    after update of disabled_at, activated_at, email, email_verified, name, given_name, family_name on users for each row
    when (old.disabled_at is distinct from new.disabled_at or old.activated_at is distinct from new.activated_at
      or old.email is distinct from new.email
      or old.email_verified is distinct from new.email_verified or old.name is distinct from new.name
      or old.given_name is distinct from new.given_name or old.family_name is distinct from new.family_name)
    execute function gatehouse_user_changed()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop trigger if exists gatehouse_users_notify_update on users');
  await knex.raw(`create trigger gatehouse_users_notify_update
    after update of disabled_at, email, email_verified, name, given_name, family_name on users for each row
    when (old.disabled_at is distinct from new.disabled_at or old.email is distinct from new.email
      or old.email_verified is distinct from new.email_verified or old.name is distinct from new.name
      or old.given_name is distinct from new.given_name or old.family_name is distinct from new.family_name)
    execute function gatehouse_user_changed()`);
  // People who never chose a password cannot survive the older schema.
  await knex.raw('delete from users where password_hash is null');
  await knex.raw('alter table users drop constraint users_active_has_password');
  await knex.raw('alter table users alter column password_hash set not null');
  await knex.schema.alterTable('users', (t) => {
    t.dropColumn('invited_at');
    t.dropColumn('activated_at');
  });
}
