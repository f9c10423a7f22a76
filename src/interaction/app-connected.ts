// "An app was connected to your account" (issue #15, point 5): when a person allows an app they
// had no live grant for, a short mail says which app, what it may do (in the consent page's words,
// src/presentation/scopes.ts) and where to take that back. A thief who signed in with a stolen
// password and connected an app to keep access would otherwise go unnoticed. Re-consent to an app
// already connected (prompt=consent, or more scopes) sends nothing: nothing new was connected.
// The consent's audit entry and the notice (src/notices/, gated by EMAIL_NOTIFICATIONS like the
// others) are one transaction, so the mail goes only with the entry.
import type { AuditLog } from '../audit/log.js';
import type { NewAuditEvent } from '../audit/events.js';
import type { Database } from '../db/knex.js';
import type { AccountNotices } from '../notices/account-notices.js';
import type { PersonLookup } from '../people/cache.js';
import { grantInWords } from '../presentation/scopes.js';
import type { ResourceServerStore } from '../resources/store.js';
import { inTransaction } from '../db/transactions.js';

export interface AppConnectedDependencies {
  db: Database;
  notices: AccountNotices;
  audit: AuditLog;
  users: PersonLookup;
  resources: Pick<ResourceServerStore, 'find'>;
}

export interface GivenConsent {
  /** The audit entry of the consent (consent.given). */
  event: NewAuditEvent;
  accountId: string;
  clientName: string;
  /** What the grant holds: OpenID scopes, and scopes per API identifier. */
  scopes: string[];
  apis: Record<string, string[]>;
  /** True when the person had no live grant for this app before this consent. */
  newApp: boolean;
  /** The consent page's language: the notice, which this consent causes, is in it. */
  locale: string;
}

/** Records the consent's audit entry and, for an app newly connected, mails the notice with it. */
export function consentRecorder(deps: AppConnectedDependencies) {
  async function noticeFor(consent: GivenConsent) {
    const person = await deps.users.findById(consent.accountId);
    if (!person) return undefined;
    const identifiers = Object.keys(consent.apis);
    const found = await Promise.all(identifiers.map((identifier) => deps.resources.find(identifier)));
    const known = new Map(identifiers.map((identifier, i) => [identifier, found[i]]));
    const granted = grantInWords({
      scopes: consent.scopes,
      apis: identifiers.map((identifier) => ({ identifier, name: known.get(identifier)?.name ?? null, scopes: consent.apis[identifier]! })),
    }, known, consent.locale);
    return { person: { email: person.email, name: person.name, locale: consent.locale }, notice: { kind: 'app-connected' as const, app: consent.clientName, granted } };
  }

  return async function recordConsent(consent: GivenConsent): Promise<void> {
    // Read before the transaction: the reads must not wait on the transaction's connection (the
    // embedded database has only one).
    const connected = consent.newApp && deps.notices.enabled ? await noticeFor(consent) : undefined;
    await inTransaction(deps.db, async (trx) => {
      await deps.audit.append(consent.event, trx);
      if (connected) await deps.notices.send(trx, connected.person, connected.notice);
    });
  };
}
