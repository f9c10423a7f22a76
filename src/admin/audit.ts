// Reading the audit log: who did what to whom and when, newest first.
import type { AuditFilter, AuditPage } from '../audit/log.js';
import type { PageRequest } from '../db/pages.js';
import type { OperationDependencies } from './operations.js';

export class AuditOperations {
  constructor(private readonly deps: OperationDependencies) {}

  listAudit(filter: AuditFilter = {}, page: PageRequest = {}): Promise<AuditPage> {
    return this.deps.audit.list(filter, page);
  }
}
