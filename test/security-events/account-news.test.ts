// What each audited act about a person means for the apps and APIs of their grants, entry by
// entry: the acts triggers.test.ts does not drive through a real server (a verified address, a
// roaming passkey with a known model, recovery codes) and the ones that must mean nothing.
import { describe, expect, it } from 'vitest';
import type { NewAuditEvent } from '../../src/audit/events.js';
import { newsOf } from '../../src/security-events/account-news.js';

const CREDENTIAL_CHANGE = 'https://schemas.openid.net/secevent/caep/event-type/credential-change';
const CLAIMS_CHANGE = 'https://schemas.openid.net/secevent/caep/event-type/token-claims-change';
const PERSON = { type: 'user' as const, id: 'person' };

function audited(type: NewAuditEvent['type'], details: Record<string, unknown> = {}): NewAuditEvent {
  return { type, actor: PERSON, userId: 'person', details };
}

describe('newsOf', () => {
  it('an address verified: the email_verified claim, now true', () => {
    expect(newsOf(audited('user.email_verified', { email: 'a@example.test' }))).toEqual([
      { type: CLAIMS_CHANGE, event: { reason_admin: { en: 'The email address was verified.' } }, claims: { email_verified: true } },
    ]);
  });

  it('an address changed through its link: the new email, verified', () => {
    expect(newsOf(audited('user.email_changed', { from: 'a@example.test', to: 'b@example.test', verified: true }))[0]?.claims)
      .toEqual({ email: 'b@example.test', email_verified: true });
  });

  it('a name changed: the name claims with their new values (told to observers, never stored), null for one emptied, nothing else', () => {
    const entry = { ...audited('user.profile_updated', { changed: ['name', 'given_name'] }), observed: { names: { name: 'Grace Hopper', given_name: null, is_admin: true } } };
    expect(newsOf(entry)).toEqual([
      { type: CLAIMS_CHANGE, event: { reason_admin: { en: 'The name changed.' } }, claims: { name: 'Grace Hopper', given_name: null } },
    ]);
    // What the log keeps holds no values: without the observed part there is nothing to tell.
    expect(newsOf(audited('user.profile_updated', { changed: ['name'] }))).toEqual([]);
  });

  it('a roaming passkey: fido2-roaming, and never its model (the AAGUID names the person\'s authenticator)', () => {
    expect(newsOf(audited('passkey.added', { transports: ['usb', 'nfc'], aaguid: 'ee882879-721c-4913-9775-3dfcce97072a' }))).toEqual([{
      type: CREDENTIAL_CHANGE,
      event: { credential_type: 'fido2-roaming', change_type: 'create', reason_admin: { en: 'A passkey was added.' } },
    }]);
  });

  it('a passkey whose authenticator said no transports: roaming', () => {
    const [news] = newsOf(audited('passkey.added', {}));
    expect(news?.event).toEqual({ credential_type: 'fido2-roaming', change_type: 'create', reason_admin: { en: 'A passkey was added.' } });
  });

  it('an admin reset: one delete per authenticator app and passkey removed, none for recovery codes', () => {
    const news = newsOf(audited('factor.reset', {
      removed: [{ id: '1', kind: 'totp' }, { id: '2', kind: 'recovery_codes' }, { id: '3', kind: 'passkey', transports: ['internal'] }, { id: '4', kind: 'passkey', transports: [] }],
    }));
    expect(news.map((item) => [item.event.credential_type, item.event.change_type])).toEqual([
      ['app', 'delete'], ['fido2-platform', 'delete'], ['fido2-roaming', 'delete'],
    ]);
  });

  it('recovery codes alone, renamed passkeys, sign-ins and other acts: nothing', () => {
    for (const entry of [
      audited('factor.removed', { removed: [{ id: '2', kind: 'recovery_codes' }] }),
      audited('factor.recovery_codes_regenerated', { count: 10 }),
      audited('passkey.renamed', { passkeyId: '3', name: 'Phone' }),
      audited('sign_in.succeeded'),
      audited('user.email_change_requested', { to: 'c@example.test' }),
    ]) expect(newsOf(entry), entry.type).toEqual([]);
  });
});
