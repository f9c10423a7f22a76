// The mail settings (src/config.ts): SMTP_URL and MAIL_FROM checked at start, and the rule that
// production refuses to start without SMTP_URL while a feature that sends mail is on
// (PASSWORD_RECOVERY, EMAIL_NOTIFICATIONS and EMAIL_VERIFICATION, all on by default).
import { describe, expect, it } from 'vitest';
import { loadConfig, mailProblems } from '../../src/config.js';
import { configEnvironments, problemsOf } from '../support/config-env.js';

const { env, production } = configEnvironments('mail-config');

describe('mail settings', () => {
  it('send development mail to the development mailbox, from an address at the issuer host', () => {
    const config = loadConfig(env({ ISSUER: 'http://localhost:4000' }));
    expect(config.mail).toEqual({ smtpUrl: undefined, from: 'Gatehouse <gatehouse@localhost>' });
    expect(config.outbox).toEqual({ retryMaxDelaySeconds: 900, giveUpAfterSeconds: 259200, retentionSeconds: 604800 });
  });

  it('take SMTP_URL and MAIL_FROM from the environment', () => {
    const config = loadConfig(production({ SMTP_URL: 'smtps://user:pass@smtp.example.com:465', MAIL_FROM: 'Example ID <id@example.com>' }));
    expect(config.mail).toEqual({ smtpUrl: 'smtps://user:pass@smtp.example.com:465', from: 'Example ID <id@example.com>' });
  });

  it('refuse an SMTP_URL that is not smtp(s) and a MAIL_FROM that is not an address', () => {
    expect(problemsOf(env({ SMTP_URL: 'https://smtp.example.com' }))).toEqual(['SMTP_URL must be an smtp:// or smtps:// URL']);
    expect(problemsOf(env({ MAIL_FROM: 'Gatehouse' }))).toEqual(['MAIL_FROM must be an email address, optionally as `Name <address>`']);
  });

  it('require MAIL_FROM with SMTP_URL in production', () => {
    expect(problemsOf(production({ SMTP_URL: 'smtp://relay.internal:25' }))).toEqual([
      "MAIL_FROM is required with SMTP_URL in production: the address your relay sends Gatehouse's mail from",
    ]);
  });

  it('refuse a production start without SMTP_URL while recovery, notices or verification are on, as they are by default', () => {
    const refusal = (features: string) => `SMTP_URL is required in production with ${features} on: without it their mail would wait in the outbox and never be sent (the development mailbox does not exist in production)`;
    expect(problemsOf(production())).toEqual([refusal('PASSWORD_RECOVERY, EMAIL_NOTIFICATIONS, EMAIL_VERIFICATION')]);
    expect(problemsOf(production({ PASSWORD_RECOVERY: 'false', EMAIL_VERIFICATION: 'false' }))).toEqual([refusal('EMAIL_NOTIFICATIONS')]);
    expect(problemsOf(production({ EMAIL_NOTIFICATIONS: 'false', EMAIL_VERIFICATION: 'false' }))).toEqual([refusal('PASSWORD_RECOVERY')]);
    expect(problemsOf(production({ PASSWORD_RECOVERY: 'false', EMAIL_NOTIFICATIONS: 'false' }))).toEqual([refusal('EMAIL_VERIFICATION')]);
  });

  it('let production start without SMTP_URL once every feature that sends mail is off', () => {
    expect(problemsOf(production({ PASSWORD_RECOVERY: 'false', EMAIL_NOTIFICATIONS: 'false', EMAIL_VERIFICATION: 'false' }))).toEqual([]);
  });
});

describe('the rule for production without SMTP_URL', () => {
  const none = { mail: {} };

  it('refuses once a feature that sends mail is on, naming it', () => {
    expect(mailProblems('production', none, ['PASSWORD_RECOVERY'])).toEqual([
      'SMTP_URL is required in production with PASSWORD_RECOVERY on: without it their mail would wait in the outbox and never be sent (the development mailbox does not exist in production)',
    ]);
  });

  it('holds only in production, and only without SMTP_URL', () => {
    expect(mailProblems('development', none, ['PASSWORD_RECOVERY'])).toEqual([]);
    expect(mailProblems('test', none, ['PASSWORD_RECOVERY'])).toEqual([]);
    expect(mailProblems('production', { mail: { smtpUrl: 'smtp://relay.internal', from: 'id@example.com' } }, ['PASSWORD_RECOVERY'])).toEqual([]);
    expect(mailProblems('production', none, [])).toEqual([]);
  });
});
