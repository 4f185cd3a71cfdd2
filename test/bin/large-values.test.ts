/**
 * Large values (a 24 MB bytea, a 12 MB text, a 6 MB jsonb, and a row holding two of them) among small ones,
 * exported by `pgsip run` as a child process: every value comes back byte for byte through DuckDB, each large
 * value in a row group of its own, and the process's peak RSS stays well within docs/performance.md's bound (256 MB
 * plus about twice the largest value). The bound asserted is generous; the figure is printed. The benchmark
 * measures the same with a 100 MB value (`pgsip bench`, "huge values").
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { measureChild } from '../../bin/local/bench/measure';
import { type DuckDB, openDuckDB, readManifest } from '../../bin/local/duckdb-reader';
import { type RunningPostgres, startEmbeddedPostgres } from '../../bin/local/embedded-postgres';

const CLI = fileURLToPath(new URL('../../bin/pgsip.js', import.meta.url));
const MB = 1024 * 1024;
const LARGEST = 24 * MB;

let postgres: RunningPostgres;
let duck: DuckDB;
let work: string;
let source: Record<string, unknown>[];

const DIGESTS = `id::text AS id, md5(b) AS b, md5(t) AS t, md5(j::text) AS j`;

beforeAll(async () => {
  [postgres, duck] = await Promise.all([startEmbeddedPostgres(), openDuckDB()]);
  work = await mkdtemp(join(tmpdir(), 'pgsip-large-'));
  const client = new pg.Client(postgres.url);
  await client.connect();
  // md5 hex decoded: incompressible bytes, so neither TOAST nor SNAPPY makes the values small.
  const hex = (bytes: number) => `(SELECT string_agg(md5(g::text), '') FROM generate_series(1, ${bytes / 32}) g)`;
  await client.query(`
    CREATE TABLE public.large (id bigint PRIMARY KEY, b bytea, t text, j jsonb);
    ALTER TABLE public.large ALTER COLUMN b SET STORAGE EXTERNAL, ALTER COLUMN t SET STORAGE EXTERNAL, ALTER COLUMN j SET STORAGE EXTERNAL;
    INSERT INTO public.large SELECT g, decode(md5(g::text), 'hex'), CASE WHEN g % 7 = 0 THEN NULL ELSE 'text ' || g END, jsonb_build_object('g', g)
      FROM generate_series(1, 3000) g;
    UPDATE public.large SET b = decode(${hex(2 * LARGEST)}, 'hex') WHERE id = 700;
    UPDATE public.large SET t = ${hex(LARGEST / 2)} WHERE id = 1500;
    UPDATE public.large SET j = jsonb_build_object('doc', ${hex(LARGEST / 4)}) WHERE id = 2200;
    UPDATE public.large SET b = decode(${hex(LARGEST / 2)}, 'hex'), t = ${hex(LARGEST / 4)} WHERE id = 2201;`);
  source = (await client.query(`SELECT ${DIGESTS} FROM public.large ORDER BY id`)).rows;
  await client.end();
});

afterAll(async () => {
  duck?.close();
  await postgres?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('large values', () => {
  it.each([
    ['portable, SNAPPY (V1 pages)', []],
    ['native, UNCOMPRESSED (V2 pages)', ['--types', 'native', '--compression', 'uncompressed']],
  ])('come back byte for byte, in row groups of their own, in bounded memory: %s', async (name, extra) => {
    const dest = join(work, name.replace(/[^a-z0-9]+/gi, '-'));
    const measured = await measureChild(process.execPath, [CLI, 'run', '--tables', 'public.large', '--dest', dest, '--shards', '1', '--run-id', 'large', '--quiet', ...extra], {
      env: { ...process.env, DATABASE_URL: postgres.url, PGSIP_FAULT: '' },
    });
    const { source: parts, manifest } = await readManifest(join(dest, 'public', 'large', 'run=large', '_manifest.json'));
    expect(manifest.rows).toBe(3000);
    const back = await duck.query(`SELECT id::VARCHAR AS id, md5(b) AS b, md5(t) AS t, md5(j::VARCHAR) AS j FROM ${parts} ORDER BY id`);
    expect(back).toEqual(source);
    // Each large value closed its row group: the rows before it, then it alone (with the rest of its chunk).
    const groups = await duck.query(
      `SELECT row_group_id::INT AS g, min(stats_min_value) AS lo FROM parquet_metadata(${parts.slice('read_parquet('.length, -1)}) WHERE path_in_schema = 'id' GROUP BY 1 ORDER BY 1`,
    );
    expect(groups.length).toBeGreaterThanOrEqual(5);
    const peakMB = (measured.peakRssBytes ?? 0) / MB;
    console.log(`large values, ${name}: peak RSS ${peakMB.toFixed(0)} MB (largest value ${LARGEST / MB} MB), ${measured.seconds.toFixed(1)} s`);
    if (measured.peakRssBytes !== null) expect(peakMB).toBeLessThan(256 + 4 * (LARGEST / MB));
  });
});
