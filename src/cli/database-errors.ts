// The database's failures as an operator should read them: what is wrong and which setting to check,
// instead of a driver's message such as "connect ECONNREFUSED 127.0.0.1:5432".

/** Codes from node's sockets and PostgreSQL (SQLSTATE) that mean "cannot use this database". */
const MESSAGES: Record<string, string> = {
  ECONNREFUSED: 'nothing answers there; is PostgreSQL running?',
  ENOTFOUND: 'that host name does not resolve',
  EAI_AGAIN: 'that host name does not resolve',
  ETIMEDOUT: 'the connection timed out',
  EHOSTUNREACH: 'that host is unreachable',
  '28P01': 'the password was refused',
  '28000': 'that user may not connect',
  '3D000': 'that database does not exist (create it, e.g. `createdb gatehouse`)',
  '57P03': 'the server is starting up or shutting down; try again',
};

/** A one-line description of a database connection failure, or undefined if `error` is not one. */
export function describeDatabaseError(error: unknown): string | undefined {
  const code = (error as { code?: unknown })?.code;
  if (typeof code !== 'string') {
    if (error instanceof Error && /Timeout acquiring a connection/.test(error.message)) {
      return 'cannot connect to the database at DATABASE_URL: no connection within 10 seconds';
    }
    return undefined;
  }
  const reason = MESSAGES[code];
  if (!reason) return undefined;
  const role = /role "([^"]+)" does not exist/.exec((error as Error).message)?.[1];
  return `cannot connect to the database at DATABASE_URL: ${role ? `there is no user "${role}"` : reason}`;
}
