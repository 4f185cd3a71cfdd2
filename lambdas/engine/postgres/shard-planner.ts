/**
 * Splits a table into key ranges. Correctness never depends on where the boundaries fall: the first range
 * is open below and the last open above, so together they cover every key exactly once, including rows
 * inserted after planning. Boundaries only decide how evenly the work spreads.
 */
import type pg from 'pg';
import type { CatalogTable } from './catalog';
import type { KeyRange } from '../contracts';
import { InternalError, RunDocumentError } from '../errors';
import { quoteIdent } from './table-name';

/** Integer keys can be split into ranges with plain comparisons that use the primary key index. */
const SPLITTABLE_KEY_TYPES = new Set([20, 21, 23]); // int8, int2, int4

/** `auto` aims for about this much table (heap + indexes + toast) per shard. */
export const AUTO_BYTES_PER_SHARD = 256 * 1024 * 1024;
export const MAX_SHARDS_PER_TABLE = 512;

export interface SplitKey {
  name: string;
  pgType: string;
}

export function splitKeyOf(table: CatalogTable): SplitKey | null {
  if (table.primaryKey.length !== 1) return null;
  const [key] = table.primaryKey;
  return SPLITTABLE_KEY_TYPES.has(key.typeOid) ? { name: key.name, pgType: key.pgType } : null;
}

export function shardCountFor(requested: number | 'auto', table: CatalogTable): number {
  if (requested !== 'auto') return requested;
  return Math.min(MAX_SHARDS_PER_TABLE, Math.max(1, Math.ceil(table.heapBytes / AUTO_BYTES_PER_SHARD)));
}

/** Keys sampled to place the boundaries: plenty for 512 shards, cheap to sort. */
export const SAMPLE_KEYS = 100_000;
/** Below this many rows (by the catalog estimate) the boundaries come from every key, not a sample. */
const EXACT_BELOW_ROWS = 500_000;

/**
 * Ranges holding about the same number of rows each, placed on the real key distribution: the boundaries are
 * quantiles of the key (every key for small tables, a `TABLESAMPLE SYSTEM` of about SAMPLE_KEYS keys for large
 * ones), so gaps, negative and huge keys and skew all split evenly. The primary key is unique, so equal
 * quantiles mean equal row counts. Fewer ranges than asked when the keys are fewer, never an empty plan.
 * Tables without a single-column integer key are exported whole (one range); see `splitKeyOf`.
 */
export async function planRanges(client: pg.Client, table: CatalogTable, key: SplitKey | null, count: number, filter: string | null = null): Promise<KeyRange[]> {
  if (key === null || count <= 1) return [{ lo: null, hi: null }];
  // An incremental run splits only the rows it reads.
  const where = filter ? ` WHERE ${filter}` : '';
  const k = quoteIdent(key.name);
  const fractions = Array.from({ length: count - 1 }, (_, i) => (i + 1) / count);
  // As one comma-separated text: the engine's connections parse no types.
  const quantiles = `array_to_string(percentile_disc(ARRAY[${fractions.join(',')}]::float8[]) WITHIN GROUP (ORDER BY ${k})::text[], ',')`;
  // Before the first ANALYZE the catalog has no row estimate: guess from the size (table plus indexes, at least
  // about 200 bytes a row) rather than sort every key of a big table.
  const estimate = Math.max(table.estimatedRows, table.heapBytes / 200);
  let cuts: string | null = null;
  let min: string | null = null;
  if (estimate >= EXACT_BELOW_ROWS) {
    // SYSTEM sampling reads whole random pages: cheap, and with thousands of pages the quantiles are close.
    const percent = Math.min(100, Math.max(0.001, (100 * SAMPLE_KEYS) / estimate));
    const sampled = await client.query<{ cuts: string | null; min: string | null; n: string }>(
      `SELECT ${quantiles} AS cuts, min(${k})::text AS min, count(*)::text AS n FROM ${table.quoted} TABLESAMPLE SYSTEM (${percent}) REPEATABLE (7)${where}`,
    );
    // A sample far smaller than expected (stale statistics, a table emptied since) is not trusted.
    if (Number(sampled.rows[0].n) >= Math.min(SAMPLE_KEYS / 4, count * 20)) ({ cuts, min } = sampled.rows[0]);
  }
  if (cuts === null) {
    const exact = await client.query<{ cuts: string | null; min: string | null }>(
      `SELECT ${quantiles} AS cuts, min(${k})::text AS min FROM ${table.quoted}${where}`,
    );
    ({ cuts, min } = exact.rows[0]);
  }
  return rangesFromCuts(cuts ? cuts.split(',') : [], min);
}

/**
 * Ranges [-inf, c1), [c1, c2), ..., [cn, +inf) from candidate cuts: validated, sorted, duplicates dropped, and
 * cuts at or below the smallest key `min` dropped (they would only make an empty first range).
 */
export function rangesFromCuts(candidates: (string | null)[], min: string | null = null): KeyRange[] {
  const distinct = new Map<string, bigint>();
  for (const c of candidates) {
    if (c === null) continue;
    if (!/^-?\d{1,20}$/.test(c)) throw new InternalError(`bad key boundary ${JSON.stringify(c)}`);
    const v = BigInt(c);
    distinct.set(v.toString(), v);
  }
  const floor = min !== null && /^-?\d{1,20}$/.test(min) ? BigInt(min) : null;
  const cuts = [...distinct.values()].filter((c) => floor === null || c > floor).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const ranges: KeyRange[] = [];
  let previous: string | null = null;
  for (const cut of cuts) {
    ranges.push({ lo: previous, hi: cut.toString() });
    previous = cut.toString();
  }
  ranges.push({ lo: previous, hi: null });
  return ranges;
}

/**
 * The WHERE clause of a range, and of the run's `filter` (an incremental run's cursor condition). Bounds are
 * validated integers, so they can be inlined (COPY takes no parameters).
 */
export function rangePredicate(key: SplitKey | null, range: KeyRange, filter: string | null = null): string {
  const parts: string[] = filter ? [filter] : [];
  if (key === null) {
    if (range.lo !== null || range.hi !== null) throw new RunDocumentError('a bounded range needs a split key');
    return parts.length ? ` WHERE ${parts.join(' AND ')}` : '';
  }
  const k = quoteIdent(key.name);
  for (const [bound, op] of [
    [range.lo, '>='],
    [range.hi, '<'],
  ] as const) {
    if (bound === null) continue;
    if (!/^-?\d{1,20}$/.test(bound)) throw new RunDocumentError(`bad range bound ${JSON.stringify(bound)}`);
    parts.push(`${k} ${op} ${bound}`);
  }
  return parts.length ? ` WHERE ${parts.join(' AND ')}` : '';
}
