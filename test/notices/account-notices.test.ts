// The "password changed" notice, mailed over real SMTP: written with every kind of password change
// (the person's own, an administrator's reset — which the admin API and console both make
// through the same operation, as would the CLI), in the change's transaction, so a refused change mails nothing;
// and nothing at all with EMAIL_NOTIFICATIONS off.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../src/audit/events.js';
import { AccountNotices, roughNetwork } from '../../src/notices/account-notices.js';
import { OUTBOX_TABLE } from '../../src/outbox/store.js';
import { createPerson } from '../support/flows.js';
import { startMailingServer, type MailingServer } from '../support/mailing.js';

const CHANGED = 'Your Gatehouse password was changed';
const ADMIN: Actor = { type: 'system', id: 'cli' };

let mailing: MailingServer;
beforeAll(async () => { mailing = await startMailingServer(); });
afterAll(async () => { await mailing?.stop(); });

describe('the password-changed notice', () => {
  it('follows the person\'s own change, saying where it was made and what to do if it was not them', async () => {
    const person = await createPerson(mailing.server);
    await mailing.server.selfService.changeOwnPassword({ type: 'user', id: person.id, ip: '192.0.2.1' }, person.password, 'lantern orchard velvet compass');
    await mailing.deliver();
    const [notice, ...more] = mailing.mailsTo(person.email);
    expect(more).toEqual([]);
    expect(notice?.subject).toBe(CHANGED);
    expect(notice?.text).toContain('from your account page');
    expect(notice?.text).toContain(`Choose a new password now: ${mailing.server.issuer}/recover`);
    expect(notice?.html).toContain(`href="${mailing.server.issuer}/recover"`);
  });

  it('follows an administrator\'s reset, and a refused reset mails nothing', async () => {
    const person = await createPerson(mailing.server);
    await expect(mailing.server.operations.people.resetPassword(ADMIN, person.id, 'password1')).rejects.toThrow();
    await mailing.deliver();
    expect(mailing.mailsTo(person.email)).toEqual([]);

    await mailing.server.operations.people.resetPassword(ADMIN, person.id, 'a brand new passphrase');
    await mailing.deliver();
    const [notice] = mailing.mailsTo(person.email);
    expect(notice?.subject).toBe(CHANGED);
    expect(notice?.text).toContain('by an administrator');
  });

  it('points at an administrator instead of recovery when recovery is off', async () => {
    const person = await createPerson(mailing.server);
    const notices = new AccountNotices({ db: mailing.server.db, outbox: mailing.server.deliveries.outbox, issuer: mailing.server.issuer, enabled: true, recoveryOffered: false, defaultLocale: 'en' });
    await notices.sendAlone(person, { kind: 'password-changed', how: 'admin' });
    await mailing.deliver();
    const [notice] = mailing.mailsTo(person.email);
    expect(notice?.text).toContain('Contact your administrator now.');
    expect(notice?.text).not.toContain('/recover');
  });

  it('is not written at all with EMAIL_NOTIFICATIONS off', async () => {
    const notices = new AccountNotices({ db: mailing.server.db, outbox: mailing.server.deliveries.outbox, issuer: mailing.server.issuer, enabled: false, recoveryOffered: true, defaultLocale: 'en' });
    const before = await mailing.server.db(OUTBOX_TABLE).count({ n: '*' }).first();
    expect(await notices.sendAlone({ email: 'person@example.test', name: 'P' }, { kind: 'new-browser', browser: 'Firefox on Linux', ip: '192.0.2.7' })).toBeUndefined();
    expect(await mailing.server.db(OUTBOX_TABLE).count({ n: '*' }).first()).toEqual(before);
  });
});

describe('where a new browser signed in from', () => {
  it('is named only as its network: an IPv4 /24, an IPv6 /64', () => {
    expect(roughNetwork('203.0.113.77')).toBe('203.0.113.0/24');
    expect(roughNetwork('::ffff:203.0.113.77')).toBe('203.0.113.0/24');
    expect(roughNetwork('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
  });
});
