// Issue 4, point 5: every admin and self-service list is keyset-paginated and index-backed, and a
// person's grants and sessions list fast with a million grants in the table. This builds a fresh
// PostgreSQL database, fills it with set-based SQL (generate_series, one INSERT ... SELECT per kind
// of row) in the shapes src/oidc/adapter.ts and src/audit/log.ts write, runs the real store methods,
// and for every statement they send records EXPLAIN (ANALYZE, BUFFERS) of that exact SQL with its
// bindings. It fails (exit 1) if any listing seq-scans oidc_records, users or audit_events.
//
//   node --import tsx bench/listings.ts [--rows 1000000] [--runs 9] [--keep] [--no-write]
//
// --rows is the number of Grant rows; the rest scales with it (users rows/10, sessions rows/5,
// audit events rows/2, the heavy client rows/10, the heavy user min(10,000, rows/100)). --keep
// leaves the database in place (its URL is printed) for trying an index by hand. --no-write skips
// bench/results/listings-<date>.json and docs/listings.md.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { PasswordHasher } from '../src/people/passwords.js';
import { UserStore } from '../src/people/users.js';
import { AuditLog, type AuditFilter } from '../src/audit/log.js';
import { AUDIT_EVENT_TYPES } from '../src/audit/events.js';
import { ACCOUNT_CLIENT_ID } from '../src/vocabulary.js';
import { createDatabase, type Database } from '../src/db/knex.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { cursorTimestamp, encodeCursor, type PageRequest } from '../src/db/pages.js';
import { listConnectedApps } from '../src/grants/connected-apps.js';
import { GrantStore } from '../src/grants/store.js';
import { SessionStore } from '../src/sessions/store.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
/** Tables a listing must never read whole. */
const GUARDED_TABLES = ['oidc_records', 'users', 'audit_events'];
/** A listing slower than this (median) is called out in docs/listings.md. */
const SLOW_MS = 20;

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

const SIZES = {
  grants: GRANTS,
  users: Math.round(GRANTS / 10),
  clients: 1000,
  heavyUserGrants: Math.min(10_000, Math.round(GRANTS / 100)),
  heavyClientGrants: Math.round(GRANTS / 10),
  /** One grant in this many gets a refresh token and a (consumed) authorization code. */
  tokenSampleEvery: 4,
  sessions: Math.round(GRANTS / 5),
  heavyUserSessions: Math.min(5000, Math.round(GRANTS / 200)),
  auditEvents: Math.round(GRANTS / 2),
  /** Every this-many-th audit event is about the heavy user. */
  heavyUserAuditEvery: 25,
};

// ---------------------------------------------------------------------------------------------
// Seeding. Everything is deterministic (hashes of the row number, no random()), so two runs hold
// the same data. Users are md5('user-<n>')::uuid, apps app-0001..app-1000; user 1 and app-0001
// are the heavy ones.

/** base64url(SHA-256(text)) in SQL: what src/crypto/digest.ts computes, for ids and digests. */
const b64sha = (expr: string): string => `translate(rtrim(encode(sha256(convert_to(${expr}, 'UTF8')), 'base64'), '='), '+/', '-_')`;
/** A number in [0, 1) from a hash of an integer expression and a salt. */
const unit = (expr: string, salt: number): string => `((hashint8((${expr})::bigint * 7919 + ${salt}) & 2147483647)::float8 / 2147483648.0)`;
const userId = (n: string): string => `md5('user-' || (${n}))::uuid`;
const appId = (n: string): string => `'app-' || lpad((${n})::text, 4, '0')`;

const FIRST = ['Alice', 'Bob', 'Carol', 'David', 'Erin', 'Frank', 'Grace', 'Heidi', 'Ivan', 'Judy', 'Mallory', 'Niaj', 'Olivia', 'Peggy',
  'Rupert', 'Sybil', 'Trent', 'Uma', 'Victor', 'Walter', 'Xena', 'Yusuf', 'Zoe', 'Amara', 'Bruno', 'Chen', 'Dana', 'Elif', 'Farah',
  'Goran', 'Hana', 'Ines', 'Jonas', 'Kofi', 'Lena', 'Mateo', 'Nora', 'Omar', 'Priya', 'Quinn', 'Rosa', 'Sven', 'Tariq', 'Ulla',
  'Vera', 'Wen', 'Ximena', 'Yara', 'Zane', 'Aiko'];
const LAST = ['Smith', 'Jones', 'Garcia', 'Müller', 'Rossi', 'Dubois', 'Kowalski', 'Nakamura', 'Okafor', 'Silva', 'Novak', 'Larsen',
  'Haddad', 'Kim', 'Singh', 'Cohen', 'Ivanova', 'Murphy', 'Fischer', 'Bianchi', 'Moreau', 'Nowak', 'Tanaka', 'Mensah', 'Costa',
  'Horvat', 'Berg', 'Aziz', 'Park', 'Patel', 'Levi', 'Petrova', 'Walsh', 'Weber', 'Romano', 'Laurent', 'Zielinski', 'Sato',
  'Adeyemi', 'Santos', 'Dvorak', 'Nielsen', 'Khalil', 'Choi', 'Gupta', 'Katz', 'Popov', 'Byrne', 'Wagner', 'Greco'];
const sqlArray = (words: string[]): string => `array[${words.map((w) => `'${w.replace(/'/g, "''")}'`).join(', ')}]::text[]`;

const APIS = [
  ['https://notes.example.test', 'Notes', 'notes:read notes:write'],
  ['https://calendar.example.test', 'Calendar', 'calendar:read calendar:write'],
  ['https://files.example.test', 'Files', 'files:read'],
] as const;

const USER_AGENTS = [
  'Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1',
];

/** Weighted audit event types: what a busy deployment writes most. */
const AUDIT_MIX: Array<[(typeof AUDIT_EVENT_TYPES)[number], number]> = [
  ['sign_in.succeeded', 40], ['sign_in.failed', 12], ['consent.given', 15], ['token.revoked', 10], ['session.ended', 10],
  ['grant.revoked', 5], ['consent.revoked', 3], ['user.password_changed', 2], ['refresh_token.reuse_detected', 1],
  ['user.created', 1], ['client.updated', 1],
];

function seedStatements(): Array<[label: string, sql: string]> {
  const s = SIZES;
  const otherUser = (n: string, salt: number): string => `2 + floor(${unit(n, salt)} * ${s.users - 1})::int`;
  const auditTypes = AUDIT_MIX.flatMap(([type, weight]) => Array<string>(weight).fill(type));
  const grantPayload = (created: string, expires: string): string => `jsonb_strip_nulls(jsonb_build_object(
      'iat', extract(epoch from ${created})::bigint, 'exp', extract(epoch from ${expires})::bigint, 'kind', 'Grant',
      'accountId', account_id, 'clientId', client_id,
      'openid', jsonb_build_object('scope', case when i % 3 = 0 then 'openid profile email' else 'openid profile email offline_access' end),
      'resources', case i % 4
        when 0 then null
        when 1 then jsonb_build_object('${APIS[0][0]}', '${APIS[0][2]}')
        when 2 then jsonb_build_object('${APIS[0][0]}', 'notes:read', '${APIS[1][0]}', '${APIS[1][2]}')
        else jsonb_build_object('${APIS[2][0]}', '${APIS[2][2]}') end))`;
  return [
    ['users', `insert into users (id, email, email_verified, name, given_name, family_name, password_hash, is_admin, created_at, updated_at)
      select ${userId('n')}, lower(f || '.' || l) || n || '@example.test', true, f || ' ' || l, f, l,
        '$argon2id$v=19$m=19456,t=2,p=1$c2VlZHNlZWRzZWVkc2VlZA$ZmFrZWhhc2hmYWtlaGFzaGZha2VoYXNoZmFrZWhhc2g', n = 3,
        created, created
      from (select n, (${sqlArray(FIRST)})[1 + n % ${FIRST.length}] as f, (${sqlArray(LAST)})[1 + (n / ${FIRST.length}) % ${LAST.length}] as l,
              now() - interval '730 days' + (n - ${unit('n', 1)}) * (interval '730 days' / ${s.users}) as created
            from generate_series(1, ${s.users}) n) u`],
    ['clients', `insert into clients (client_id, name, secret_digest, token_endpoint_auth_method, redirect_uris, grant_types, scope, created_at)
      select ${appId('n')}, case when n = 1 then 'Heavy App' else 'App ' || n end, ${b64sha(`'secret-' || n`)}, 'client_secret_basic',
        jsonb_build_array('https://app-' || n || '.example.test/callback'), '["authorization_code","refresh_token"]'::jsonb,
        'openid profile email offline_access notes:read notes:write calendar:read calendar:write files:read',
        now() - interval '800 days' + n * interval '10 minutes'
      from generate_series(1, ${s.clients}) n
      union all
      select '${ACCOUNT_CLIENT_ID}', 'Gatehouse', null, 'none', '[]'::jsonb, '["authorization_code"]'::jsonb, 'openid', now() - interval '900 days'`],
    ['resource_servers', `insert into resource_servers (identifier, name, scope, scope_descriptions)
      values ${APIS.map(([id, name, scope]) => `('${id}', '${name}', '${scope}', '{}'::jsonb)`).join(', ')}`],
    // Grants 1..heavyUser belong to user 1 (across every app); the next heavyClient grants are
    // app-0001's, across everyone; the rest spread evenly, one in twenty being a sign-in to
    // Gatehouse's own pages (never a "connected app").
    ['grants', `insert into oidc_records (model, id_digest, payload, grant_id, account_id, client_id, expires_at, created_at)
      select 'Grant', ${b64sha('grant_id')}, ${grantPayload('created_at', 'expires_at')}, grant_id, account_id, client_id, expires_at, created_at
      from (select i, grant_id, account_id, client_id, created_at, created_at + interval '365 days' as expires_at
        from (select i, ${b64sha(`'grant-' || i`)} as grant_id,
                (case when i <= ${s.heavyUserGrants} then ${userId('1')} else ${userId(otherUser('i', 2))} end)::text as account_id,
                case when i <= ${s.heavyUserGrants} then ${appId(`1 + i % ${s.clients}`)}
                     when i <= ${s.heavyUserGrants + s.heavyClientGrants} then ${appId('1')}
                     when i % 20 = 0 then '${ACCOUNT_CLIENT_ID}'
                     else ${appId(`2 + floor(${unit('i', 3)} * ${s.clients - 1})::int`)} end as client_id,
                now() - ${unit('i', 4)} * interval '90 days' as created_at
              from generate_series(1, ${s.grants}) i) raw) g`],
    // A sample of grants has a refresh token and a consumed authorization code, issued after the
    // grant: the "last used" of the listings is the newest of them.
    ['tokens', `insert into oidc_records (model, id_digest, payload, grant_id, account_id, client_id, expires_at, consumed_at, created_at)
      select t.model, ${b64sha(`t.model || '-' || g.grant_id`)},
        jsonb_strip_nulls(jsonb_build_object('iat', extract(epoch from g.created_at + t.after)::bigint, 'kind', t.model,
          'accountId', g.account_id, 'clientId', g.client_id, 'grantId', g.grant_id, 'scope', g.payload->'openid'->>'scope',
          'sessionUid', case when t.model = 'RefreshToken' then ${b64sha(`'uid-' || g.grant_id`)} end, 'gty', 'authorization_code',
          'iiat', case when t.model = 'RefreshToken' then extract(epoch from g.created_at)::bigint end,
          'rotations', case when t.model = 'RefreshToken' then 0 end)),
        g.grant_id, g.account_id, g.client_id,
        case when t.model = 'RefreshToken' then g.created_at + t.after + interval '30 days' else g.created_at + interval '60 seconds' end,
        case when t.model = 'AuthorizationCode' then g.created_at + interval '2 seconds' end,
        g.created_at + t.after
      from oidc_records g
      cross join lateral (values ('AuthorizationCode', interval '1 second'),
                                 ('RefreshToken', interval '2 seconds' + ${unit('hashtext(g.grant_id)', 5)} * interval '20 days')) t(model, after)
      where g.model = 'Grant' and hashtext(g.grant_id) % ${s.tokenSampleEvery} = 0`],
    ['sessions', `insert into oidc_records (model, id_digest, payload, uid_digest, account_id, user_agent, ip, last_active_at, expires_at, created_at)
      select 'Session', ${b64sha(`'session-' || n`)},
        jsonb_build_object('iat', extract(epoch from last_active)::bigint, 'exp', extract(epoch from last_active + interval '30 days')::bigint,
          'kind', 'Session', 'uid', uid, 'accountId', account_id, 'loginTs', extract(epoch from created_at)::bigint,
          'authorizations', jsonb_build_object(${appId(`2 + n % ${s.clients - 1}`)},
            jsonb_build_object('sid', ${b64sha(`'sid-' || n`)}, 'grantId', ${b64sha(`'grant-' || (1 + n % ${s.grants})`)}, 'persistsLogout', true))),
        ${b64sha('uid')}, account_id, (${sqlArray(USER_AGENTS)})[1 + n % ${USER_AGENTS.length}],
        '203.0.' || (n / 250 % 250) || '.' || (1 + n % 250), last_active, last_active + interval '30 days', created_at
      from (select n, ${b64sha(`'uid-' || n`)} as uid,
              (case when n <= ${s.heavyUserSessions} then ${userId('1')} else ${userId(otherUser('n', 6))} end)::text as account_id,
              now() - ${unit('n', 7)} * interval '29 days' as created_at,
              now() - ${unit('n', 7)} * ${unit('n', 8)} * interval '29 days' as last_active
            from generate_series(1, ${s.sessions}) n) s`],
    // Append order, as the application writes it: ids rise with occurred_at.
    ['audit_events', `insert into audit_events (occurred_at, type, actor_type, actor_id, user_id, client_id, ip, details)
      select occurred_at, type,
        case when type in ('user.created', 'client.updated') then 'user' when type = 'sign_in.failed' then 'anonymous' else 'user' end,
        case when type in ('user.created', 'client.updated') then ${userId('3')}::text when type = 'sign_in.failed' then null else subject end,
        subject, case when type like 'sign_in.%' or type = 'user.created' then null else ${appId(`1 + n % ${s.clients}`)} end,
        '198.51.' || (n / 250 % 250) || '.' || (1 + n % 250),
        case when type = 'sign_in.failed' then '{"reason":"wrong_password"}'::jsonb else '{}'::jsonb end
      from (select n, now() - interval '90 days' + n * (interval '90 days' / ${s.auditEvents}) as occurred_at,
              (${sqlArray(auditTypes)})[1 + floor(${unit('n', 9)} * ${auditTypes.length})::int] as type,
              (case when n % ${s.heavyUserAuditEvery} = 0 then ${userId('1')} else ${userId(otherUser('n', 10))} end)::text as subject
            from generate_series(1, ${s.auditEvents}) n) a`],
  ];
}

const SEEDED_TABLES = ['users', 'oidc_records', 'audit_events'];

interface IndexDefinition {
  table: string;
  name: string;
  /** CREATE INDEX ..., or ALTER TABLE ... ADD CONSTRAINT ... for a primary key or unique constraint. */
  create: string;
  drop: string;
  /** pg_get_indexdef: what the rebuilt index must read back as. */
  definition: string;
}

async function indexDefinitions(client: pg.Client, tables: string[]): Promise<IndexDefinition[]> {
  const rows = (await client.query<{ tbl: string; name: string; def: string; conname: string | null; condef: string | null }>(`
    select c.relname as tbl, ic.relname as name, pg_get_indexdef(i.indexrelid) as def, con.conname, pg_get_constraintdef(con.oid) as condef
    from pg_index i join pg_class c on c.oid = i.indrelid join pg_class ic on ic.oid = i.indexrelid
    left join pg_constraint con on con.conindid = i.indexrelid and con.conrelid = i.indrelid
    where c.relname = any($1) and c.relnamespace = 'public'::regnamespace order by c.relname, ic.relname`, [tables])).rows;
  return rows.map((r) => ({
    table: r.tbl,
    name: r.name,
    definition: r.def,
    create: r.conname ? `alter table ${r.tbl} add constraint ${r.conname} ${r.condef}` : r.def,
    drop: r.conname ? `alter table ${r.tbl} drop constraint ${r.conname}` : `drop index ${r.name}`,
  }));
}

async function dropIndexes(client: pg.Client, tables: string[]): Promise<IndexDefinition[]> {
  const indexes = await indexDefinitions(client, tables);
  for (const index of indexes) await client.query(index.drop);
  return indexes;
}

async function rebuildIndexes(client: pg.Client, indexes: IndexDefinition[]): Promise<void> {
  for (const index of indexes) await client.query(index.create);
  const rebuilt = await indexDefinitions(client, [...new Set(indexes.map((i) => i.table))]);
  const expected = indexes.map((i) => i.definition).sort().join('\n');
  if (rebuilt.map((i) => i.definition).sort().join('\n') !== expected) throw new Error('the rebuilt indexes differ from the migrations\' indexes');
}

// ---------------------------------------------------------------------------------------------
// Plans.

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Alias'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  'Recheck Cond'?: string;
  'Filter'?: string;
  'Join Type'?: string;
  'Sort Key'?: string[];
  'Sort Method'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Actual Total Time'?: number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  'Plans'?: PlanNode[];
  [key: string]: unknown;
}

interface ExplainResult {
  Plan: PlanNode;
  'Planning Time': number;
  'Execution Time': number;
  JIT?: { Functions?: number; Timing?: { Total?: number } };
}

function walk(node: PlanNode, visit: (node: PlanNode, depth: number) => void, depth = 0): void {
  visit(node, depth);
  for (const child of node.Plans ?? []) walk(child, visit, depth + 1);
}

/** The plan as an indented outline: node, relation and index, conditions, actual rows and time. */
function outline(plan: PlanNode): string[] {
  const lines: string[] = [];
  walk(plan, (n, depth) => {
    const pad = '  '.repeat(depth);
    let head = n['Node Type'];
    if (n['Join Type'] && n['Node Type'].includes('Join') || n['Node Type'] === 'Nested Loop') head += ` (${n['Join Type']})`;
    if (n['Index Name']) head += ` using ${n['Index Name']}`;
    if (n['Relation Name']) head += ` on ${n['Relation Name']}${n.Alias && n.Alias !== n['Relation Name'] ? ` ${n.Alias}` : ''}`;
    const loops = n['Actual Loops'] ?? 1;
    head += `  (rows=${n['Actual Rows']}${loops > 1 ? ` loops=${loops}` : ''} time=${(n['Actual Total Time'] ?? 0).toFixed(3)} ms`;
    const buffers = (n['Shared Hit Blocks'] ?? 0) + (n['Shared Read Blocks'] ?? 0);
    head += ` buffers=${buffers})`;
    lines.push(pad + (depth ? '-> ' : '') + head);
    const detail = (label: string, value: unknown): void => {
      if (value !== undefined && value !== null && value !== '') lines.push(`${pad}     ${label}: ${Array.isArray(value) ? value.join(', ') : String(value)}`);
    };
    detail('Index Cond', n['Index Cond']);
    detail('Recheck Cond', n['Recheck Cond']);
    detail('Filter', n.Filter);
    if (n['Rows Removed by Filter']) detail('Rows Removed by Filter', n['Rows Removed by Filter']);
    detail('Sort Key', n['Sort Key']);
    detail('Sort Method', n['Sort Method']);
  });
  return lines;
}

interface StatementReport {
  sql: string;
  bindings: unknown[];
  /** Tables read (relation names in the plan). */
  tables: string[];
  indexes: string[];
  seqScans: string[];
  planningMs: number;
  executionMs: number;
  rowsRemovedByFilter: number;
  sharedBuffers: number;
  /** Milliseconds PostgreSQL spent JIT-compiling the statement (0 when it did not). */
  jitMs: number;
  outline: string[];
  plan: ExplainResult;
}

async function explain(client: pg.Client, sql: string, bindings: unknown[]): Promise<StatementReport> {
  // Same text, same parameters, same (unnamed, custom-planned) extended-protocol statement as pg sends.
  const result = await client.query<{ 'QUERY PLAN': ExplainResult[] }>({ text: `explain (analyze, buffers, format json) ${sql}`, values: bindings });
  const explained = result.rows[0]!['QUERY PLAN'][0]!;
  const tables = new Set<string>();
  const indexes = new Set<string>();
  const seqScans: string[] = [];
  let removed = 0;
  walk(explained.Plan, (n) => {
    if (n['Relation Name']) tables.add(n['Relation Name']);
    if (n['Index Name']) indexes.add(n['Index Name']);
    if (n['Node Type'] === 'Seq Scan' && n['Relation Name']) seqScans.push(n['Relation Name']);
    removed += (n['Rows Removed by Filter'] ?? 0) * (n['Actual Loops'] ?? 1);
  });
  return {
    sql,
    bindings,
    tables: [...tables],
    indexes: [...indexes],
    seqScans,
    planningMs: explained['Planning Time'],
    executionMs: explained['Execution Time'],
    rowsRemovedByFilter: removed,
    sharedBuffers: (explained.Plan['Shared Hit Blocks'] ?? 0) + (explained.Plan['Shared Read Blocks'] ?? 0),
    jitMs: explained.JIT?.Timing?.Total ?? 0,
    outline: outline(explained.Plan),
    plan: explained,
  };
}

// ---------------------------------------------------------------------------------------------
// Cases.

interface Case {
  name: string;
  /** What the listing walks, for the table: "grants of user 1 (10,000)". */
  scope: string;
  table: string;
  run: () => Promise<{ items: unknown[] }>;
}

interface CaseReport {
  name: string;
  scope: string;
  table: string;
  tableRows: number;
  items: number;
  statements: number;
  /** Wall time of the whole method call (every statement, pg round trips, row mapping), median of the runs. */
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** The statement on the listed table: its plan's index(es), execution time and outline. */
  main: StatementReport;
  all: StatementReport[];
  seqScans: string[];
}

const round = (n: number): number => Number(n.toFixed(3));

function caseJson(r: CaseReport): Record<string, unknown> {
  return {
    name: r.name, scope: r.scope, table: r.table, tableRows: r.tableRows, items: r.items, statements: r.statements,
    medianMs: round(r.medianMs), minMs: round(r.minMs), maxMs: round(r.maxMs),
    indexes: r.main.indexes, executionMs: r.main.executionMs, planningMs: r.main.planningMs, jitMs: r.main.jitMs,
    rowsRemovedByFilter: r.main.rowsRemovedByFilter, sharedBuffers: r.main.sharedBuffers, seqScans: r.seqScans,
    // Every statement the call sent, in order; the full JSON plan for the listing's own statement.
    statementsDetail: r.all.map((s) => ({
      sql: s.sql, bindings: s.bindings, indexes: s.indexes, seqScans: s.seqScans, executionMs: s.executionMs, planningMs: s.planningMs, jitMs: s.jitMs,
      outline: s.outline, ...(s === r.main ? { plan: s.plan } : {}),
    })),
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function measure(db: Database, client: pg.Client, c: Case, tableRows: number): Promise<CaseReport> {
  for (let i = 0; i < 2; i += 1) await c.run();
  const times: number[] = [];
  let items = 0;
  for (let i = 0; i < RUNS; i += 1) {
    const start = performance.now();
    const page = await c.run();
    times.push(performance.now() - start);
    items = page.items.length;
  }
  const sent: Array<{ sql: string; bindings: unknown[] }> = [];
  const record = (q: { sql: string; bindings?: unknown[] }): void => {
    sent.push({ sql: q.sql, bindings: q.bindings ?? [] });
  };
  db.on('query', record);
  try {
    await c.run();
  } finally {
    db.off('query', record);
  }
  const all: StatementReport[] = [];
  for (const q of sent) all.push(await explain(client, q.sql, q.bindings));
  // The listing's own statement: the one reading the listed table that returns the page (the last such).
  const main = [...all].reverse().find((s) => s.tables.includes(c.table) && /\blimit\b/i.test(s.sql)) ?? all[all.length - 1]!;
  const seqScans = [...new Set(all.flatMap((s) => s.seqScans.filter((t) => GUARDED_TABLES.includes(t))))];
  return {
    name: c.name, scope: c.scope, table: c.table, tableRows, items, statements: sent.length,
    medianMs: median(times), minMs: Math.min(...times), maxMs: Math.max(...times), main, all, seqScans,
  };
}

// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// The two listings that grew with the data until they were fixed (connected apps: group the grants
// before probing their tokens; the audit log: order by (occurred_at, id) on indexes ending in it).
// Their numbers before, from this bench at commit 79ca82b (bench/results/listings-2026-11-25T13-06-07Z.json
// there), on the same deterministic data; docs/listings.md sets them beside this run's.

const BEFORE_FIXES = {
  commit: '79ca82b',
  results: 'bench/results/listings-2026-11-25T13-06-07Z.json',
  cases: {
    'listConnectedApps typical': { executionMs: 0.195, jitMs: 0, medianMs: 1.762, sharedBuffers: 97, indexes: ['oidc_records_account_idx', 'clients_pkey', 'oidc_records_grant_idx'] },
    'listConnectedApps heavy': { executionMs: 163.595, jitMs: 27.437, medianMs: 152.878, sharedBuffers: 55841, indexes: ['oidc_records_account_idx', 'oidc_records_grant_idx'] },
    'audit.list': { executionMs: 0.031, jitMs: 0, medianMs: 0.713, sharedBuffers: 7, indexes: ['audit_events_pkey'] },
    'audit.list deep': { executionMs: 0.034, jitMs: 0, medianMs: 0.621, sharedBuffers: 5, indexes: ['audit_events_pkey'] },
    'audit.list user typical': { executionMs: 0.038, jitMs: 0, medianMs: 0.448, sharedBuffers: 6, indexes: ['audit_events_user_idx'] },
    'audit.list user heavy': { executionMs: 0.186, jitMs: 0, medianMs: 0.91, sharedBuffers: 39, indexes: ['audit_events_pkey'] },
    'audit.list user heavy deep': { executionMs: 0.202, jitMs: 0, medianMs: 0.975, sharedBuffers: 37, indexes: ['audit_events_pkey'] },
    'audit.list actor': { executionMs: 0.357, jitMs: 0, medianMs: 1.282, sharedBuffers: 81, indexes: ['audit_events_pkey'] },
    'audit.list client': { executionMs: 0.055, jitMs: 0, medianMs: 0.734, sharedBuffers: 54, indexes: ['audit_events_client_idx'] },
    'audit.list type rare': { executionMs: 0.048, jitMs: 0, medianMs: 0.724, sharedBuffers: 37, indexes: ['audit_events_type_idx'] },
    'audit.list type absent': { executionMs: 0.021, jitMs: 0, medianMs: 0.45, sharedBuffers: 3, indexes: ['audit_events_type_idx'] },
    'audit.list last day': { executionMs: 0.031, jitMs: 0, medianMs: 1.083, sharedBuffers: 7, indexes: ['audit_events_pkey'] },
    'audit.list old window': { executionMs: 34.869, jitMs: 0, medianMs: 40.26, sharedBuffers: 9088, indexes: ['audit_events_pkey'] },
    'audit.list before 60 days': { executionMs: 54.218, jitMs: 0, medianMs: 37.814, sharedBuffers: 9088, indexes: ['audit_events_pkey'] },
    'audit.list user+type': { executionMs: 5.667, jitMs: 0, medianMs: 10.724, sharedBuffers: 1255, indexes: ['audit_events_pkey'] },
    'audit.list user+old window': { executionMs: 0.811, jitMs: 0, medianMs: 1.51, sharedBuffers: 141, indexes: ['audit_events_occurred_idx'] },
  } as Record<string, { executionMs: number; jitMs: number; medianMs: number; sharedBuffers: number; indexes: string[] }>,
};

// ---------------------------------------------------------------------------------------------

const fmt = (n: number): string => n.toLocaleString('en-US');
const ms = (n: number): string => (n < 10 ? n.toFixed(2) : n.toFixed(1));

async function main(): Promise<void> {
  const started = performance.now();
  const loadBefore = os.loadavg()[0]!;
  const name = `gatehouse_listings_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = createDatabase({ url: ADMIN_URL, embeddedDir: null, poolMax: 1 });
  await admin.raw(`create database "${name}"`);
  await admin.destroy();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const db = createDatabase({ url: url.href, embeddedDir: null, poolMax: 4 });
  const client = new pg.Client({ connectionString: url.href });
  let dropped = false;
  const drop = async (): Promise<void> => {
    if (dropped || args.keep) return;
    dropped = true;
    await client.end().catch(() => {});
    await db.destroy().catch(() => {});
    const cleanup = createDatabase({ url: ADMIN_URL, embeddedDir: null, poolMax: 1 });
    await cleanup.raw(`drop database if exists "${name}" with (force)`);
    await cleanup.destroy();
  };
  process.once('SIGINT', () => { void drop().finally(() => process.exit(130)); });

  try {
    console.log(`database ${name}${args.keep ? ` (kept: ${url.href})` : ''}`);
    await migrateToLatest(db);
    await client.connect();
    const server = (await client.query<{ server_version: string }>('show server_version')).rows[0]!.server_version;

    // Seed on one connection. The seeded tables' indexes (primary keys included) are dropped for the
    // load and rebuilt afterwards from their own definitions (pg_get_indexdef / pg_get_constraintdef):
    // at a million grants about 85 s instead of 200 s with the indexes maintained row by row. The
    // rebuilt set is checked to be exactly the migrations' set.
    const seedTimes: Record<string, number> = {};
    const seedStart = performance.now();
    await client.query(`set synchronous_commit = off; set maintenance_work_mem = '1GB'; set work_mem = '256MB'`);
    const indexes = await dropIndexes(client, SEEDED_TABLES);
    for (const [label, sql] of seedStatements()) {
      const t = performance.now();
      const result = await client.query(sql);
      seedTimes[label] = Math.round(performance.now() - t);
      console.log(`  seeded ${label.padEnd(16)} ${fmt(result.rowCount ?? 0).padStart(10)} rows in ${(seedTimes[label]! / 1000).toFixed(1)} s`);
    }
    let t = performance.now();
    await rebuildIndexes(client, indexes);
    seedTimes.rebuild_indexes = Math.round(performance.now() - t);
    console.log(`  rebuilt ${indexes.length} indexes in ${(seedTimes.rebuild_indexes / 1000).toFixed(1)} s`);
    await client.query('reset work_mem; reset maintenance_work_mem; reset synchronous_commit');
    t = performance.now();
    await client.query(`vacuum (analyze) ${[...SEEDED_TABLES, 'clients', 'resource_servers'].join(', ')}`);
    seedTimes.vacuum_analyze = Math.round(performance.now() - t);
    const seedMs = performance.now() - seedStart;
    console.log(`  vacuum analyze in ${(seedTimes.vacuum_analyze / 1000).toFixed(1)} s; seeding took ${(seedMs / 1000).toFixed(1)} s`);

    const counts = (await client.query<{ label: string; n: number }>(`
      select 'oidc_records' as label, count(*)::int as n from oidc_records
      union all select 'oidc_records:' || model, count(*)::int from oidc_records group by model
      union all select 'users', count(*)::int from users
      union all select 'clients', count(*)::int from clients
      union all select 'resource_servers', count(*)::int from resource_servers
      union all select 'audit_events', count(*)::int from audit_events`)).rows;
    const rowsIn = Object.fromEntries(counts.map((r) => [r.label, r.n])) as Record<string, number>;
    const sizes = (await client.query<{ relname: string; size: string }>(`
      select relname, pg_size_pretty(pg_total_relation_size(oid)) as size from pg_class
      where relname in ('oidc_records', 'users', 'audit_events') order by relname`)).rows;

    // Who to list: the heavy user (1) and app (app-0001), and typical ones: a user holding the
    // median number of grants, an app of median size.
    const heavyUser = (await client.query<{ id: string }>(`select md5('user-1')::uuid::text as id`)).rows[0]!.id;
    const typical = (await client.query<{ account_id: string; n: number }>(`
      select account_id, n from (select account_id, count(*)::int as n from oidc_records where model = 'Grant' and client_id <> $1
        and account_id <> $2 group by account_id) c order by n, account_id offset (select count(distinct account_id) / 2 from oidc_records where model = 'Grant') limit 1`,
    [ACCOUNT_CLIENT_ID, heavyUser])).rows[0]!;
    const typicalSessions = (await client.query<{ n: number }>(`select count(*)::int as n from oidc_records where model = 'Session' and account_id = $1`, [typical.account_id])).rows[0]!.n;
    const heavyClient = 'app-0001';
    const typicalClient = 'app-0500';
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
    const userCursor = await cursorAt(`select ${ts('created_at')} as at, id::text as key from users order by created_at, id offset $1 limit 1`, [half(SIZES.users)]);
    const auditMiddle = (await client.query<{ id: string }>(`select id::text from audit_events order by id desc offset $1 limit 1`, [half(SIZES.auditEvents)])).rows[0]!.id;
    const heavyUserAuditMiddle = (await client.query<{ id: string }>(`select id::text from audit_events where user_id = $1 order by id desc offset $2 limit 1`,
      [heavyUser, half(heavyUserAudit)])).rows[0]!.id;
    // The audit cursor is the (occurred_at, id) of the event the previous page ended at.
    const auditCursor = async (id: string): Promise<string> =>
      cursorAt(`select ${ts('occurred_at')} as at, id::text as key from audit_events where id = $1`, [id]);
    const auditMiddleCursor = await auditCursor(auditMiddle);
    const heavyUserAuditMiddleCursor = await auditCursor(heavyUserAuditMiddle);
    const adminId = (await client.query<{ id: string }>(`select md5('user-3')::uuid::text as id`)).rows[0]!.id;
    const rareEmail = (await client.query<{ email: string }>(`select email from users where id = md5('user-' || $1)::uuid`, [Math.floor(SIZES.users * 0.54321)])).rows[0]!.email;

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
      { name: 'audit.list deep', scope: `no filter, page at event ${fmt(half(SIZES.auditEvents))}`, filter: {}, deep: auditMiddleCursor },
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
      { name: 'users.list deep', scope: `page at person ${fmt(half(SIZES.users))}`, table: 'users', run: () => users.list({ cursor: userCursor }) },
      { name: 'users.list search common', scope: 'search "a" (~1 in 5 people)', table: 'users', run: () => users.list({ search: 'a' }) },
      { name: 'users.list search name', scope: 'search "grace" (1 in 50)', table: 'users', run: () => users.list({ search: 'grace' }) },
      { name: 'users.list search email', scope: `search "${rareEmail.slice(0, 16)}" (1 person)`, table: 'users', run: () => users.list({ search: rareEmail.slice(0, 16) }) },
      { name: 'users.list search none', scope: 'search "qqq" (no one)', table: 'users', run: () => users.list({ search: 'qqq' }) },
      ...auditSpecs.map((a): Case => ({ name: a.name, scope: a.scope, table: 'audit_events', run: () => audit.list(a.filter, a.deep === undefined ? {} : { cursor: a.deep }) })),
    ];

    const reports: CaseReport[] = [];
    const benchStart = performance.now();
    for (const c of cases) {
      const report = await measure(db, client, c, rowsIn[c.table] ?? 0);
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
      sizes: SIZES,
      rows: rowsIn,
      tableSizes: Object.fromEntries(sizes.map((r) => [r.relname, r.size])),
      subjects: { heavyUser, heavyUserGrants, heavyUserSessions, heavyUserAudit, typicalUser: typical.account_id, typicalUserGrants: typical.n, typicalSessions, heavyClient, heavyClientGrants, typicalClient, typicalClientGrants },
      runsPerCase: RUNS,
      seedMs: Math.round(seedMs),
      seedStepsMs: seedTimes,
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
      writeFileSync(path.join(ROOT, 'docs/listings.md'), markdown(result, reports, path.relative(ROOT, jsonPath)));
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
    if (args.keep) {
      await client.end().catch(() => {});
      await db.destroy();
      console.log(`kept ${url.href}`);
    } else {
      await drop();
    }
  }
}

type Result = {
  at: string;
  machine: { cpus: number; cpu: string | undefined; memoryGiB: number; node: string; postgres: string; loadAverage: number[] };
  rows: Record<string, number>;
  seedMs: number;
  totalMs: number;
  runsPerCase: number;
};

const execCell = (r: CaseReport): string => `${ms(r.main.executionMs)}${r.main.jitMs ? ` (JIT ${ms(r.main.jitMs)})` : ''}`;
const indexCell = (r: CaseReport): string => r.main.indexes.map((i) => `\`${i}\``).join(', ') || '—';

function markdown(result: Result, reports: CaseReport[], jsonPath: string): string {
  const slow = reports.filter((r) => r.medianMs > SLOW_MS || r.seqScans.length > 0);
  const otherSeqScans = new Map<string, string[]>();
  for (const r of reports) {
    for (const table of new Set(r.all.flatMap((st) => st.seqScans.filter((t) => !GUARDED_TABLES.includes(t))))) {
      otherSeqScans.set(table, [...(otherSeqScans.get(table) ?? []), r.name]);
    }
  }
  const lines = [
    '# Listings at scale',
    '',
    `Generated by \`node --import tsx bench/listings.ts --rows ${SIZES.grants}\` on ${result.at.slice(0, 10)}; do not edit by hand. `
      + `Every statement's full plan (EXPLAIN ANALYZE, BUFFERS, FORMAT JSON) is in \`${jsonPath}\`.`,
    '',
    `Machine: ${result.machine.cpus} × ${result.machine.cpu ?? 'cpu'}, ${result.machine.memoryGiB} GiB, Node ${result.machine.node}, `
      + `PostgreSQL ${result.machine.postgres} with its default settings (shared_buffers 128MB, work_mem 4MB, jit on). `
      + `One-minute load average ${result.machine.loadAverage.join(' at the start, ')} at the end: other work on the machine shows in the medians, `
      + 'much less in the buffer counts and plans.',
    '',
    `Data, seeded with set-based SQL in the adapter's row shapes: ${fmt(result.rows['oidc_records:Grant'] ?? 0)} grants, `
      + `${fmt(result.rows['oidc_records:RefreshToken'] ?? 0)} refresh tokens and ${fmt(result.rows['oidc_records:AuthorizationCode'] ?? 0)} authorization codes `
      + `under a quarter of them, ${fmt(result.rows['oidc_records:Session'] ?? 0)} sessions (${fmt(result.rows.oidc_records ?? 0)} rows in oidc_records), `
      + `${fmt(result.rows.users ?? 0)} people, ${fmt(result.rows.clients ?? 0)} apps, ${fmt(result.rows.audit_events ?? 0)} audit events. `
      + `One heavy person holds ${fmt(SIZES.heavyUserGrants)} grants (one or more for every app) and ${fmt(SIZES.heavyUserSessions)} sessions; `
      + `one heavy app holds ${fmt(SIZES.heavyClientGrants)} grants. The seeded tables' indexes are dropped for the load and rebuilt from their own `
      + 'definitions (checked identical to the migrations\'), so they are tightly packed; indexes grown row by row over months are larger, '
      + 'which costs at most one more btree level per descent and does not change the plans.',
    '',
    'Each listing is the real store method (src/grants, src/sessions, src/accounts, src/audit) asking for a default page of 50. '
      + `**Median** is the wall time of the whole call from Node (every statement it sends, round trips, row mapping), median of ${result.runsPerCase} warm runs. `
      + '**Execution** is PostgreSQL\'s execution time for the listing\'s main statement, from EXPLAIN ANALYZE of the exact SQL and bindings the method sent '
      + '(captured with knex\'s query event and re-sent as the same parameterised statement). **Buffers** are the 8 kB pages that statement touched.',
    '',
    '| Listing | What | Rows in table | Index | Execution ms | Median ms | Buffers | Seq scan |',
    '|---|---|---:|---|---:|---:|---:|---|',
    ...reports.map((r) => `| ${r.name} | ${r.scope} | ${fmt(r.tableRows)} | ${indexCell(r)} | ${execCell(r)} | ${ms(r.medianMs)} | ${fmt(r.main.sharedBuffers)} | ${r.seqScans.length ? `**${r.seqScans.join(', ')}**` : 'none'} |`),
    '',
    `Whole run (create database, migrate, seed, analyze, measure, drop): ${(result.totalMs / 1000).toFixed(0)} s, of which seeding ${(result.seedMs / 1000).toFixed(0)} s.`,
    '',
    `No listing seq-scans oidc_records, users or audit_events${reports.some((r) => r.seqScans.length) ? ' — EXCEPT the ones marked above' : ''}; `
      + (otherSeqScans.size
        ? `other sequential scans: ${[...otherSeqScans].map(([table, names]) => `\`${table}\` (${fmt(result.rows[table] ?? 0)} rows) in ${names.join(', ')}`).join('; ')}. `
        : 'no other table is read sequentially either. ')
      + (slow.length
        ? `Over ${SLOW_MS} ms: ${slow.map((r) => `${r.name} (${ms(r.medianMs)} ms)`).join(', ')}.`
        : `Every listing answers in under ${SLOW_MS} ms.`),
    '',
  ];
  const fixed = reports.filter((r) => BEFORE_FIXES.cases[r.name] !== undefined);
  if (fixed.length) {
    const beforeExec = (b: { executionMs: number; jitMs: number }): string => `${ms(b.executionMs)}${b.jitMs ? ` (JIT ${ms(b.jitMs)})` : ''}`;
    lines.push(
      '## Two listings that grew with the data, fixed',
      '',
      '**Connected apps** (src/grants/connected-apps.ts) grouped *all* of a person\'s grants to build one page of apps, and for each grant '
        + 'probed oidc_records_grant_idx for its newest token before grouping: a person with 10,000 grants cost 10,000 probes per page (and the '
        + 'plan\'s estimated cost crossed jit_above_cost, adding JIT compilation). It now groups the grants first (client, name, first grant, '
        + 'count, `array_agg(grant_id)`) on the account index, takes the page of 51 apps, then reads only those apps\' grants for the scopes and '
        + 'probes only their tokens (`grant_id = any(a.grant_ids)` on oidc_records_grant_idx). Same items, order and cursors as before '
        + '(test/grants, test/account). Grouping still reads every grant of the person once, in one index range; the per-grant probes are gone.',
      '',
      '**Audit log with a time window** (src/audit/log.ts) ordered by `id` and filtered on `occurred_at`: PostgreSQL assumed the window\'s '
        + 'events were spread evenly over ids and walked audit_events_pkey back from the newest event, filtering, through every event newer '
        + 'than the window (333,332 rows skipped for a window 60 days back), a cost growing with the window\'s age and the size of the log. '
        + 'It now orders by `(occurred_at desc, id desc)` with a cursor of that pair (the time to the microsecond, encoded as every other '
        + 'listing\'s), and the five audit indexes of migration 005 end in `(occurred_at desc, id desc)`: every filter reads one index range '
        + 'from the window\'s newest end and stops after 51 rows.',
      '',
      `Before: this bench at commit ${BEFORE_FIXES.commit} (\`${BEFORE_FIXES.results}\` in that commit), on the same deterministic data and `
        + 'machine; after: this run. Medians move with the machine\'s load between runs; buffers and plans are the comparable part.',
      '',
      '| Listing | Before: execution / median ms | Before: buffers | After: execution / median ms | After: buffers | Index before | Index after |',
      '|---|---:|---:|---:|---:|---|---|',
      ...fixed.map((r) => {
        const b = BEFORE_FIXES.cases[r.name]!;
        return `| ${r.name} | ${beforeExec(b)} / ${ms(b.medianMs)} | ${fmt(b.sharedBuffers)} | ${execCell(r)} / ${ms(r.medianMs)} | ${fmt(r.main.sharedBuffers)} | ${b.indexes.map((i) => `\`${i}\``).join(', ')} | ${indexCell(r)} |`;
      }),
      '',
    );
  }
  lines.push('## Plans', '', 'The main statement of each listing as PostgreSQL ran it: actual rows, time and buffers per node.', '');
  for (const r of reports) {
    lines.push(`### ${r.name}: ${r.scope}`, '', '```', ...r.main.outline, `Planning ${ms(r.main.planningMs)} ms, execution ${ms(r.main.executionMs)} ms${r.main.jitMs ? `, of which JIT ${ms(r.main.jitMs)} ms` : ''}`, '```', '');
  }
  return `${lines.join('\n')}\n`;
}

await main();
