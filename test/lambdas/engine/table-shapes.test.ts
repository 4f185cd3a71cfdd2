/**
 * Every table shape splits (docs/architecture.md, "Shard planning"), driven through the shipped phases
 * (planRun, exportShard, commitRun) on a real Postgres: uuid, text under an ICU and the C collation, varchar,
 * numeric, timestamptz, timestamp(3) and composite keys split by key ranges; key-less and partitioned tables (with and
 * without a key) by key or page ranges under the run's held snapshot. Between Plan and Export rows are
 * updated, deleted and inserted; the committed parts must hold each row of the snapshot exactly once (count
 * and distinct identity, read back with DuckDB), and `pgsip verify` must pass. A key-less table without a
 * shared snapshot is one shard, and its plan says why.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyRun } from '../../../bin/commands/verify';
import { type DuckDB, openDuckDB, readManifest } from '../../../bin/local/duckdb-reader';
import { type RunningPostgres, startEmbeddedPostgres } from '../../../bin/local/embedded-postgres';
import { commitRun } from '../../../lambdas/engine/commit-run';
import type { PlanResult, TablePlan } from '../../../lambdas/engine/contracts';
import { LocalFolderDestination } from '../../../lambdas/engine/destinations/local-folder';
import { type EngineEnvironment, silentLog } from '../../../lambdas/engine/environment';
import { exportShard } from '../../../lambdas/engine/export-shard';
import { planRun } from '../../../lambdas/engine/plan-run';
import { describeTable } from '../../../lambdas/engine/postgres/catalog';
import { connect, targetFromUrl } from '../../../lambdas/engine/postgres/connection';
import { type HeldSnapshot, holdSnapshot } from '../../../lambdas/engine/postgres/snapshot';
import { readShardList } from '../../../lambdas/engine/run/documents';

const SHARDS = 4;

/** name -> the table, its rows, what changes between Plan and Export, and what identifies a row (Postgres and DuckDB alike). */
const SHAPES: Record<string, { create: string; fill: string; change: string; id: string; split: 'key' | 'pages' }> = {
  uuids: {
    create: 'CREATE TABLE shapes.uuids (id uuid PRIMARY KEY, v text)',
    fill: `INSERT INTO shapes.uuids SELECT gen_random_uuid(), 'v' || g FROM generate_series(1, 4000) g`,
    change: `UPDATE shapes.uuids SET v = v || '!' WHERE v LIKE '%7'; DELETE FROM shapes.uuids WHERE v LIKE '%3';
             INSERT INTO shapes.uuids SELECT gen_random_uuid(), 'new' FROM generate_series(1, 500)`,
    id: 'id',
    split: 'key',
  },
  // An ICU collation orders case and punctuation unlike C: bounds compared under another collation than the
  // quantiles' would overlap or leave gaps.
  texts_icu: {
    create: 'CREATE TABLE shapes.texts_icu (code text COLLATE "en-x-icu" PRIMARY KEY, v int)',
    fill: `INSERT INTO shapes.texts_icu SELECT CASE g % 4 WHEN 0 THEN upper(md5(g::text)) WHEN 1 THEN '_' || md5(g::text)
             WHEN 2 THEN 'Ä' || md5(g::text) ELSE md5(g::text) || ' it''s' END, g FROM generate_series(1, 4000) g`,
    change: `UPDATE shapes.texts_icu SET v = -v WHERE v % 5 = 0; DELETE FROM shapes.texts_icu WHERE v % 7 = 0;
             INSERT INTO shapes.texts_icu SELECT 'b' || md5(g::text), g FROM generate_series(5001, 5600) g`,
    id: 'code',
    split: 'key',
  },
  texts_c: {
    create: 'CREATE TABLE shapes.texts_c (code varchar(40) COLLATE "C" PRIMARY KEY, v int)',
    fill: `INSERT INTO shapes.texts_c SELECT CASE g % 2 WHEN 0 THEN upper(md5(g::text)) ELSE md5(g::text) END, g FROM generate_series(1, 4000) g`,
    change: `DELETE FROM shapes.texts_c WHERE v % 9 = 0; INSERT INTO shapes.texts_c SELECT 'Z' || g, g FROM generate_series(1, 300) g`,
    id: 'code',
    split: 'key',
  },
  numerics: {
    create: 'CREATE TABLE shapes.numerics (id numeric(20,6) PRIMARY KEY, v text)',
    fill: `INSERT INTO shapes.numerics SELECT (g - 2000) * 1.234567, 'v' FROM generate_series(1, 4000) g`,
    change: `UPDATE shapes.numerics SET v = 'u' WHERE id > 0; INSERT INTO shapes.numerics SELECT g + 0.5, 'new' FROM generate_series(1, 300) g`,
    id: 'id',
    split: 'key',
  },
  stamps: {
    create: 'CREATE TABLE shapes.stamps (ts timestamptz PRIMARY KEY, v int)',
    fill: `INSERT INTO shapes.stamps SELECT '2020-01-01 00:00:00+00'::timestamptz + g * interval '1 hour 0.000123 sec', g FROM generate_series(1, 4000) g`,
    change: `DELETE FROM shapes.stamps WHERE v % 4 = 0; INSERT INTO shapes.stamps SELECT '2019-06-01 00:00:00.5+00'::timestamptz + g * interval '1 day', g FROM generate_series(1, 200) g`,
    id: 'ts',
    split: 'key',
  },
  // A typmod in the cast: '…'::timestamp(3) without time zone.
  local_stamps: {
    create: 'CREATE TABLE shapes.local_stamps (ts timestamp(3) PRIMARY KEY, v int)',
    fill: `INSERT INTO shapes.local_stamps SELECT TIMESTAMP '1999-12-31 23:00:00' + g * interval '7 minutes 0.125 sec', g FROM generate_series(1, 4000) g`,
    change: `UPDATE shapes.local_stamps SET v = 0 WHERE v % 2 = 0; INSERT INTO shapes.local_stamps SELECT TIMESTAMP '2100-01-01' + g * interval '1 ms', g FROM generate_series(1, 100) g`,
    id: 'ts',
    split: 'key',
  },
  // Few distinct leading values: only the row value (region, day, n) splits it evenly.
  composite: {
    create: 'CREATE TABLE shapes.composite (region text, day date, n int, v text, PRIMARY KEY (region, day, n))',
    fill: `INSERT INTO shapes.composite SELECT r, DATE '2024-01-01' + d, n, 'v'
             FROM unnest(ARRAY['eu', 'us', 'ap']) r, generate_series(0, 29) d, generate_series(1, 50) n`,
    change: `UPDATE shapes.composite SET v = 'u' WHERE n % 3 = 0; DELETE FROM shapes.composite WHERE n = 7;
             INSERT INTO shapes.composite SELECT 'eu', DATE '2024-01-05', n, 'new' FROM generate_series(51, 400) n`,
    id: '(region, day, n)',
    split: 'key',
  },
  // No key, and `n` unique only by construction: an UPDATE moves a row to another page (ctid).
  heap: {
    create: 'CREATE TABLE shapes.heap (n int, v text)',
    fill: `INSERT INTO shapes.heap SELECT g, 'same' FROM generate_series(1, 6000) g`,
    change: `UPDATE shapes.heap SET v = 'moved' WHERE n <= 2000; DELETE FROM shapes.heap WHERE n % 10 = 0;
             INSERT INTO shapes.heap SELECT g, 'new' FROM generate_series(10001, 10500) g`,
    id: 'n',
    split: 'pages',
  },
  events: {
    create: `CREATE TABLE shapes.events (id bigint PRIMARY KEY, v text) PARTITION BY RANGE (id);
             CREATE TABLE shapes.events_a PARTITION OF shapes.events FOR VALUES FROM (MINVALUE) TO (1000);
             CREATE TABLE shapes.events_b PARTITION OF shapes.events FOR VALUES FROM (1000) TO (5000);
             CREATE TABLE shapes.events_c PARTITION OF shapes.events FOR VALUES FROM (5000) TO (MAXVALUE)`,
    fill: `INSERT INTO shapes.events SELECT g, 'v' FROM generate_series(1, 6000) g`,
    change: `UPDATE shapes.events SET v = 'u' WHERE id % 2 = 0; INSERT INTO shapes.events SELECT g, 'new' FROM generate_series(6001, 7000) g`,
    id: 'id',
    split: 'key',
  },
  logs: {
    create: `CREATE TABLE shapes.logs (n int, v text) PARTITION BY RANGE (n);
             CREATE TABLE shapes.logs_small PARTITION OF shapes.logs FOR VALUES FROM (MINVALUE) TO (2001);
             CREATE TABLE shapes.logs_big PARTITION OF shapes.logs FOR VALUES FROM (2001) TO (MAXVALUE)`,
    fill: `INSERT INTO shapes.logs SELECT g, 'same' FROM generate_series(1, 8000) g`,
    change: `UPDATE shapes.logs SET v = 'moved' WHERE n % 3 = 0; INSERT INTO shapes.logs SELECT g, 'new' FROM generate_series(8001, 9000) g`,
    id: 'n',
    split: 'pages',
  },
};

let postgres: RunningPostgres;
let duck: DuckDB;
let work: string;
let env: EngineEnvironment;
let admin: pg.Client;
/** Per table: rows and distinct identities in the run's snapshot. */
const expected = new Map<string, { rows: number; distinct: number }>();
const warnings: Record<string, unknown>[] = [];

async function counts(name: string, client: pg.Client = admin): Promise<{ rows: number; distinct: number }> {
  const r = await client.query(`SELECT count(*)::int AS rows, count(DISTINCT ${SHAPES[name].id})::int AS distinct FROM shapes.${name}`);
  return r.rows[0];
}

async function exportAll(p: PlanResult, snapshot?: string): Promise<void> {
  for (const task of await readShardList(env.destination, p.items)) await exportShard(snapshot ? { ...task, snapshot } : task, env);
}

async function planOf(name: string, runId: string): Promise<TablePlan> {
  return JSON.parse(await readFile(join(work, 'shapes', name, `run=${runId}`, '_plan.json'), 'utf8')) as TablePlan;
}

async function readBack(name: string, runId: string) {
  const { manifest, source } = await readManifest(join(work, 'shapes', name, `run=${runId}`, '_manifest.json'));
  const [back] = await duck.query(`SELECT count(*)::INTEGER AS rows, count(DISTINCT ${SHAPES[name].id})::INTEGER AS "distinct" FROM ${source}`);
  return { manifest, rows: Number(back.rows), distinct: Number(back.distinct) };
}

beforeAll(async () => {
  [postgres, duck] = await Promise.all([startEmbeddedPostgres(), openDuckDB()]);
  work = await mkdtemp(join(tmpdir(), 'pgsip-shapes-'));
  const target = targetFromUrl(postgres.url);
  env = {
    destination: new LocalFolderDestination(work),
    connect: (name) => connect(target, { applicationName: name }),
    log: { ...silentLog, warn: (message, fields) => warnings.push({ message, ...fields }) },
  };
  admin = new pg.Client(postgres.url);
  await admin.connect();
  await admin.query('CREATE SCHEMA shapes');
  for (const t of Object.values(SHAPES)) {
    await admin.query(t.create);
    await admin.query(t.fill);
  }
  await admin.query('ANALYZE');
});

afterAll(async () => {
  await admin?.end();
  duck?.close();
  await postgres?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('every table shape in parallel, exactly once under the run snapshot', () => {
  const runId = 'shapes-snapshot';
  let held: HeldSnapshot;

  beforeAll(async () => {
    for (const name of Object.keys(SHAPES)) expected.set(name, await counts(name));
    held = await holdSnapshot(await env.connect('test snapshot'));
    const p = await planRun({ input: { tables: Object.keys(SHAPES).map((n) => `shapes.${n}`), shards: SHARDS, runId, snapshot: held.id } }, env);
    // Between Plan and Export: rows updated (moved to other pages), deleted and inserted.
    for (const t of Object.values(SHAPES)) await admin.query(t.change);
    await exportAll(p, held.id);
    await commitRun({ runId }, env);
  });
  afterAll(async () => held?.release());

  for (const name of Object.keys(SHAPES)) {
    it(`shapes.${name}: ${SHARDS} shards by ${SHAPES[name].split}, each snapshot row once`, async () => {
      const plan = await planOf(name, runId);
      expect(plan.split?.by).toBe(SHAPES[name].split);
      expect(plan.splitReason).toBeUndefined();
      const { manifest, rows, distinct } = await readBack(name, runId);
      expect(manifest.shards).toHaveLength(SHARDS);
      expect(manifest.consistency).toBe('snapshot');
      expect({ rows, distinct }).toEqual(expected.get(name));
      expect(await counts(name)).not.toEqual(expected.get(name)); // the changes happened, and were not read
      const ideal = rows / SHARDS;
      for (const s of manifest.shards) {
        expect(s.rows, `shard ${s.shard}`).toBeGreaterThan(ideal * (plan.split?.by === 'pages' ? 0.6 : 0.9));
        expect(s.rows, `shard ${s.shard}`).toBeLessThan(ideal * (plan.split?.by === 'pages' ? 1.4 : 1.1));
      }
      // Only integer keys have a key sum; the rest are checked by count.
      expect(manifest.splitKey).toBe(name === 'events' ? 'id' : null);
    });
  }

  it('bounds are text forms of the key (a list of them for a composite key) or page numbers', async () => {
    expect((await planOf('composite', runId)).shards[1].range.lo).toEqual(['ap', expect.stringMatching(/^2024-01-\d\d$/), expect.stringMatching(/^\d+$/)]);
    expect((await planOf('uuids', runId)).shards[1].range.lo).toMatch(/^[0-9a-f-]{36}$/);
    expect((await planOf('stamps', runId)).shards[1].range.lo).toMatch(/^2020-\d\d-\d\d \d\d:\d\d:\d\d\.\d+\+00$/);
    expect((await planOf('heap', runId)).shards[1].range.lo).toMatch(/^\d+$/);
  });

  it('the ICU-collated key split in ICU order: the same bounds under C would select other rows', async () => {
    const plan = await planOf('texts_icu', runId);
    const { manifest } = await readBack('texts_icu', runId);
    const under = async (collation: string) => {
      const out: number[] = [];
      for (const { range } of plan.shards) {
        const where = `($1::text IS NULL OR code >= $1::text COLLATE "${collation}") AND ($2::text IS NULL OR code < $2::text COLLATE "${collation}")`;
        const r = await admin.query(`SELECT count(*)::int AS n FROM shapes.texts_icu WHERE ${where}`, [range.lo, range.hi]);
        out.push(r.rows[0].n);
      }
      return out;
    };
    const now = await under('en-x-icu');
    expect(now.reduce((a, b) => a + b, 0)).toBe((await counts('texts_icu')).rows);
    expect(await under('C')).not.toEqual(now);
    expect(manifest.shards.map((s) => s.rows).reduce((a, b) => a + b, 0)).toBe(expected.get('texts_icu')!.rows);
  });

  it('pgsip verify passes for every shape', async () => {
    const verified = await verifyRun({ dest: work, runId }, () => {});
    expect(verified.map((v) => v.table).sort()).toEqual(Object.keys(SHAPES).map((n) => `"shapes"."${n}"`).sort());
  });

  it('a partitioned table is sized from its leaf partitions', async () => {
    const events = await describeTable(admin, 'shapes.events');
    const leaves = await admin.query(`SELECT sum(pg_total_relation_size(relid))::text AS b FROM pg_partition_tree('shapes.events') WHERE isleaf`);
    expect(events.heapBytes).toBe(Number(leaves.rows[0].b));
    expect(events.heapBytes).toBeGreaterThan(0);
  });
});

describe('without a shared snapshot', () => {
  it('a key-less table is one shard, and the plan and the log say why; keyed tables still split', async () => {
    const runId = 'shapes-no-snapshot';
    warnings.length = 0;
    const p = await planRun({ input: { tables: ['shapes.heap', 'shapes.logs', 'shapes.uuids'], shards: SHARDS, runId } }, env);
    for (const name of ['heap', 'logs']) {
      const plan = await planOf(name, runId);
      expect(plan.shards).toHaveLength(1);
      expect(plan.split).toEqual({ by: 'whole' });
      expect(plan.splitReason).toMatch(/no primary key, and the run reads no shared snapshot/);
      expect(warnings).toContainEqual(expect.objectContaining({ message: 'fewer shards than asked', table: `"shapes"."${name}"`, asked: SHARDS, shards: 1 }));
    }
    expect((await planOf('uuids', runId)).shards).toHaveLength(SHARDS);
    await exportAll(p);
    await commitRun({ runId }, env);
    for (const name of ['heap', 'logs', 'uuids']) {
      const { rows, distinct } = await readBack(name, runId);
      expect({ rows, distinct }).toEqual(await counts(name));
    }
    await verifyRun({ dest: work, runId }, () => {});
  });

  it('fewer keys than shards: the plan says how many rows there were', async () => {
    await admin.query(`CREATE TABLE shapes.two (id uuid PRIMARY KEY); INSERT INTO shapes.two SELECT gen_random_uuid() FROM generate_series(1, 2)`);
    const runId = 'shapes-two';
    await planRun({ input: { tables: ['shapes.two'], shards: SHARDS, runId } }, env);
    const plan = JSON.parse(await readFile(join(work, 'shapes', 'two', `run=${runId}`, '_plan.json'), 'utf8')) as TablePlan;
    expect(plan.shards).toHaveLength(2);
    expect(plan.splitReason).toBe('only 2 row(s)');
  });
});

describe('page ranges and a resumed run', () => {
  it('a page-split table resumed on another snapshot is read again whole on it, exactly once', async () => {
    const runId = 'shapes-resume';
    const first = await holdSnapshot(await env.connect('first snapshot'));
    const input = { tables: ['shapes.heap'], shards: SHARDS, runId };
    const p = await planRun({ input: { ...input, snapshot: first.id } }, env);
    const tasks = await readShardList(env.destination, p.items);
    await exportShard({ ...tasks[0], snapshot: first.id }, env);
    await exportShard({ ...tasks[1], snapshot: first.id }, env);
    await first.release();
    // Rows move between the snapshots: shards 0 and 1 of the first and 2 and 3 of the second would read them twice.
    await admin.query(`UPDATE shapes.heap SET v = v || '+' WHERE n <= 3000`);
    const second = await holdSnapshot(await env.connect('second snapshot'));
    try {
      // Export refuses a page shard without the run's snapshot, and Plan a resumed run without one.
      await expect(exportShard(tasks[2], env)).rejects.toThrow(/split by page ranges, which read each row once only when every shard reads the run's one snapshot/);
      await expect(planRun({ input }, env)).rejects.toThrow(/split by page ranges, which need the run's one snapshot, and this execution holds none/);
      warnings.length = 0;
      const again = await planRun({ input: { ...input, snapshot: second.id } }, env);
      expect(warnings).toContainEqual(expect.objectContaining({ table: '"shapes"."heap"', shards: 2, of: SHARDS }));
      const want = await counts('heap');
      await exportAll(again, second.id);
      await commitRun({ runId }, env);
      const { manifest, rows, distinct } = await readBack('heap', runId);
      expect({ rows, distinct }).toEqual(want);
      expect(manifest.consistency).toBe('snapshot');
      await verifyRun({ dest: work, runId }, () => {});
    } finally {
      await second.release();
    }
  });

  it('Commit refuses page-split shards that read different snapshots', async () => {
    const runId = 'shapes-mixed';
    const first = await holdSnapshot(await env.connect('first snapshot'));
    const second = await holdSnapshot(await env.connect('second snapshot'));
    try {
      const p = await planRun({ input: { tables: ['shapes.heap'], shards: SHARDS, runId, snapshot: first.id } }, env);
      const tasks = await readShardList(env.destination, p.items);
      for (const [i, task] of tasks.entries()) await exportShard({ ...task, snapshot: i === 0 ? first.id : second.id }, env);
      await expect(commitRun({ runId }, env)).rejects.toThrow(/its page-range shards read different snapshots .* nothing committed/);
    } finally {
      await first.release();
      await second.release();
    }
  });
});
