// Every administration act, for the admin API (src/admin/api), the admin console
// (src/admin/console) and the CLI (src/cli): small groups by what they act on, composed here into
// one object. Each act is checked, done with its audit entry in one transaction and answered only
// once every instance's caches heard of it (audited(), src/audit/audited.ts), in domain terms.
// A person's acts on their own account live with the account pages (src/account/self-service.ts).
//
// To add an admin action:
//   1. the operation: a method on its group below (people.ts, apps.ts, …), through
//      this.deps.audited(actor, …) so the change and its audit entry are one;
//   2. its route: one declaration in src/admin/api/<area>.ts (it drives validation, serving and
//      the OpenAPI document);
//   3. its view: the console route in src/admin/console/<area>.ts and its template in views/admin/.
// A new kind of audit entry is also a name in src/audit/events.ts, which the type checker then asks
// the console's audit page (src/admin/console/audit.ts) to put into words.
import type { UserStore } from '../people/users.js';
import { auditedActs, type Audited, type AuditedDependencies } from '../audit/audited.js';
import type { AuditLog } from '../audit/log.js';
import type { ClientStore } from '../clients/store.js';
import type { Database } from '../db/knex.js';
import type { EnrolmentMail } from '../enrolment/mail.js';
import type { GrantStore } from '../grants/store.js';
import type { KeyStore } from '../keys/signing-keys.js';
import type { ResourceServerStore } from '../resources/store.js';
import type { SessionStore } from '../sessions/store.js';
import type { AccountNotices } from '../notices/account-notices.js';
import type { Addresses } from '../verification/addresses.js';
import { ApiOperations } from './apis.js';
import { AppOperations } from './apps.js';
import { AuditOperations } from './audit.js';
import { GrantOperations } from './grants.js';
import { KeyOperations } from './keys.js';
import { PeopleOperations } from './people.js';
import { SessionOperations } from './sessions.js';
import type { OneTimeLinks } from '../links/store.js';
import type { RegistrationTokens } from '../registration/tokens.js';
import { RegistrationTokenOperations } from './registration-tokens.js';
import type { FactorActs } from '../factors/acts.js';
import { FactorOperations } from './factors.js';

export type { GrantFilter } from './grants.js';
export type { RotatedSecret } from './apps.js';
export type { EndedSessionsResult } from '../sessions/ending.js';

export interface AdminDependencies extends AuditedDependencies {
  db: Database;
  users: UserStore;
  clients: ClientStore;
  resources: ResourceServerStore;
  sessions: SessionStore;
  grants: GrantStore;
  audit: AuditLog;
  keys: KeyStore;
  /** Invitation mail (src/enrolment/); without it, or with SIGNUP=closed, inviting is refused. */
  enrolment?: EnrolmentMail | undefined;
  /** Mails that tell a person what an admin did to their account (a new password). */
  notices: AccountNotices;
  /** Email addresses and their verification links (src/verification/). */
  addresses: Addresses;
  /** Mailed links: a new password or disabling the account spends them (src/links/). */
  links: OneTimeLinks;
  /** Initial access tokens for dynamic client registration (default: on the same database). */
  registrationTokens?: RegistrationTokens | undefined;
  /** Second factors (src/factors/): an admin may remove a person's; absent where the key is not at hand. */
  factors?: FactorActs | undefined;
}

/** What each group stands on: the stores, and the one way an act is done. */
export interface OperationDependencies extends AdminDependencies {
  audited: Audited;
}

export interface AdminOperations {
  people: PeopleOperations;
  sessions: SessionOperations;
  grants: GrantOperations;
  apps: AppOperations;
  apis: ApiOperations;
  keys: KeyOperations;
  audit: AuditOperations;
  registration: RegistrationTokenOperations;
  factors: FactorOperations;
}

export function adminOperations(deps: AdminDependencies): AdminOperations {
  const shared: OperationDependencies = { ...deps, audited: auditedActs(deps) };
  const people = new PeopleOperations(shared);
  const apps = new AppOperations(shared);
  return {
    people,
    sessions: new SessionOperations(shared, people),
    grants: new GrantOperations(shared, people, apps),
    apps,
    apis: new ApiOperations(shared),
    keys: new KeyOperations(shared),
    audit: new AuditOperations(shared),
    registration: new RegistrationTokenOperations(shared),
    factors: new FactorOperations(shared, deps.factors),
  };
}
