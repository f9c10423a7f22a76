// Assembles the outbox for the composition root (src/server.ts): the writer features enqueue
// through, the channel for each kind, and the sender that runs them. Security events (SETs pushed
// to apps' and APIs' events endpoints, src/security-events/) have a channel wherever the keys that
// sign them are given. Mail goes over SMTP when
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
import type { KeyStore } from '../keys/signing-keys.js';
import { ClientStore } from '../clients/store.js';
import { ResourceServerStore } from '../resources/store.js';
import { SecurityEventChannel } from '../security-events/delivery.js';
import type { SecurityEventPolls } from '../security-events/polls.js';
import type { Receiver } from '../security-events/receivers.js';
import { Outbox, type OutboxKind } from './outbox.js';
import { OutboxSender, type DeliveryChannel } from './sender.js';

/** The first retry's delay; OUTBOX_RETRY_MAX_DELAY caps the doubling. */
export const FIRST_RETRY_MS = 5_000;
/**
 * A security event's first retry: sooner than mail's, since a receiver's later events wait behind
 * it; SECURITY_EVENTS_RETRY_MAX_DELAY caps the doubling.
 */
export const FIRST_EVENT_RETRY_MS = 1_000;

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

/** What the HTTP channels need beyond the settings: the keys that sign what they send. */
export interface DeliveryKeys {
  keys: Pick<KeyStore, 'loadKeySet'>;
  /** Where a SET goes when its receiver took to polling after it was queued for a push. */
  polls: Pick<SecurityEventPolls, 'enqueue'>;
}

/**
 * `channels`: the HTTP channels of other kinds (back-channel logout: src/logout/channel.ts), which
 * need nothing of the mail configuration. `extra`: what the security-event channel signs with.
 */
export function createDeliveries(
  config: Config, db: Database, logger: Logger, changes: ChangeFeed, now: () => number = Date.now,
  channels: Partial<Record<Exclude<OutboxKind, 'mail' | 'security-event'>, DeliveryChannel>> = {},
  extra?: DeliveryKeys,
): Deliveries {
  const devMailbox = config.mail.smtpUrl || config.env === 'production' ? undefined : new DevelopmentMailbox(logger, now);
  const transport: MailTransport | undefined = config.mail.smtpUrl ? new SmtpTransport(config.mail.smtpUrl) : devMailbox;
  const outbox = new Outbox(config.secrets.keyEncryptionKey, now);
  const securityEvents = extra ? securityEventChannel(config, db, extra, now) : undefined;
  const sender = new OutboxSender({
    db,
    keyEncryptionKey: config.secrets.keyEncryptionKey,
    channels: {
      ...channels,
      ...(transport ? { mail: new MailChannel(transport, config.mail.from) } : {}),
      ...(securityEvents ? { 'security-event': securityEvents } : {}),
    },
    retry: {
      baseMs: FIRST_RETRY_MS,
      maxDelayMs: config.outbox.retryMaxDelaySeconds * 1000,
      giveUpAfterMs: config.outbox.giveUpAfterSeconds * 1000,
    },
    retryByKind: {
      'security-event': {
        baseMs: FIRST_EVENT_RETRY_MS,
        maxDelayMs: config.securityEvents.retryMaxDelaySeconds * 1000,
        giveUpAfterMs: config.securityEvents.dropAfterSeconds * 1000,
      },
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

/** Security events go to the endpoint each app or API has registered when they are sent. */
function securityEventChannel(config: Config, db: Database, extra: DeliveryKeys, now: () => number): SecurityEventChannel {
  const clients = new ClientStore(db);
  const resources = new ResourceServerStore(db);
  const endpointOf = async (receiver: Receiver) => (receiver.type === 'app'
    ? (await clients.eventsEndpoints([receiver.clientId])).get(receiver.clientId)
    : (await resources.eventsEndpoints([receiver.identifier])).get(receiver.identifier));
  return new SecurityEventChannel({
    keys: extra.keys,
    endpointOf,
    toPollQueue: (receiver, claims, writtenAt) => extra.polls.enqueue(db, receiver, claims, writtenAt),
    allowHttp: config.env !== 'production',
    timeoutMs: config.securityEvents.timeoutSeconds * 1000,
    keyRefreshMs: config.keys.refreshIntervalSeconds * 1000,
    now,
  });
}
