// Who may introspect or revoke which token. oidc-provider authenticates the caller and finds the
// token; these policies decide what the caller may learn or do. Anything not allowed reads as
// `active: false` (introspection) or a silent 200 (revocation, RFC 7009 §2.2): a prober learns
// nothing about tokens that are not its own.
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Database } from '../db/knex.js';
import { RESOURCE_METADATA } from './vocabulary.js';
import { JWT_HANDLE_PREFIX } from './jwt-access-tokens.js';

type Token = { clientId?: string; accountId?: string; aud?: string | string[] };
type Caller = { clientId: string } & Record<string, unknown>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function audiences(token: Token): string[] {
  if (Array.isArray(token.aud)) return token.aud;
  return typeof token.aud === 'string' ? [token.aud] : [];
}

export function introspectionPolicy(db: Database) {
  /** An app may introspect its own tokens; an API, tokens issued for it (its identifier in `aud`). */
  return async function mayIntrospect(ctx: KoaContextWithOIDC, caller: Caller, token: Token): Promise<boolean> {
    const api = caller[RESOURCE_METADATA];
    const allowed = token.clientId === caller.clientId || (typeof api === 'string' && audiences(token).includes(api));
    if (!allowed) return false;
    // A JWT was checked against the server's truth as it was resolved; an opaque token's grant was
    // checked by oidc-provider, which leaves its person and app to us.
    if (String(ctx.oidc.params?.token ?? '').startsWith(JWT_HANDLE_PREFIX)) return true;
    return personAndAppActive(db, token);
  };
}

async function personAndAppActive(db: Database, token: Token): Promise<boolean> {
  const person = typeof token.accountId === 'string' && UUID.test(token.accountId) ? token.accountId : null;
  const { rows } = await db.raw<{ rows: Array<{ person_active: boolean | null; app_active: boolean }> }>(
    `select
       (select disabled_at is null from users where id = cast(:person as uuid)) as person_active,
       exists(select 1 from clients where client_id = :client and disabled_at is null) as app_active`,
    { person, client: String(token.clientId) },
  );
  const truth = rows[0]!;
  return truth.app_active && (person === null ? !token.accountId : truth.person_active === true);
}

/** A client may revoke only its own tokens; anything else is ignored without saying so. */
export async function mayRevoke(_ctx: KoaContextWithOIDC, caller: Caller, token: Token): Promise<boolean> {
  return token.clientId === caller.clientId;
}
