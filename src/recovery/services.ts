// What the recovery pages stand on, built once by the composition root (src/server.ts) from the
// server's stores: the link requests (throttled, neutral), the password reset, the sign-in links.
import type { AuditLog } from '../audit/log.js';
import type { Config } from '../config.js';
import type { Database } from '../db/knex.js';
import type { ChangeFeed } from '../db/notifications.js';
import type { GrantStore } from '../grants/store.js';
import type { OneTimeLinks } from '../links/store.js';
import type { Logger } from '../logger.js';
import type { AccountNotices } from '../notices/account-notices.js';
import type { Outbox } from '../outbox/outbox.js';
import type { UserStore } from '../people/users.js';
import { keyedDigest } from '../security/keyed-digest.js';
import { MailThrottle } from '../security/mail-throttle.js';
import type { SessionStore } from '../sessions/store.js';
import { LinkRequests } from './link-requests.js';
import { PasswordRecovery } from './password-recovery.js';
import { SignInLinks } from './sign-in-links.js';

export interface RecoveryServices {
  requests: LinkRequests;
  recovery: PasswordRecovery;
  signInLinks: SignInLinks;
}

export interface RecoveryParts {
  config: Config;
  db: Database;
  users: UserStore;
  links: OneTimeLinks;
  outbox: Outbox;
  audit: AuditLog;
  sessions: SessionStore;
  grants: GrantStore;
  notices: AccountNotices;
  logger: Logger;
  changes?: Pick<ChangeFeed, 'barrier'> | undefined;
}

export function recoveryServices(parts: RecoveryParts): RecoveryServices {
  const { config, db, users, links, audit } = parts;
  return {
    requests: new LinkRequests({
      db, users, links, audit,
      outbox: parts.outbox,
      throttle: new MailThrottle(db, config.secrets.keyEncryptionKey),
      logger: parts.logger,
      issuer: config.issuer,
      // The same key the sign-in page uses, so an operator can match a typed address across both.
      unknownEmailDigest: keyedDigest(config.secrets.keyEncryptionKey, 'audit unknown sign-in email', 16),
    }),
    recovery: new PasswordRecovery({ db, users, links, audit, sessions: parts.sessions, grants: parts.grants, notices: parts.notices, changes: parts.changes }),
    signInLinks: new SignInLinks({ db, users, links, audit, changes: parts.changes }),
  };
}
