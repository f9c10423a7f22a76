// Every notice the new sign-in methods send (src/notices/account-notices.ts) renders whole in each
// language: no catalog key shows through, the German reads German, and the English is unchanged.
import { describe, expect, it } from 'vitest';
import { renderMail } from '../../src/email/templates.js';
import { factorInWords } from '../../src/factors/acts.js';

const ISSUER = 'https://id.example.test';
const COMMON = { name: 'Ada', when: '6 December 2026, 11:00', accountUrl: `${ISSUER}/account`, securityUrl: `${ISSUER}/account/security` };

const NOTICES: Array<{ template: string; data: Record<string, unknown> }> = [
  { template: 'notice-factor-added', data: { factor: factorInWords('totp'), recoverUrl: `${ISSUER}/recover` } },
  { template: 'notice-factor-added', data: { factor: factorInWords('totp') } },
  { template: 'notice-factor-removed', data: { factor: factorInWords('recovery_codes'), how: 'own', recoverUrl: `${ISSUER}/recover` } },
  { template: 'notice-factor-removed', data: { factor: 'mail.factor.all', how: 'admin' } },
  { template: 'notice-passkey-added', data: { passkey: 'My <laptop>' } },
  { template: 'notice-passkey-removed', data: { passkey: 'My <laptop>' } },
  { template: 'notice-recovery-code-used', data: { remaining: 1, recoverUrl: `${ISSUER}/recover` } },
  { template: 'notice-recovery-code-used', data: { remaining: 9 } },
];

function render(locale: string, notice: (typeof NOTICES)[number]) {
  return renderMail({ template: notice.template, to: 'ada@example.test', data: { ...COMMON, ...notice.data }, locale }, ISSUER);
}

describe('the sign-in method notices', () => {
  it('show no catalog key in any language, and escape the passkey name in HTML', () => {
    for (const locale of ['en', 'de']) {
      for (const notice of NOTICES) {
        const mail = render(locale, notice);
        const all = `${mail.subject}\n${mail.text}\n${mail.html}`;
        expect(all, `${notice.template} ${locale}`).not.toMatch(/\b(?:mail|account)\.[a-zA-Z_]+\.?[a-zA-Z_]*/);
        expect(mail.html).not.toContain('<laptop>');
      }
    }
  });

  it('read German to a German recipient', () => {
    const [added, , , reset, passkeyAdded, passkeyRemoved, oneLeft, nineLeft] = NOTICES.map((notice) => render('de', notice!));
    expect(added!.subject).toBe('Ihrem Gatehouse-Konto wurde eine Anmeldemethode hinzugefügt');
    expect(added!.text).toContain(`Wählen Sie dann ein neues Passwort: ${ISSUER}/recover`);
    expect(reset!.text).toContain('hat die Administration am 6 December 2026, 11:00 entfernt: Alle Methoden für den zweiten Anmeldeschritt.');
    expect(reset!.text).toContain('Und wenden Sie sich an Ihre Administration.');
    expect(passkeyAdded!.subject).toBe('Ihrem Gatehouse-Konto wurde ein Passkey hinzugefügt');
    expect(passkeyAdded!.text).toContain('Ein Passkey namens „My <laptop>“ wurde am');
    expect(passkeyAdded!.html).toContain('Ihr Konto öffnen');
    expect(passkeyRemoved!.subject).toBe('Aus Ihrem Gatehouse-Konto wurde ein Passkey entfernt');
    expect(oneLeft!.text).toContain('es ist noch 1 übrig.');
    expect(nineLeft!.text).toContain('es sind noch 9 übrig.');
    expect(nineLeft!.text).toContain('Wenden Sie sich jetzt an Ihre Administration.');
  });

  it('keep their English words', () => {
    const [added, , removed, reset, passkeyAdded, , oneLeft, nineLeft] = NOTICES.map((notice) => render('en', notice!));
    expect(added!.text).toContain('An authenticator app was added to your Gatehouse account on 6 December 2026, 11:00. From now on, signing in asks for it after your password.');
    expect(added!.html).toContain(`then <a href="${ISSUER}/recover">choose a new password</a>.`);
    expect(removed!.text).toContain('Your set of recovery codes was removed from your Gatehouse account on 6 December 2026, 11:00, from your account page.');
    expect(reset!.text).toContain('Every second sign-in step was removed from your Gatehouse account on 6 December 2026, 11:00, by an administrator.');
    expect(reset!.text).toContain('If this was you or you asked for it, there is nothing else to do.');
    expect(passkeyAdded!.subject).toBe('A passkey was added to your Gatehouse account');
    expect(passkeyAdded!.text).toContain('A passkey named "My <laptop>" was added');
    expect(oneLeft!.text).toContain('1 of them is left.');
    expect(nineLeft!.text).toContain('9 of them are left.');
  });
});
