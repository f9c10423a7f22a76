// Client assertions' and DPoP proofs' jti, so each is accepted once, across every instance.
//
// Relies on oidc-provider's ReplayDetection.unique(iss, jti, exp) (lib/models/replay_detection.js,
// an internal): it calls find(id) and, when it finds nothing, save() — upsert here. Of a burst of
// requests carrying one assertion, every one would find nothing and every one would be accepted.
// So find() answers nothing without asking the database (uniqueAsksFindFirst), and the upsert is
// the check: an insert that loses to a live record refuses the request, as unique() returning
// false would have. An expired record does not count: the assertion it recorded can no longer be
// verified anyway. The order is REPLAY_DETECTION_ADAPTER_CALLS in src/oidc/internals/models.ts;
// its contract test and test/security/attacks/client-assertions.test.ts fail if an upgrade changes it.
import { createHash } from 'node:crypto';
import { decodeJwt } from 'jose';
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { ModelRecords } from '../../records/index.js';
import { currentRequest } from '../internals.js';

/**
 * Whether the record refused is the request's DPoP proof rather than its client assertion: both go
 * through unique(iss, jti), whose id is SHA-256 of iss and jti (lib/models/replay_detection.js).
 * The proof verified before its jti is recorded, so decoding it again here is safe.
 */
function isDpopProof(id: string, payload: AdapterPayload): boolean {
  const proof = currentRequest()?.get('DPoP');
  if (!proof || typeof payload.iss !== 'string') return false;
  try {
    const { jti } = decodeJwt(proof);
    return typeof jti === 'string' && createHash('sha256').update(`${payload.iss}${jti}`).digest('base64url') === id;
  } catch {
    return false;
  }
}

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
    if (isDpopProof(id, payload)) {
      // At userinfo a refused proof is a refused token (RFC 9449 §7.1); at the token endpoint, the proof.
      if (currentRequest()?.oidc?.route === 'userinfo') throw new errors.InvalidToken('DPoP proof JWT replay detected');
      throw new errors.InvalidDpopProof('DPoP proof JWT replay detected');
    }
    throw new errors.InvalidClientAuth('client assertion tokens must only be used once');
  }

  findByUid(uid: string) { return this.stored.findByUid(uid); }
  findByUserCode(userCode: string) { return this.stored.findByUserCode(userCode); }
  consume(id: string) { return this.stored.consume(id); }
  destroy(id: string) { return this.stored.destroy(id); }
  revokeByGrantId(grantId: string) { return this.stored.revokeByGrantId(grantId); }
}
