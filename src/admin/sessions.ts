// Administration of a person's sign-in sessions: listing them, ending one, ending all.
import type { Actor } from '../audit/events.js';
import type { Page, PageRequest } from '../db/pages.js';
import { endOneSession, endSessionsBut, type EndedSessionsResult } from '../sessions/ending.js';
import type { SessionInfo } from '../sessions/store.js';
import type { OperationDependencies } from './operations.js';
import type { PeopleOperations } from './people.js';

export class SessionOperations {
  constructor(private readonly deps: OperationDependencies, private readonly people: PeopleOperations) {}

  async listSessions(userId: string, page: PageRequest = {}): Promise<Page<SessionInfo>> {
    await this.people.getUser(userId);
    return this.deps.sessions.listByUser(userId, page);
  }

  /** Ends one session of a person, and the grants of the apps signed in to through it. */
  endSession(actor: Actor, userId: string, handle: string): Promise<EndedSessionsResult> {
    return this.deps.audited(actor, (trx) => endOneSession(this.deps, trx, userId, handle));
  }

  async endAllSessions(actor: Actor, userId: string, options: { except?: string } = {}): Promise<EndedSessionsResult> {
    await this.people.getUser(userId);
    return this.deps.audited(actor, (trx) => endSessionsBut(this.deps, trx, userId, options.except));
  }
}
