/**
 * A run is no longer bounded by Step Functions' 256 KB state: the shard list travels in a file the Map reads
 * itself (ItemReader), and the local runner serves it from the same definition. 2,000 shards of one table,
 * every row exactly once.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExport } from '../../bin/commands/run';
import { type DuckDB, openDuckDB, readManifest } from '../../bin/local/duckdb-reader';
import { type RunningPostgres, startEmbeddedPostgres } from '../../bin/local/embedded-postgres';

const ROWS = 20_000;
let postgres: RunningPostgres;
let duck: DuckDB;
let work: string;

beforeAll(async () => {
  [postgres, duck] = await Promise.all([startEmbeddedPostgres(), openDuckDB()]);
  work = await mkdtemp(join(tmpdir(), 'pgsip-scale-'));
  const client = new pg.Client(postgres.url);
  await client.connect();
  await client.query(`CREATE TABLE public.many (id bigint PRIMARY KEY, v text); INSERT INTO public.many SELECT g, 'v' || g FROM generate_series(1, ${ROWS}) g; ANALYZE public.many;`);
  await client.end();
});
afterAll(async () => {
  duck?.close();
  await postgres?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a run of 2,000 shards', () => {
  it('completes locally through the deployed definition, every row exactly once', { timeout: 240_000 }, async () => {
    const summary = await runExport(
      { databaseUrl: postgres.url, tables: 'public.many', dest: work, shards: '2000', concurrency: '8', compression: 'snappy', runId: 'wide', quiet: true },
      () => {},
    );
    expect(summary.shards).toBe(2000);
    const [table] = summary.commit.tables;
    expect(table.rows).toBe(ROWS);
    // The shard list is a file of the run, far over the 256 KB a state may hold.
    expect((await stat(join(work, '_runs', 'wide', '_shards.json'))).size).toBeGreaterThan(256 * 1024);
    const { manifest, source } = await readManifest(table.manifest);
    expect(manifest.shards).toHaveLength(2000);
    const [counted] = await duck.query(`SELECT count(*)::INT AS n, count(DISTINCT id)::INT AS k, min(id)::INT AS lo, max(id)::INT AS hi FROM ${source}`);
    expect(counted).toEqual({ n: ROWS, k: ROWS, lo: 1, hi: ROWS });
    expect(dirname(table.manifest)).toBe(join(work, 'public', 'many', 'run=wide'));
  });
});
