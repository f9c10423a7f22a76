// A real HTTP receiver of Security Event Tokens (RFC 8935 push), in-process: it records every POST
// it is sent and answers as a test tells it to (202 by default; down with 503; refusing with 400
// and an RFC 8935 error object). Verification of what it got is the test's, with jose.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, decodeJwt, jwtVerify, type JWTPayload } from 'jose';

export interface ReceivedPost {
  contentType: string | undefined;
  body: string;
  /** What the receiver answered. */
  status: number;
}

export interface SetReceiver {
  url: string;
  /** Every POST, in the order received, accepted or not. */
  posts: ReceivedPost[];
  /** The SETs it accepted (answered 2xx), decoded (not verified), in order. */
  accepted(): Array<JWTPayload & Record<string, unknown>>;
  /** How it answers from now on. */
  answer(status: number, body?: unknown): void;
  /** Answers nothing until `until` settles (then as told by answer()). */
  holdUntil(until: Promise<unknown> | undefined): void;
  /** Resolves at the next POST it receives. */
  nextPost(): Promise<void>;
  close(): Promise<void>;
}

export async function startSetReceiver(): Promise<SetReceiver> {
  const posts: ReceivedPost[] = [];
  let status = 202;
  let answerBody: unknown;
  let hold: Promise<unknown> | undefined;
  const waiting: Array<() => void> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      for (const resolve of waiting.splice(0)) resolve();
      await hold;
      posts.push({ contentType: req.headers['content-type'], body: Buffer.concat(chunks).toString('utf8'), status });
      if (answerBody === undefined) {
        res.writeHead(status).end();
      } else {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(answerBody));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/events`,
    posts,
    accepted: () => posts.filter((post) => post.status >= 200 && post.status < 300).map((post) => decodeJwt(post.body) as JWTPayload & Record<string, unknown>),
    answer(next, body) {
      status = next;
      answerBody = body;
    },
    holdUntil(until) {
      hold = until;
    },
    nextPost: () => new Promise<void>((resolve) => waiting.push(resolve)),
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** Verifies a SET as a receiver would: Gatehouse's JWKS, its issuer, the receiver's audience, typ. */
export async function verifySet(token: string, issuer: string, audience: string): Promise<{ payload: JWTPayload & Record<string, unknown>; typ: string | undefined }> {
  const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer, audience, typ: 'secevent+jwt' });
  return { payload: payload as JWTPayload & Record<string, unknown>, typ: protectedHeader.typ };
}
