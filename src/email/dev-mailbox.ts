// Development without SMTP_URL: mail is "delivered" here, kept in memory for the /dev/mail page
// (./dev-mail-page.ts) and announced in the log, so a developer can follow a link a feature mailed
// without running a mail server. Never in production: configuration requires SMTP_URL there once
// any feature sends mail (src/config.ts), and the page is not mounted.
//
// The log line names the mail, never its body: the body carries single-use links.
import type { Logger } from '../logger.js';
import type { MailTransport, OutgoingMail } from './mail-channel.js';

/** Enough to follow a development session; the oldest go first. */
const KEPT = 50;

export interface DeliveredMail extends OutgoingMail {
  deliveredAt: Date;
}

export class DevelopmentMailbox implements MailTransport {
  readonly #mails: DeliveredMail[] = [];

  constructor(
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  async send(mail: OutgoingMail): Promise<void> {
    this.#mails.unshift({ ...mail, deliveredAt: new Date(this.now()) });
    this.#mails.length = Math.min(this.#mails.length, KEPT);
    this.logger.info({ event: 'mail.development_delivery', messageId: mail.messageId, to: mail.to, subject: mail.subject, readAt: '/dev/mail' });
  }

  /** The mails delivered so far, newest first. */
  get mails(): readonly DeliveredMail[] {
    return this.#mails;
  }

  close(): void {}
}
