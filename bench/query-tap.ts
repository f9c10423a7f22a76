// Every statement Gatehouse sends, seen where it leaves the process: pg's Client.prototype.query.
// Not knex's 'query' event, which misses what talks to a pg connection directly (the sign-in
// throttle's rate-limiter-flexible store acquires knex's connections and sends named statements
// itself). Used by instance.ts (round trips per request, BENCH_QUERY_LOG) and trace.ts.
import pg from 'pg';

export interface TappedQuery {
  text: string;
  /** A prepared statement's name. */
  name: string | undefined;
  values: unknown[];
}

type QueryFunction = (this: pg.Client, ...args: unknown[]) => unknown;

/** Calls `onQuery` as each statement is handed to pg, and the function it returns, if any, once
 *  the answer (or an error) is back. For the process's lifetime: the bench never untaps. */
export function tapQueries(onQuery: (query: TappedQuery) => (() => void) | void): void {
  const send = pg.Client.prototype.query as unknown as QueryFunction;
  (pg.Client.prototype as unknown as { query: QueryFunction }).query = function tappedQuery(...args) {
    const first = args[0] as string | { text?: string; name?: string; values?: unknown } | undefined;
    const bound = typeof first === 'object' ? first.values : args[1];
    const answered = onQuery({
      text: typeof first === 'string' ? first : first?.text ?? '(submittable)',
      name: typeof first === 'object' ? first.name : undefined,
      values: Array.isArray(bound) ? bound : [],
    });
    if (!answered) return send.apply(this, args);
    const callback = args.at(-1);
    if (typeof callback === 'function') {
      args[args.length - 1] = function withAnswer(this: unknown, ...answer: unknown[]) {
        answered();
        return (callback as (...a: unknown[]) => unknown).apply(this, answer);
      };
      return send.apply(this, args);
    }
    const result = send.apply(this, args);
    if (result instanceof Promise) result.then(answered, answered);
    return result;
  };
}
