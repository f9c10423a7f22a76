// Browsers a person has signed in from before ("device cookies", OWASP's answer to lockouts that
// an attacker triggers). Per-account and per-address limits are what stop credential stuffing
// and password spraying, but anyone can fail sign-ins for someone else's email; without this,
// an attacker could keep renewing a victim's account block for as long as the attack runs.
//
// After a successful sign-in the browser gets a signed, HttpOnly cookie: a random id for this
// browser and a tag (keyed digest) of each email that signed in from it, the last few only, each
// with the time it last did. Sign-ins that present a valid tag for the email they submit skip the
// per-account and per-address limits, and are throttled per (email, browser) instead of per
// (email, address). A stolen cookie therefore buys one browser's worth of slow guesses against
// one account, and forging one needs COOKIE_KEYS. Nothing in it names the person: tags are keyed
// digests.
//
// A tag counts for 180 days from the sign-in that wrote it, by the server's clock: the cookie's
// own expiry is the browser's to honour, and a copy of the cookie honours none. Each sign-in
// writes its own email's time again and no other: a tag cannot be kept fresh by signing in to
// another account (the copier's own) with the cookie.
//
// The value is `v2.<browser id>.<tag>~<seconds>...`. A value of the first format (no times) is
// read as no cookie: it could be any age, and upgrading it on its first use would give a copy
// made long ago a fresh lifetime. Each browser is therefore new once after the upgrade (one
// new-browser notice, and the account's limits apply to it until it signs in).
import { randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import { DAY } from '../lifetimes.js';
import { keyedDigest, normaliseEmail, type KeyedDigest } from './keyed-digest.js';

/** Enough for a shared family computer; older tags fall off. */
const MAX_ACCOUNTS = 5;
/** How long a sign-in keeps a browser known to its account: the server's rule and the cookie's expiry alike. */
const KNOWN_DEVICE_LIFETIME_SECONDS = 180 * DAY;
const VERSION = 'v2';
const DEVICE_ID = /^[A-Za-z0-9_-]{22}$/;
/** A tag (16 bytes, base64url) and the second it was written. */
const TIMED_TAG = /^([A-Za-z0-9_-]{22})~(\d{1,12})$/;

export interface KnownDevicesOptions {
  cookieName: string;
  /** The secret the tags are keyed on (KEY_ENCRYPTION_KEY; a subkey is derived from it). */
  secret: Buffer;
  /** Milliseconds since the epoch: the clock tags are written and aged by (tests move it). */
  now?: () => number;
}

interface TimedTag {
  tag: string;
  /** Seconds since the epoch: the sign-in that wrote it. */
  at: number;
}

export class KnownDevices {
  readonly #tag: KeyedDigest;
  readonly #now: () => number;

  constructor(private readonly options: KnownDevicesOptions) {
    this.#tag = keyedDigest(options.secret, 'known devices', 16);
    this.#now = options.now ?? Date.now;
  }

  /** This browser's id, when it has signed in to this email within the lifetime; otherwise undefined. */
  deviceFor(ctx: Context, email: string): string | undefined {
    const cookie = this.#read(ctx);
    const tag = this.#tag(normaliseEmail(email));
    return cookie?.tags.some((t) => t.tag === tag) ? cookie.deviceId : undefined;
  }

  /** Remembers that this email signed in from this browser, now. */
  remember(ctx: Context, email: string): void {
    const cookie = this.#read(ctx);
    const tag = this.#tag(normaliseEmail(email));
    const tags = [{ tag, at: this.#seconds() }, ...(cookie?.tags ?? []).filter((t) => t.tag !== tag)].slice(0, MAX_ACCOUNTS);
    const deviceId = cookie?.deviceId ?? randomBytes(16).toString('base64url');
    ctx.cookies.set(this.options.cookieName, [VERSION, deviceId, ...tags.map((t) => `${t.tag}~${t.at}`)].join('.'), {
      signed: true,
      httpOnly: true,
      sameSite: 'lax',
      secure: ctx.secure,
      path: '/',
      maxAge: KNOWN_DEVICE_LIFETIME_SECONDS * 1000,
      overwrite: true,
    });
  }

  #seconds(): number {
    return Math.floor(this.#now() / 1000);
  }

  /** The browser's id and its tags still within the lifetime; undefined for no cookie, a bad one or one of the first format. */
  #read(ctx: Context): { deviceId: string; tags: TimedTag[] } | undefined {
    const value = ctx.cookies.get(this.options.cookieName, { signed: true });
    if (!value || value.length > 512) return undefined;
    const [version, deviceId, ...parts] = value.split('.');
    if (version !== VERSION || !deviceId || !DEVICE_ID.test(deviceId)) return undefined;
    const oldest = this.#seconds() - KNOWN_DEVICE_LIFETIME_SECONDS;
    const tags: TimedTag[] = [];
    for (const part of parts) {
      const match = TIMED_TAG.exec(part);
      const at = Number(match?.[2]);
      if (match && at > oldest) tags.push({ tag: match[1]!, at });
    }
    return { deviceId, tags };
  }
}
