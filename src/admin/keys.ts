// Administration of the signing keys: listing them and rotating in the next ones.
import type { Actor } from '../audit/events.js';
import type { SigningKeyInfo } from '../keys/signing-keys.js';
import type { OperationDependencies } from './operations.js';

export class KeyOperations {
  constructor(private readonly deps: OperationDependencies) {}

  listKeys(): Promise<SigningKeyInfo[]> {
    return this.deps.keys.listKeys();
  }

  /**
   * Adds the next signing key of every algorithm. Not through audited(): the key store serialises
   * rotations in a transaction of its own, and the audit entry is written inside it, so a rotation
   * is never without one.
   */
  rotateKeys(actor: Actor): Promise<SigningKeyInfo[]> {
    return this.deps.keys.rotate((trx, added) => this.deps.audit.append({
      type: 'keys.rotated',
      actor,
      details: { added: added.map((key) => ({ kid: key.kid, alg: key.alg, activatesAt: key.activatesAt.toISOString() })) },
    }, trx));
  }
}
