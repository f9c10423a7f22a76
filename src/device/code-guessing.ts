// User codes are short so people can type them (8 letters of 20: about 2.6 × 10^10 codes), so the
// page that takes them (/device) must not let anyone try many. Wrong codes are counted in the shared
// rate_limits table (rate-limit-store.ts), two fixed windows:
//   - per client network (client-address.ts): a person mistyping a few times never meets it;
//   - for the whole instance group: a botnet spread over many networks is still held to a rate
//     at which finding any live code takes far longer than a code lives (10 minutes).
// Once a window is full, no code is looked up at all until it ends: the page says to wait (429).
import type { Context, Middleware, Next } from 'koa';
import type { RateLimiterPostgres } from 'rate-limiter-flexible';
import type { Database } from '../db/knex.js';
import type { Pages } from '../http/pages.js';
import { readProviderForm, UnreadableBody } from '../http/provider-form.js';
import { normalizeUserCode } from '../oidc/internals.js';
import type { OidcRecords } from '../records/index.js';
import { networkOf } from '../security/client-address.js';
import { keyedDigest, type KeyedDigest } from '../security/keyed-digest.js';
import { databaseCounter } from '../security/rate-limit-store.js';

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
  readonly #perNetwork: RateLimiterPostgres;
  readonly #overall: RateLimiterPostgres;

  constructor(db: Database, secret: Buffer, private readonly limits: GuessingLimits = DEFAULT_GUESSING_LIMITS) {
    this.#digest = keyedDigest(secret, 'device code guessing');
    this.#perNetwork = databaseCounter(db, { keyPrefix: 'device_code_network', points: limits.perNetwork, duration: limits.windowSeconds });
    this.#overall = databaseCounter(db, { keyPrefix: 'device_code_overall', points: limits.overall, duration: limits.windowSeconds });
  }

  /** Whether this network, or everyone, has used up the window's wrong codes. */
  async blocked(ip: string): Promise<boolean> {
    const [network, overall] = await Promise.all([this.#perNetwork.get(this.#digest(networkOf(ip))), this.#overall.get('all')]);
    return (network?.consumedPoints ?? 0) >= this.limits.perNetwork || (overall?.consumedPoints ?? 0) >= this.limits.overall;
  }

  /** Counts one wrong code. */
  async wrong(ip: string): Promise<void> {
    await Promise.all([this.#perNetwork.penalty(this.#digest(networkOf(ip))), this.#overall.penalty('all')]);
  }
}

/**
 * In front of oidc-provider's POST /device: refuses while blocked, and counts a code that names no
 * live device code before oidc-provider answers it with its "wrong code" page.
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
    if (await deps.guessing.blocked(ctx.ip)) {
      return deps.pages.deviceCodeEntry(ctx, typeof body.xsrf === 'string' ? body.xsrf : '', undefined, true);
    }
    if (!(await deviceCodes.findByUserCode(typed))) await deps.guessing.wrong(ctx.ip);
    return next();
  };
}
