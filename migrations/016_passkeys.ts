import type { Knex } from 'knex';

// Passkeys (WebAuthn credentials, src/passkeys/). Only what verifies an assertion is kept: the
// credential's public key, never anything that could sign one.
//
//   passkeys             one row per credential a person registered
//     credential_id      the authenticator's id for it (base64url), unique across Gatehouse: an
//                        assertion names it, and it names the one person it signs in
//     public_key         the COSE public key (base64url)
//     counter            the highest signature counter seen; an assertion at or below it (when
//                        either is non-zero) means a cloned authenticator and is refused
//     transports         what the browser said reaches it (space-separated), as a hint back
//     backed_up          whether the credential is synced (amr "swk") or bound to one device ("hwk")
//     aaguid             the authenticator model, as it says itself (unverified: attestation "none")
//     name               the person's name for it
//     last_used_at       the last sign-in or confirmation with it
//
//   passkey_challenges   the challenges handed out and not yet used: a digest, what it is for,
//                        the browser session or sign-in it is bound to (a digest too), and a short
//                        expiry. Using one deletes it, so each answers exactly one ceremony.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('passkeys', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('user_id').notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.text('credential_id').notNullable().unique();
    t.text('public_key').notNullable();
    t.bigInteger('counter').notNullable().defaultTo(0);
    t.text('transports').notNullable().defaultTo('');
    t.boolean('backed_up').notNullable();
    t.text('aaguid');
    t.text('name').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_used_at', { useTz: true });
    t.index(['user_id', 'created_at']);
  });
  await knex.schema.createTable('passkey_challenges', (t) => {
    t.text('challenge_digest').primary();
    t.text('purpose').notNullable();
    t.text('bound_to').notNullable();
    t.uuid('user_id').references('id').inTable('users').onDelete('CASCADE');
    t.timestamp('expires_at', { useTz: true }).notNullable().index();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('passkey_challenges');
  await knex.schema.dropTableIfExists('passkeys');
}
