// Reads a mail as it arrived at the test SMTP server (test/support/smtp.ts): its subject and its
// text and HTML parts, decoded from the MIME nodemailer wrote (quoted-printable or base64), so a
// test can follow the link in a mail the way a person would.
import type { ReceivedMail } from './smtp.js';

export interface ReadMail {
  to: string[];
  subject: string;
  text: string;
  html: string;
}

function decode(body: string, encoding: string | undefined): string {
  if (/base64/i.test(encoding ?? '')) return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (/quoted-printable/i.test(encoding ?? '')) {
    const bytes = body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
    return Buffer.from(bytes, 'latin1').toString('utf8');
  }
  return body;
}

/** Header block → lowercase name → value, folded lines unfolded. */
function headersOf(block: string): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of block.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return headers;
}

/** An RFC 2047 encoded-word subject, read back. */
function decodeWords(value: string): string {
  return value.replace(/=\?utf-8\?([bq])\?([^?]*)\?=\s*/gi, (_m, kind: string, text: string) => (
    kind.toLowerCase() === 'b' ? Buffer.from(text, 'base64').toString('utf8') : decode(text.replace(/_/g, ' '), 'quoted-printable')
  ));
}

export function readMail(mail: ReceivedMail): ReadMail {
  const split = mail.raw.search(/\r?\n\r?\n/);
  const headers = headersOf(mail.raw.slice(0, split));
  const boundary = /boundary="?([^";]+)"?/i.exec(headers.get('content-type') ?? '')?.[1];
  const parts = boundary ? mail.raw.split(`--${boundary}`).slice(1, -1) : [mail.raw];
  const found: Record<string, string> = {};
  for (const part of parts) {
    const at = part.search(/\r?\n\r?\n/);
    const partHeaders = headersOf(part.slice(0, at));
    const type = /text\/(plain|html)/i.exec(partHeaders.get('content-type') ?? '')?.[1]?.toLowerCase();
    if (type) found[type] = decode(part.slice(at).replace(/^\r?\n\r?\n/, '').replace(/\r?\n$/, ''), partHeaders.get('content-transfer-encoding')).replace(/\r\n/g, '\n');
  }
  return { to: mail.to, subject: decodeWords(headers.get('subject') ?? ''), text: found.plain ?? '', html: found.html ?? '' };
}

/** The first link in a mail's text part that starts with `prefix`. */
export function linkIn(mail: ReadMail, prefix: string): string {
  const link = mail.text.split(/\s+/).find((word) => word.startsWith(prefix));
  if (!link) throw new Error(`no link starting ${prefix} in mail "${mail.subject}":\n${mail.text}`);
  return link;
}
