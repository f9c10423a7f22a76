// One Gatehouse process under load: started by run.ts with fork(), configured through loadConfig
// like production, and counting every query knex sends so run.ts can report database round trips
// per request. It talks to run.ts over IPC: 'ready' once listening, 'count' on request.
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { startGatehouse } from '../src/server.js';

const config = loadConfig(JSON.parse(process.env.BENCH_GATEHOUSE_ENV ?? '{}') as NodeJS.ProcessEnv);
const gatehouse = await startGatehouse(config, createLogger('silent'));

let queries = 0;
// BENCH_QUERY_LOG=1: also tally queries by their SQL, printed at stop (which queries, not just how many).
const bySql = process.env.BENCH_QUERY_LOG ? new Map<string, number>() : undefined;
gatehouse.db.on('query', (query: { sql: string }) => {
  queries += 1;
  if (bySql) bySql.set(query.sql.replace(/\s+/g, ' ').slice(0, 160), (bySql.get(query.sql.replace(/\s+/g, ' ').slice(0, 160)) ?? 0) + 1);
});

process.on('message', (message: { cmd: string }) => {
  if (message.cmd === 'count') process.send!({ cmd: 'count', queries });
  if (message.cmd === 'stop') {
    if (bySql) for (const [sql, n] of [...bySql].sort((a, b) => b[1] - a[1]).slice(0, 25)) process.stderr.write(`[queries] ${n}\t${sql}\n`);
    void gatehouse.close().finally(() => process.exit(0));
  }
});
process.on('disconnect', () => { void gatehouse.close().finally(() => process.exit(0)); });
process.send!({ cmd: 'ready', address: gatehouse.address });
