// The Session model's storage: the records repository's, except that a session the token lookup
// read this tick alongside a code or token that ends with it (token-lookup.ts) answers
// Session.findByUid without a query: oidc-provider's checkSessionBinding, at the code exchange and
// wherever a session-bound token is used.
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { ModelRecords } from '../../records/index.js';
import type { TokenLookup } from './token-lookup.js';

export class SessionModel implements Adapter {
  constructor(
    private readonly stored: ModelRecords,
    private readonly lookup: TokenLookup,
  ) {}

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return (typeof uid === 'string' ? this.lookup.recentSession(uid) : undefined) ?? this.stored.findByUid(uid);
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    await this.stored.upsert(id, payload, expiresIn);
    if (typeof payload.uid === 'string') this.lookup.forget(payload.uid);
  }

  /**
   * Its uid is not known here. What the lookup read of the session lasts until the end of the tick
   * its answer arrived in, which on PostgreSQL is over before this write's answer arrives; on the
   * embedded database both may land in one tick, and a findByUid in it gets the session as it
   * was read a moment before, as it would from a query sent just before the removal.
   */
  destroy(id: string): Promise<void> {
    return this.stored.destroy(id);
  }

  find(id: string) { return this.stored.find(id); }
  consume(id: string) { return this.stored.consume(id); }
  findByUserCode(userCode: string) { return this.stored.findByUserCode(userCode); }
  revokeByGrantId(grantId: string) { return this.stored.revokeByGrantId(grantId); }
}
