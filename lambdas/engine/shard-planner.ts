/**
 * Splits a table into key ranges. Correctness never depends on where the boundaries fall: the first range
 * is open below and the last open above, so together they cover every key exactly once, including rows
 * inserted after planning. Boundaries only decide how evenly the work spreads.
 */
import type pg from 'pg';
import type { CatalogTable } from './catalog';
import type { KeyRange } from './contracts';
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

/** Even ranges between the smallest and largest key. Fewer ranges than asked when the keys are fewer. */
export async function planRanges(client: pg.Client, table: CatalogTable, key: SplitKey | null, count: number): Promise<KeyRange[]> {
  if (key === null || count <= 1) return [{ lo: null, hi: null }];
  const k = quoteIdent(key.name);
  const bounds = await client.query<{ min: string | null; max: string | null }>(
    `SELECT min(${k})::text AS min, max(${k})::text AS max FROM ${table.quoted}`,
  );
  const { min, max } = bounds.rows[0];
  if (min === null || max === null) return [{ lo: null, hi: null }];
  const lo = BigInt(min);
  const span = BigInt(max) - lo + 1n;
  const n = BigInt(count) > span ? span : BigInt(count);
  const cuts: bigint[] = [];
  for (let i = 1n; i < n; i++) cuts.push(lo + (span * i) / n);
  const ranges: KeyRange[] = [];
  let previous: string | null = null;
  for (const cut of cuts) {
    ranges.push({ lo: previous, hi: cut.toString() });
    previous = cut.toString();
  }
  ranges.push({ lo: previous, hi: null });
  return ranges;
}

/** The WHERE clause of a range. Bounds are validated integers, so they can be inlined (COPY takes no parameters). */
export function rangePredicate(key: SplitKey | null, range: KeyRange): string {
  if (key === null) {
    if (range.lo !== null || range.hi !== null) throw new Error('a bounded range needs a split key');
    return '';
  }
  const k = quoteIdent(key.name);
  const parts: string[] = [];
  for (const [bound, op] of [
    [range.lo, '>='],
    [range.hi, '<'],
  ] as const) {
    if (bound === null) continue;
    if (!/^-?\d{1,20}$/.test(bound)) throw new Error(`bad range bound ${JSON.stringify(bound)}`);
    parts.push(`${k} ${op} ${bound}`);
  }
  return parts.length ? ` WHERE ${parts.join(' AND ')}` : '';
}
