// Assembles the outbox for the composition root (src/server.ts): the writer features enqueue
// through, the channel for each kind, and the sender that runs them. Mail goes over SMTP when
// SMTP_URL is set, otherwise to the development mailbox — but never in production: there, without
// SMTP_URL, mail has no channel and waits in the outbox (src/config.ts refuses to start that way once
// a feature sends mail).
import type { Config } from '../config.js';
import type { ChangeFeed } from '../db/notifications.js';
import type { Database } from '../db/knex.js';
import { DevelopmentMailbox } from '../email/dev-mailbox.js';
import { MailChannel, type MailTransport } from '../email/mail-channel.js';
import { SmtpTransport } from '../email/smtp.js';
import type { Logger } from '../logger.js';
import { Outbox, type OutboxKind } from './outbox.js';
import { OutboxSender, type DeliveryChannel } from './sender.js';

/** The first retry's delay; OUTBOX_RETRY_MAX_DELAY caps the doubling. */
export const FIRST_RETRY_MS = 5_000;

export interface Deliveries {
  outbox: Outbox;
  sender: OutboxSender;
  /** Where mail goes without SMTP_URL; undefined when it goes over SMTP. */
  devMailbox: DevelopmentMailbox | undefined;
  /** Starts delivering in the background, woken by this instance's commits and the change feed. */
  start(): void;
  /** Stops claiming, lets the delivery in progress finish, releases the rest, closes the transport. */
  stop(): Promise<void>;
}

/**
 * `channels`: the HTTP channels of other kinds (back-channel logout: src/logout/channel.ts), which
 * need nothing of the mail configuration.
 */
export function createDeliveries(
  config: Config, db: Database, logger: Logger, changes: ChangeFeed, now: () => number = Date.now,
  channels: Partial<Record<Exclude<OutboxKind, 'mail'>, DeliveryChannel>> = {},
): Deliveries {
  const devMailbox = config.mail.smtpUrl || config.env === 'production' ? undefined : new DevelopmentMailbox(logger, now);
  const transport: MailTransport | undefined = config.mail.smtpUrl ? new SmtpTransport(config.mail.smtpUrl) : devMailbox;
  const outbox = new Outbox(config.secrets.keyEncryptionKey, now);
  const sender = new OutboxSender({
    db,
    keyEncryptionKey: config.secrets.keyEncryptionKey,
    channels: { ...channels, ...(transport ? { mail: new MailChannel(transport, config.mail.from) } : {}) },
    retry: {
      baseMs: FIRST_RETRY_MS,
      maxDelayMs: config.outbox.retryMaxDelaySeconds * 1000,
      giveUpAfterMs: config.outbox.giveUpAfterSeconds * 1000,
    },
    logger,
    now,
  });
  return {
    outbox,
    sender,
    devMailbox,
    start: () => sender.start({ outbox, feed: changes }),
    async stop() {
      await sender.stop();
      transport?.close();
    },
  };
}
