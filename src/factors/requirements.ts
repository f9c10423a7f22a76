// What level a sign-in must reach for one authorization request: what the app asked for
// (acr_values, the claims parameter) and the minimum it was registered with (client metadata
// gatehouse_require_acr: CLI --require-acr, the admin API and console), whichever is stronger.
import { REQUIRE_ACR_METADATA } from '../vocabulary.js';
import { isAcr, requestedLevel, stronger, type Acr } from './levels.js';

/** The app's registered minimum, if it has one. */
export function clientMinimum(client: unknown): Acr | undefined {
  const value = (client as Record<string, unknown> | undefined)?.[REQUIRE_ACR_METADATA];
  return isAcr(value) ? value : undefined;
}

export function requiredLevel(params: Record<string, unknown>, client: unknown): Acr | undefined {
  return stronger(requestedLevel(params), clientMinimum(client));
}
