// A real SMTP server for tests, on a loopback port (smtp-server): what Gatehouse's mail goes to
// over the network, exactly as it would reach a relay. Tests make it refuse for a while, or close
// it (connections refused) and open it again on the same port, to play an outage.
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerError } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  /** The whole message as it arrived, headers and MIME parts. */
  raw: string;
  /** The Message-ID header's value, angle brackets included. */
  messageId: string | undefined;
}

export interface SmtpReceiver {
  /** smtp://127.0.0.1:<port> */
  url: string;
  port: number;
  received: ReceivedMail[];
  /** Answer DATA with this temporary failure (451) until accept() is called. */
  refuse(): void;
  accept(): void;
  /** Stop listening: connections are refused until open() again, on the same port. */
  close(): Promise<void>;
  open(): Promise<void>;
  /** Resolves once `count` mails have arrived in all. */
  receivedCount(count: number): Promise<void>;
  /**
   * Holds the next mail's answer: `arrived` once its data is in, answered only after release().
   * A mail whose client left before the answer (`clientLeft`) was never accepted, and is not recorded.
   */
  holdNext(): { arrived: Promise<void>; clientLeft: Promise<void>; release(): void };
}

export async function startSmtpReceiver(): Promise<SmtpReceiver> {
  const received: ReceivedMail[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  let refusing = false;
  let hold: { arrived: () => void; released: Promise<void>; left: () => void } | undefined;
  const leaving = new Map<string, () => void>();
  /** Sessions whose client went away: a mail whose sender vanished before the answer was never accepted. */
  const closed = new Set<string>();
  let server: SMTPServer | undefined;
  let port = 0;

  const create = () => new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onClose(session) {
      closed.add(session.id);
      leaving.get(session.id)?.();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', async () => {
        const held = hold;
        hold = undefined;
        if (held) {
          leaving.set(session.id, held.left);
          if (closed.has(session.id)) held.left();
          held.arrived();
          await held.released;
        }
        if (refusing || closed.has(session.id)) {
          const error: SMTPServerError = Object.assign(new Error('Try again later'), { responseCode: 451 });
          callback(error);
          return;
        }
        const raw = Buffer.concat(chunks).toString('utf8');
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
          raw,
          messageId: /^Message-ID:\s*(\S+)/im.exec(raw)?.[1],
        });
        for (const waiter of waiters.filter((w) => received.length >= w.count)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
        callback();
      });
    },
  });

  const open = async () => {
    const next = create();
    await new Promise<void>((resolve, reject) => {
      next.once('error', reject);
      next.listen(port, '127.0.0.1', () => resolve());
    });
    server = next;
    port = (next.server.address() as AddressInfo).port;
  };
  await open();

  return {
    get url() { return `smtp://127.0.0.1:${port}`; },
    get port() { return port; },
    received,
    refuse: () => { refusing = true; },
    accept: () => { refusing = false; },
    open,
    async close() {
      const current = server;
      server = undefined;
      if (current) await new Promise<void>((resolve) => current.close(() => resolve()));
    },
    holdNext() {
      let arrived!: () => void;
      let left!: () => void;
      let release!: () => void;
      const arrival = new Promise<void>((resolve) => { arrived = resolve; });
      const clientLeft = new Promise<void>((resolve) => { left = resolve; });
      hold = { arrived, left, released: new Promise<void>((resolve) => { release = resolve; }) };
      return { arrived: arrival, clientLeft, release };
    },
    receivedCount(count) {
      if (received.length >= count) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
  };
}
