// Development without SMTP_URL: delivered mail is readable at /dev/mail and announced in the log
// without its links. In production the page does not exist, and mail never reaches a development
// mailbox: it goes over SMTP_URL, which production requires (email verification always sends mail).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OUTBOX_TABLE } from '../../src/outbox/store.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { startSmtpReceiver, type SmtpReceiver } from '../support/smtp.js';

const token = randomBytes(16).toString('base64url');
const message = {
  to: 'person@example.test',
  subject: 'Confirm your email address',
  text: `Open http://127.0.0.1/verify/${token} to confirm.`,
  html: `<p><a href="http://127.0.0.1/verify/${token}">Confirm</a></p>`,
};

async function enqueueAndDeliver(server: TestServer) {
  const id = await server.db.transaction((trx) => server.deliveries.outbox.enqueue(trx, { kind: 'mail', payload: message }));
  return { id, report: await server.deliveries.sender.deliverDue() };
}

describe('outside production, without SMTP_URL', () => {
  let server: TestServer;
  beforeAll(async () => { server = await startTestServer(); });
  afterAll(async () => { await server?.stop(); });

  it('shows a delivered mail at /dev/mail and logs it without its body', async () => {
    const empty = await fetch(`${server.address}/dev/mail`);
    expect(empty.status).toBe(200);
    expect(await empty.text()).toContain('No mail yet.');

    const { id, report } = await enqueueAndDeliver(server);
    expect(report).toEqual({ delivered: 1, retried: 0, failed: 0 });
    const response = await fetch(`${server.address}/dev/mail`);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const page = await response.text();
    expect(page).toContain(message.subject);
    expect(page).toContain(`/verify/${token}`);
    expect(page).toContain(`&lt;outbox.${id}@127.0.0.1&gt;`);

    const logged = server.logs.find((line) => line.event === 'mail.development_delivery');
    expect(logged).toMatchObject({ messageId: `<outbox.${id}@127.0.0.1>`, subject: message.subject });
    expect(server.rawLogs.join('\n')).not.toContain(token);
  });
});

describe('in production', () => {
  let testDb: TestDatabase;
  let server: TestServer;
  let smtp: SmtpReceiver;
  beforeAll(async () => {
    testDb = await createTestDatabase();
    smtp = await startSmtpReceiver();
    server = await startTestServer({
      NODE_ENV: 'production',
      SMTP_URL: smtp.url,
      MAIL_FROM: 'Gatehouse <id@example.test>',
      DATABASE_URL: testDb.url ?? 'postgres://unused',
      COOKIE_KEYS: randomBytes(32).toString('base64url'),
      KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
      // Production starts without SMTP_URL only while no feature sends mail.
      PASSWORD_RECOVERY: 'false',
      EMAIL_NOTIFICATIONS: 'false',
    }, { testDb });
  });
  afterAll(async () => {
    await server?.stop();
    await testDb?.destroy();
    await smtp?.close();
  });

  it('has no /dev/mail, and sends mail over SMTP rather than to a development mailbox', async () => {
    expect((await fetch(`${server.address}/dev/mail`)).status).toBe(404);
    expect(server.deliveries.devMailbox).toBeUndefined();
    const { id, report } = await enqueueAndDeliver(server);
    expect(report).toEqual({ delivered: 1, retried: 0, failed: 0 });
    expect(smtp.received.map((mail) => mail.messageId)).toEqual([`<outbox.${id}@example.test>`]);
    expect(await testDb.db(OUTBOX_TABLE).where({ id }).first()).toMatchObject({ attempts: 1 });
  });
});
