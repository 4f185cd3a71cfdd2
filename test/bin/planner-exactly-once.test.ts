/**
 * Planning checked end to end through `runExport`: tables whose keys are sparse, skewed, negative and huge,
 * text, or missing each export every row exactly once (count and distinct key read back with DuckDB), the
 * integer-keyed ones split into shards of about the same size, from the real key distribution, and a table
 * with fewer shards than asked says why in its plan. (Every other shape: test/lambdas/engine/table-shapes.test.ts.)
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExport, type RunSummary } from '../../bin/commands/run';
import { type DuckDB, openDuckDB, readManifest } from '../../bin/local/duckdb-reader';
import type { TablePlan } from '../../lambdas/engine/contracts';
import { type RunningPostgres, startEmbeddedPostgres } from '../../bin/local/embedded-postgres';

const SHARDS = 6;

/** name -> [CREATE TABLE, INSERT, the expression that identifies a row in both Postgres and DuckDB] */
const TABLES: Record<string, { create: string; fill: string; key: string }> = {
  // 20,000 keys in two dense islands far apart plus a long sparse tail: min/max splitting leaves most shards empty.
  sparse: {
    create: 'CREATE TABLE plan.sparse (id bigint PRIMARY KEY, v text)',
    fill: `INSERT INTO plan.sparse SELECT k, 'v' || k FROM (
             SELECT g AS k FROM generate_series(1, 9000) g
             UNION ALL SELECT 1000000000000 + g FROM generate_series(1, 9000) g
             UNION ALL SELECT (g::bigint * 37) * 1000000000 FROM generate_series(1, 2000) g) s`,
    key: 'id',
  },
  // 95% of the rows in 1% of the key space.
  skewed: {
    create: 'CREATE TABLE plan.skewed (id integer PRIMARY KEY, v int)',
    fill: `INSERT INTO plan.skewed SELECT g, g FROM generate_series(1, 19000) g
           UNION ALL SELECT 19000 + g * 1000, g FROM generate_series(1, 1000) g`,
    key: 'id',
  },
  // Negative keys and both ends of int8.
  extremes: {
    create: 'CREATE TABLE plan.extremes (id bigint PRIMARY KEY)',
    fill: `INSERT INTO plan.extremes SELECT g * 461168601842738 FROM generate_series(-10000, 9999) g
           UNION ALL VALUES (-9223372036854775808), (9223372036854775807)
           ON CONFLICT DO NOTHING`,
    key: 'id',
  },
  smallkeys: {
    create: 'CREATE TABLE plan.smallkeys (id smallint PRIMARY KEY, v text)',
    fill: `INSERT INTO plan.smallkeys SELECT g, 'x' FROM generate_series(-32768, 32767, 7) g`,
    key: 'id',
  },
  // Fewer keys than shards.
  tiny: {
    create: 'CREATE TABLE plan.tiny (id int PRIMARY KEY)',
    fill: 'INSERT INTO plan.tiny VALUES (-5), (3)',
    key: 'id',
  },
  texts: {
    create: 'CREATE TABLE plan.texts (code text PRIMARY KEY, n int)',
    fill: `INSERT INTO plan.texts SELECT md5(g::text), g FROM generate_series(1, 5000) g`,
    key: 'code',
  },
  // No primary key at all, duplicate rows included: every physical row must arrive once.
  keyless: {
    create: 'CREATE TABLE plan.keyless (n int, v text)',
    fill: `INSERT INTO plan.keyless SELECT g % 4000, 'dup' FROM generate_series(1, 8000) g`,
    key: 'n',
  },
  empty: {
    create: 'CREATE TABLE plan.empty (id bigint PRIMARY KEY)',
    fill: 'SELECT 1',
    key: 'id',
  },
};

let postgres: RunningPostgres;
let duck: DuckDB;
let work: string;
let summary: RunSummary;

async function sql(client: pg.Client, text: string): Promise<pg.QueryResult> {
  return client.query(text);
}

beforeAll(async () => {
  [postgres, duck] = await Promise.all([startEmbeddedPostgres(), openDuckDB()]);
  work = await mkdtemp(join(tmpdir(), 'pgsip-planner-'));
  const client = new pg.Client(postgres.url);
  await client.connect();
  try {
    await sql(client, 'CREATE SCHEMA plan');
    for (const t of Object.values(TABLES)) {
      await sql(client, t.create);
      await sql(client, t.fill);
    }
    await sql(client, 'ANALYZE');
  } finally {
    await client.end();
  }
  // One run for every table: one state machine, one synthesis.
  summary = await runExport(
    {
      databaseUrl: postgres.url,
      tables: Object.keys(TABLES).map((t) => `plan.${t}`).join(','),
      dest: work,
      shards: String(SHARDS),
      concurrency: '3',
      compression: 'snappy',
      quiet: true,
    },
    () => {},
  );
});

afterAll(async () => {
  duck?.close();
  await postgres?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function sourceCounts(table: string, key: string): Promise<{ rows: number; distinct: number }> {
  const client = new pg.Client(postgres.url);
  await client.connect();
  try {
    const r = await client.query(`SELECT count(*)::int AS rows, count(DISTINCT ${key})::int AS distinct FROM plan.${table}`);
    return r.rows[0];
  } finally {
    await client.end();
  }
}

describe('planning: every row exactly once, shards balanced on the real keys', () => {
  for (const [name, t] of Object.entries(TABLES)) {
    it(`plan.${name}: the Parquet holds each source row once`, async () => {
      const entry = summary.commit.tables.find((x) => x.table === `"plan"."${name}"`)!;
      expect(entry).toBeDefined();
      const { manifest, source } = await readManifest(entry.manifest);
      const [back] = await duck.query(`SELECT count(*)::INTEGER AS rows, count(DISTINCT ${t.key})::INTEGER AS "distinct" FROM ${source}`);
      const expected = await sourceCounts(name, t.key);
      expect({ rows: Number(back.rows), distinct: Number(back.distinct) }).toEqual(expected);
      expect(manifest.rows).toBe(expected.rows);
      // The shards' ranges tile the key space: open at both ends, each starting where the previous ended.
      const ranges = manifest.shards.map((s) => s.range);
      expect(ranges[0].lo).toBeNull();
      expect(ranges.at(-1)!.hi).toBeNull();
      for (let i = 1; i < ranges.length; i++) expect(ranges[i].lo).toEqual(ranges[i - 1].hi);
    });
  }

  it('integer keys split into balanced shards despite gaps, skew and extreme keys', async () => {
    for (const name of ['sparse', 'skewed', 'extremes', 'smallkeys']) {
      const entry = summary.commit.tables.find((x) => x.table === `"plan"."${name}"`)!;
      const { manifest } = await readManifest(entry.manifest);
      expect(manifest.shards.length, name).toBe(SHARDS);
      const ideal = manifest.rows / SHARDS;
      for (const s of manifest.shards) {
        expect(s.rows, `${name} shard ${s.shard}`).toBeGreaterThan(ideal * 0.8);
        expect(s.rows, `${name} shard ${s.shard}`).toBeLessThan(ideal * 1.2);
      }
    }
  });

  it('fewer keys than shards gives fewer shards, and the plan says why; text keys and key-less tables split too', async () => {
    const planOf = async (name: string) => {
      const manifest = summary.commit.tables.find((x) => x.table === `"plan"."${name}"`)!.manifest;
      return JSON.parse(await readFile(manifest.replace(/_manifest\.json$/, '_plan.json'), 'utf8')) as TablePlan;
    };
    const tiny = await planOf('tiny');
    expect(tiny.shards).toHaveLength(2);
    expect(tiny.splitReason).toBe('only 2 row(s)');
    const empty = await planOf('empty');
    expect(empty.shards).toHaveLength(1);
    expect(empty.splitReason).toBe('the table is empty');
    // pgsip run holds one snapshot: a text key splits at its quantiles, a key-less table by page ranges.
    expect((await planOf('texts')).shards).toHaveLength(SHARDS);
    const keyless = await planOf('keyless');
    expect(keyless.split).toEqual({ by: 'pages' });
    expect(keyless.shards).toHaveLength(SHARDS);
    expect(keyless.splitReason).toBeUndefined();
  });
});
