// OpenID Connect Back-Channel Logout 1.0, the sending side: which apps are told that a person's
// sign-in ended, and the outbox entries that tell them. Every way a sign-in ends comes through
// here, inside the transaction of the act, so a logout token is sent if and only if the act
// committed, and an app that is down gets it when it is back (the outbox retries):
//
//   - sessions ended (SessionStore's listener, wired in src/server.ts): from the account pages, by an
//     administrator, by disabling the person, by a password reset or change that signs out
//     everywhere, and by signOutEverywhere (src/sessions/ending.ts) for whatever else must;
//   - the person signs out at /session/end (RP-initiated logout, the account pages' "Sign out"):
//     oidc-provider asks each app's Client#backchannelLogout, which src/oidc/provider.ts points
//     at appSignedOut.
//
// Each app signed in through an ended session gets one token naming the person (`sub`) and that
// session as its ID tokens named it (`sid`). When the whole person is signed out (`everyApp`),
// apps holding a grant of the person without a sign-in in an ended session get one token naming
// the person alone, unless they require `sid`. Apps without a back-channel logout URI, and
// disabled ones, get nothing.
import type { Knex } from 'knex';
import type { Database } from '../db/knex.js';
import type { Outbox } from '../outbox/outbox.js';
import type { OidcRecords, SignedOutApp } from '../records/index.js';
import { ID_TOKEN_SIGNING_ALG } from '../vocabulary.js';
import { newLogoutNotice } from './logout-token.js';
import { inTransaction } from '../db/transactions.js';

/** An app that registered a back-channel logout URI. */
export interface LogoutReceiver {
  clientId: string;
  uri: string;
  sessionRequired: boolean;
}

export interface BackchannelLogoutDependencies {
  db: Database;
  outbox: Outbox;
  /** The apps holding a live grant of a person (`everyApp`). */
  records: OidcRecords;
  /** The receivers among these apps: enabled, with a URI. */
  receivers(clientIds: readonly string[], trx: Database): Promise<LogoutReceiver[]>;
}

export class BackchannelLogout {
  constructor(private readonly deps: BackchannelLogoutDependencies) {}

  /**
   * Writes the logout tokens for sign-ins that ended in `trx` (SessionStore's listener). With
   * `everyApp`, the person is signed out of everything: apps holding a grant of theirs hear too.
   */
  async sessionsEnded(trx: Database, userId: string, signedOut: readonly SignedOutApp[], options: { everyApp?: boolean } = {}): Promise<number> {
    // A caller outside a transaction (none of Gatehouse's acts) still gets its tokens written atomically.
    if (!(trx as { isTransaction?: boolean }).isTransaction) return inTransaction(this.deps.db, (own) => this.sessionsEnded(own, userId, signedOut, options));
    const told = new Set(signedOut.map((app) => app.clientId));
    const others = options.everyApp ? (await this.deps.records.clientIdsWithGrantsOf(userId, trx)).filter((id) => !told.has(id)) : [];
    const receivers = new Map((await this.deps.receivers([...told, ...others], trx)).map((r) => [r.clientId, r]));
    let written = 0;
    const write = async (receiver: LogoutReceiver, sid: string | undefined) => {
      // An app that requires sid cannot use a token without one (§2.2): it is sent none.
      if (receiver.sessionRequired && !sid) return;
      await this.deps.outbox.enqueue(trx as Knex.Transaction, {
        kind: 'backchannel-logout',
        payload: newLogoutNotice({ clientId: receiver.clientId, uri: receiver.uri, alg: ID_TOKEN_SIGNING_ALG, sub: userId, ...(sid ? { sid } : {}) }),
      });
      written += 1;
    };
    const seen = new Set<string>();
    for (const app of signedOut) {
      const receiver = receivers.get(app.clientId);
      const key = `${app.clientId} ${app.sid ?? ''}`;
      if (!receiver || seen.has(key)) continue;
      seen.add(key);
      await write(receiver, app.sid);
    }
    for (const clientId of others) {
      const receiver = receivers.get(clientId);
      if (receiver) await write(receiver, undefined);
    }
    return written;
  }

  /**
   * oidc-provider's end_session, for one app of the session being signed out (its
   * Client#backchannelLogout): the session's rows are destroyed by oidc-provider after this, outside
   * any transaction of ours, so the token is written first, in a transaction of its own. Should the
   * destroy then fail, the app was told of a sign-out that did not happen, and asks the person to
   * sign in again: the safe side.
   */
  async appSignedOut(clientId: string, sub: string, sid: string | undefined): Promise<void> {
    await inTransaction(this.deps.db, (trx) => this.sessionsEnded(trx, sub, [{ clientId, sid }]));
  }
}
