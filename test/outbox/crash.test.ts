// A real crash: Gatehouse as a process of its own (`npm start`) delivering over SMTP, killed with
// SIGKILL while the SMTP server holds its mail's answer — after the commit, before the mail was
// accepted. The mail still goes, once, when the dead sender's lease lapses. And the one window
// nothing closes (accepted, then the process died before recording it) yields a second copy with
// the same Message-ID, which is what lets the receiving side drop it.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MailChannel } from '../../src/email/mail-channel.js';
import { SmtpTransport } from '../../src/email/smtp.js';
import { createLogger } from '../../src/logger.js';
import { Outbox, openPayload, payloadKey } from '../../src/outbox/outbox.js';
import { DEFAULT_LEASE_MS, OutboxSender } from '../../src/outbox/sender.js';
import { claimDue, OUTBOX_TABLE } from '../../src/outbox/store.js';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../support/database.js';
import { startReadyMain } from '../support/process.js';
import { startSmtpReceiver, type SmtpReceiver } from '../support/smtp.js';

const FROM = 'Gatehouse <noreply@gatehouse.example>';
const kek = randomBytes(32);
const message = (n: number) => ({
  to: `person${n}@example.test`,
  subject: `Verify your email (${n})`,
  text: `Open https://id.example.test/verify/${randomBytes(8).toString('hex')}`,
  html: '<p>Verify</p>',
});

let testDb: TestDatabase;
let receiver: SmtpReceiver;
const transports: SmtpTransport[] = [];
const logger = createLogger('silent', new Writable({ write: (_chunk, _encoding, callback) => callback() }));

/** A sender in this process whose clock runs `aheadMs` in front of the real one. */
function survivor(aheadMs: number): OutboxSender {
  const transport = new SmtpTransport(receiver.url);
  transports.push(transport);
  return new OutboxSender({
    db: testDb.db, keyEncryptionKey: kek, channels: { mail: new MailChannel(transport, FROM) }, logger,
    retry: { baseMs: 5_000, maxDelayMs: 60_000, giveUpAfterMs: 3 * 24 * 3600_000 }, now: () => Date.now() + aheadMs,
  });
}

const postgres = await usingPostgres();

describe.skipIf(!postgres)('a Gatehouse process killed while delivering', () => {
  beforeAll(async () => {
    testDb = await createTestDatabase();
    receiver = await startSmtpReceiver();
  });
  afterAll(async () => {
    for (const transport of transports) transport.close();
    await receiver?.close();
    await testDb?.destroy();
  });

  it('still delivers the mail, once, after its lease lapses', async () => {
    const held = receiver.holdNext();
    const instance = await startReadyMain(testDb.url!, {
      SMTP_URL: receiver.url,
      MAIL_FROM: FROM,
      KEY_ENCRYPTION_KEY: Buffer.from(kek).toString('base64url'),
      COOKIE_KEYS: randomBytes(32).toString('base64url'),
    });
    let id: string;
    try {
      // Committed by another instance: the process hears of it through the database and sends it.
      id = await testDb.db.transaction((trx) => new Outbox(kek).enqueue(trx, { kind: 'mail', payload: message(1) }));
      await held.arrived;
      instance.server.child.kill('SIGKILL');
      expect(await instance.server.exited).toMatchObject({ signal: 'SIGKILL' });
      // The SMTP server sees the connection drop before it would have answered: never accepted.
      await held.clientLeft;
    } finally {
      held.release();
      await instance.stop();
    }
    expect(receiver.received).toEqual([]);
    const abandoned = await testDb.db(OUTBOX_TABLE).where({ id }).first();
    expect(abandoned).toMatchObject({ attempts: 1, delivered_at: null });
    expect(abandoned.leased_by).not.toBeNull();

    expect(await survivor(0).deliverDue()).toEqual({ delivered: 0, retried: 0, failed: 0 });
    expect(await survivor(DEFAULT_LEASE_MS).deliverDue()).toEqual({ delivered: 1, retried: 0, failed: 0 });
    expect(receiver.received.map((mail) => mail.messageId)).toEqual([`<outbox.${id}@gatehouse.example>`]);
  });

  it('sends a second copy with the same Message-ID when the process died between acceptance and recording it', async () => {
    receiver.received.length = 0;
    const id = await testDb.db.transaction((trx) => new Outbox(kek).enqueue(trx, { kind: 'mail', payload: message(2) }));
    // What the dead process did: claimed the row, had the mail accepted, and never recorded it.
    const [claimed] = await claimDue(testDb.db, { kinds: ['mail'], sender: 'died', now: new Date(), leaseUntil: new Date(Date.now() + DEFAULT_LEASE_MS), limit: 1 });
    const transport = new SmtpTransport(receiver.url);
    transports.push(transport);
    await new MailChannel(transport, FROM).deliver(claimed!.id, await openPayload(claimed!.payload!, payloadKey(kek), claimed!.id));

    expect(await survivor(DEFAULT_LEASE_MS).deliverDue()).toEqual({ delivered: 1, retried: 0, failed: 0 });
    expect(receiver.received.map((mail) => mail.messageId)).toEqual([`<outbox.${id}@gatehouse.example>`, `<outbox.${id}@gatehouse.example>`]);
  });
});
