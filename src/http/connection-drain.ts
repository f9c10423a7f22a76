// Graceful shutdown at the HTTP level, so that stopping an instance never resets a request.
//
// HTTP/1.1 has one unavoidable race: a client may send a request on a keep-alive connection at
// the moment the server closes it. Closing a socket that has unread bytes makes the kernel send
// RST, and the client cannot tell whether the request was processed (a committed refresh-token
// rotation answered by a reset logs the person out). So the server should close a connection only
// when the client already knows it is going away, and otherwise as late and as gently as it can:
//
//   1. Draining starts: /readyz answers 503 (the load balancer stops sending), and every response
//      not yet started carries `Connection: close`, after which Node ends that connection itself
//      once the response is flushed. A client that keeps sending meets this on its next response.
//   2. The listener stays open for SHUTDOWN_DRAIN_DELAY, so requests already routed here land.
//   3. The listener closes (new connections are refused, which clients retry elsewhere safely).
//      Connections that served a request and are idle are ended with a FIN (never destroyed: a
//      FIN lets any response still in the kernel's buffer reach the client); connections accepted
//      but not yet used get a moment to send the request they were opened for. A request that
//      still arrives on a connection we have ended is not processed, so a retry is always safe.
//   4. Requests in progress finish; the process exits once the last connection has closed.
//
// Node's own http.Server#close() calls closeIdleConnections() (since Node 19), which destroys
// every socket without a request being parsed: one just accepted whose request is on its way,
// one whose next request is already in the kernel's buffer, one whose last response is ended but
// not yet flushed. Those are the resets this module exists to avoid, so the listener is closed
// with net.Server#close() (http.Server's base class, public API), which only stops accepting and
// calls back once every connection has closed; the connections are this module's to close.
import type http from 'node:http';
import net from 'node:net';

interface SocketState {
  /** Requests on this connection whose response has not been sent. */
  busy: number;
  /** Responses sent on this connection. */
  served: number;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export interface DrainOptions {
  /** How long to keep accepting connections after draining starts. */
  drainDelayMs: number;
}

/** How long a connection accepted before the listener closed may take to send its request. */
/** How long a half-closed idle connection may take to close its side before it is cut. */
const HALF_CLOSED_GRACE_MS = 2_000;
const FRESH_CONNECTION_GRACE_MS = 1_000;

export class ConnectionDrain {
  #draining = false;
  #listenerClosed = false;
  readonly #sockets = new Map<net.Socket, SocketState>();
  readonly #unsent = new Set<http.ServerResponse>();

  /** True from the moment shutdown begins: /readyz answers 503. */
  get draining(): boolean {
    return this.#draining;
  }

  /** The request handler, counting what each connection has in progress. */
  wrap(handler: Handler): Handler {
    return (req, res) => {
      const { socket } = req;
      if (socket.writableEnded || socket.destroyed) {
        // We ended this connection before the request arrived: it cannot be answered, so it must
        // not be processed either, and the client's retry cannot repeat anything.
        socket.destroy();
        return;
      }
      const state = this.#sockets.get(socket);
      if (state) state.busy += 1;
      this.#unsent.add(res);
      if (this.#draining) res.setHeader('Connection', 'close');
      let settled = false;
      const settle = () => {
        if (settled) return;
        settled = true;
        this.#unsent.delete(res);
        if (state) {
          state.busy -= 1;
          state.served += 1;
        }
        if (this.#listenerClosed) this.#endIfIdle(socket);
      };
      // 'finish': the last byte is with the kernel. 'close' alone: the client went away first.
      res.once('finish', settle);
      res.once('close', settle);
      handler(req, res);
    };
  }

  attach(server: http.Server): void {
    server.on('connection', (socket: net.Socket) => {
      this.#sockets.set(socket, { busy: 0, served: 0 });
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  /** Drains and closes the server; resolves once every connection has closed. */
  async close(server: http.Server, options: DrainOptions): Promise<void> {
    this.#draining = true;
    for (const res of this.#unsent) {
      if (!res.headersSent) res.setHeader('Connection', 'close');
    }
    if (options.drainDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, options.drainDelayMs));

    const closed = new Promise<void>((resolve) => {
      // net.Server's close, not http.Server's: see the comment at the top.
      net.Server.prototype.close.call(server, () => resolve());
    });
    this.#listenerClosed = true;
    const fresh: net.Socket[] = [];
    for (const [socket, state] of this.#sockets) {
      if (state.busy === 0 && state.served === 0) fresh.push(socket);
      else this.#endIfIdle(socket);
    }
    if (fresh.length) {
      const grace = setTimeout(() => fresh.forEach((socket) => this.#endIfIdle(socket, true)), options.drainDelayMs > 0 ? FRESH_CONNECTION_GRACE_MS : 0);
      await closed;
      clearTimeout(grace);
      return;
    }
    await closed;
  }

  /** Ends a connection with nothing in progress; a fresh one only when `fresh` says its grace is over. */
  #endIfIdle(socket: net.Socket, fresh = false): void {
    const state = this.#sockets.get(socket);
    if (!state || state.busy > 0 || (state.served === 0 && !fresh)) return;
    // A half-close: the client reads every byte already sent, then the end of the connection.
    socket.end();
    // Nothing more will be answered on it; once the client closes its side, let it go. A client
    // that vanished (a NAT timeout, a phone gone) never will: after a grace, nothing can be lost
    // by destroying it, and the stop must not wait out the keep-alive timeout for it.
    const gone = setTimeout(() => socket.destroy(), HALF_CLOSED_GRACE_MS).unref();
    socket.once('close', () => clearTimeout(gone));
    socket.once('end', () => socket.destroy());
  }
}
