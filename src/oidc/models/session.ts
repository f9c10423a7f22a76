// The Session model's storage: the records repository's, except that a session the token lookup
// read this tick alongside a code or token that ends with it (token-lookup.ts) answers
// Session.findByUid without a query: oidc-provider's checkSessionBinding, at the code exchange and
// wherever a session-bound token is used.
//
// oidc-provider saves the browser's session at the end of every request that used it, errors
// included (lib/shared/session.js), as an insert-or-update. A session ended while such a request
// was in flight (signed out, every session ended by an admin, a password reset) was inserted again
// by that save: whoever held its cookie was signed in again. So a session this request read from
// storage is saved by updating its row only: if it has been ended since, it stays ended. A session
// the request did not read (a new one, or a new id after sign-in) is inserted as before.
//
// A session past its maximum lifetime (SESSION_MAX_LIFETIME, from its first sign-in) is not found,
// by its cookie or by its uid, whatever its stored expiry says: the browser is signed out (a
// prompt=none gets login_required, Gatehouse's own pages ask for a sign-in), and what was issued
// to end with the session ends with it. Each save already caps the expiry at the maximum
// (OidcRecords.sessionTtl); this covers sessions saved before the maximum was set or lowered.
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { ModelRecords } from '../../records/index.js';
import { currentRequest } from '../internals.js';
import type { TokenLookup } from './token-lookup.js';

/** The sessions each request read from storage, by id. */
const readByRequest = new WeakMap<object, Set<string>>();

export class SessionModel implements Adapter {
  constructor(
    private readonly stored: ModelRecords,
    private readonly lookup: TokenLookup,
    /** Whether a stored session has outlived its maximum lifetime (OidcRecords.sessionOutlived). */
    private readonly outlived: (payload: AdapterPayload) => boolean = () => false,
  ) {}

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const found = (typeof uid === 'string' ? this.lookup.recentSession(uid) : undefined) ?? await this.stored.findByUid(uid);
    return found && !this.outlived(found) ? found : undefined;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    const request = currentRequest();
    if (request && readByRequest.get(request)?.has(id)) await this.stored.update(id, payload, expiresIn);
    else await this.stored.upsert(id, payload, expiresIn);
    if (typeof payload.uid === 'string') this.lookup.forget(payload.uid);
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const stored = await this.stored.find(id);
    const found = stored && !this.outlived(stored) ? stored : undefined;
    const request = currentRequest();
    if (found && request) {
      let read = readByRequest.get(request);
      if (!read) readByRequest.set(request, read = new Set());
      read.add(id);
    }
    return found;
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

  consume(id: string) { return this.stored.consume(id); }
  findByUserCode(userCode: string) { return this.stored.findByUserCode(userCode); }
  revokeByGrantId(grantId: string) { return this.stored.revokeByGrantId(grantId); }
}
