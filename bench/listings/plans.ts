// How bench/listings.ts measures one listing: the real store method timed over warm runs, then
// every statement it sent (captured from knex's query event) explained with EXPLAIN (ANALYZE,
// BUFFERS, FORMAT JSON) as the same parameterised statement, and its plan read for indexes,
// sequential scans, buffers and time.
import type pg from 'pg';
import type { Database } from '../../src/db/knex.js';
import { median } from '../stats.js';

/** Tables a listing must never read whole. */
export const GUARDED_TABLES = ['oidc_records', 'users', 'audit_events'];

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

export interface StatementReport {
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

export interface Case {
  name: string;
  /** What the listing walks, for the table: "grants of user 1 (10,000)". */
  scope: string;
  table: string;
  run: () => Promise<{ items: unknown[] }>;
}

export interface CaseReport {
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

export function caseJson(r: CaseReport): Record<string, unknown> {
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

/** `runs` timed calls after two warm ones, then one more whose statements are explained. */
export async function measure(db: Database, client: pg.Client, c: Case, tableRows: number, runs: number): Promise<CaseReport> {
  for (let i = 0; i < 2; i += 1) await c.run();
  const times: number[] = [];
  let items = 0;
  for (let i = 0; i < runs; i += 1) {
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
