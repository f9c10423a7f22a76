// Client assertions' jti, so each assertion is accepted once. Only jwt client authentication uses
// this model while DPoP and attestation-based client authentication are off.
//
// Relies on oidc-provider's ReplayDetection.unique(iss, jti, exp) (lib/models/replay_detection.js,
// an internal): it calls find(id) and, when it finds nothing, save() — upsert here. Of a burst of
// requests carrying one assertion, every one would find nothing and every one would be accepted.
// So find() answers nothing without asking the database (uniqueAsksFindFirst), and the upsert is
// the check: an insert that loses to a live record refuses the request, as unique() returning
// false would have. An expired record does not count: the assertion it recorded can no longer be
// verified anyway. The order is REPLAY_DETECTION_ADAPTER_CALLS in src/oidc/internals/models.ts;
// its contract test and test/security/attacks/client-assertions.test.ts fail if an upgrade changes it.
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { ModelRecords } from '../../records/index.js';

/**
 * What find() answers unique()'s find-then-save: nothing, always, so unique() goes on to save and
 * the save decides. The one place this model relies on that order.
 */
function uniqueAsksFindFirst(): AdapterPayload | undefined {
  return undefined;
}

export class ReplayDetectionModel implements Adapter {
  constructor(private readonly stored: ModelRecords) {}

  async find(): Promise<AdapterPayload | undefined> {
    return uniqueAsksFindFirst();
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    if (await this.stored.insertUnlessLive(id, payload, expiresIn)) return;
    throw new errors.InvalidClientAuth('client assertion tokens must only be used once');
  }

  findByUid(uid: string) { return this.stored.findByUid(uid); }
  findByUserCode(userCode: string) { return this.stored.findByUserCode(userCode); }
  consume(id: string) { return this.stored.consume(id); }
  destroy(id: string) { return this.stored.destroy(id); }
  revokeByGrantId(grantId: string) { return this.stored.revokeByGrantId(grantId); }
}
