// Reading a mail the real SMTP receiver (smtp.ts) got, as a person reads it: its subject and its
// plain-text part decoded, and the links in it.
import type { ReceivedMail } from './smtp.js';

function decodeQuotedPrintable(body: string): string {
  const bytes: number[] = [];
  const joined = body.replace(/=\r?\n/g, '');
  for (let i = 0; i < joined.length; i += 1) {
    const hex = joined.slice(i + 1, i + 3);
    if (joined[i] === '=' && /^[0-9A-F]{2}$/i.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(joined[i]!, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** One MIME part's decoded body, by its content type (text/plain or text/html). */
export function partOf(mail: ReceivedMail, type: 'text/plain' | 'text/html'): string {
  const parts = mail.raw.split(/\r?\n--[^\r\n]+\r?\n/);
  for (const part of parts) {
    const [head = '', ...rest] = part.split(/\r?\n\r?\n/);
    if (!new RegExp(`^Content-Type:\\s*${type.replace('/', '\\/')}`, 'im').test(head)) continue;
    const body = rest.join('\n\n').replace(/\r?\n--[^\r\n]*--\s*$/, '');
    const encoding = /^Content-Transfer-Encoding:\s*(\S+)/im.exec(head)?.[1]?.toLowerCase();
    if (encoding === 'quoted-printable') return decodeQuotedPrintable(body);
    if (encoding === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
    return body;
  }
  throw new Error(`no ${type} part in:\n${mail.raw.slice(0, 800)}`);
}

export function subjectOf(mail: ReceivedMail): string {
  return /^Subject:\s*(.*)$/im.exec(mail.raw)?.[1]?.trim() ?? '';
}

/** Every mail received for `address`, oldest first. */
export function mailsTo(received: readonly ReceivedMail[], address: string): ReceivedMail[] {
  return received.filter((mail) => mail.to.map((to) => to.toLowerCase()).includes(address.toLowerCase()));
}

/** The links in a mail's plain-text part that start with `prefix`. */
export function linksIn(mail: ReceivedMail, prefix: string): string[] {
  return [...partOf(mail, 'text/plain').matchAll(/https?:\/\/\S+/g)].map((m) => m[0]).filter((url) => url.startsWith(prefix));
}
