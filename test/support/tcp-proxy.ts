// A TCP proxy in front of the test PostgreSQL, to make the real database unreachable, refusing or
// silent for one server process while every other test keeps using it.
import net from 'node:net';

export type ProxyMode = 'pass' | 'freeze' | 'reset';

export interface TcpProxy {
  port: number;
  /** pass: forward; freeze: accept and hold everything, answer nothing; reset: cut every connection. */
  setMode(mode: ProxyMode): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let mode: ProxyMode = 'pass';
  const pairs = new Set<[net.Socket, net.Socket]>();

  const server = net.createServer((incoming) => {
    if (mode === 'reset') {
      incoming.resetAndDestroy();
      return;
    }
    const pair = connectedPair(incoming, target, pairs);
    incoming.pipe(pair[1]);
    pair[1].pipe(incoming);
    if (mode === 'freeze') hold(pair);
  });

  // Nothing flows either way; bytes wait in the sockets until the proxy thaws.
  const hold = ([a, b]: [net.Socket, net.Socket]) => { a.unpipe(b); b.unpipe(a); a.pause(); b.pause(); };
  const release = ([a, b]: [net.Socket, net.Socket]) => { a.pipe(b); b.pipe(a); };

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    setMode(next) {
      if (next === mode) return;
      const previous = mode;
      mode = next;
      for (const pair of [...pairs]) {
        if (next === 'reset') {
          pair[0].resetAndDestroy();
          pair[1].destroy();
        } else if (next === 'freeze') {
          hold(pair);
        } else if (previous === 'freeze') {
          release(pair);
        }
      }
    },
    async close() {
      for (const [a, b] of pairs) { a.destroy(); b.destroy(); }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface AnswerHoldingProxy {
  port: number;
  /** From now on, what the database sends is kept back; what is sent to it still goes through. */
  holdAnswers(): void;
  /** Resolves once some answer is being kept back: the database has answered from what it saw then. */
  answerHeld(): Promise<void>;
  /** Delivers what was kept back, in order, and stops holding. */
  release(): void;
  close(): Promise<void>;
}

/**
 * A proxy that lets statements reach the database but keeps its answers back: the database has
 * run the statement on what it saw then, and the client has not heard yet — the moment a slow
 * network makes, held open for as long as a test needs.
 */
export async function startAnswerHoldingProxy(target: { host: string; port: number }): Promise<AnswerHoldingProxy> {
  let holding = false;
  const held: Array<{ to: net.Socket; chunk: Buffer }> = [];
  let heard: Array<() => void> = [];
  const pairs = new Set<[net.Socket, net.Socket]>();

  const server = net.createServer((incoming) => {
    const [, outgoing] = connectedPair(incoming, target, pairs);
    incoming.pipe(outgoing);
    outgoing.on('data', (chunk: Buffer) => {
      if (!holding) {
        incoming.write(chunk);
        return;
      }
      held.push({ to: incoming, chunk });
      for (const wake of heard) wake();
      heard = [];
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    holdAnswers() { holding = true; },
    answerHeld: () => held.length > 0 ? Promise.resolve() : new Promise<void>((resolve) => heard.push(resolve)),
    release() {
      holding = false;
      for (const { to, chunk } of held.splice(0)) to.write(chunk);
    },
    async close() {
      for (const [a, b] of pairs) { a.destroy(); b.destroy(); }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A connection to `target` for `incoming`, kept in `pairs` while both are open; either ending ends both. */
function connectedPair(incoming: net.Socket, target: net.NetConnectOpts, pairs: Set<[net.Socket, net.Socket]>): [net.Socket, net.Socket] {
  const outgoing = net.connect(target);
  const pair: [net.Socket, net.Socket] = [incoming, outgoing];
  pairs.add(pair);
  const end = () => {
    pairs.delete(pair);
    incoming.destroy();
    outgoing.destroy();
  };
  incoming.on('error', end).on('close', end);
  outgoing.on('error', end).on('close', end);
  return pair;
}
