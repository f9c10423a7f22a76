// The outbox delivering mail to a real SMTP server on loopback (test/support/smtp.ts), on the
// suite's PostgreSQL: a mail goes iff its transaction commits, exactly once, with both parts and a
// Message-ID derived from its row; an SMTP outage delays mail and loses none; a sender that died
// holding a lease delays it by the lease; two senders on one database never send one mail twice.
// Time is a variable the tests move; `deliverDue()` is the sender's whole pass, called directly.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from '../../src/db/knex.js';
import { startChangeFeed, type StoppableChangeFeed } from '../../src/db/notifications.js';
import { MailChannel } from '../../src/email/mail-channel.js';
import type { MailMessage } from '../../src/email/message.js';
import { SmtpTransport } from '../../src/email/smtp.js';
import { Janitor } from '../../src/janitor.js';
import { OidcRecords } from '../../src/records/index.js';
import { OneTimeLinks } from '../../src/links/store.js';
import { createKeyStore } from '../../src/keys/signing-keys.js';
import { createLogger } from '../../src/logger.js';
import { Outbox, OutsideTransactionError } from '../../src/outbox/outbox.js';
import { OutboxSender, type RetryPolicy } from '../../src/outbox/sender.js';
import { claimDue, OUTBOX_TABLE } from '../../src/outbox/store.js';
import { createTestDatabase, queriesDuring, usingPostgres, type TestDatabase } from '../support/database.js';
import { startSmtpReceiver, type SmtpReceiver } from '../support/smtp.js';

const FROM = 'Gatehouse <noreply@gatehouse.example>';
const RETRY: RetryPolicy = { baseMs: 5_000, maxDelayMs: 60_000, giveUpAfterMs: 3 * 24 * 3600_000 };
const LEASE_MS = 5 * 60_000;

let testDb: TestDatabase;
/** A second connection to the same database needs PostgreSQL; PGlite in memory is one per handle. */
const postgres = await usingPostgres();
let receiver: SmtpReceiver;
const kek = randomBytes(32);
let now = Date.parse('2026-03-01T12:00:00Z');
const clock = () => now;
const logLines: string[] = [];
const logger = createLogger('debug', new Writable({
  write(chunk: Buffer, _encoding, callback) {
    logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    callback();
  },
}));
const outbox = new Outbox(kek, clock);
const transports: SmtpTransport[] = [];

function senderOn(db: Database, options: { batchSize?: number; retry?: RetryPolicy } = {}): OutboxSender {
  const transport = new SmtpTransport(receiver.url);
  transports.push(transport);
  return new OutboxSender({ db, keyEncryptionKey: kek, channels: { mail: new MailChannel(transport, FROM) }, retry: RETRY, logger, now: clock, leaseMs: LEASE_MS, ...options });
}

let serial = 0;
/** A mail carrying a single-use link, as recovery and verification mails will. */
function mail(): MailMessage & { link: string } {
  serial += 1;
  const link = `https://id.example.test/recover/${randomBytes(16).toString('base64url')}`;
  return {
    link,
    to: `person${serial}@example.test`,
    subject: `Reset your password (${serial})`,
    text: `Follow ${link} to choose a new password.`,
    html: `<p><a href="${link}">Choose a new password</a></p>`,
  };
}

/** Enqueues in a committed transaction, as a feature does with the act that causes the mail. */
async function committed(message: MailMessage): Promise<string> {
  return testDb.db.transaction((trx) => outbox.enqueue(trx, { kind: 'mail', payload: message }));
}

async function rowOf(id: string) {
  return testDb.db(OUTBOX_TABLE).where({ id }).first() as Promise<Record<string, unknown>>;
}

beforeAll(async () => {
  testDb = await createTestDatabase();
  receiver = await startSmtpReceiver();
});
afterAll(async () => {
  for (const transport of transports) transport.close();
  await receiver?.close();
  await testDb?.destroy();
});
beforeEach(async () => {
  await testDb.db(OUTBOX_TABLE).delete();
  receiver.received.length = 0;
  receiver.accept();
});

describe('writing to the outbox', () => {
  it('sends nothing for a transaction that rolled back', async () => {
    await expect(testDb.db.transaction(async (trx) => {
      await outbox.enqueue(trx, { kind: 'mail', payload: mail() });
      throw new Error('the act failed');
    })).rejects.toThrow('the act failed');
    expect(await senderOn(testDb.db).deliverDue()).toEqual({ delivered: 0, retried: 0, failed: 0 });
    expect(receiver.received).toEqual([]);
  });

  it('refuses to write outside a transaction', async () => {
    await expect(outbox.enqueue(testDb.db as never, { kind: 'mail', payload: mail() })).rejects.toThrow(OutsideTransactionError);
  });

  it('writes a delivery no act causes on its own, committed at once, and wakes the sender', async () => {
    let woken = 0;
    const stop = outbox.onCommitted(() => { woken += 1; });
    try {
      const id = await outbox.enqueueAlone(testDb.db, { kind: 'mail', payload: mail() });
      expect(woken).toBe(1);
      expect(await testDb.db(OUTBOX_TABLE).where({ id }).first()).toBeDefined();
      expect(await senderOn(testDb.db).deliverDue()).toEqual({ delivered: 1, retried: 0, failed: 0 });
      expect(receiver.received).toHaveLength(1);
    } finally {
      stop();
    }
  });

  it('refuses a mail whose HTML would load something remote', async () => {
    const message = { ...mail(), html: '<p><img src="https://tracker.example/pixel.gif"></p>' };
    await expect(committed(message)).rejects.toThrow(/remote/);
    expect(await testDb.db(OUTBOX_TABLE).count({ n: '*' }).first()).toEqual({ n: 0 });
  });
});

describe('delivering', () => {
  it('sends a committed mail once, from MAIL_FROM, with text and HTML parts and a Message-ID from its row', async () => {
    const message = mail();
    const id = await committed(message);
    const sender = senderOn(testDb.db);
    expect(await sender.deliverDue()).toEqual({ delivered: 1, retried: 0, failed: 0 });
    expect(await sender.deliverDue()).toEqual({ delivered: 0, retried: 0, failed: 0 });

    expect(receiver.received).toHaveLength(1);
    const [received] = receiver.received;
    expect(received!.to).toEqual([message.to]);
    expect(received!.from).toBe('noreply@gatehouse.example');
    expect(received!.messageId).toBe(`<outbox.${id}@gatehouse.example>`);
    expect(received!.raw).toMatch(/^Content-Type: multipart\/alternative/im);
    expect(received!.raw).toMatch(/^Content-Type: text\/plain/im);
    expect(received!.raw).toMatch(/^Content-Type: text\/html/im);
    expect(received!.raw).toContain(message.subject);
  });

  it('keeps the payload sealed at rest and erases it once delivered, and never logs it', async () => {
    const message = mail();
    const id = await committed(message);
    const stored = JSON.stringify(await rowOf(id));
    for (const secret of [message.link, message.link.split('/').pop()!, message.to, message.subject]) expect(stored).not.toContain(secret);

    await senderOn(testDb.db).deliverDue();
    const row = await rowOf(id);
    expect(row).toMatchObject({ payload: null, attempts: 1, leased_by: null });
    expect(row.delivered_at).toEqual(new Date(now));
    const logs = logLines.join('\n');
    expect(logs).toContain(id);
    expect(logs).not.toContain(message.link.split('/').pop()!);
  });

  it("leaves a delivered mail's metadata to the janitor, which sweeps it after OUTBOX_RETENTION", async () => {
    const id = await committed(mail());
    await senderOn(testDb.db).deliverDue();
    const keys = createKeyStore(testDb.db, { keyEncryptionKey: kek, publishBeforeSigningSeconds: 0, retainSeconds: 60, now: clock });
    const janitor = new Janitor({ db: testDb.db, records: new OidcRecords(testDb.db, clock), links: new OneTimeLinks(testDb.db, clock), keys, logger, intervalSeconds: 300, refreshRetryWindowSeconds: 30, outboxRetentionSeconds: 3600 });
    const deliveredAt = now;
    now = deliveredAt + 3600_000;
    expect((await janitor.sweep()).outbox).toBe(0);
    expect(await rowOf(id)).toMatchObject({ attempts: 1, last_error: null });
    now = deliveredAt + 3600_001;
    expect((await janitor.sweep()).outbox).toBe(1);
    expect(await rowOf(id)).toBeUndefined();
  });

  it('loses and doubles nothing while SMTP is down for a minute, delivering on the first retry after it is back', async () => {
    const start = now;
    const messages = Array.from({ length: 5 }, mail);
    const ids = await Promise.all(messages.map(committed));
    const sender = senderOn(testDb.db);
    await receiver.close();
    try {
      // Attempts at 0, 5, 15 and 35 s fail (backoff 5, 10, 20 s); the next is due at 75 s.
      const attempts: number[] = [];
      for (let second = 0; second <= 60; second += 1) {
        now = start + second * 1000;
        const report = await sender.deliverDue();
        if (report.retried) attempts.push(second);
        expect(report.delivered).toBe(0);
      }
      expect(attempts).toEqual([0, 5, 15, 35]);
      const failing = await rowOf(ids[0]!);
      expect(failing.last_error).toMatch(/ECONNECTION|ESOCKET|ECONNREFUSED/);
      expect(String(failing.last_error)).not.toContain(messages[0]!.link);
    } finally {
      await receiver.open();
    }
    now = start + 74_000;
    expect(await sender.deliverDue()).toEqual({ delivered: 0, retried: 0, failed: 0 });
    now = start + 75_000;
    expect(await sender.deliverDue()).toEqual({ delivered: 5, retried: 0, failed: 0 });
    now = start + 10 * 60_000;
    expect(await sender.deliverDue()).toEqual({ delivered: 0, retried: 0, failed: 0 });

    expect(receiver.received.map((m) => m.messageId).sort()).toEqual(ids.map((id) => `<outbox.${id}@gatehouse.example>`).sort());
    for (const id of ids) expect(await rowOf(id)).toMatchObject({ attempts: 5, payload: null });
  });

  it('retries a mail the server refused for a while (451), then delivers it once', async () => {
    const start = now;
    const id = await committed(mail());
    const sender = senderOn(testDb.db);
    receiver.refuse();
    expect(await sender.deliverDue()).toEqual({ delivered: 0, retried: 1, failed: 0 });
    expect((await rowOf(id)).last_error).toMatch(/451/);
    receiver.accept();
    now = start + 4_999;
    expect(await sender.deliverDue()).toEqual({ delivered: 0, retried: 0, failed: 0 });
    now = start + 5_000;
    expect(await sender.deliverDue()).toEqual({ delivered: 1, retried: 0, failed: 0 });
    expect(receiver.received.map((m) => m.messageId)).toEqual([`<outbox.${id}@gatehouse.example>`]);
  });

  it('caps the wait between attempts, and gives a mail up (erasing it) after OUTBOX_GIVE_UP_AFTER', async () => {
    const start = now;
    const id = await committed(mail());
    // Ten minutes rather than the default three days: the same rule in fewer SMTP exchanges.
    const retry = { ...RETRY, giveUpAfterMs: 10 * 60_000 };
    const sender = senderOn(testDb.db, { retry });
    receiver.refuse();
    const retries: number[] = [];
    let report = await sender.deliverDue();
    while (report.failed === 0) {
      const next = (await rowOf(id)).next_attempt_at as Date;
      retries.push(next.getTime() - now);
      now = next.getTime();
      report = await sender.deliverDue();
    }
    expect(retries.slice(0, 5)).toEqual([5_000, 10_000, 20_000, 40_000, 60_000]);
    expect(new Set(retries.slice(4))).toEqual(new Set([60_000]));
    expect(now - start).toBeGreaterThanOrEqual(retry.giveUpAfterMs);
    expect(now - start).toBeLessThan(retry.giveUpAfterMs + retry.maxDelayMs);
    const row = await rowOf(id);
    expect(row).toMatchObject({ payload: null, delivered_at: null });
    expect(row.failed_at).toEqual(new Date(now));
    expect(logLines.some((line) => line.includes('outbox.gave_up') && line.includes(id))).toBe(true);
    expect(receiver.received).toEqual([]);
  });
});

describe('surviving crashes', () => {
  it.skipIf(!postgres)('delivers a mail committed just before the process died, once a sender starts again', async () => {
    // The process that committed never ran a sender; the next one to start is a fresh instance.
    const id = await committed(mail());
    const restarted = createDatabase({ url: testDb.url, embeddedDir: null });
    try {
      expect(await senderOn(restarted).deliverDue()).toEqual({ delivered: 1, retried: 0, failed: 0 });
    } finally {
      await restarted.destroy();
    }
    expect(receiver.received.map((m) => m.messageId)).toEqual([`<outbox.${id}@gatehouse.example>`]);
  });

  it('delivers a mail whose sender died holding its lease, once, when the lease lapses', async () => {
    const start = now;
    const id = await committed(mail());
    // A sender claimed it and vanished before sending (its process killed mid-delivery).
    const [abandoned] = await claimDue(testDb.db, { kinds: ['mail'], sender: 'crashed', now: new Date(now), leaseUntil: new Date(now + LEASE_MS), limit: 10 });
    expect(abandoned!.id).toBe(id);

    const survivor = senderOn(testDb.db);
    now = start + LEASE_MS - 1;
    expect(await survivor.deliverDue()).toEqual({ delivered: 0, retried: 0, failed: 0 });
    now = start + LEASE_MS;
    expect(await survivor.deliverDue()).toEqual({ delivered: 1, retried: 0, failed: 0 });
    expect(await survivor.deliverDue()).toEqual({ delivered: 0, retried: 0, failed: 0 });
    expect(receiver.received.map((m) => m.messageId)).toEqual([`<outbox.${id}@gatehouse.example>`]);
    expect(await rowOf(id)).toMatchObject({ attempts: 2, payload: null });
  });

  it('renews its claim rather than begin a delivery late in its lease, after a slow one', async () => {
    const ids = await Promise.all(Array.from({ length: 3 }, () => committed(mail())));
    const slow = senderOn(testDb.db, { batchSize: 4 });
    const held = receiver.holdNext();
    const queries = queriesDuring(testDb.db, async () => {
      const pass = slow.deliverDue();
      await held.arrived;
      now += LEASE_MS / 2 + 1;
      held.release();
      expect(await pass).toEqual({ delivered: 3, retried: 0, failed: 0 });
    });
    // One claim for all three, and a fresh one for the two not begun within the first half-lease.
    expect((await queries).filter((sql) => sql.includes('skip locked'))).toHaveLength(2);
    for (const id of ids) expect(await rowOf(id)).toMatchObject({ attempts: 1 });
    expect(receiver.received).toHaveLength(3);
  });

  it.skipIf(!postgres)('sends each mail once with two senders on one database delivering at the same time', async () => {
    const ids = await Promise.all(Array.from({ length: 24 }, () => committed(mail())));
    const other = createDatabase({ url: testDb.url, embeddedDir: null });
    try {
      const reports = await Promise.all([senderOn(testDb.db, { batchSize: 3 }).deliverDue(), senderOn(other, { batchSize: 3 }).deliverDue()]);
      expect(reports[0].delivered + reports[1].delivered).toBe(24);
    } finally {
      await other.destroy();
    }
    const received = receiver.received.map((m) => m.messageId);
    expect(received).toHaveLength(24);
    expect(new Set(received)).toEqual(new Set(ids.map((id) => `<outbox.${id}@gatehouse.example>`)));
  });
});

describe('stopping', () => {
  it('finishes the delivery in progress and hands back the mails claimed but not begun', async () => {
    const ids = await Promise.all(Array.from({ length: 3 }, () => committed(mail())));
    const stopped = senderOn(testDb.db, { batchSize: 3 });
    const held = receiver.holdNext();
    const pass = stopped.deliverDue();
    await held.arrived;
    const stopping = stopped.stop();
    held.release();
    expect(await pass).toEqual({ delivered: 1, retried: 0, failed: 0 });
    await stopping;

    const rows = await testDb.db(OUTBOX_TABLE).whereIn('id', ids).select('delivered_at', 'leased_by', 'attempts');
    expect(rows.filter((row) => row.delivered_at)).toHaveLength(1);
    expect(rows.filter((row) => !row.delivered_at)).toEqual([
      { delivered_at: null, leased_by: null, attempts: 0 },
      { delivered_at: null, leased_by: null, attempts: 0 },
    ]);
    // Released, not leased: the next sender need not wait for a lease to lapse.
    expect(await senderOn(testDb.db).deliverDue()).toEqual({ delivered: 2, retried: 0, failed: 0 });
    expect(new Set(receiver.received.map((m) => m.messageId))).toEqual(new Set(ids.map((id) => `<outbox.${id}@gatehouse.example>`)));
    expect(receiver.received).toHaveLength(3);
  });
});

describe('running in the background', () => {
  let feed: StoppableChangeFeed | undefined;
  let sender: OutboxSender | undefined;
  afterEach(async () => {
    await sender?.stop();
    await feed?.stop();
    sender = undefined;
    feed = undefined;
  });

  it('looks at the database once per idle pass', async () => {
    const idle = senderOn(testDb.db);
    expect(await queriesDuring(testDb.db, () => idle.deliverDue())).toHaveLength(1);
  });

  it('asks when to wake next only after its last pass, when woken again while a pass runs', async () => {
    sender = senderOn(testDb.db);
    const statements = await queriesDuring(testDb.db, async () => {
      sender!.start();
      sender!.wake(); // arrives while the first pass runs, as a commit's notice from the database does
      await sender!.idle();
    });
    // Two passes, each one claim; the first hands over to the second without asking when to wake.
    expect(statements.filter((sql) => /^update outbox set leased_by/.test(sql.trim()))).toHaveLength(2);
    expect(statements.filter((sql) => /greatest\(o\.next_attempt_at/.test(sql))).toHaveLength(1);
  });

  it('wakes when a transaction of this instance that enqueued a mail commits', async () => {
    sender = senderOn(testDb.db);
    // Not listening to the database: only this instance's outbox can wake it.
    sender.start({ outbox });
    await sender.idle();
    await committed(mail());
    await receiver.receivedCount(1);
    expect(receiver.received).toHaveLength(1);
  });

  it.skipIf(!postgres)('wakes when another instance commits a mail, through the change feed', async () => {
    feed = await startChangeFeed(testDb.db, logger);
    sender = senderOn(testDb.db);
    // Not told of this instance's commits: only the database's notification can wake it.
    sender.start({ feed });
    await sender.idle();
    const elsewhere = new Outbox(kek, clock);
    await testDb.db.transaction((trx) => elsewhere.enqueue(trx, { kind: 'mail', payload: mail() }));
    await receiver.receivedCount(1);
    expect(receiver.received).toHaveLength(1);
  });
});
