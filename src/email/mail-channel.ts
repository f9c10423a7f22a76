// The outbox's channel for kind 'mail': turns an opened payload into a mail from MAIL_FROM with a
// Message-ID that is the same on every attempt (./message.ts), and hands it to a transport — SMTP
// (./smtp.ts), or the development mailbox (./dev-mailbox.ts) when there is no SMTP_URL.
import type { DeliveryChannel } from '../outbox/sender.js';
import { asMailMessage, domainOf, messageIdFor, type MailMessage } from './message.js';

/** A mail ready to go: the message, who it is from, and its Message-ID. */
export interface OutgoingMail extends MailMessage {
  from: string;
  messageId: string;
}

/** Resolves once the mail was accepted for delivery; throws when it was not. */
export interface MailTransport {
  send(mail: OutgoingMail): Promise<void>;
  close(): void;
}

export class MailChannel implements DeliveryChannel {
  constructor(
    private readonly transport: MailTransport,
    private readonly from: string,
  ) {}

  async deliver(id: string, payload: unknown): Promise<void> {
    const message = asMailMessage(payload);
    await this.transport.send({ ...message, from: this.from, messageId: messageIdFor(id, domainOf(this.from)) });
  }
}
