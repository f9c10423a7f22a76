// SIGNUP (src/config.ts): closed by default; `invite` and `open` send mail, so production refuses
// to start with either and no SMTP_URL, naming the setting, and starts with it set.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { configEnvironments, problemsOf } from '../support/config-env.js';

const base = configEnvironments('signup-config');
/** Production with the other features that send mail off: what SIGNUP alone asks of it is what shows. */
const production = (overrides: NodeJS.ProcessEnv = {}) =>
  base.production({ PASSWORD_RECOVERY: 'false', EMAIL_NOTIFICATIONS: 'false', EMAIL_VERIFICATION: 'false', ...overrides });

describe('SIGNUP', () => {
  it('is closed by default, and production then needs no SMTP_URL', () => {
    expect(loadConfig(production()).signup).toBe('closed');
  });

  it.each(['invite', 'open'])('=%s needs SMTP_URL in production, and starts with it', (value) => {
    expect(problemsOf(production({ SIGNUP: value }))).toEqual([
      `SMTP_URL is required in production with SIGNUP=${value} on: without it their mail would wait in the outbox and never be sent (the development mailbox does not exist in production)`,
    ]);
    expect(loadConfig(production({ SIGNUP: value, SMTP_URL: 'smtp://relay.internal:25', MAIL_FROM: 'id@example.com' })).signup).toBe(value);
  });

  it('refuses anything else, naming the setting', () => {
    expect(problemsOf(production({ SIGNUP: 'yes' }))).toEqual([expect.stringMatching(/^SIGNUP: /)]);
  });
});
