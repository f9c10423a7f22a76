// "Mail me a link": what happens when someone types an address into the forgot-password form or
// asks for a sign-in link. Whoever asks gets the same answer, so the work here must not tell them
// whether the address names an account — not by the page (the routes answer one page), and as far
// as we can help it not by time: every request takes the same path through the throttle and the
// same lookup, and writes an audit entry in a transaction either way; only an address that names an
// account that may sign in also gets a link and its mail in that transaction.
import type { Knex } from 'knex';
import type { AuditEventType } from '../audit/events.js';
import type { AuditLog } from '../audit/log.js';
import type { Database } from '../db/knex.js';
import { renderMail } from '../email/templates.js';
import type { LinkPurpose, OneTimeLinks } from '../links/store.js';
import type { Logger } from '../logger.js';
import type { Outbox } from '../outbox/outbox.js';
import { accountState, type User, type UserStore } from '../people/users.js';
import { normaliseEmail, type KeyedDigest } from '../security/keyed-digest.js';
import type { MailThrottle } from '../security/mail-throttle.js';
import { inTransaction } from '../db/transactions.js';

/** The links this module mails; each opens a page of src/recovery/routes.ts. */
export type MailedLinkPurpose = Extract<LinkPurpose, 'recovery' | 'sign_in'>;

interface LinkKind {
  /** Long enough to reach a mailbox and act, short enough that an old mail is worth little. */
  ttlSeconds: number;
  /** views/mail/<template>.{subject,text,html}.eta */
  template: string;
  /** Where the link opens. */
  path: string;
  audit: AuditEventType;
}

export const LINK_KINDS: Record<MailedLinkPurpose, LinkKind> = {
  recovery: { ttlSeconds: 30 * 60, template: 'recovery', path: '/recover/new-password', audit: 'user.password_recovery_requested' },
  sign_in: { ttlSeconds: 15 * 60, template: 'sign-in-link', path: '/sign-in-link', audit: 'user.sign_in_link_requested' },
};

/** oidc-provider's interaction ids; anything else is not carried into a link. */
const INTERACTION_ID = /^[A-Za-z0-9_-]{10,64}$/;

/** An interaction id to carry back to the sign-in page it came from, if it looks like one. */
export function interactionIdOf(value: unknown): string | undefined {
  return typeof value === 'string' && INTERACTION_ID.test(value) ? value : undefined;
}

/** Whether a link still acts for its person: the account exists, may sign in, and still has the address the link was sent to. */
export function linkStillActs(link: { email: string }, person: User | undefined): person is User {
  return !!person && !person.disabledAt && normaliseEmail(person.email) === normaliseEmail(link.email);
}

export interface LinkRequestDependencies {
  db: Database;
  users: UserStore;
  links: OneTimeLinks;
  outbox: Pick<Outbox, 'enqueue'>;
  throttle: MailThrottle;
  audit: AuditLog;
  logger: Logger;
  /** ISSUER: links are built from it, never from a request header. */
  issuer: string;
  /** Keys a typed address that names no account, for the audit log. */
  unknownEmailDigest: KeyedDigest;
}

export interface LinkRequest {
  /** As typed; already checked to look like an address. */
  email: string;
  /** The language of the page the link was asked for from: the mail's. */
  locale: string;
  ip: string;
  /** This browser's id when it has signed in to this address before: its own mail budget (mail-throttle.ts). */
  knownDevice?: string | undefined;
  /** The sign-in the person came from, carried into the link so they can go back to it. */
  interaction?: string | undefined;
  requestId?: string | undefined;
}

export class LinkRequests {
  constructor(private readonly deps: LinkRequestDependencies) {}

  /** Mails the link if the address names an account that may sign in and no limit is reached. Answers nothing either way. */
  async request(purpose: MailedLinkPurpose, request: LinkRequest): Promise<void> {
    const { deps } = this;
    const kind = LINK_KINDS[purpose];
    const [allowed, person] = await Promise.all([
      deps.throttle.allow({ purpose, email: request.email, ip: request.ip, knownDevice: request.knownDevice }),
      deps.users.findByEmail(request.email),
    ]);
    if (!allowed) {
      // Not audited: a flood must not fill the audit log. The log line names no address.
      deps.logger.info({ event: 'link_mail.throttled', purpose, requestId: request.requestId });
      return;
    }
    const actor = { type: 'anonymous' as const, id: null, ip: request.ip };
    await inTransaction(deps.db, async (trx) => {
      if (!person || person.disabledAt) {
        // What was typed is kept only when it names an account, as for failed sign-ins.
        const details = person ? { sent: false, reason: 'disabled', email: person.email } : { sent: false, reason: 'no_account', emailDigest: deps.unknownEmailDigest(normaliseEmail(request.email)) };
        await deps.audit.append({ type: kind.audit, actor, userId: person?.id ?? null, details }, trx);
        return;
      }
      const link = await deps.links.issue(trx, { purpose, userId: person.id, email: person.email, ttlSeconds: kind.ttlSeconds });
      const url = new URL(`${deps.issuer}${kind.path}`);
      url.searchParams.set('token', link.token);
      if (request.interaction) url.searchParams.set('interaction', request.interaction);
      const mail = renderMail({
        template: kind.template,
        to: person.email,
        // Not the name of a sign-up nobody verified: whoever signed up chose it, and it would be
        // their words in a stranger's mailbox (as src/enrolment/mail.ts leaves it out of theirs).
        data: { name: accountState(person) === 'unverified' ? undefined : person.name, url: url.href, minutes: kind.ttlSeconds / 60 },
        // The page that asked is in the language the person reads; so is its mail.
        locale: request.locale,
      }, deps.issuer);
      await deps.outbox.enqueue(trx as Knex.Transaction, { kind: 'mail', payload: mail });
      // The link's expiry, never the link: a token in the audit log would be a credential in it.
      await deps.audit.append({ type: kind.audit, actor, userId: person.id, details: { sent: true, email: person.email, expiresAt: link.expiresAt.toISOString() } }, trx);
    });
    deps.logger.info({ event: 'link_mail.requested', purpose, requestId: request.requestId });
  }
}
