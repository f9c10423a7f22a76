// Listings over a table the size of a small deployment's: every row is seen exactly once across
// pages, ties and sub-millisecond timestamps included, and the queries walk indexes, as the
// planner chooses them on its own statistics (ANALYZE), not because sequential scans are off.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PasswordHasher } from '../../src/people/passwords.js';
import { UserStore } from '../../src/people/users.js';
import type { Page, PageRequest } from '../../src/db/pages.js';
import { listConnectedApps } from '../../src/grants/connected-apps.js';
import { GrantStore } from '../../src/grants/store.js';
import { SessionStore } from '../../src/sessions/store.js';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../support/database.js';
import { TEST_ARGON2 } from '../support/gatehouse.js';

// The production database's planner, with its statistics: the embedded one plans these small
// tables its own way, and what it chooses there says nothing about PostgreSQL's.
const onPostgres = await usingPostgres();

let testDb: TestDatabase;
let grants: GrantStore;
let sessions: SessionStore;
let users: UserStore;

const HEAVY = 'heavy-person';
const TYPICAL = 'acct-7';
const APP = 'heavy-app';
const NOISE = 20_000;

// created_at steps of 7 µs, three rows per step: many rows share a millisecond, and ties are
// broken only by the second sort key.
const CREATED = `now() - interval '1 day' + (i / 3) * interval '7 microseconds'`;

async function seed(db: TestDatabase['db']): Promise<void> {
  // The heavy person: 3000 live sessions, 3000 live grants (half for APP), and expired leftovers.
  await db.raw(`insert into oidc_records (model, id_digest, payload, uid_digest, account_id, expires_at, created_at)
    select 'Session', 'sess-' || i, jsonb_build_object('accountId', '${HEAVY}', 'authorizations', '{}'::jsonb), 'uid-' || i, '${HEAVY}',
      case when i % 30 = 0 then now() - interval '1 hour' else now() + interval '1 day' end, ${CREATED}
    from generate_series(1, 3100) i`);
  await db.raw(`insert into oidc_records (model, id_digest, payload, grant_id, account_id, client_id, expires_at, created_at)
    select 'Grant', 'grant-' || i, jsonb_build_object('openid', jsonb_build_object('scope', 'openid email'), 'resources', jsonb_build_object('https://api.example.test', 'read')),
      'g-' || i, '${HEAVY}', case when i % 2 = 0 then '${APP}' else 'app-' || (i % 40) end,
      case when i % 30 = 0 then now() - interval '1 hour' when i % 5 = 0 then null else now() + interval '1 day' end, ${CREATED}
    from generate_series(1, 3100) i`);
  // Everyone else: APP's grants from 2000 people, their sessions, tokens under grants, interactions.
  await db.raw(`insert into oidc_records (model, id_digest, payload, grant_id, uid_digest, account_id, client_id, expires_at, created_at)
    select m.model, 'noise-' || i, '{}'::jsonb,
      case when m.model in ('Grant', 'AccessToken', 'RefreshToken') then 'n-' || (i / 4) end,
      case when m.model = 'Session' then 'nuid-' || i end,
      case when m.model <> 'Interaction' then 'acct-' || (i % 2000) end,
      case when m.model = 'Session' then null when i % 3 = 0 then '${APP}' else 'app-' || (i % 40) end,
      now() + interval '1 day', ${CREATED}
    from generate_series(1, ${NOISE}) i
    cross join lateral (select (array['Grant', 'AccessToken', 'RefreshToken', 'Session', 'Interaction'])[1 + i % 5] as model) m`);
  // Tokens of the heavy person's grants, for the last-use lookup.
  await db.raw(`insert into oidc_records (model, id_digest, payload, grant_id, account_id, client_id, expires_at, created_at)
    select 'AccessToken', 'tok-' || i, '{}'::jsonb, 'g-' || i, '${HEAVY}', '${APP}', now() + interval '1 day', now()
    from generate_series(2, 3100, 2) i`);
  await db.raw(`insert into users (email, name, password_hash, created_at)
    select 'person-' || i || '@example.test', 'Person ' || i, 'not a hash', now() - interval '1 day' + (i / 3) * interval '7 microseconds'
    from generate_series(1, ${NOISE}) i`);
  await db.raw('analyze oidc_records');
  await db.raw('analyze users');
}

beforeAll(async () => {
  testDb = await createTestDatabase();
  grants = new GrantStore(testDb.db);
  sessions = new SessionStore(testDb.db);
  users = new UserStore(testDb.db, new PasswordHasher(TEST_ARGON2));
  await seed(testDb.db);
}, 120_000);

afterAll(async () => {
  await testDb?.destroy();
});

async function everyPage<T>(list: (page: PageRequest) => Promise<Page<T>>, limit: number): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await list({ limit, ...(cursor ? { cursor } : {}) });
    items.push(...page.items);
    cursor = page.nextCursor ?? undefined;
    pages++;
  } while (cursor);
  return { items, pages };
}

async function expected(sql: string): Promise<string[]> {
  const result = await testDb.db.raw(sql);
  return (result.rows as Array<{ key: string }>).map((row) => row.key);
}

const LIVE = '(expires_at is null or expires_at > now())';

describe('paging through thousands of rows', () => {
  it('sees each of a person\'s live sessions once, in order', async () => {
    const { items, pages } = await everyPage((page) => sessions.listByUser(HEAVY, page), 200);
    const want = await expected(`select uid_digest as key from oidc_records where model = 'Session' and account_id = '${HEAVY}' and ${LIVE} order by created_at desc, id_digest desc`);
    expect(want.length).toBeGreaterThan(2900);
    expect(items.map((s) => s.id)).toEqual(want);
    expect(pages).toBe(Math.ceil(want.length / 200));
  });

  it('sees each of a person\'s grants once, in order, at an odd page size', async () => {
    const { items } = await everyPage((page) => grants.listByUser(HEAVY, page), 37);
    const want = await expected(`select grant_id as key from oidc_records where model = 'Grant' and account_id = '${HEAVY}' and ${LIVE} order by created_at desc, id_digest desc`);
    expect(items.map((g) => g.id)).toEqual(want);
    expect(new Set(items.map((g) => g.id)).size).toBe(items.length);
  });

  it('sees each of an app\'s grants once, in order', async () => {
    const { items } = await everyPage((page) => grants.listByClient(APP, page), 200);
    const want = await expected(`select grant_id as key from oidc_records where model = 'Grant' and client_id = '${APP}' and ${LIVE} order by created_at desc, id_digest desc`);
    expect(want.length).toBeGreaterThan(2500);
    expect(items.map((g) => g.id)).toEqual(want);
  });

  it('sees each person once, oldest first, and each match of a search', async () => {
    const { items } = await everyPage((page) => users.list(page), 200);
    expect(items).toHaveLength(NOISE);
    expect(new Set(items.map((u) => u.id)).size).toBe(NOISE);
    const matches = await everyPage((page) => users.list({ ...page, search: 'PERSON-12' }), 7);
    // person-12, person-120..129, person-1200..1299, person-12000..12999
    expect(matches.items).toHaveLength(1 + 10 + 100 + 1000);
    expect(matches.items.every((u) => u.email.startsWith('person-12'))).toBe(true);
    expect(new Set(matches.items.map((u) => u.id)).size).toBe(matches.items.length);
  });
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

function nodesOf(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodesOf)];
}

/** The plans of every statement `work` sends, as the planner makes them for its actual parameters. */
async function plansOf(work: () => Promise<unknown>): Promise<Array<{ sql: string; nodes: PlanNode[] }>> {
  const statements: Array<{ sql: string; bindings: unknown[] }> = [];
  const record = (query: { sql: string; bindings?: unknown[] }) => statements.push({ sql: query.sql, bindings: query.bindings ?? [] });
  testDb.db.on('query', record);
  try {
    await work();
  } finally {
    testDb.db.off('query', record);
  }
  const client = testDb.db.client as { acquireConnection(): Promise<{ query(sql: string, values: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }> }>; releaseConnection(c: unknown): Promise<void> };
  const connection = await client.acquireConnection();
  try {
    const plans = [];
    for (const { sql, bindings } of statements.filter((s) => !/^(begin|commit|rollback|savepoint|release)/i.test(s.sql))) {
      const result = await connection.query(`explain (format json) ${sql}`, bindings);
      const [explained] = result.rows[0]!['QUERY PLAN'] as Array<{ Plan: PlanNode }>;
      plans.push({ sql, nodes: nodesOf(explained!.Plan) });
    }
    return plans;
  } finally {
    await client.releaseConnection(connection);
  }
}

function expectNoSeqScan(plans: Array<{ sql: string; nodes: PlanNode[] }>, table: string): void {
  expect(plans.length).toBeGreaterThan(0);
  for (const { sql, nodes } of plans) {
    const scans = nodes.filter((n) => n['Node Type'] === 'Seq Scan' && n['Relation Name'] === table);
    expect(scans, `${sql}\n${JSON.stringify(nodes.map((n) => [n['Node Type'], n['Relation Name'], n['Index Name']]))}`).toEqual([]);
  }
}

function indexesUsed(plans: Array<{ nodes: PlanNode[] }>): string[] {
  return plans.flatMap((p) => p.nodes.map((n) => n['Index Name']).filter((name): name is string => !!name));
}

async function secondPage<T>(list: (page: PageRequest) => Promise<Page<T>>): Promise<string> {
  return (await list({ limit: 50 })).nextCursor!;
}

describe('the listings stay on indexes', () => {
  it('walks the account index for a person\'s sessions and grants, and the grant index for last use', async () => {
    const sessionCursor = await secondPage((page) => sessions.listByUser(HEAVY, page));
    const grantCursor = await secondPage((page) => grants.listByUser(HEAVY, page));
    const plans = [
      ...(await plansOf(() => sessions.listByUser(HEAVY, { limit: 50, cursor: sessionCursor }))),
      ...(await plansOf(() => grants.listByUser(HEAVY, { limit: 50, cursor: grantCursor }))),
      ...(await plansOf(() => sessions.listByUser(TYPICAL))),
      ...(await plansOf(() => grants.listByUser(TYPICAL))),
    ];
    expectNoSeqScan(plans, 'oidc_records');
    expect(indexesUsed(plans)).toEqual(expect.arrayContaining(['oidc_records_account_idx', 'oidc_records_grant_idx']));
  });

  it('walks the client grants index for an app\'s grants', async () => {
    const cursor = await secondPage((page) => grants.listByClient(APP, page));
    const plans = await plansOf(() => grants.listByClient(APP, { limit: 50, cursor }));
    expectNoSeqScan(plans, 'oidc_records');
    expect(indexesUsed(plans)).toContain('oidc_records_client_grants_idx');
  });

  it('finds a typical person\'s connected apps and revokes their grants by index', async () => {
    const plans = [
      ...(await plansOf(() => listConnectedApps(testDb.db, TYPICAL))),
      // Planned inside a transaction that is rolled back, so the seeded rows stay for the other tests.
      ...(await plansOf(() => testDb.db.transaction(async (trx) => {
        await grants.revokeForUserAndClient(TYPICAL, APP, trx);
        await grants.revoke(['g-2', 'n-7'], trx);
        await sessions.endAll(TYPICAL, {}, trx);
        throw new Error('roll back');
      }).catch(() => {}))),
    ];
    expectNoSeqScan(plans, 'oidc_records');
  });

  it.skipIf(!onPostgres)('searches people by prefix on the text_pattern_ops indexes, and pages them on (created_at, id)', async () => {
    const cursor = await secondPage((page) => users.list(page));
    const plans = [
      ...(await plansOf(() => users.list({ search: 'Person-123' }))),
      ...(await plansOf(() => users.list({ limit: 50, cursor }))),
    ];
    expectNoSeqScan(plans, 'users');
    expect(indexesUsed(plans)).toEqual(expect.arrayContaining(['users_email_prefix_idx', 'users_name_prefix_idx', 'users_created_at_id_idx']));
  });
});
