// The RegistrationAccessToken model's storage (RFC 7592). oidc-provider rotates the token on every
// update (rotateRegistrationAccessToken): it destroys the token presented, then saves a new one,
// and nothing tells it whether the destroy found the token. Two updates sent at once with the same
// token each destroyed it and each got a new token, so a leaked token could be forked into copies
// that outlive every rotation. Here a destroy that finds nothing to delete refuses (invalid_token):
// of updates sent at once, one gets the new token. The others are answered as a used token is, and
// get none. Each of them has written its metadata by then, as it would have done going first.
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { ModelRecords } from '../../records/index.js';
import { currentRequest } from '../internals.js';

export class RegistrationAccessTokenModel implements Adapter {
  constructor(private readonly stored: ModelRecords) {}

  async destroy(id: string): Promise<void> {
    const removed = await this.stored.remove(id);
    // Only a rotation must have found it: deleting the app has already taken its tokens with it.
    if (!removed && currentRequest()?.oidc?.route === 'client_update') throw new errors.InvalidToken('the registration access token was already used');
  }

  upsert(id: string, payload: AdapterPayload, expiresIn: number) { return this.stored.upsert(id, payload, expiresIn); }
  find(id: string) { return this.stored.find(id); }
  findByUid(uid: string) { return this.stored.findByUid(uid); }
  findByUserCode(userCode: string) { return this.stored.findByUserCode(userCode); }
  consume(id: string) { return this.stored.consume(id); }
  revokeByGrantId(grantId: string) { return this.stored.revokeByGrantId(grantId); }
}
