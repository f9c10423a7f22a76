// Browsers a person has signed in from before ("device cookies", OWASP's answer to lockouts that
// an attacker triggers). Per-account and per-address limits are what stop credential stuffing
// and password spraying, but anyone can fail sign-ins for someone else's email; without this,
// an attacker could keep renewing a victim's account block for as long as the attack runs.
//
// After a successful sign-in the browser gets a signed, HttpOnly cookie: a random id for this
// browser and a tag (keyed digest) of each email that signed in from it, the last few only.
// Sign-ins that present a valid tag for the email they submit skip the per-account and
// per-address limits, and are throttled per (email, browser) instead of per (email, address). A
// stolen cookie therefore buys one browser's worth of slow guesses against one account, and
// forging one needs COOKIE_KEYS. Nothing in it names the person: tags are keyed digests.
import { randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import { keyedDigest, normaliseEmail, type KeyedDigest } from './keyed-digest.js';

/** Enough for a shared family computer; older tags fall off. */
const MAX_ACCOUNTS = 5;
const MAX_AGE_MS = 180 * 86_400_000;
const DEVICE_ID = /^[A-Za-z0-9_-]{22}$/;

export interface KnownDevicesOptions {
  cookieName: string;
  /** The secret the tags are keyed on (KEY_ENCRYPTION_KEY; a subkey is derived from it). */
  secret: Buffer;
}

export class KnownDevices {
  readonly #tag: KeyedDigest;

  constructor(private readonly options: KnownDevicesOptions) {
    this.#tag = keyedDigest(options.secret, 'known devices', 16);
  }

  /** This browser's id, when it has signed in to this email before; otherwise undefined. */
  deviceFor(ctx: Context, email: string): string | undefined {
    const cookie = this.#read(ctx);
    return cookie?.tags.includes(this.#tag(normaliseEmail(email))) ? cookie.deviceId : undefined;
  }

  /** Remembers that this email signed in from this browser. */
  remember(ctx: Context, email: string): void {
    const cookie = this.#read(ctx);
    const tag = this.#tag(normaliseEmail(email));
    const tags = [tag, ...(cookie?.tags ?? []).filter((t) => t !== tag)].slice(0, MAX_ACCOUNTS);
    const deviceId = cookie?.deviceId ?? randomBytes(16).toString('base64url');
    ctx.cookies.set(this.options.cookieName, [deviceId, ...tags].join('.'), {
      signed: true,
      httpOnly: true,
      sameSite: 'lax',
      secure: ctx.secure,
      path: '/',
      maxAge: MAX_AGE_MS,
      overwrite: true,
    });
  }

  #read(ctx: Context): { deviceId: string; tags: string[] } | undefined {
    const value = ctx.cookies.get(this.options.cookieName, { signed: true });
    if (!value || value.length > 512) return undefined;
    const [deviceId, ...tags] = value.split('.');
    return deviceId && DEVICE_ID.test(deviceId) ? { deviceId, tags } : undefined;
  }
}
