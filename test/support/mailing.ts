// A Gatehouse whose mail goes over SMTP to a real server inside the test (test/support/smtp.ts),
// with a clock the tests move (link expiry) and TRUST_PROXY on, so each test asks "from" client
// addresses of its own (X-Forwarded-For) and per-address limits of one test do not touch another.
import { startTestServer, type TestServer } from './gatehouse.js';
import { readMail, type ReadMail } from './received-mail.js';
import { startSmtpReceiver, type SmtpReceiver } from './smtp.js';
import { formOf, UserAgent, type Response } from './user-agent.js';

export interface MailingServer {
  server: TestServer;
  receiver: SmtpReceiver;
  /** Moves Gatehouse's clock (link expiry) forward. */
  advance(ms: number): void;
  /** Runs the sender's pass: every mail written so far goes to the SMTP server. */
  deliver(): Promise<void>;
  /** The mail received for `email`, oldest first, read. */
  mailsTo(email: string): ReadMail[];
  stop(): Promise<void>;
}

export async function startMailingServer(env: Record<string, string> = {}): Promise<MailingServer> {
  const receiver = await startSmtpReceiver();
  let offset = 0;
  const server = await startTestServer(
    { SMTP_URL: receiver.url, MAIL_FROM: 'Gatehouse <id@gatehouse.test>', TRUST_PROXY: 'true', ...env },
    { now: () => Date.now() + offset },
  );
  return {
    server,
    receiver,
    advance(ms) { offset += ms; },
    async deliver() {
      const report = await server.deliveries.sender.deliverDue();
      if (report.failed || report.retried) throw new Error(`mail not delivered: ${JSON.stringify(report)}`);
    },
    mailsTo(email) {
      return receiver.received.filter((mail) => mail.to.includes(email.toLowerCase()) || mail.to.includes(email)).map(readMail);
    },
    async stop() {
      await server.stop();
      await receiver.close();
    },
  };
}

let addresses = 0;
/** A client address no other request of the test file uses (the benchmarking range, RFC 2544). */
export function newAddress(): string {
  addresses += 1;
  return `198.18.${Math.floor(addresses / 250)}.${(addresses % 250) + 1}`;
}

/** Asks for a link by a form (/recover or /sign-in-link) from `from`, as a browser would (`agent`: one with cookies of its own): GET the form for its token, POST it. */
export async function askForLink(server: TestServer, email: string, from: string, path = '/recover', agent = new UserAgent(server.issuer)): Promise<Response> {
  const form = await agent.request(`${server.issuer}/recover`, { headers: { 'x-forwarded-for': from } });
  const { csrf } = formOf(form.body, /\/recover$/);
  return agent.request(`${server.issuer}${path}`, { form: { csrf, email }, headers: { 'x-forwarded-for': from } });
}
