// The data bench/listings.ts lists: a million grants (by default) with their tokens, sessions,
// people, apps and audit events, the same on every run (every "random" choice is a hash of the
// row number).
//
// oidc_records is filled the way Gatehouse fills it: each record is built as the payload
// oidc-provider hands the adapter, and turned into a row by the records repository's own row mapper (recordRow:
// digests, which columns a model fills, what the payload keeps), then inserted in batches of
// BATCH rows. So the bench holds no copy of the row shapes or digest rules, and follows them when
// they change. People and audit events are Gatehouse's own plain tables, with no payload or
// digest in them: one set-based INSERT ... SELECT each, which is much faster in SQL.
//
// The seeded tables' indexes (primary keys included) are dropped for the load and rebuilt from
// their own definitions afterwards, checked identical to the migrations'.
import { createHash } from 'node:crypto';
import type { AdapterPayload } from 'oidc-provider';
import type pg from 'pg';
import { AUDIT_EVENT_TYPES } from '../../src/audit/events.js';
import { digest } from '../../src/crypto/digest.js';
import { recordRow, type NewRow } from '../../src/records/index.js';
import { ACCOUNT_CLIENT_ID } from '../../src/vocabulary.js';

/** How much of everything, from the number of grants (--rows). */
export function sizesFor(grants: number) {
  return {
    grants,
    users: Math.round(grants / 10),
    clients: 1000,
    heavyUserGrants: Math.min(10_000, Math.round(grants / 100)),
    heavyClientGrants: Math.round(grants / 10),
    /** One grant in this many gets a refresh token and a (consumed) authorization code. */
    tokenSampleEvery: 4,
    sessions: Math.round(grants / 5),
    heavyUserSessions: Math.min(5000, Math.round(grants / 200)),
    auditEvents: Math.round(grants / 2),
    /** Every this-many-th audit event is about the heavy user. */
    heavyUserAuditEvery: 25,
  };
}
export type Sizes = ReturnType<typeof sizesFor>;

// User n is md5('user-<n>') as a uuid (in SQL: md5('user-' || n)::uuid), apps are app-0001 to
// app-1000; user 1 and app-0001 are the heavy ones, user 3 the admin.
export const HEAVY_CLIENT = 'app-0001';
export const TYPICAL_CLIENT = 'app-0500';
export const userId = (n: number): string => createHash('md5').update(`user-${n}`).digest('hex').replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-');
const appId = (n: number): string => `app-${String(n).padStart(4, '0')}`;

const SECOND = 1000;
const DAY = 86_400 * SECOND;
/** Rows per INSERT: large enough that round trips do not count, small enough to stay a few MB. */
const BATCH = 10_000;

// ---- oidc_records, through the adapter's row mapper ----

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
/** A number in [0, 1) from a hash of a row number and a salt: the same on every run. */
const unit = (n: number, salt: number): number => fmix32(n + fmix32(salt + 0x9e3779b9)) / 2 ** 32;
/** An id shaped like oidc-provider's (43 base64url characters), derived from the row. */
const idOf = (kind: string, n: number): string => createHash('sha256').update(`${kind}-${n}`).digest('base64url');
const epoch = (ms: number): number => Math.floor(ms / SECOND);

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

type SeededRow = NewRow & { created_at: Date };

/** A record as oidc-provider would save it at `createdMs`, mapped to its row by the repository. */
function record(model: string, payload: AdapterPayload & { jti: string }, expiresInSeconds: number, createdMs: number, options: { savedMs?: number; userAgent?: string; ip?: string } = {}): SeededRow {
  const facts = model === 'Session' ? { userAgent: options.userAgent, ip: options.ip } : undefined;
  return { ...recordRow({ model, id: payload.jti, payload, expiresIn: expiresInSeconds, nowMs: options.savedMs ?? createdMs, facts }), created_at: new Date(createdMs) };
}

/** The grant of row i. Grants 1..heavyUserGrants belong to user 1 (across every app); the next
 *  heavyClientGrants are app-0001's, across everyone; the rest spread evenly, one in twenty being
 *  a sign-in to Gatehouse's own pages (never a "connected app"). */
function grantOf(i: number, s: Sizes, now: number) {
  const accountId = userId(i <= s.heavyUserGrants ? 1 : 2 + Math.floor(unit(i, 2) * (s.users - 1)));
  const clientId = i <= s.heavyUserGrants ? appId(1 + (i % s.clients))
    : i <= s.heavyUserGrants + s.heavyClientGrants ? HEAVY_CLIENT
      : i % 20 === 0 ? ACCOUNT_CLIENT_ID
        : appId(2 + Math.floor(unit(i, 3) * (s.clients - 1)));
  const createdMs = now - unit(i, 4) * 90 * DAY;
  const scope = i % 3 === 0 ? 'openid profile email' : 'openid profile email offline_access';
  return { id: idOf('grant', i), accountId, clientId, createdMs, scope };
}

const RESOURCES = [undefined, { [APIS[0][0]]: APIS[0][2] }, { [APIS[0][0]]: 'notes:read', [APIS[1][0]]: APIS[1][2] }, { [APIS[2][0]]: APIS[2][2] }];

function* grants(s: Sizes, now: number): Generator<SeededRow> {
  const expiresIn = 365 * 86_400;
  for (let i = 1; i <= s.grants; i += 1) {
    const g = grantOf(i, s, now);
    const resources = RESOURCES[i % RESOURCES.length];
    yield record('Grant', {
      jti: g.id, kind: 'Grant', iat: epoch(g.createdMs), exp: epoch(g.createdMs) + expiresIn, accountId: g.accountId, clientId: g.clientId,
      openid: { scope: g.scope }, ...(resources ? { resources } : {}),
    }, expiresIn, g.createdMs);
  }
}

/** A sample of grants has a consumed authorization code and a refresh token, issued after the
 *  grant: the "last used" of the listings is the newest of them. In grant order, as the grants. */
function* tokens(s: Sizes, now: number): Generator<SeededRow> {
  for (let i = 1; i <= s.grants; i += 1) {
    if (unit(i, 5) >= 1 / s.tokenSampleEvery) continue;
    const g = grantOf(i, s, now);
    const common = { accountId: g.accountId, clientId: g.clientId, grantId: g.id, scope: g.scope, gty: 'authorization_code' };
    const codeAt = g.createdMs + SECOND;
    yield record('AuthorizationCode', { ...common, jti: idOf('AuthorizationCode', i), kind: 'AuthorizationCode', iat: epoch(codeAt), consumed: epoch(g.createdMs + 2 * SECOND) }, 59, codeAt);
    const refreshAt = g.createdMs + 2 * SECOND + unit(i, 6) * 20 * DAY;
    yield record('RefreshToken', {
      ...common, jti: idOf('RefreshToken', i), kind: 'RefreshToken', iat: epoch(refreshAt),
      sessionUid: idOf('grant-uid', i), iiat: epoch(g.createdMs), rotations: 0,
    }, 30 * 86_400, refreshAt);
  }
}

/** Sessions 1..heavyUserSessions are user 1's; each has been active since it began, up to now. */
function* sessions(s: Sizes, now: number): Generator<SeededRow> {
  for (let n = 1; n <= s.sessions; n += 1) {
    const accountId = userId(n <= s.heavyUserSessions ? 1 : 2 + Math.floor(unit(n, 6) * (s.users - 1)));
    const createdMs = now - unit(n, 7) * 29 * DAY;
    const lastActiveMs = now - unit(n, 7) * unit(n, 8) * 29 * DAY;
    const expiresIn = 30 * 86_400;
    const payload = {
      jti: idOf('session', n), kind: 'Session', iat: epoch(lastActiveMs), exp: epoch(lastActiveMs) + expiresIn,
      uid: idOf('uid', n), accountId, loginTs: epoch(createdMs),
      authorizations: { [appId(2 + (n % (s.clients - 1)))]: { sid: idOf('sid', n), grantId: idOf('grant', 1 + (n % s.grants)), persistsLogout: true } },
    };
    yield record('Session', payload, expiresIn, createdMs, {
      savedMs: lastActiveMs, userAgent: USER_AGENTS[n % USER_AGENTS.length]!, ip: `203.0.${Math.floor(n / 250) % 250}.${1 + (n % 250)}`,
    });
  }
}

/** Column name and PostgreSQL type, in insert order. */
type Columns = ReadonlyArray<readonly [string, string]>;

const RECORD_COLUMNS: Columns = [
  ['model', 'text'], ['id_digest', 'text'], ['payload', 'jsonb'], ['grant_id', 'text'], ['uid_digest', 'text'], ['account_id', 'text'],
  ['client_id', 'text'], ['expires_at', 'timestamptz'], ['consumed_at', 'timestamptz'], ['user_agent', 'text'], ['ip', 'text'],
  ['last_active_at', 'timestamptz'], ['created_at', 'timestamptz'],
] satisfies ReadonlyArray<readonly [keyof SeededRow, string]>;

/** Inserts `rows` BATCH at a time, one array per column (insert ... select from unnest), the next
 *  batch being built while the last one is written. Returns the number of rows. */
async function insertBatches(client: pg.Client, table: string, columns: Columns, rows: Iterable<object>): Promise<number> {
  const sql = `insert into ${table} (${columns.map(([name]) => name).join(', ')})
    select * from unnest(${columns.map(([, type], k) => `$${k + 1}::${type}[]`).join(', ')})`;
  let written: Promise<unknown> = Promise.resolve();
  let count = 0;
  let batch: unknown[][] = columns.map(() => []);
  const flush = async () => {
    const values = batch;
    batch = columns.map(() => []);
    await written;
    written = client.query(sql, values);
  };
  for (const row of rows) {
    const cells = row as Record<string, unknown>;
    columns.forEach(([name], k) => {
      const value = cells[name];
      batch[k]!.push(value instanceof Date ? value.toISOString() : value ?? null);
    });
    count += 1;
    if (count % BATCH === 0) await flush();
  }
  if (batch[0]!.length) await flush();
  await written;
  return count;
}

// ---- apps, people, audit events ----

const CLIENT_COLUMNS: Columns = [
  ['client_id', 'text'], ['name', 'text'], ['secret_digest', 'text'], ['token_endpoint_auth_method', 'text'],
  ['redirect_uris', 'jsonb'], ['grant_types', 'jsonb'], ['scope', 'text'], ['created_at', 'timestamptz'],
];

function* clients(s: Sizes, now: number): Generator<object> {
  for (let n = 1; n <= s.clients; n += 1) {
    yield {
      client_id: appId(n), name: n === 1 ? 'Heavy App' : `App ${n}`, secret_digest: digest(`secret-${n}`), token_endpoint_auth_method: 'client_secret_basic',
      redirect_uris: JSON.stringify([`https://app-${n}.example.test/callback`]), grant_types: JSON.stringify(['authorization_code', 'refresh_token']),
      scope: 'openid profile email offline_access notes:read notes:write calendar:read calendar:write files:read',
      created_at: new Date(now - 800 * DAY + n * 10 * 60 * SECOND),
    };
  }
  yield {
    client_id: ACCOUNT_CLIENT_ID, name: 'Gatehouse', secret_digest: null, token_endpoint_auth_method: 'none',
    redirect_uris: '[]', grant_types: JSON.stringify(['authorization_code']), scope: 'openid', created_at: new Date(now - 900 * DAY),
  };
}

const FIRST = ['Alice', 'Bob', 'Carol', 'David', 'Erin', 'Frank', 'Grace', 'Heidi', 'Ivan', 'Judy', 'Mallory', 'Niaj', 'Olivia', 'Peggy',
  'Rupert', 'Sybil', 'Trent', 'Uma', 'Victor', 'Walter', 'Xena', 'Yusuf', 'Zoe', 'Amara', 'Bruno', 'Chen', 'Dana', 'Elif', 'Farah',
  'Goran', 'Hana', 'Ines', 'Jonas', 'Kofi', 'Lena', 'Mateo', 'Nora', 'Omar', 'Priya', 'Quinn', 'Rosa', 'Sven', 'Tariq', 'Ulla',
  'Vera', 'Wen', 'Ximena', 'Yara', 'Zane', 'Aiko'];
const LAST = ['Smith', 'Jones', 'Garcia', 'Müller', 'Rossi', 'Dubois', 'Kowalski', 'Nakamura', 'Okafor', 'Silva', 'Novak', 'Larsen',
  'Haddad', 'Kim', 'Singh', 'Cohen', 'Ivanova', 'Murphy', 'Fischer', 'Bianchi', 'Moreau', 'Nowak', 'Tanaka', 'Mensah', 'Costa',
  'Horvat', 'Berg', 'Aziz', 'Park', 'Patel', 'Levi', 'Petrova', 'Walsh', 'Weber', 'Romano', 'Laurent', 'Zielinski', 'Sato',
  'Adeyemi', 'Santos', 'Dvorak', 'Nielsen', 'Khalil', 'Choi', 'Gupta', 'Katz', 'Popov', 'Byrne', 'Wagner', 'Greco'];

/** Weighted audit event types: what a busy deployment writes most. */
const AUDIT_MIX: Array<[(typeof AUDIT_EVENT_TYPES)[number], number]> = [
  ['sign_in.succeeded', 40], ['sign_in.failed', 12], ['consent.given', 15], ['token.revoked', 10], ['session.ended', 10],
  ['grant.revoked', 5], ['consent.revoked', 3], ['user.password_changed', 2], ['refresh_token.reuse_detected', 1],
  ['user.created', 1], ['client.updated', 1],
];

/** People, then audit events, set-based, on the same row-number scheme as above. */
function plainTableStatements(s: Sizes): [users: string, auditEvents: string] {
  const sqlArray = (words: string[]): string => `array[${words.map((w) => `'${w.replace(/'/g, "''")}'`).join(', ')}]::text[]`;
  const sqlUnit = (expr: string, salt: number): string => `((hashint8((${expr})::bigint * 7919 + ${salt}) & 2147483647)::float8 / 2147483648.0)`;
  const sqlUserId = (n: string): string => `md5('user-' || (${n}))::uuid`;
  const sqlOtherUser = (n: string, salt: number): string => `2 + floor(${sqlUnit(n, salt)} * ${s.users - 1})::int`;
  const auditTypes = AUDIT_MIX.flatMap(([type, weight]) => Array<string>(weight).fill(type));
  return [
    `insert into users (id, email, email_verified, name, given_name, family_name, password_hash, is_admin, created_at, updated_at)
      select ${sqlUserId('n')}, lower(f || '.' || l) || n || '@example.test', true, f || ' ' || l, f, l,
        '$argon2id$v=19$m=19456,t=2,p=1$c2VlZHNlZWRzZWVkc2VlZA$ZmFrZWhhc2hmYWtlaGFzaGZha2VoYXNoZmFrZWhhc2g', n = 3,
        created, created
      from (select n, (${sqlArray(FIRST)})[1 + n % ${FIRST.length}] as f, (${sqlArray(LAST)})[1 + (n / ${FIRST.length}) % ${LAST.length}] as l,
              now() - interval '730 days' + (n - ${sqlUnit('n', 1)}) * (interval '730 days' / ${s.users}) as created
            from generate_series(1, ${s.users}) n) u`,
    // Append order, as the application writes it: ids rise with occurred_at.
    `insert into audit_events (occurred_at, type, actor_type, actor_id, user_id, client_id, ip, details)
      select occurred_at, type,
        case when type in ('user.created', 'client.updated') then 'user' when type = 'sign_in.failed' then 'anonymous' else 'user' end,
        case when type in ('user.created', 'client.updated') then ${sqlUserId('3')}::text when type = 'sign_in.failed' then null else subject end,
        subject, case when type like 'sign_in.%' or type = 'user.created' then null else 'app-' || lpad((1 + n % ${s.clients})::text, 4, '0') end,
        '198.51.' || (n / 250 % 250) || '.' || (1 + n % 250),
        case when type = 'sign_in.failed' then '{"reason":"wrong_password"}'::jsonb else '{}'::jsonb end
      from (select n, now() - interval '90 days' + n * (interval '90 days' / ${s.auditEvents}) as occurred_at,
              (${sqlArray(auditTypes)})[1 + floor(${sqlUnit('n', 9)} * ${auditTypes.length})::int] as type,
              (case when n % ${s.heavyUserAuditEvery} = 0 then ${sqlUserId('1')} else ${sqlUserId(sqlOtherUser('n', 10))} end)::text as subject
            from generate_series(1, ${s.auditEvents}) n) a`,
  ];
}

// ---- the whole seeding ----

const SEEDED_TABLES = ['users', 'oidc_records', 'audit_events'];
const ANALYZED_TABLES = [...SEEDED_TABLES, 'clients', 'resource_servers'];

/** Fills a migrated, empty database on `client`; returns how long each step took, in ms. */
export async function seed(client: pg.Client, s: Sizes, log: (line: string) => void): Promise<Record<string, number>> {
  const now = Date.now();
  const steps: Record<string, number> = {};
  const step = async (label: string, run: () => Promise<number | undefined>) => {
    const started = performance.now();
    const rows = await run();
    steps[label] = Math.round(performance.now() - started);
    log(`  ${label.padEnd(20)} ${rows === undefined ? '' : rows.toLocaleString('en-US').padStart(10)}${rows === undefined ? '' : ' rows'} in ${(steps[label]! / 1000).toFixed(1)} s`);
  };
  await client.query(`set synchronous_commit = off; set maintenance_work_mem = '1GB'; set work_mem = '256MB'`);
  const indexes = await indexDefinitions(client, SEEDED_TABLES);
  for (const index of indexes) await client.query(index.drop);
  const [users, auditEvents] = plainTableStatements(s);
  await step('users', async () => (await client.query(users)).rowCount ?? 0);
  await step('clients', () => insertBatches(client, 'clients', CLIENT_COLUMNS, clients(s, now)));
  await step('resource_servers', async () => (await client.query(`insert into resource_servers (identifier, name, scope, scope_descriptions)
    values ${APIS.map(([id, name, scope]) => `('${id}', '${name}', '${scope}', '{}'::jsonb)`).join(', ')}`)).rowCount ?? 0);
  await step('grants', () => insertBatches(client, 'oidc_records', RECORD_COLUMNS, grants(s, now)));
  await step('tokens', () => insertBatches(client, 'oidc_records', RECORD_COLUMNS, tokens(s, now)));
  await step('sessions', () => insertBatches(client, 'oidc_records', RECORD_COLUMNS, sessions(s, now)));
  await step('audit_events', async () => (await client.query(auditEvents)).rowCount ?? 0);
  await step('rebuild_indexes', async () => {
    for (const index of indexes) await client.query(index.create);
    const rebuilt = await indexDefinitions(client, SEEDED_TABLES);
    if (rebuilt.map((i) => i.definition).sort().join('\n') !== indexes.map((i) => i.definition).sort().join('\n')) {
      throw new Error('the rebuilt indexes differ from the migrations\' indexes');
    }
    return undefined;
  });
  await client.query('reset work_mem; reset maintenance_work_mem; reset synchronous_commit');
  await step('vacuum_analyze', async () => {
    await client.query(`vacuum (analyze) ${ANALYZED_TABLES.join(', ')}`);
    return undefined;
  });
  return steps;
}

interface IndexDefinition {
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
    name: r.name,
    definition: r.def,
    create: r.conname ? `alter table ${r.tbl} add constraint ${r.conname} ${r.condef}` : r.def,
    drop: r.conname ? `alter table ${r.tbl} drop constraint ${r.conname}` : `drop index ${r.name}`,
  }));
}
