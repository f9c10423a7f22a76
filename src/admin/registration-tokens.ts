// Administration of initial access tokens for dynamic client registration (src/registration/):
// the operator issues one per developer or team, bounded in scopes, uses and time, and revokes it.
import type { Actor } from '../audit/events.js';
import { found } from '../errors.js';
import { RegistrationTokens, type NewRegistrationToken, type RegistrationToken } from '../registration/tokens.js';
import type { OperationDependencies } from './operations.js';

export class RegistrationTokenOperations {
  readonly #tokens: RegistrationTokens;

  constructor(private readonly deps: OperationDependencies) {
    this.#tokens = deps.registrationTokens ?? new RegistrationTokens(deps.db);
  }

  list(): Promise<RegistrationToken[]> {
    return this.#tokens.list();
  }

  /** Issues a token; its value is returned only here (the database keeps its digest). */
  create(actor: Actor, input: NewRegistrationToken): Promise<{ token: string; registrationToken: RegistrationToken }> {
    return this.deps.audited(actor, async (trx) => {
      const created = await this.#tokens.create(input, trx);
      const t = created.registrationToken;
      return {
        result: created,
        event: { type: 'registration_token.created', details: { id: t.id, scope: t.scope, maxUses: t.maxUses, expiresAt: t.expiresAt?.toISOString() ?? null, description: t.description } },
      };
    });
  }

  /** The token registers no more apps; the apps it registered stay (disable them one by one). */
  revoke(actor: Actor, id: string): Promise<RegistrationToken> {
    return this.deps.audited(actor, async (trx) => {
      const revoked = found(await this.#tokens.revoke(id, trx), 'registration token');
      return { result: revoked, event: { type: 'registration_token.revoked', details: { id: revoked.id } } };
    });
  }
}
