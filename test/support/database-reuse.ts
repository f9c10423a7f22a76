// Test databases handed from one file to the next (test/support/database.ts). A copy of the
// migrated template and its drop cost PostgreSQL a checkpoint each: about 0.2 s of its CPU and half
// a second of the file's time. Emptying a database a file is done with costs about half the CPU and
// under half the time, so a worker keeps those it can empty and hands them to its next file.
// Whatever is kept when the run ends is dropped by the global setup (test/support/test-databases.ts).
//
// A database is only handed on when nothing but what its tables hold tells it from a fresh copy,
// and nothing else is connected to it; test/support/database.test.ts holds that contract.
import { setTimeout } from 'node:timers/promises';
import { createDatabase } from '../../src/db/knex.js';
import { MIGRATIONS_TABLE } from '../../src/db/migrate.js';

/** The databases this worker's files are done with, emptied for the next file. */
const emptied: string[] = [];
/** The shape (SHAPE) of a fresh copy of the template, taken from this worker's first copy. */
let pristine: Promise<string> | undefined;

/** A database an earlier file of this worker's was done with, emptied; undefined if none. */
export function takeEmptied(): string | undefined {
  return emptied.pop();
}

/** Takes the shape of a fresh copy, from this worker's first, before its test can change it. */
export async function knowFreshCopy(url: string): Promise<void> {
  pristine ??= shapeOf(url).catch((error: unknown) => {
    pristine = undefined;
    throw error;
  });
  await pristine;
}

/** Empties the database `name` at `url` and keeps it for the next file; false if it must be dropped. */
export async function keepEmptied(name: string, url: string): Promise<boolean> {
  if (!(await emptyForReuse(url))) return false;
  emptied.push(name);
  return true;
}

/**
 * Everything about a database a test could change that emptying its tables would not undo, as
 * one digest: relations and their options and owners, columns, constraints, indexes, triggers,
 * functions and their bodies, types, sequences' parameters, schemas, extensions, policies, rules
 * and views, comments, large objects, the database's own settings, the migrations recorded and
 * their lock, and any planner statistics (an ANALYZE, or autovacuum's, would steer the next
 * file's plans). Temporary schemas are left out: they outlive their sessions, empty.
 */
const SHAPE = `select md5(string_agg(item, E'\\n' order by item)) from (
  select concat_ws(' ', 'relation', c.oid::regclass, c.relkind, c.relpersistence, c.relrowsecurity, c.relforcerowsecurity, c.relreplident,
      c.relowner::regrole, c.relacl, c.reloptions) as item
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast') and n.nspname not like 'pg\\_temp\\_%' and n.nspname not like 'pg\\_toast\\_temp\\_%'
  union all select concat_ws(' ', 'column', a.attrelid::regclass, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
      a.attisdropped, a.attidentity, a.attgenerated, a.attcollation, a.attstattarget, a.attoptions, a.attacl, pg_get_expr(d.adbin, d.adrelid))
    from pg_attribute a join pg_class c on c.oid = a.attrelid left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
   where c.relnamespace = 'public'::regnamespace and a.attnum > 0
  union all select concat_ws(' ', 'constraint', conrelid::regclass, conname, pg_get_constraintdef(oid)) from pg_constraint where connamespace = 'public'::regnamespace
  union all select concat_ws(' ', 'index', pg_get_indexdef(i.indexrelid)) from pg_index i join pg_class c on c.oid = i.indrelid where c.relnamespace = 'public'::regnamespace
  union all select concat_ws(' ', 'trigger', pg_get_triggerdef(oid), tgenabled) from pg_trigger where not tgisinternal
  union all select concat_ws(' ', 'event trigger', evtname, evtevent, evtenabled, evtfoid::regproc, evttags) from pg_event_trigger
  union all select concat_ws(' ', 'function', oid::regprocedure, md5(prosrc), proconfig) from pg_proc
   where pronamespace not in ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
  union all select concat_ws(' ', 'type', oid::regtype) from pg_type where typnamespace = 'public'::regnamespace and typrelid = 0
  union all select concat_ws(' ', 'enum', enumtypid::regtype, enumsortorder, enumlabel) from pg_enum
  union all select concat_ws(' ', 'sequence', seqrelid::regclass, seqtypid, seqstart, seqincrement, seqmax, seqmin, seqcache, seqcycle) from pg_sequence
  union all select concat_ws(' ', 'schema', nspname, nspowner::regrole, nspacl) from pg_namespace where nspname not like 'pg\\_temp\\_%' and nspname not like 'pg\\_toast\\_temp\\_%'
  union all select concat_ws(' ', 'extension', extname, extversion) from pg_extension
  union all select concat_ws(' ', 'policy', polrelid::regclass, polname, polcmd, polpermissive, polroles, pg_get_expr(polqual, polrelid),
      pg_get_expr(polwithcheck, polrelid)) from pg_policy
  union all select concat_ws(' ', 'rule', r.ev_class::regclass, r.rulename, md5(pg_get_ruledef(r.oid))) from pg_rewrite r join pg_class c on c.oid = r.ev_class
   where c.relnamespace = 'public'::regnamespace
  union all select concat_ws(' ', 'comment', classoid, objoid, objsubid, description) from pg_description where objoid >= 16384
  union all select concat_ws(' ', 'large objects', count(*)) from pg_largeobject_metadata
  union all select concat_ws(' ', 'database', datconnlimit, datallowconn, datacl) from pg_database where datname = current_database()
  union all select concat_ws(' ', 'setting', setrole, setconfig) from pg_db_role_setting where setdatabase = (select oid from pg_database where datname = current_database())
  union all select concat_ws(' ', 'migrations', count(*), (select string_agg(is_locked::text, ',') from ${MIGRATIONS_TABLE}_lock)) from ${MIGRATIONS_TABLE}
  union all select concat_ws(' ', 'statistics', tablename, attname) from pg_stats where schemaname = 'public'
  union all select concat_ws(' ', 'extended statistics', stxname) from pg_statistic_ext
) shape`;

async function shapeOf(url: string): Promise<string> {
  const db = createDatabase({ url, embeddedDir: null, poolMax: 1 });
  try {
    return (await db.raw<{ rows: Array<{ shape: string }> }>(`select (${SHAPE}) as shape`)).rows[0]!.shape;
  } finally {
    await db.destroy();
  }
}

/**
 * The tables whose rows, pages, planner size or sequences tell them from a fresh copy: those a
 * test wrote to, whether or not the rows are still there.
 */
const WRITTEN_TO = `select quote_ident(c.relname) as name from pg_class c
  where c.relnamespace = 'public'::regnamespace and c.relkind = 'r' and not starts_with(c.relname, '${MIGRATIONS_TABLE}')
    and (pg_relation_size(c.oid) > 0 or c.reltuples <> -1 or exists (
      select from pg_depend d join pg_class s on s.oid = d.objid and s.relkind = 'S'
       where d.classid = 'pg_class'::regclass and d.refclassid = 'pg_class'::regclass and d.refobjid = c.oid
         -- The case keeps the planner from asking it of a relation not yet known to be a sequence.
         and d.deptype in ('a', 'i') and case when s.relkind = 'S' then pg_sequence_last_value(s.oid) end is not null))`;

/**
 * Empties a database a file is done with, if nothing but what its tables hold tells it from a
 * fresh copy and nothing else stays connected to it; false (and nothing emptied) otherwise, or if
 * anything fails: the caller then drops it. TRUNCATE, not DELETE, and only of the tables written
 * to: each table truncated costs PostgreSQL new files for it and its indexes, and gets the size
 * and identity sequences of a fresh copy. The activity counters autovacuum decides by are reset.
 */
async function emptyForReuse(url: string): Promise<boolean> {
  const db = createDatabase({ url, embeddedDir: null, poolMax: 1 });
  try {
    const expected = await pristine!;
    // A connection still open could be a process or server of the test's, which would go on
    // writing into the next file's database. One just closed can take a moment to leave the
    // server's list (pg closes its socket without waiting for an answer in flight).
    for (let look = 1; ; look += 1) {
      const { rows: [others] } = await db.raw<{ rows: Array<{ connected: boolean }> }>(
        'select exists (select from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()) as connected',
      );
      if (!others!.connected) break;
      if (look === LOOKS_FOR_OTHERS) return false;
      await setTimeout(LOOK_AGAIN_MS);
    }
    const { rows: [found] } = await db.raw<{ rows: Array<{ shape: string }> }>(`select (${SHAPE}) as shape`);
    if (found!.shape !== expected) return false;
    const written = (await db.raw<{ rows: Array<{ name: string }> }>(WRITTEN_TO)).rows.map((row) => row.name);
    if (written.length > 0) await db.raw(`truncate table ${written.join(', ')} restart identity cascade`);
    // Only a superuser (or a role granted it) may reset the counters autovacuum goes by; without,
    // an autovacuum may come sooner in the next file, and its statistics have the database
    // dropped at that file's end.
    await db.raw('select pg_stat_reset()').catch(() => undefined);
    return true;
  } catch {
    // Whatever went wrong, the database is dropped instead, as every database was before.
    return false;
  } finally {
    await db.destroy();
  }
}

/** How often, and how far apart, emptyForReuse looks for connections still leaving. */
const LOOKS_FOR_OTHERS = 20;
const LOOK_AGAIN_MS = 25;
