// `node --import tsx bench/listings.ts [--rows 1000000] [--runs 9] [--keep] [--no-write]`
//
// Issue 4, point 5: every admin and self-service list is keyset-paginated and index-backed, and a
// person's grants and sessions list fast with a million grants in the table. This creates a fresh
// PostgreSQL database, seeds it (listings/seed.ts), runs the real store methods, and for every
// statement they send records EXPLAIN (ANALYZE, BUFFERS) of that exact SQL with its bindings
// (listings/plans.ts). It writes bench/results/listings-<time>.json and docs/listings.md
// (listings/page.ts), and fails (exit 1) if any listing seq-scans oidc_records, users or audit_events.
//
// --rows is the number of Grant rows; the rest scales with it (listings/seed.ts, sizesFor). --keep
// leaves the database in place (its URL is printed) for trying an index by hand. --no-write skips
// the results file and docs/listings.md.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { AuditLog, type AuditFilter } from '../src/audit/log.js';
import { createDatabase } from '../src/db/knex.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { cursorTimestamp, encodeCursor, type PageRequest } from '../src/db/pages.js';
import { listConnectedApps } from '../src/grants/connected-apps.js';
import { GrantStore } from '../src/grants/store.js';
import { PasswordHasher } from '../src/people/passwords.js';
import { UserStore } from '../src/people/users.js';
import { SessionStore } from '../src/sessions/store.js';
import { ACCOUNT_CLIENT_ID } from '../src/vocabulary.js';
import { fmt, markdown, ms, BEFORE_FIXES } from './listings/page.js';
import { caseJson, measure, type Case, type CaseReport } from './listings/plans.js';
import { HEAVY_CLIENT, seed, sizesFor, TYPICAL_CLIENT, userId } from './listings/seed.js';
import { scratchDatabase } from './setup.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '9' },
    keep: { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
  },
});

const GRANTS = Number.parseInt(args.rows, 10);
const RUNS = Math.max(3, Number.parseInt(args.runs, 10));
if (!Number.isInteger(GRANTS) || GRANTS < 10_000) throw new Error('--rows must be an integer of at least 10000');

async function main(): Promise<void> {
  const started = performance.now();
  const loadBefore = os.loadavg()[0]!;
  const sizes = sizesFor(GRANTS);
  const database = await scratchDatabase('gatehouse_listings');
  const db = createDatabase({ url: database.url, embeddedDir: null, poolMax: 4 });
  const client = new pg.Client({ connectionString: database.url });
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await client.end();
    await db.destroy();
    if (args.keep) console.log(`kept ${database.url}`);
    else await database.drop();
  };
  process.once('SIGINT', () => { void close().finally(() => process.exit(130)); });

  try {
    console.log(`database ${database.name}${args.keep ? ` (kept: ${database.url})` : ''}`);
    await client.connect();
    await migrateToLatest(db);
    const server = (await client.query<{ server_version: string }>('show server_version')).rows[0]!.server_version;

    const seedStart = performance.now();
    const seedSteps = await seed(client, sizes, (line) => console.log(line));
    const seedMs = performance.now() - seedStart;
    console.log(`  seeding took ${(seedMs / 1000).toFixed(1)} s`);

    const counts = (await client.query<{ label: string; n: number }>(`
      select 'oidc_records' as label, count(*)::int as n from oidc_records
      union all select 'oidc_records:' || model, count(*)::int from oidc_records group by model
      union all select 'users', count(*)::int from users
      union all select 'clients', count(*)::int from clients
      union all select 'resource_servers', count(*)::int from resource_servers
      union all select 'audit_events', count(*)::int from audit_events`)).rows;
    const rowsIn = Object.fromEntries(counts.map((r) => [r.label, r.n])) as Record<string, number>;
    const tableSizes = (await client.query<{ relname: string; size: string }>(`
      select relname, pg_size_pretty(pg_total_relation_size(oid)) as size from pg_class
      where relname in ('oidc_records', 'users', 'audit_events') order by relname`)).rows;

    // Who to list: the heavy user (1) and app (app-0001), and typical ones: a user holding the
    // median number of grants, an app of median size.
    const heavyUser = userId(1);
    const typical = (await client.query<{ account_id: string; n: number }>(`
      select account_id, n from (select account_id, count(*)::int as n from oidc_records where model = 'Grant' and client_id <> $1
        and account_id <> $2 group by account_id) c order by n, account_id offset (select count(distinct account_id) / 2 from oidc_records where model = 'Grant') limit 1`,
    [ACCOUNT_CLIENT_ID, heavyUser])).rows[0]!;
    const typicalSessions = (await client.query<{ n: number }>(`select count(*)::int as n from oidc_records where model = 'Session' and account_id = $1`, [typical.account_id])).rows[0]!.n;
    const heavyClient = HEAVY_CLIENT;
    const typicalClient = TYPICAL_CLIENT;
    const grantsOf = async (column: 'account_id' | 'client_id', id: string): Promise<number> =>
      (await client.query<{ n: number }>(`select count(*)::int as n from oidc_records where model = 'Grant' and ${column} = $1`, [id])).rows[0]!.n;
    const heavyUserGrants = await grantsOf('account_id', heavyUser);
    const heavyClientGrants = await grantsOf('client_id', heavyClient);
    const typicalClientGrants = await grantsOf('client_id', typicalClient);
    const heavyUserSessions = (await client.query<{ n: number }>(`select count(*)::int as n from oidc_records where model = 'Session' and account_id = $1`, [heavyUser])).rows[0]!.n;
    const heavyUserAudit = (await client.query<{ n: number }>(`select count(*)::int as n from audit_events where user_id = $1`, [heavyUser])).rows[0]!.n;

    // Cursors deep in each keyset, as the listing itself would have handed them out.
    const cursorAt = async (sql: string, params: unknown[]): Promise<string> => {
      const row = (await client.query<{ at: string; key: string }>(sql, params)).rows[0]!;
      return encodeCursor([row.at, row.key]);
    };
    const ts = cursorTimestamp;
    const half = (n: number): number => Math.floor(n / 2);
    const heavyUserGrantCursor = await cursorAt(`select ${ts('created_at')} as at, id_digest as key from oidc_records
      where model = 'Grant' and account_id = $1 and client_id <> $2 order by created_at desc, id_digest desc offset $3 limit 1`,
    [heavyUser, ACCOUNT_CLIENT_ID, half(heavyUserGrants)]);
    const heavyClientGrantCursor = await cursorAt(`select ${ts('created_at')} as at, id_digest as key from oidc_records
      where model = 'Grant' and client_id = $1 order by created_at desc, id_digest desc offset $2 limit 1`, [heavyClient, half(heavyClientGrants)]);
    const heavyUserSessionCursor = await cursorAt(`select ${ts('created_at')} as at, uid_digest as key from oidc_records
      where model = 'Session' and account_id = $1 order by created_at desc, id_digest desc offset $2 limit 1`, [heavyUser, half(heavyUserSessions)]);
    const userCursor = await cursorAt(`select ${ts('created_at')} as at, id::text as key from users order by created_at, id offset $1 limit 1`, [half(sizes.users)]);
    const auditMiddle = (await client.query<{ id: string }>(`select id::text from audit_events order by id desc offset $1 limit 1`, [half(sizes.auditEvents)])).rows[0]!.id;
    const heavyUserAuditMiddle = (await client.query<{ id: string }>(`select id::text from audit_events where user_id = $1 order by id desc offset $2 limit 1`,
      [heavyUser, half(heavyUserAudit)])).rows[0]!.id;
    // The audit cursor is the (occurred_at, id) of the event the previous page ended at.
    const auditCursor = async (id: string): Promise<string> =>
      cursorAt(`select ${ts('occurred_at')} as at, id::text as key from audit_events where id = $1`, [id]);
    const auditMiddleCursor = await auditCursor(auditMiddle);
    const heavyUserAuditMiddleCursor = await auditCursor(heavyUserAuditMiddle);
    const adminId = userId(3);
    const rareEmail = (await client.query<{ email: string }>('select email from users where id = $1', [userId(Math.floor(sizes.users * 0.54321))])).rows[0]!.email;

    const grants = new GrantStore(db);
    const sessions = new SessionStore(db);
    // list() never hashes; the hasher is there because the store also creates people.
    const users = new UserStore(db, new PasswordHasher({ memoryKiB: 19456, timeCost: 2, parallelism: 1 }));
    const audit = new AuditLog(db);
    const page = (cursor?: string): PageRequest => (cursor === undefined ? {} : { cursor });
    const day = 86_400_000;
    const now = Date.now();
    // Audit listings, by filter; `deep` starts at the middle of the filtered log.
    const auditSpecs: Array<{ name: string; scope: string; filter: AuditFilter; deep?: string }> = [
      { name: 'audit.list', scope: 'no filter, first page', filter: {} },
      { name: 'audit.list deep', scope: `no filter, page at event ${fmt(half(sizes.auditEvents))}`, filter: {}, deep: auditMiddleCursor },
      { name: 'audit.list user typical', scope: 'userId = typical user', filter: { userId: typical.account_id } },
      { name: 'audit.list user heavy', scope: `userId = heavy user (${fmt(heavyUserAudit)} events)`, filter: { userId: heavyUser } },
      { name: 'audit.list user heavy deep', scope: `same, page at event ${fmt(half(heavyUserAudit))}`, filter: { userId: heavyUser }, deep: heavyUserAuditMiddleCursor },
      { name: 'audit.list actor', scope: 'actorId = the admin', filter: { actorId: adminId } },
      { name: 'audit.list client', scope: `clientId = ${typicalClient}`, filter: { clientId: typicalClient } },
      { name: 'audit.list type rare', scope: 'type = refresh_token.reuse_detected (1%)', filter: { type: 'refresh_token.reuse_detected' } },
      { name: 'audit.list type absent', scope: 'type = keys.rotated (none)', filter: { type: 'keys.rotated' } },
      { name: 'audit.list last day', scope: 'since = 1 day ago', filter: { since: new Date(now - day) } },
      { name: 'audit.list old window', scope: 'since 61 days ago, until 60 days ago', filter: { since: new Date(now - 61 * day), until: new Date(now - 60 * day) } },
      { name: 'audit.list before 60 days', scope: 'until = 60 days ago', filter: { until: new Date(now - 60 * day) } },
      { name: 'audit.list user+type', scope: 'userId = heavy user, type = consent.revoked', filter: { userId: heavyUser, type: 'consent.revoked' } },
      { name: 'audit.list user+old window', scope: 'userId = heavy user, 61..60 days ago', filter: { userId: heavyUser, since: new Date(now - 61 * day), until: new Date(now - 60 * day) } },
    ];

    const cases: Case[] = [
      { name: 'grants.listByUser typical', scope: `user with ${typical.n} grants`, table: 'oidc_records', run: () => grants.listByUser(typical.account_id) },
      { name: 'grants.listByUser heavy', scope: `user with ${fmt(heavyUserGrants)} grants, first page`, table: 'oidc_records', run: () => grants.listByUser(heavyUser) },
      { name: 'grants.listByUser heavy deep', scope: `same, page at grant ${fmt(half(heavyUserGrants))}`, table: 'oidc_records', run: () => grants.listByUser(heavyUser, page(heavyUserGrantCursor)) },
      { name: 'grants.listByClient typical', scope: `app with ${fmt(typicalClientGrants)} grants`, table: 'oidc_records', run: () => grants.listByClient(typicalClient) },
      { name: 'grants.listByClient heavy', scope: `app with ${fmt(heavyClientGrants)} grants, first page`, table: 'oidc_records', run: () => grants.listByClient(heavyClient) },
      { name: 'grants.listByClient heavy deep', scope: `same, page at grant ${fmt(half(heavyClientGrants))}`, table: 'oidc_records', run: () => grants.listByClient(heavyClient, page(heavyClientGrantCursor)) },
      { name: 'listConnectedApps typical', scope: `user with ${typical.n} grants`, table: 'oidc_records', run: () => listConnectedApps(db, typical.account_id) },
      { name: 'listConnectedApps heavy', scope: `user with ${fmt(heavyUserGrants)} grants`, table: 'oidc_records', run: () => listConnectedApps(db, heavyUser) },
      { name: 'sessions.listByUser typical', scope: `user with ${typicalSessions} sessions`, table: 'oidc_records', run: () => sessions.listByUser(typical.account_id) },
      { name: 'sessions.listByUser heavy', scope: `user with ${fmt(heavyUserSessions)} sessions, first page`, table: 'oidc_records', run: () => sessions.listByUser(heavyUser) },
      { name: 'sessions.listByUser heavy deep', scope: `same, page at session ${fmt(half(heavyUserSessions))}`, table: 'oidc_records', run: () => sessions.listByUser(heavyUser, page(heavyUserSessionCursor)) },
      { name: 'users.list', scope: 'first page', table: 'users', run: () => users.list() },
      { name: 'users.list deep', scope: `page at person ${fmt(half(sizes.users))}`, table: 'users', run: () => users.list({ cursor: userCursor }) },
      { name: 'users.list search common', scope: 'search "a" (~1 in 5 people)', table: 'users', run: () => users.list({ search: 'a' }) },
      { name: 'users.list search name', scope: 'search "grace" (1 in 50)', table: 'users', run: () => users.list({ search: 'grace' }) },
      { name: 'users.list search email', scope: `search "${rareEmail.slice(0, 16)}" (1 person)`, table: 'users', run: () => users.list({ search: rareEmail.slice(0, 16) }) },
      { name: 'users.list search none', scope: 'search "qqq" (no one)', table: 'users', run: () => users.list({ search: 'qqq' }) },
      ...auditSpecs.map((a): Case => ({ name: a.name, scope: a.scope, table: 'audit_events', run: () => audit.list(a.filter, a.deep === undefined ? {} : { cursor: a.deep }) })),
    ];

    const reports: CaseReport[] = [];
    const benchStart = performance.now();
    for (const c of cases) {
      const report = await measure(db, client, c, rowsIn[c.table] ?? 0, RUNS);
      reports.push(report);
      console.log(`  ${c.name.padEnd(40)} ${String(report.items).padStart(3)} items  median ${ms(report.medianMs).padStart(6)} ms  exec ${ms(report.main.executionMs).padStart(6)} ms  ${report.main.indexes.join(', ') || '(no index)'}${report.seqScans.length ? `  SEQ SCAN on ${report.seqScans.join(', ')}` : ''}`);
    }

    const benchMs = performance.now() - benchStart;
    const totalMs = performance.now() - started;

    const failures = reports.filter((r) => r.seqScans.length > 0);
    const result = {
      at: new Date().toISOString(),
      machine: {
        cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, postgres: server,
        // Other work on the machine shows in the timings; the one-minute load average at start and end.
        loadAverage: [Number(loadBefore.toFixed(2)), Number(os.loadavg()[0]!.toFixed(2))],
      },
      sizes,
      rows: rowsIn,
      tableSizes: Object.fromEntries(tableSizes.map((r) => [r.relname, r.size])),
      subjects: { heavyUser, heavyUserGrants, heavyUserSessions, heavyUserAudit, typicalUser: typical.account_id, typicalUserGrants: typical.n, typicalSessions, heavyClient, heavyClientGrants, typicalClient, typicalClientGrants },
      runsPerCase: RUNS,
      seedMs: Math.round(seedMs),
      seedStepsMs: seedSteps,
      benchMs: Math.round(benchMs),
      totalMs: Math.round(totalMs),
      seqScanFailures: failures.map((r) => r.name),
      cases: reports.map(caseJson),
      // The listings fixed since commit 79ca82b: their numbers then (that commit's results file) and now.
      beforeFixes: { commit: BEFORE_FIXES.commit, results: BEFORE_FIXES.results, cases: BEFORE_FIXES.cases },
    };

    if (!args['no-write']) {
      const stamp = result.at.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
      mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
      const jsonPath = path.join(ROOT, `bench/results/listings-${stamp}.json`);
      writeFileSync(jsonPath, `${JSON.stringify(result, null, 2)}\n`);
      writeFileSync(path.join(ROOT, 'docs/listings.md'), markdown(result, sizes, reports, path.relative(ROOT, jsonPath)));
      console.log(`wrote ${path.relative(ROOT, jsonPath)} and docs/listings.md`);
    }

    console.log(`\n${fmt(rowsIn['oidc_records:Grant'] ?? 0)} grants, ${fmt(rowsIn.oidc_records ?? 0)} oidc_records rows, ${fmt(rowsIn.users ?? 0)} users, ${fmt(rowsIn.audit_events ?? 0)} audit events`);
    console.log(`seed ${(seedMs / 1000).toFixed(1)} s, measurements ${(benchMs / 1000).toFixed(1)} s, total ${(totalMs / 1000).toFixed(1)} s`);
    const slowest = [...reports].sort((a, b) => b.medianMs - a.medianMs)[0]!;
    console.log(`slowest listing: ${slowest.name} (${slowest.scope}) median ${ms(slowest.medianMs)} ms`);
    if (failures.length) {
      console.error(`FAIL: sequential scan in ${failures.map((r) => `${r.name} (${r.seqScans.join(', ')})`).join('; ')}`);
      process.exitCode = 1;
    } else {
      console.log('OK: no listing seq-scans oidc_records, users or audit_events');
    }
  } finally {
    await close();
  }
}

await main();
