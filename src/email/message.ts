// What a mail is, for every feature that sends one: a recipient, a subject, and both a plain-text
// and an HTML part. Composed here, checked once, then sealed into the outbox (src/outbox/) with the
// act that causes it. From is always MAIL_FROM, added at delivery.
//
// No remote assets: a mail that loads an image or a stylesheet from a server tells that server
// when and where the mail was opened, and most mail clients block them anyway. Links (<a href>)
// are what mail is for and are allowed; anything the HTML part would fetch by itself is refused.

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

export class MailCompositionError extends Error {
  constructor(reason: string) {
    super(`A mail cannot be composed: ${reason}`);
    this.name = 'MailCompositionError';
  }
}

/**
 * Attributes and CSS that make a mail client fetch something by itself, naming an absolute or
 * scheme-relative URL. cid: and data: references are embedded in the mail and allowed.
 */
const REMOTE_ASSET = /(?:\b(?:src|srcset|background|poster|data|action|formaction|xlink:href)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?\/\/)|(?:url\(\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?\/\/)|(?:@import\b)|(?:<link\b)/i;
/** One address, no display name or list: a feature mails one person at a time. */
const ADDRESS = /^[^\s@<>(),;:"]+@[^\s@<>(),;:"]+$/;

/** The message, checked: one recipient, a one-line subject, both parts, nothing remote. */
export function composeMail(message: MailMessage): MailMessage {
  const { to, subject, text, html } = message;
  if (!ADDRESS.test(to)) throw new MailCompositionError('the recipient is not a single email address');
  if (!subject.trim() || /[\r\n]/.test(subject)) throw new MailCompositionError('the subject must be one non-empty line');
  if (!text.trim()) throw new MailCompositionError('the plain-text part is empty');
  if (!html.trim()) throw new MailCompositionError('the HTML part is empty');
  if (REMOTE_ASSET.test(html)) throw new MailCompositionError('the HTML part loads something from elsewhere (images, styles and fonts must not be remote)');
  return { to, subject, text, html };
}

/** Reads a message back from an opened outbox payload, refusing anything that is not one. */
export function asMailMessage(value: unknown): MailMessage {
  const candidate = value as Partial<Record<keyof MailMessage, unknown>> | null;
  if (!candidate || typeof candidate !== 'object') throw new MailCompositionError('the payload is not a mail');
  const { to, subject, text, html } = candidate;
  if (typeof to !== 'string' || typeof subject !== 'string' || typeof text !== 'string' || typeof html !== 'string') {
    throw new MailCompositionError('the payload is not a mail');
  }
  return composeMail({ to, subject, text, html });
}

/**
 * The Message-ID of the mail in outbox row `id`: the same on every attempt, so a receiver that saw
 * a mail accepted just before a sender crashed (and before it could record the delivery) can
 * recognise the second copy. `domain` is MAIL_FROM's.
 */
export function messageIdFor(id: string, domain: string): string {
  return `<outbox.${id}@${domain}>`;
}

/** The domain of an address, or of the address inside `Name <address>`. */
export function domainOf(from: string): string {
  const address = /<([^<>]+)>\s*$/.exec(from)?.[1] ?? from;
  return address.slice(address.lastIndexOf('@') + 1).trim();
}

/** MAIL_FROM's shape: an address, optionally with a display name (`Gatehouse <noreply@example.com>`). */
export function isMailFrom(from: string): boolean {
  const address = /<([^<>]+)>\s*$/.exec(from)?.[1] ?? from.trim();
  return ADDRESS.test(address);
}
