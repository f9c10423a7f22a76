// What Gatehouse's own surfaces stand on: the admin API (JSON, bearer tokens), the admin console and
// the account pages (HTML, the sign-in session). The admin API and console act through
// AdminOperations, the account pages through SelfService; every act is audited the same way
// (src/audit/audited.ts), whichever way it is asked for.
import type { JWTPayload } from 'jose';
import type { UserStore } from '../people/users.js';
import type { AdminOperations } from '../admin/operations.js';
import type { SelfService } from '../account/self-service.js';
import type { ClientStore } from '../clients/store.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { AccountSignIn } from '../oidc/account-sign-in.js';
import type { KnownDevices } from '../security/known-devices.js';
import type { SignInThrottle } from '../security/sign-in-throttle.js';
import type { Addresses } from '../verification/addresses.js';
import type { VerificationMailThrottle } from '../verification/mail-throttle.js';
import type { ResourceProofs } from '../dpop/proofs.js';
import type { CsrfProtection } from './csrf.js';
import type { FactorActs } from '../factors/acts.js';
import type { FactorThrottle } from '../factors/throttle.js';
import type { Pages } from './pages.js';

export interface SurfaceDependencies {
  config: Config;
  operations: AdminOperations;
  selfService: SelfService;
  users: UserStore;
  clients: ClientStore;
  /** A JWT access token of ours that verifies and still stands, by its claims (src/oidc/provider.ts). */
  verifyAccessToken(token: string): Promise<JWTPayload | undefined>;
  /** DPoP proofs sent with DPoP-bound tokens to Gatehouse's own APIs (src/dpop/proofs.ts). */
  dpop: ResourceProofs;
  /** Who is signed in to this browser, and how to send them to sign in (src/oidc/account-sign-in.ts). */
  signIn: AccountSignIn;
  pages: Pages;
  csrf: CsrfProtection;
  /** Password guesses anywhere — a signed-in browser checking "current password" too — are throttled alike. */
  throttle: SignInThrottle;
  knownDevices: KnownDevices;
  /** Email addresses and their verification links (src/verification/). */
  addresses: Addresses;
  /** How often a signed-in person may have verification mail sent. */
  verificationMail: VerificationMailThrottle;
  logger: Logger;
  /** Second factors (src/factors/): /account/security, and the admin's reset. */
  factors: FactorActs;
  /** Code guesses per account (src/factors/throttle.ts). */
  factorThrottle: FactorThrottle;
  /** The server's clock (tests inject one): how old a console sign-in is, for instance. */
  now?: (() => number) | undefined;
}
