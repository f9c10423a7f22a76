// oidc-provider's InitialAccessToken model, read from registration_tokens (tokens.ts): the
// provider checks the token a registration presents here too, after the gate (gate.ts) has. It
// never issues or deletes one: the operator does (CLI, admin API, console).
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { RegistrationTokens } from './tokens.js';

export class InitialAccessTokenStorage implements Adapter {
  constructor(private readonly tokens: RegistrationTokens) {}

  async find(id: string): Promise<AdapterPayload | undefined> {
    const token = await this.tokens.findUsable(id);
    if (!token) return undefined;
    return {
      jti: id,
      kind: 'InitialAccessToken',
      iat: Math.floor(token.createdAt.getTime() / 1000),
      ...(token.expiresAt ? { exp: Math.floor(token.expiresAt.getTime() / 1000) } : {}),
    };
  }

  async upsert(): Promise<void> { throw new Error('initial access tokens are issued by the operator, not through oidc-provider'); }
  async destroy(): Promise<void> { throw new Error('initial access tokens are revoked by the operator, not through oidc-provider'); }
  async findByUid(): Promise<undefined> { return undefined; }
  async findByUserCode(): Promise<undefined> { return undefined; }
  async consume(): Promise<void> {}
  async revokeByGrantId(): Promise<void> {}
}
