// Mail over SMTP to the relay SMTP_URL names (smtp:// or smtps://, credentials in the URL), through
// nodemailer. Resolving means the relay accepted the message (it answered 250 to DATA); the outbox
// records the delivery right after.
import nodemailer from 'nodemailer';
import type { MailTransport, OutgoingMail } from './mail-channel.js';

/**
 * nodemailer's defaults wait minutes on a silent server (two for the connection, ten for an idle
 * socket); a stuck relay would hold an outbox lease that long. These end an attempt in well under
 * a minute, far within the lease (src/outbox/sender.ts), and the outbox retries it.
 */
const TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 };

export class SmtpTransport implements MailTransport {
  readonly #transport;

  constructor(smtpUrl: string) {
    this.#transport = nodemailer.createTransport({ url: smtpUrl, ...TIMEOUTS });
  }

  async send(mail: OutgoingMail): Promise<void> {
    await this.#transport.sendMail({
      from: mail.from,
      to: mail.to,
      subject: mail.subject,
      text: mail.text,
      html: mail.html,
      messageId: mail.messageId,
      // The HTML part is ours and self-contained (./message.ts); nothing is fetched to build the mail.
      disableUrlAccess: true,
      disableFileAccess: true,
    });
  }

  close(): void {
    this.#transport.close();
  }
}
