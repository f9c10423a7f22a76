// Every mail's two parts come from views/mail/ (src/email/templates.ts): the HTML part escapes what
// it interpolates, the text part shows it as written, both are always there inside their layout,
// and the subject comes from the mail's own subject template unless the feature gives one.
import { describe, expect, it } from 'vitest';
import { renderMail } from '../../src/email/templates.js';

const ISSUER = 'https://id.example.test';
const NAME = 'Ada <script>alert("x")</script> & "Co"';

function passwordChanged(subject?: string) {
  return renderMail({
    template: 'notice-password-changed',
    locale: 'en',
    to: 'ada@example.test',
    ...(subject ? { subject } : {}),
    data: { name: NAME, when: '6 Dec 2026, 08:00 UTC', how: 'own', recoverUrl: `${ISSUER}/recover`, accountUrl: `${ISSUER}/account` },
  }, ISSUER);
}

describe('renderMail', () => {
  it('escapes what the HTML part interpolates, and leaves the text part as written', () => {
    const mail = passwordChanged();
    expect(mail.html).toContain('Ada &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &quot;Co&quot;');
    expect(mail.html).not.toContain('<script>');
    expect(mail.text).toContain(`Hello ${NAME},`);
    expect(mail.text).not.toContain('&lt;');
  });

  it('renders both parts inside their layouts, the footer naming the issuer', () => {
    const mail = passwordChanged();
    expect(mail.to).toBe('ada@example.test');
    expect(mail.html).toMatch(/^<!doctype html>/);
    expect(mail.html).toContain('<title>Your Gatehouse password was changed</title>');
    expect(mail.html).toContain(`Sent by Gatehouse at ${ISSUER}.`);
    expect(mail.text).toMatch(/^Hello /);
    expect(mail.text).toContain(`--\nSent by Gatehouse at ${ISSUER}.`);
  });

  it('takes the subject from the subject template, or the one given', () => {
    expect(passwordChanged().subject).toBe('Your Gatehouse password was changed');
    expect(passwordChanged('Something else').subject).toBe('Something else');
  });
});
