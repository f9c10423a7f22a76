// An app's back-channel logout endpoint, for tests: a real HTTP server on loopback that keeps every
// logout token POSTed to it, answering 200 — or 503 while it is `down`, as an app being redeployed.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LogoutReceiver {
  /** The URI to register as the app's backchannel_logout_uri. */
  uri: string;
  /** The `logout_token` of every POST answered 200, in order. */
  tokens: string[];
  /** POSTs refused while down. */
  refused: number;
  /** Every request's content type, to check the form encoding. */
  contentTypes: string[];
  down: boolean;
  close(): Promise<void>;
}

export async function startLogoutReceiver(): Promise<LogoutReceiver> {
  const receiver: LogoutReceiver = {
    uri: '', tokens: [], refused: 0, contentTypes: [], down: false,
    close: () => new Promise((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => { body += chunk; });
    req.on('end', () => {
      receiver.contentTypes.push(String(req.headers['content-type']));
      if (receiver.down) {
        receiver.refused += 1;
        res.writeHead(503).end();
        return;
      }
      const token = new URLSearchParams(body).get('logout_token');
      if (req.method !== 'POST' || !token) {
        res.writeHead(400).end();
        return;
      }
      receiver.tokens.push(token);
      res.writeHead(200, { 'cache-control': 'no-store' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/backchannel-logout`;
  return receiver;
}
