// Notices: the short mails that tell a person something just happened to their account, so that
// someone else's doing does not go unseen (issue #15, point 5). One place composes them all, so
// each says what happened, when, and what to do if it was not them, in the same shape; a feature
// that has something to tell adds a member to `AccountNotice` and a template pair in views/mail/.
//
// A notice is written to the outbox in the transaction of the act it reports (`send`), so it goes
// if and only if the act happened. An event that is not an act with a transaction of its own (a
// sign-in) uses `sendAlone`. EMAIL_NOTIFICATIONS off makes both do nothing.
import type { Knex } from 'knex';
import type { Database } from '../db/knex.js';
import { renderMail } from '../email/templates.js';
import type { Outbox } from '../outbox/outbox.js';
import { shownDate } from '../presentation/dates.js';
import type { GrantInWords } from '../presentation/scopes.js';
import { networkOf } from '../security/client-address.js';

/** Everything a notice can be about; each kind is views/mail/notice-<kind>.{subject,text,html}.eta. */
export type AccountNotice =
  /** `how`: recovery (a mailed link), own (the account pages), admin (API, console or CLI). */
  | { kind: 'password-changed'; how: 'recovery' | 'own' | 'admin' }
  /** `browser` in people's words (src/presentation/devices.ts); `ip` is shown only as its network. */
  | { kind: 'new-browser'; browser: string; ip: string | undefined }
  /** An app the person had no live grant for, allowed: what it may do, in the consent page's words. */
  | { kind: 'app-connected'; app: string; granted: GrantInWords }
  /** A second factor added (`factor`: the catalog key naming its kind, src/factors/acts.ts factorInWords). */
  | { kind: 'factor-added'; factor: string }
  /** A factor removed, by the person (`how`: own) or by an administrator (every one of them). */
  | { kind: 'factor-removed'; factor: string; how: 'own' | 'admin' }
  /** A recovery code spent to sign in; `remaining` unused codes are left. */
  | { kind: 'recovery-code-used'; remaining: number }
  /** A passkey was added to or removed from the account (src/passkeys/), by the name it was given. */
  | { kind: 'passkey-added' | 'passkey-removed'; passkey: string }
  /** The person deleted their own account (the mail goes to the address it had). */
  | { kind: 'account-deleted' };

/** Who a notice goes to: always the account's current address. */
export interface NoticeRecipient {
  email: string;
  name: string;
  /** The language they last used; a notice is not their request, so it is theirs or DEFAULT_LOCALE. */
  locale?: string | null;
}

export interface AccountNoticesOptions {
  db: Database;
  outbox: Pick<Outbox, 'enqueue' | 'enqueueAlone'>;
  issuer: string;
  /** EMAIL_NOTIFICATIONS. */
  enabled: boolean;
  /** PASSWORD_RECOVERY: whether "it was not me" can point at recovery, or only at an administrator. */
  recoveryOffered: boolean;
  /** DEFAULT_LOCALE: for a person who has never signed in. */
  defaultLocale: string;
  now?: () => number;
}

export class AccountNotices {
  constructor(private readonly options: AccountNoticesOptions) {}

  /** EMAIL_NOTIFICATIONS: callers may skip the reads a notice needs when none would be sent. */
  get enabled(): boolean {
    return this.options.enabled;
  }

  /** Writes the notice in `trx`, the transaction of the act it reports; its outbox id, or undefined when notices are off. */
  async send(trx: Database, to: NoticeRecipient, notice: AccountNotice): Promise<string | undefined> {
    if (!this.options.enabled) return undefined;
    // audited() hands its acts the transaction typed as a plain Database; the outbox checks at run time.
    return this.options.outbox.enqueue(trx as Knex.Transaction, { kind: 'mail', payload: this.#mail(to, notice) });
  }

  /** For an event that has no transaction of its own: the notice alone, committed at once. */
  async sendAlone(to: NoticeRecipient, notice: AccountNotice): Promise<string | undefined> {
    if (!this.options.enabled) return undefined;
    return this.options.outbox.enqueueAlone(this.options.db, { kind: 'mail', payload: this.#mail(to, notice) });
  }

  #mail(to: NoticeRecipient, notice: AccountNotice) {
    const { issuer } = this.options;
    const at = new Date((this.options.now ?? Date.now)());
    const mail = renderMail({
      template: `notice-${notice.kind}`,
      to: to.email,
      locale: to.locale ?? this.options.defaultLocale,
      data: {
        ...noticeData(notice),
        name: to.name,
        when: shownDate(at, to.locale ?? this.options.defaultLocale).text,
        recoverUrl: this.options.recoveryOffered ? `${issuer}/recover` : undefined,
        accountUrl: `${issuer}/account`,
        revokeUrl: `${issuer}${CONNECTED_APPS_PAGE}`,
        securityUrl: `${issuer}${SECURITY_PAGE}`,
      },
    }, issuer);
    return mail;
  }
}

/** The account page that lists connected apps, each with its Revoke button. */
const CONNECTED_APPS_PAGE = '/account/apps';
/** The account page listing the person's factors. */
const SECURITY_PAGE = '/account/security';

function noticeData(notice: AccountNotice): Record<string, unknown> {
  switch (notice.kind) {
    case 'password-changed': return { how: notice.how };
    case 'new-browser': return { browser: notice.browser, network: notice.ip ? roughNetwork(notice.ip) : undefined };
    case 'app-connected': return { app: notice.app, ...notice.granted };
    case 'factor-added': return { factor: notice.factor };
    case 'factor-removed': return { factor: notice.factor, how: notice.how };
    case 'recovery-code-used': return { remaining: notice.remaining };
    case 'passkey-added':
    case 'passkey-removed': return { passkey: notice.passkey };
    case 'account-deleted': return {};
  }
}

/**
 * Where a sign-in came from, only as precisely as a person needs to say "that was not my
 * network": an IPv4 address's /24, an IPv6 address's /64. Never a place: IP geolocation is a
 * guess that would make the mail read as a fact.
 */
export function roughNetwork(ip: string): string {
  const network = networkOf(ip);
  const v4 = /^(\d{1,3}\.\d{1,3}\.\d{1,3})\.\d{1,3}$/.exec(network);
  return v4 ? `${v4[1]}.0/24` : network;
}
