// How often the sign-up form may send mail: per address, so nobody can fill a stranger's mailbox
// with "confirm your account" or "someone tried to sign up" mails, and per network (an IPv4
// address, an IPv6 /64), so one place cannot send mail to many addresses. The same throttle as
// the other forms that mail strangers (src/security/mail-throttle.ts), with counters of its own.
// A throttled request gets the same page as any other (no enumeration); it only sends nothing.
import type { Database } from '../db/knex.js';
import { MailThrottle } from '../security/mail-throttle.js';

/** Three mails to one address an hour from one network (a retry after a typo), six from all networks, ten sign-ups from one network. */
export function signUpThrottle(db: Database, secret: Buffer): MailThrottle {
  return new MailThrottle(db, secret, { perAddressAndNetwork: 3, perAddress: 6, perNetwork: 10 }, 'signup');
}
