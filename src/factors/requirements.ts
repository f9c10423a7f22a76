// What level a sign-in must reach for one authorization request: what the app asked for
// (acr_values, the claims parameter), the minimum it was registered with (client metadata
// gatehouse_require_acr: CLI --require-acr, the admin API and console), and, for an admin client
// asking for the admin API's scope on a person's behalf, ADMIN_REQUIRE_SECOND_FACTOR's two
// factors, as for the console. The strongest of them.
import { ADMIN_METADATA, ADMIN_SCOPE, REQUIRE_ACR_METADATA } from '../vocabulary.js';
import { ACR_TWO_FACTORS, isAcr, requestedLevel, stronger, type Acr } from './levels.js';

/** The server's own rules on levels. */
export interface LevelRules {
  /** ADMIN_REQUIRE_SECOND_FACTOR: an admin acts only after a sign-in with two factors. */
  adminSecondFactor: boolean;
}

/** The app's registered minimum, if it has one. */
export function clientMinimum(client: unknown): Acr | undefined {
  const value = (client as Record<string, unknown> | undefined)?.[REQUIRE_ACR_METADATA];
  return isAcr(value) ? value : undefined;
}

/** Two factors when an admin client asks a person for the admin API's scope under ADMIN_REQUIRE_SECOND_FACTOR. */
function adminMinimum(params: Record<string, unknown>, client: unknown, rules: LevelRules): Acr | undefined {
  if (!rules.adminSecondFactor || (client as Record<string, unknown> | undefined)?.[ADMIN_METADATA] !== true) return undefined;
  return typeof params.scope === 'string' && params.scope.split(' ').includes(ADMIN_SCOPE) ? ACR_TWO_FACTORS : undefined;
}

export function requiredLevel(params: Record<string, unknown>, client: unknown, rules: LevelRules): Acr | undefined {
  return stronger(stronger(requestedLevel(params), clientMinimum(client)), adminMinimum(params, client, rules));
}
