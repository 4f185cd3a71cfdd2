/**
 * The benchmark's two extra shapes, besides the orders table (orders-table.ts), generated deterministically:
 *
 * - `public.bench_wide`: 1,000 columns (bigint key, then integer, bigint, double precision, numeric(12,2),
 *   text, timestamptz, boolean and date in turn, a tenth of them NULL): what per-column costs weigh when a row
 *   holds few bytes per column;
 * - `public.bench_huge`: 10,000 small rows (bigint, bytea, text, jsonb) among which one 100 MB bytea, one 50 MB
 *   text and one 20 MB jsonb, in three rows: what a shard holds in memory around one huge value. The large
 *   values are md5 hex (decoded for the bytea), which neither TOAST nor SNAPPY shrinks.
 */
import type pg from 'pg';

export const WIDE_TABLE = 'public.bench_wide';
export const WIDE_COLUMNS = 1000;
export const HUGE_TABLE = 'public.bench_huge';
export const HUGE_ROWS = 10_000;
/** The largest value of the huge table, for docs/performance.md's memory bound (256 MB plus about twice it). */
export const HUGE_LARGEST_BYTES = 100 * 1024 * 1024;

const WIDE_TYPES: [string, (g: string, c: number) => string][] = [
  ['integer', (g, c) => `((${g} * ${c + 7}) % 1000000)::integer`],
  ['bigint', (g, c) => `(${g} * ${c + 104729})::bigint`],
  ['double precision', (g, c) => `(${g} * ${c + 1}) / 7.0::double precision`],
  ['numeric(12,2)', (g, c) => `((${g} * ${c + 7907}) % 10000000)::numeric / 100`],
  ['text', (g, c) => `'v' || (${g} % ${c + 50})`],
  ['timestamptz', (g, c) => `timestamptz '2024-01-01 00:00:00+00' + (${g} * ${c + 1}) * interval '1.000001 seconds'`],
  ['boolean', (g, c) => `(${g} + ${c}) % 3 = 0`],
  ['date', (g, c) => `date '2000-01-01' + ((${g} + ${c}) % 9000)::integer`],
];

export async function createWideTable(client: pg.Client, rows: number): Promise<void> {
  const columns = Array.from({ length: WIDE_COLUMNS - 1 }, (_, i) => ({ name: `c${i + 1}`, type: WIDE_TYPES[i % WIDE_TYPES.length], index: i + 1 }));
  await client.query(`DROP TABLE IF EXISTS ${WIDE_TABLE};
    CREATE TABLE ${WIDE_TABLE} (id bigint PRIMARY KEY, ${columns.map((c) => `${c.name} ${c.type[0]}`).join(', ')})`);
  const values = columns.map((c) => `CASE WHEN (g + ${c.index}) % 10 = 0 THEN NULL ELSE ${c.type[1]('g', c.index)} END`);
  const slice = 10_000;
  for (let from = 1; from <= rows; from += slice) {
    const to = Math.min(rows, from + slice - 1);
    await client.query(`INSERT INTO ${WIDE_TABLE} SELECT g, ${values.join(', ')} FROM generate_series(${from}::bigint, ${to}) AS g`);
  }
  await client.query(`VACUUM ANALYZE ${WIDE_TABLE}`);
}

export async function createHugeTable(client: pg.Client): Promise<void> {
  const hex = (bytes: number) => `(SELECT string_agg(md5(g::text), '') FROM generate_series(1, ${bytes / 32}) g)`;
  await client.query(`DROP TABLE IF EXISTS ${HUGE_TABLE};
    CREATE TABLE ${HUGE_TABLE} (id bigint PRIMARY KEY, b bytea, t text, j jsonb);
    ALTER TABLE ${HUGE_TABLE} ALTER COLUMN b SET STORAGE EXTERNAL, ALTER COLUMN t SET STORAGE EXTERNAL, ALTER COLUMN j SET STORAGE EXTERNAL;
    INSERT INTO ${HUGE_TABLE} SELECT g, decode(md5(g::text), 'hex'), 'text ' || g, jsonb_build_object('g', g) FROM generate_series(1, ${HUGE_ROWS}) g;
    UPDATE ${HUGE_TABLE} SET b = decode(${hex(2 * HUGE_LARGEST_BYTES)}, 'hex') WHERE id = 2500;
    UPDATE ${HUGE_TABLE} SET t = ${hex(HUGE_LARGEST_BYTES / 2)} WHERE id = 5000;
    UPDATE ${HUGE_TABLE} SET j = jsonb_build_object('doc', ${hex(HUGE_LARGEST_BYTES / 5)}) WHERE id = 7500;`);
  await client.query(`VACUUM ANALYZE ${HUGE_TABLE}`);
}
