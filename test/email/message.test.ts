// Composing a mail (src/email/message.ts): one recipient, a one-line subject, both parts, and an
// HTML part that fetches nothing by itself; Message-IDs derive from the outbox row.
import { describe, expect, it } from 'vitest';
import { composeMail, domainOf, isMailFrom, MailCompositionError, messageIdFor } from '../../src/email/message.js';

const valid = { to: 'person@example.test', subject: 'Confirm your email', text: 'Open https://id.example.test/verify/abc', html: '<p><a href="https://id.example.test/verify/abc">Confirm</a></p>' };

describe('composing a mail', () => {
  it('accepts links, and images embedded in the mail', () => {
    expect(composeMail(valid)).toEqual(valid);
    expect(composeMail({ ...valid, html: '<p><img src="cid:logo" alt=""><img src="data:image/png;base64,AAAA" alt=""></p>' }).html).toContain('cid:logo');
  });

  it.each([
    ['an image', '<img src="https://cdn.example/logo.png">'],
    ['a scheme-relative image', "<img src='//cdn.example/logo.png'>"],
    ['a stylesheet', '<link rel="stylesheet" href="https://cdn.example/mail.css">'],
    ['a CSS background', '<div style="background-image: url( https://cdn.example/bg.png )">x</div>'],
    ['an @import', '<style>@import "https://cdn.example/fonts.css";</style>'],
    ['a background attribute', '<table background="http://cdn.example/bg.png"></table>'],
  ])('refuses an HTML part with %s', (_what, html) => {
    expect(() => composeMail({ ...valid, html })).toThrow(MailCompositionError);
  });

  it.each([
    ['two recipients', { to: 'a@example.test, b@example.test' }],
    ['a display name', { to: 'Person <person@example.test>' }],
    ['a subject of two lines', { subject: 'Hello\r\nBcc: everyone@example.test' }],
    ['no plain-text part', { text: ' ' }],
    ['no HTML part', { html: '' }],
  ])('refuses %s', (_what, change) => {
    expect(() => composeMail({ ...valid, ...change })).toThrow(MailCompositionError);
  });
});

describe('addresses and ids', () => {
  it('reads the domain of MAIL_FROM with or without a display name', () => {
    expect(domainOf('Gatehouse <noreply@id.example.com>')).toBe('id.example.com');
    expect(domainOf('noreply@example.org')).toBe('example.org');
    expect(isMailFrom('Gatehouse <noreply@id.example.com>')).toBe(true);
    expect(isMailFrom('Gatehouse')).toBe(false);
  });

  it('gives each outbox row one Message-ID, the same on every attempt', () => {
    expect(messageIdFor('0b7f3c1e-0000-4000-8000-000000000001', 'id.example.com')).toBe('<outbox.0b7f3c1e-0000-4000-8000-000000000001@id.example.com>');
  });
});
