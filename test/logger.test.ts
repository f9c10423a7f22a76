// No credential reaches a log line, wherever it sits in what is logged; everything else is
// written as it was given, and the caller's objects are left as they were.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { censorCredentials, createLogger } from '../src/logger.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { logger: createLogger('debug', destination), lines };
}

const SECRETS = {
  authorization: 'Bearer eyJ.secret.sig',
  cookie: '_session=secret-cookie',
  password: 'correct horse battery',
  client_secret: 'secret-client-secret',
  token: 'secret-token',
  access_token: 'secret-access-token',
  refresh_token: 'secret-refresh-token',
  id_token: 'secret-id-token',
  code_verifier: 'secret-code-verifier',
  device_code: 'secret-device-code',
  user_code: 'SECRET-USER-CODE',
  client_assertion: 'secret.client.assertion',
  subject_token: 'secret-subject-token',
  actor_token: 'secret-actor-token',
  id_token_hint: 'secret-id-token-hint',
  logout_token: 'secret-logout-token',
  registration_access_token: 'secret-registration-access-token',
  secret: 'secret-secret',
};

/** No value that was censored appears anywhere in what was written. */
function expectNoSecretIn(lines: unknown[]): void {
  const written = JSON.stringify(lines);
  for (const value of [...Object.values(SECRETS), 'Basic c2VjcmV0', 'a=secret', 'sid=secret']) expect(written).not.toContain(value);
}

describe('the log', () => {
  it('censors every credential field one level down, and keeps the fields beside them', () => {
    const { logger, lines } = capture();
    logger.info({ event: 'probe', body: { ...SECRETS, grant_type: 'refresh_token' }, headers: { Authorization: 'Basic c2VjcmV0', 'Set-Cookie': 'a=secret', accept: 'application/json' } });
    const [line] = lines;
    expect(line!.body).toEqual({ ...Object.fromEntries(Object.keys(SECRETS).map((key) => [key, '[redacted]'])), grant_type: 'refresh_token' });
    expect(line!.headers).toEqual({ Authorization: '[redacted]', 'Set-Cookie': '[redacted]', accept: 'application/json' });
    expect(line!.event).toBe('probe');
    expectNoSecretIn(lines);
  });

  it('censors credential fields at the top of a line, and in a request\'s and response\'s headers', () => {
    const { logger, lines } = capture();
    logger.warn({ password: SECRETS.password, token: SECRETS.token, clientId: 'app-1', headers: { AUTHORIZATION: SECRETS.authorization } });
    logger.info({ req: { method: 'GET', headers: { authorization: SECRETS.authorization, cookie: SECRETS.cookie, host: 'id.example.test' } }, res: { headers: { 'set-cookie': 'sid=secret' } } });
    expect(lines[0]).toMatchObject({ password: '[redacted]', token: '[redacted]', clientId: 'app-1', headers: { AUTHORIZATION: '[redacted]' } });
    expect(lines[1]).toMatchObject({
      req: { method: 'GET', headers: { authorization: '[redacted]', cookie: '[redacted]', host: 'id.example.test' } },
      res: { headers: { 'set-cookie': '[redacted]' } },
    });
    expectNoSecretIn(lines);
  });

  it('censors what is logged through a child logger too', () => {
    const { logger, lines } = capture();
    logger.child({ component: 'oidc' }).info({ caller: { authorization: SECRETS.authorization, ip: '192.0.2.1' }, token: SECRETS.token });
    expect(lines[0]).toMatchObject({ component: 'oidc', caller: { authorization: '[redacted]', ip: '192.0.2.1' }, token: '[redacted]' });
  });

  it('leaves the caller\'s objects as they were', () => {
    const { logger } = capture();
    const body = { ...SECRETS };
    const fields = { event: 'probe', body };
    logger.info(fields);
    expect(fields.body).toBe(body);
    expect(body).toEqual(SECRETS);
  });

  it('writes an error with its message and stack, as pino serializes it', () => {
    const { logger, lines } = capture();
    logger.error({ event: 'probe', err: new Error('the database went away') });
    expect(lines[0]!.err).toMatchObject({ type: 'Error', message: 'the database went away', stack: expect.stringContaining('the database went away') });
  });

  it('copies nothing for a line without credentials, such as the request line written on every request', () => {
    const line = { msg: 'request', requestId: 'r-1', method: 'POST', path: '/token/introspection', status: 200, durationMs: 1.2, ip: '127.0.0.1' };
    expect(censorCredentials(line)).toBe(line);
    const nested = { event: 'probe', client: { id: 'app-1', name: 'App' } };
    expect(censorCredentials(nested)).toBe(nested);
  });
});
