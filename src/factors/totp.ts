// Authenticator apps (RFC 6238): 6 digits, 30-second steps, HMAC-SHA1, the parameters every app
// understands. A code is checked against the step it names and the one either side (clock drift),
// and the caller accepts it only for a step later than the last one used (store.ts), so a code
// read over someone's shoulder cannot be used again, not even within its own window.
import { Secret, TOTP } from 'otpauth';
import QRCode from 'qrcode';

const PERIOD = 30;
const DIGITS = 6;
/** Steps either side of now a code may be from: 30 s of drift each way. */
const WINDOW = 1;

export interface NewTotpSecret {
  /** Base32, as people type it into an app by hand. */
  base32: string;
  /** otpauth:// URI the QR code carries. */
  uri: string;
}

function totpFor(base32: string, label = 'account', issuer = 'Gatehouse'): TOTP {
  return new TOTP({ issuer, label, algorithm: 'SHA1', digits: DIGITS, period: PERIOD, secret: Secret.fromBase32(base32) });
}

/** The otpauth:// URI for a secret: what the QR code carries. */
export function totpUri(base32: string, label: string, issuer: string): string {
  return totpFor(base32, label, issuer).toString();
}

/** A fresh 160-bit secret (RFC 4226 §4's recommended length) and its otpauth URI. */
export function newTotpSecret(label: string, issuer: string): NewTotpSecret {
  const base32 = new Secret({ size: 20 }).base32;
  return { base32, uri: totpFor(base32, label, issuer).toString() };
}

/** The otpauth URI as a QR code image (a PNG data: URL: drawn here, nothing fetched, allowed by the CSP's img-src). */
export function qrCodeOf(uri: string): Promise<string> {
  return QRCode.toDataURL(uri, { errorCorrectionLevel: 'M', margin: 2, width: 220 });
}

/** Six digits, spaces people type between groups ignored; anything else is no code. */
export function normaliseCode(typed: string): string | undefined {
  const code = typed.replace(/[\s-]/g, '');
  return /^\d{6}$/.test(code) ? code : undefined;
}

/** The time step `code` is valid for around `now` (ms), or undefined when it is valid for none. */
export function matchingStep(base32: string, code: string, now: number): number | undefined {
  const totp = totpFor(base32);
  const delta = totp.validate({ token: code, timestamp: now, window: WINDOW });
  if (delta === null) return undefined;
  return totp.counter({ timestamp: now }) + delta;
}
