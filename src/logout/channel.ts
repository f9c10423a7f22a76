// The outbox's channel for kind `backchannel-logout`: signs the notice's logout token with
// Gatehouse's current key for the app's ID token algorithm and POSTs it to the app as
// `logout_token=…` (Back-Channel Logout 1.0 §2.5). The app answers 200 when it logged the person
// out (204 is accepted too, as oidc-provider and many frameworks answer); anything else, or no
// answer, is retried by the outbox with backoff until OUTBOX_GIVE_UP_AFTER.
import type { JWK } from 'jose';
import type { DeliveryChannel } from '../outbox/sender.js';
import { asLogoutNotice, signLogoutToken } from './logout-token.js';
import { postForm } from './post-form.js';

/** The private JWK Gatehouse signs `alg` with right now (the provider's: src/oidc/provider.ts). */
export type SigningKeySource = (alg: string) => JWK | undefined;

export class BackchannelLogoutChannel implements DeliveryChannel {
  constructor(
    private readonly options: { issuer: string; signingKey: SigningKeySource; now?: () => number; timeoutMs?: number },
  ) {}

  async deliver(_id: string, payload: unknown): Promise<void> {
    const notice = asLogoutNotice(payload);
    const key = this.options.signingKey(notice.alg);
    if (!key) throw new Error(`no signing key for ${notice.alg}`);
    const token = await signLogoutToken(notice, this.options.issuer, key, (this.options.now ?? Date.now)());
    await postForm(notice.uri, { logout_token: token }, { accepted: [200, 204], ...(this.options.timeoutMs ? { timeoutMs: this.options.timeoutMs } : {}) });
  }
}
