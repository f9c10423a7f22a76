// The AuthorizationCode model's storage. The code exchange reads the code, the sign-in session the
// code ends with (Session.findByUid), and the code's Grant: the code is found through the
// one-query lookup (token-lookup.ts), which reads the other two with it, and Session.findByUid
// (session.ts) and Grant.find (grant.ts) are answered from what it read that tick. Everything else
// goes to the records repository as for any model; consuming or removing a code drops what the
// lookup read of it. Its exchange's consume is held back and written with the tokens it issues
// (code-redemption.ts).
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { isLookupKey, type ModelRecords } from '../../records/index.js';
import type { CodeRedemptions } from './code-redemption.js';
import type { TokenLookup } from './token-lookup.js';

export class AuthorizationCodeModel implements Adapter {
  constructor(
    private readonly stored: ModelRecords,
    private readonly lookup: TokenLookup,
    private readonly codes: CodeRedemptions,
  ) {}

  find(id: string): Promise<AdapterPayload | undefined> {
    return isLookupKey(id) ? this.lookup.find('AuthorizationCode', id) : Promise.resolve(undefined);
  }

  async consume(id: string): Promise<void> {
    try {
      if (!this.codes.holdConsume(this.stored, id)) await this.stored.consume(id);
    } finally {
      this.lookup.forget(id);
    }
  }

  async destroy(id: string): Promise<void> {
    await this.stored.destroy(id);
    this.lookup.forget(id);
  }

  upsert(id: string, payload: AdapterPayload, expiresIn: number) { return this.stored.upsert(id, payload, expiresIn); }
  findByUid(uid: string) { return this.stored.findByUid(uid); }
  findByUserCode(userCode: string) { return this.stored.findByUserCode(userCode); }
  revokeByGrantId(grantId: string) { return this.stored.revokeByGrantId(grantId); }
}

/** A device code (RFC 8628) as any record, but for its exchange's consume: held back as a code's. */
export class DeviceCodeModel implements Adapter {
  constructor(
    private readonly stored: ModelRecords,
    private readonly codes: CodeRedemptions,
  ) {}

  async consume(id: string): Promise<void> {
    if (!this.codes.holdConsume(this.stored, id)) await this.stored.consume(id);
  }

  find(id: string) { return this.stored.find(id); }
  upsert(id: string, payload: AdapterPayload, expiresIn: number) { return this.stored.upsert(id, payload, expiresIn); }
  destroy(id: string) { return this.stored.destroy(id); }
  findByUid(uid: string) { return this.stored.findByUid(uid); }
  findByUserCode(userCode: string) { return this.stored.findByUserCode(userCode); }
  revokeByGrantId(grantId: string) { return this.stored.revokeByGrantId(grantId); }
}
