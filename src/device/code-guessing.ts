// User codes are short so people can type them (8 letters of 20: about 2.6 × 10^10 codes), so the
// page that takes them (/device) must not let anyone try many. Wrong codes are counted in the shared
// rate_limits table (rate-limit-store.ts), two fixed windows:
//   - per client network (client-address.ts): a person mistyping a few times never meets it;
//   - for the whole instance group: a botnet spread over many networks is still held to a rate
//     at which finding any live code takes far longer than a code lives (10 minutes).
// Once a window is full, no code is looked up at all until it ends: the page says to wait (429).
// Each try is counted before its code is looked up, and handed back when the code was right.
import type { Context, Middleware, Next } from 'koa';
import type { Database } from '../db/knex.js';
import type { Pages } from '../http/pages.js';
import { readProviderForm, UnreadableBody } from '../http/provider-form.js';
import { normalizeUserCode } from '../oidc/internals.js';
import type { OidcRecords } from '../records/index.js';
import { networkOf } from '../security/client-address.js';
import { keyedDigest, type KeyedDigest } from '../security/keyed-digest.js';
import { countEach, reservation, settleAttempt, type Count, type CounterKey } from '../security/rate-limit-store.js';

export interface GuessingLimits {
  /** Wrong codes from one network per window. */
  perNetwork: number;
  /** Wrong codes from everywhere per window. */
  overall: number;
  /** The window, in seconds. */
  windowSeconds: number;
}

export const DEFAULT_GUESSING_LIMITS: GuessingLimits = { perNetwork: 10, overall: 1000, windowSeconds: 600 };

export class CodeGuessing {
  readonly #digest: KeyedDigest;

  constructor(private readonly db: Database, secret: Buffer, private readonly limits: GuessingLimits = DEFAULT_GUESSING_LIMITS) {
    this.#digest = keyedDigest(secret, 'device code guessing');
  }

  /**
   * Takes one try from this network's window and from everyone's before the code is looked up, so
   * that tries sent at once cannot all pass a check made before any of them is counted. Not
   * allowed when either window is full (the try still counts). A try whose code turns out to name
   * a device is handed back, to the windows it was taken from: only wrong codes use them up.
   */
  async attempt(ip: string): Promise<{ allowed: boolean; handBack(): Promise<void> }> {
    const network: CounterKey = { prefix: 'device_code_network', key: this.#digest(networkOf(ip)) };
    const overall: CounterKey = { prefix: 'device_code_overall', key: 'all' };
    const { windowSeconds } = this.limits;
    const [fromNetwork, fromEveryone] = await countEach(this.db, [{ ...network, durationSeconds: windowSeconds }, { ...overall, durationSeconds: windowSeconds }]) as [Count, Count];
    return {
      allowed: fromNetwork.points <= this.limits.perNetwork && fromEveryone.points <= this.limits.overall,
      handBack: () => settleAttempt(this.db, { giveBack: [reservation(network, fromNetwork), reservation(overall, fromEveryone)] }),
    };
  }
}

/**
 * In front of oidc-provider's POST /device: counts the try, refuses it when a window is full, and
 * hands it back when the code names a live device code (oidc-provider then shows that device).
 */
export function throttleCodeGuessing(deps: { path: string; guessing: CodeGuessing; records: OidcRecords; pages: Pages }): Middleware {
  const deviceCodes = deps.records.of('DeviceCode');
  return async function throttleGuessing(ctx: Context, next: Next) {
    if (ctx.path !== deps.path || ctx.method !== 'POST') return next();
    // Read as oidc-provider reads a form itself (src/http/provider-form.ts), so this counts the
    // code the provider then looks up: a general parser (qs) read `user_code[]=…` as a list, which
    // this skipped as no code at all while the provider took its one element as the code typed,
    // so guesses sent that way were never counted.
    let body: Record<string, unknown>;
    try {
      body = await readProviderForm(ctx);
    } catch (error) {
      return deps.pages.requestError(ctx, error instanceof UnreadableBody && error.tooLarge ? 413 : 400);
    }
    const typed = typeof body.user_code === 'string' ? normalizeUserCode(body.user_code) : '';
    if (!typed) return next();
    const attempt = await deps.guessing.attempt(ctx.ip);
    if (!attempt.allowed) {
      return deps.pages.deviceCodeEntry(ctx, typeof body.xsrf === 'string' ? body.xsrf : '', undefined, true);
    }
    if (await deviceCodes.findByUserCode(typed)) await attempt.handBack();
    return next();
  };
}
