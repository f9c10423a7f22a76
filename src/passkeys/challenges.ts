// WebAuthn challenges (migration 016, passkey_challenges). A challenge is what makes an assertion
// fresh, so each one is:
//   - random (32 bytes), and stored only as its digest;
//   - for one purpose (registering, signing in, confirming who you are) and bound to the browser
//     it was handed to: its sign-in (the interaction) or its session, also as a digest;
//   - short-lived, and spent by its first use, atomically: a replayed answer finds nothing;
//   - one of a few: each sign-in or session keeps only its newest MAX_LIVE_CHALLENGES, so asking
//     for options over and over (the routes are not throttled) cannot fill the table.
import { digest, randomSecret } from '../crypto/digest.js';
import type { Database } from '../db/knex.js';
import { isStorableKey } from '../db/text.js';
import { inTransaction } from '../db/transactions.js';

const TABLE = 'passkey_challenges';

export type ChallengePurpose = 'registration' | 'sign_in' | 'confirmation';

/** How long a person has to answer their browser's passkey prompt. */
export const CHALLENGE_TTL_SECONDS = 300;

/**
 * How many unspent challenges one sign-in or one session keeps; a new one beyond them takes the
 * place of the oldest. Not one: the sign-in page holds its autofill ceremony open while its
 * button asks for a second challenge, and a person may have a second tab or a reloaded page in
 * the same sign-in or session. A challenge pushed out fails like an expired one.
 */
export const MAX_LIVE_CHALLENGES = 5;

/**
 * The first key of the transaction-scoped advisory lock that serialises issuing challenges for one
 * binding (the second is a hash of it). The two-key form shares no keys with the one-key form of
 * SIGNING_KEYS_LOCK_ID (src/keys/signing-keys.ts).
 */
const ISSUE_LOCK_SPACE = 0x4748_5043; // "GHPC"

/** What a challenge is bound to: the browser's sign-in in progress, or its signed-in session. */
export type ChallengeBinding = { interaction: string } | { session: string };

function boundTo(binding: ChallengeBinding): string {
  return digest('interaction' in binding ? `interaction:${binding.interaction}` : `session:${binding.session}`);
}

export class Challenges {
  constructor(private readonly db: Database, private readonly now: () => number = Date.now) {}

  /** A new challenge (base64url) for `purpose`, bound to `binding`; `userId` when it is for one person. */
  async issue(purpose: ChallengePurpose, binding: ChallengeBinding, userId?: string): Promise<string> {
    const challenge = randomSecret(32);
    const now = this.now();
    const bound = boundTo(binding);
    const issued = digest(challenge);
    // Unused challenges expire on their own; each new one sweeps the expired (an indexed range).
    // In a statement of its own: it deletes other bindings' rows, in no order of ours.
    await this.db(TABLE).where('expires_at', '<', new Date(now)).delete();
    await inTransaction(this.db, async (trx) => {
      // Issues for one binding take turns, so that the count below is exact: requests racing each
      // other cannot each see room for themselves and leave more than the cap between them. Read
      // committed (stated, not assumed): the statements after the wait see what the last holder did.
      await trx.raw('select pg_advisory_xact_lock(?, hashtext(?))', [ISSUE_LOCK_SPACE, bound]);
      await trx(TABLE).insert({
        challenge_digest: issued,
        purpose,
        bound_to: bound,
        user_id: userId ?? null,
        expires_at: new Date(now + CHALLENGE_TTL_SECONDS * 1000),
      });
      // The newest stay, the one just issued first among them (one issued in the same millisecond
      // ties with it on expires_at); the rest of this binding's go, for whatever purpose.
      await trx(TABLE)
        .where({ bound_to: bound })
        .whereNotIn('challenge_digest', trx(TABLE)
          .select('challenge_digest')
          .where({ bound_to: bound })
          .orderByRaw('challenge_digest = ? desc', [issued])
          .orderBy([{ column: 'expires_at', order: 'desc' }, { column: 'challenge_digest', order: 'desc' }])
          .limit(MAX_LIVE_CHALLENGES))
        .delete();
    }, { isolationLevel: 'read committed' });
    return challenge;
  }

  /**
   * Spends the challenge if it was issued for this purpose and binding and is still fresh: true
   * once, false for every other attempt (expired, replayed, another browser's, another purpose's,
   * or another person's when `userId` is given).
   */
  async spend(challenge: string, purpose: ChallengePurpose, binding: ChallengeBinding, userId?: string): Promise<boolean> {
    if (!isStorableKey(challenge, 128)) return false;
    const spent = await this.db(TABLE)
      .where({ challenge_digest: digest(challenge), purpose, bound_to: boundTo(binding) })
      .andWhere('expires_at', '>', new Date(this.now()))
      .delete()
      .returning(['user_id']) as Array<{ user_id: string | null }>;
    const row = spent[0];
    if (!row) return false;
    return userId === undefined || row.user_id === userId;
  }
}
