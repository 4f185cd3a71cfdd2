/**
 * Splits a table into shards (docs/architecture.md, "Shard planning"). Correctness never depends on where the
 * boundaries fall: the first range is open below and the last open above, so together they cover every row
 * exactly once, including rows inserted after planning. Boundaries only decide how evenly the work spreads.
 *
 * - A primary key of one column, of any type with a default btree order (integers, uuid, text, numeric,
 *   timestamps, dates, enums, ...), splits at quantiles of the key; a composite key at quantiles of its row
 *   value, `(a, b) >= (x, y)`. Bounds are the values' Postgres text forms (lambdas/engine/postgres/split-predicate.ts).
 * - A table without one splits by `ctid` page ranges when the run holds one snapshot (page-ranges.ts).
 * - Otherwise, and whenever fewer shards come out than were asked for, the plan says why (`splitReason`).
 */
import type pg from 'pg';
import type { CatalogTable } from './catalog';
import type { KeyRange, RangeBound, SplitColumn, SplitPlan } from '../contracts';
import { InternalError } from '../errors';
import { quoteIdent } from './table-name';
import { isIntegerKey } from './split-predicate';
import { pageLayout, pageRanges, pagesUnavailable } from './page-ranges';

export { rangePredicate, shardPredicate } from './split-predicate';

/** `auto` aims for about this much table (heap + indexes + toast; a partitioned table's leaves) per shard. */
export const AUTO_BYTES_PER_SHARD = 256 * 1024 * 1024;
export const MAX_SHARDS_PER_TABLE = 512;

export type SplitKey = SplitColumn;

/** The primary key's columns in key order, or null without one. */
export function splitColumnsOf(table: CatalogTable): SplitKey[] | null {
  return table.primaryKey.length === 0 ? null : table.primaryKey.map((k) => ({ name: k.name, pgType: k.pgType }));
}

export function shardCountFor(requested: number | 'auto', table: CatalogTable): number {
  if (requested !== 'auto') return requested;
  return Math.min(MAX_SHARDS_PER_TABLE, Math.max(1, Math.ceil(table.heapBytes / AUTO_BYTES_PER_SHARD)));
}

/** Keys sampled to place the boundaries: plenty for 512 shards, cheap to sort. */
export const SAMPLE_KEYS = 100_000;
/** Below this many rows (by the catalog estimate) the boundaries come from every key, not a sample. */
const EXACT_BELOW_ROWS = 500_000;

export interface TableSplit {
  /** The split key when it is one column, for `TablePlan.splitKey`. */
  splitKey: SplitKey | null;
  split: SplitPlan;
  ranges: KeyRange[];
  /** Why there are fewer ranges than `count`, or null. */
  reason: string | null;
}

export interface SplitOptions {
  /** The rows an incremental run reads (its cursor condition): only they are split. */
  filter?: string | null;
  /** The run's shared snapshot, if it holds one: page ranges need it. */
  snapshot?: string;
}

/** How to split `table` into about `count` shards. */
export async function planSplit(client: pg.Client, table: CatalogTable, count: number, options: SplitOptions = {}): Promise<TableSplit> {
  const whole: KeyRange[] = [{ lo: null, hi: null }];
  const columns = splitColumnsOf(table);
  if (columns) {
    const split: SplitPlan = { by: 'key', columns };
    const splitKey = columns.length === 1 ? columns[0] : null;
    if (count <= 1) return { splitKey, split, ranges: whole, reason: null };
    const planned = await keyRanges(client, table, columns, count, options.filter ?? null);
    if (planned === null) {
      const types = columns.map((c) => c.pgType).join(', ');
      return { splitKey: null, split: { by: 'whole' }, ranges: whole, reason: `the primary key's type (${types}) has no default btree order to split by` };
    }
    return { splitKey, split, ranges: planned.ranges, reason: planned.ranges.length < count ? planned.reason : null };
  }
  if (count <= 1) return { splitKey: null, split: { by: 'whole' }, ranges: whole, reason: null };
  const unavailable = await pagesUnavailable(client, table, options.snapshot);
  if (unavailable) return { splitKey: null, split: { by: 'whole' }, ranges: whole, reason: unavailable };
  const layout = await pageLayout(client, table);
  const ranges = pageRanges(layout, count);
  const pages = layout.pages.reduce((a, b) => a + b, 0);
  if (ranges.length === 1) return { splitKey: null, split: { by: 'whole' }, ranges: whole, reason: pages === 0 ? 'the table is empty' : `the table has only ${pages} page(s)` };
  return { splitKey: null, split: { by: 'pages' }, ranges, reason: ranges.length < count ? `the table has only ${pages} page(s)` : null };
}

/**
 * Ranges holding about the same number of rows each, placed on the real key distribution: the boundaries are
 * quantiles of the key in its order (every key for small tables, a `TABLESAMPLE SYSTEM` of about SAMPLE_KEYS
 * keys for large ones), so gaps, negative and huge keys and skew all split evenly. The primary key is unique,
 * so equal quantiles mean equal row counts. The order is the key's own:
 * its default btree order, text under the column's collation, exactly what the ranges' comparisons use. Fewer
 * ranges than asked when the keys are fewer, never an empty plan. Null when the key's type has no default
 * btree order.
 */
async function keyRanges(client: pg.Client, table: CatalogTable, key: SplitKey[], count: number, filter: string | null): Promise<{ ranges: KeyRange[]; reason: string } | null> {
  // An incremental run splits only the rows it reads.
  const where = filter ? ` WHERE ${filter}` : '';
  const alias = key.map((_, i) => `c${i}`);
  const order = alias.join(', ');
  const columns = key.map((k, i) => `${quoteIdent(k.name)} AS c${i}`).join(', ');
  // As JSON text: the engine's connections parse no types, and text keys may hold any character. One column:
  // the percentiles (one sort, no window); several: the first row value of each ntile.
  // The 0th percentile is the smallest key (min() is not defined for every ordered type: uuid has none). The
  // others lean a hair up, so each is the first key after the i-th n/count keys (as the ntiles' are): 6 keys
  // in 6 shards make 6 ranges, where i/count itself would give the 1st key twice.
  const fractions = Array.from({ length: count }, (_, i) => (i === 0 ? 0 : i / count + 1e-12));
  const quantiles = (from: string) =>
    key.length === 1
      ? `SELECT n, p[1] AS min, array_to_json(p[2:])::text AS cuts
           FROM (SELECT count(*)::text AS n, percentile_disc(ARRAY[${fractions.join(',')}]::float8[]) WITHIN GROUP (ORDER BY c0)::text[] AS p
                   FROM (SELECT ${columns} FROM ${from}${where}) s) q`
      : `SELECT coalesce(max(n), 0)::text AS n, NULL::text AS min,
                (json_agg(json_build_array(${alias.map((a) => `${a}::text`).join(', ')}) ORDER BY tile) FILTER (WHERE tile > 1))::text AS cuts
           FROM (SELECT DISTINCT ON (tile) tile, n, ${order}
                   FROM (SELECT ${order}, ntile(${Math.trunc(count)}) OVER (ORDER BY ${order}) AS tile, count(*) OVER () AS n
                           FROM (SELECT ${columns} FROM ${from}${where}) s) o
                  ORDER BY tile, ${order}) f`;
  // Before the first ANALYZE the catalog has no row estimate: guess from the size (table plus indexes, at least
  // about 200 bytes a row) rather than sort every key of a big table.
  const estimate = Math.max(table.estimatedRows, table.heapBytes / 200);
  const run = async () => {
    if (estimate >= EXACT_BELOW_ROWS) {
      // SYSTEM sampling reads whole random pages: cheap, and with thousands of pages the quantiles are close.
      const percent = Math.min(100, Math.max(0.001, (100 * SAMPLE_KEYS) / estimate));
      const sampled = await client.query<{ cuts: string | null; n: string; min: string | null }>(quantiles(`${table.quoted} TABLESAMPLE SYSTEM (${percent}) REPEATABLE (7)`));
      // A sample far smaller than expected (stale statistics, a table emptied since) is not trusted.
      const n = Number(sampled.rows[0].n);
      if (n >= Math.min(SAMPLE_KEYS / 4, count * 20)) return { ...sampled.rows[0], rows: n, sampled: true };
    }
    const exact = await client.query<{ cuts: string | null; n: string; min: string | null }>(quantiles(table.quoted));
    return { ...exact.rows[0], rows: Number(exact.rows[0].n), sampled: false };
  };
  let found: Awaited<ReturnType<typeof run>>;
  if (key.length === 1 && isIntegerKey(key[0])) found = await run();
  else {
    // A type without a default btree order cannot be sorted: said in the plan, not a failed run.
    await client.query('SAVEPOINT pgsip_split');
    try {
      found = await run();
      await client.query('RELEASE SAVEPOINT pgsip_split');
    } catch (error) {
      const e = error as { code?: string; message?: string };
      if (e.code !== '42883' || !/ordering operator/.test(e.message ?? '')) throw error;
      await client.query('ROLLBACK TO SAVEPOINT pgsip_split');
      return null;
    }
  }
  // A cut at the smallest key would only make an empty first range.
  const ranges = rangesFromBounds(boundsOf(found.cuts, key.length).filter((b) => found.min === null || b !== found.min));
  const reason = found.sampled
    ? `the key's sampled quantiles gave ${ranges.length} distinct boundaries`
    : found.rows === 0
      ? filter
        ? 'no rows to read'
        : 'the table is empty'
      : `only ${found.rows} row(s)${filter ? ' to read' : ''}`;
  return { ranges, reason };
}

/**
 * The planner's JSON list of boundaries as range bounds: a string each for a one-column key (from a list of
 * strings), a list of strings each for more (from a list of key tuples).
 */
export function boundsOf(json: string | null, width: number): Exclude<RangeBound, null>[] {
  if (json === null) return [];
  const list = JSON.parse(json) as unknown;
  if (!Array.isArray(list)) throw new InternalError('bad key boundaries from the planner');
  return list.map((t) => {
    if (width === 1 ? typeof t !== 'string' : !Array.isArray(t) || t.length !== width || t.some((v) => typeof v !== 'string')) {
      throw new InternalError(`bad key boundary ${JSON.stringify(t)}`);
    }
    return t as string | string[];
  });
}

/**
 * Ranges [-inf, c1), [c1, c2), ..., [cn, +inf) from boundaries already in key order; a boundary equal to the
 * one before it is dropped (it would only make an empty range).
 */
export function rangesFromBounds(cuts: Exclude<RangeBound, null>[]): KeyRange[] {
  const ranges: KeyRange[] = [];
  let previous: RangeBound = null;
  for (const cut of cuts) {
    if (previous !== null && JSON.stringify(previous) === JSON.stringify(cut)) continue;
    ranges.push({ lo: previous, hi: cut });
    previous = cut;
  }
  ranges.push({ lo: previous, hi: null });
  return ranges;
}
