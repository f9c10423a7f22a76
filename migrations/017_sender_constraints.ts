import type { Knex } from 'knex';

// What an app may be held to beyond the defaults, each off unless the operator asks for it:
//
//   dpop_bound_access_tokens                every token request must carry a DPoP proof (RFC 9449 §5.2)
//   require_pushed_authorization_requests  authorization requests only through /request (RFC 9126 §6)
//   require_signed_request_object          authorization requests only as a request object signed
//                                          by the app's registered keys (RFC 9101 §10.5)
//   jwks_uri                                where the app publishes its public keys, instead of
//                                          registering them (`jwks`): for private_key_jwt and signed
//                                          request objects alike
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clients', (t) => {
    t.boolean('dpop_bound_access_tokens').notNullable().defaultTo(false);
    t.boolean('require_pushed_authorization_requests').notNullable().defaultTo(false);
    t.boolean('require_signed_request_object').notNullable().defaultTo(false);
    t.text('jwks_uri');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clients', (t) => {
    t.dropColumn('dpop_bound_access_tokens');
    t.dropColumn('require_pushed_authorization_requests');
    t.dropColumn('require_signed_request_object');
    t.dropColumn('jwks_uri');
  });
}
