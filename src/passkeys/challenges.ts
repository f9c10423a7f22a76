// WebAuthn challenges (migration 016, passkey_challenges). A challenge is what makes an assertion
// fresh, so each one is:
//   - random (32 bytes), and stored only as its digest;
//   - for one purpose (registering, signing in, confirming who you are) and bound to the browser
//     it was handed to: its sign-in (the interaction) or its session, also as a digest;
//   - short-lived, and spent by its first use, atomically: a replayed answer finds nothing.
import { digest, randomSecret } from '../crypto/digest.js';
import type { Database } from '../db/knex.js';
import { isStorableKey } from '../db/text.js';

const TABLE = 'passkey_challenges';

export type ChallengePurpose = 'registration' | 'sign_in' | 'confirmation';

/** How long a person has to answer their browser's passkey prompt. */
export const CHALLENGE_TTL_SECONDS = 300;

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
    // Unused challenges expire on their own; each new one sweeps the expired (an indexed range).
    await this.db(TABLE).where('expires_at', '<', new Date(now)).delete();
    await this.db(TABLE).insert({
      challenge_digest: digest(challenge),
      purpose,
      bound_to: boundTo(binding),
      user_id: userId ?? null,
      expires_at: new Date(now + CHALLENGE_TTL_SECONDS * 1000),
    });
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
