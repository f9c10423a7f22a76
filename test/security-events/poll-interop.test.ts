// A receiver written by strangers, in another language: Authlib (Debian's python3-authlib, which CI
// installs) polls for an API's security events, verifies the SETs with its own JOSE code against
// the JWKS the SSF metadata names, and acknowledges them (./ssf_poll_receiver.py). Skipped, and
// shown as skipped, where Debian's Python has no Authlib.
import { execFile, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../src/audit/events.js';
import { grantIds, registerApp } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';

const PYTHON = '/usr/bin/python3';
const RECEIVER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'ssf_poll_receiver.py');
const API = 'https://ledger.example.test';
const SESSION_REVOKED = 'https://schemas.openid.net/secevent/caep/event-type/session-revoked';
const ADMIN: Actor = { type: 'client', id: 'automation' };
const authlib = spawnSync(PYTHON, ['-c', 'import authlib.jose'], { stdio: 'ignore' }).status === 0;

describe.skipIf(!authlib)('a receiver written with Authlib, in Python', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server.stop();
  });

  it('polls, verifies a revoked grant\'s SET with its own JOSE library, and acknowledges it', async () => {
    const { clientId, clientSecret } = await server.stores.resources.create({ identifier: API, scope: 'ledger:read', eventsEndpoint: 'urn:ietf:rfc:8936' });
    const app = await registerApp(server, { scope: 'openid offline_access ledger:read' });
    const [grantId] = await grantIds(server, app, 1, { scope: 'openid offline_access ledger:read', resource: API });
    await server.operations.grants.revokeGrant(ADMIN, grantId!);

    const { stdout } = await promisify(execFile)(PYTHON, [RECEIVER, server.issuer, API, clientId, clientSecret!]);
    const lines = stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    const [set, last] = lines as [Record<string, unknown>, { afterAcknowledging: unknown }];
    expect(set).toMatchObject({ iss: server.issuer, aud: API, sub_id: { format: 'complex', session: { format: 'opaque', id: grantId } } });
    expect(Object.keys(set.events as object)).toEqual([SESSION_REVOKED]);
    expect(last.afterAcknowledging).toEqual({ sets: {}, moreAvailable: false });
  });
});
