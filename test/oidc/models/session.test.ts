// A session ended while a request that read it is still in flight stays ended. oidc-provider saves
// the browser's session at the end of every request that used it, errors included; that save used
// to insert the ended session again, and whoever held its cookie was signed in again. Here the
// request is held open, by its body, after it read the session, and the session is ended meanwhile.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digest } from '../../../src/crypto/digest.js';
import { signInToAccount } from '../../account/support.js';
import { createPerson } from '../../support/flows.js';
import { startTestServer, type TestServer } from '../../support/gatehouse.js';

let server: TestServer;
beforeAll(async () => { server = await startTestServer(); });
afterAll(async () => { await server?.stop(); });

/** Resolves once the server has read the session with this id from the database. */
function sessionRead(id: string): Promise<void> {
  const wanted = digest(id);
  return new Promise((resolve) => {
    const seen = (_response: unknown, query: { bindings?: unknown[] }) => {
      if (!query.bindings?.includes('Session') || !query.bindings.includes(wanted)) return;
      server.testDb.db.off('query-response', seen);
      resolve();
    };
    server.testDb.db.on('query-response', seen);
  });
}

describe('a session ended while a request that read it is in flight', () => {
  it('is not saved back by that request: its cookie signs no one in', async () => {
    const person = await createPerson(server);
    const { agent } = await signInToAccount(server, person);
    const cookie = agent.cookieHeader();
    const sessionId = /(?:^|; )gh_session=([^;]+)/.exec(cookie)![1]!;
    expect(await server.testDb.db('oidc_records').where({ model: 'Session', id_digest: digest(sessionId) })).toHaveLength(1);

    // The sign-out confirmation, with the body held back until the session has been read.
    const body = 'xsrf=not-the-one&logout=yes';
    const { port } = new URL(server.issuer);
    const read = sessionRead(sessionId);
    const answered = new Promise<number>((resolve, reject) => {
      const request = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/session/end/confirm', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body), accept: 'text/html' } }, (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      });
      request.on('error', reject);
      request.flushHeaders();
      void read.then(async () => {
        await server.operations.sessions.endAllSessions({ type: 'system', id: null }, person.id);
        request.end(body);
      });
    });
    expect(await answered).toBe(400);

    expect(await server.testDb.db('oidc_records').where({ model: 'Session', id_digest: digest(sessionId) })).toEqual([]);
    const account = await agent.request(`${server.issuer}/account`);
    expect(account.status).toBe(302);
  });
});
