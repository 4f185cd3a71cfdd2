/**
 * Tables without a primary key split by `ctid` page ranges: `ctid >= '(p,0)'::tid AND ctid < '(q,0)'::tid`,
 * which Postgres 14+ reads with a TID range scan (only the pages of the range). The first range is open below,
 * the last open above, so rows on pages added after planning are read too.
 *
 * A row's ctid is where it is stored, and an UPDATE moves it: page ranges read each row once only when every
 * shard reads one snapshot, the run's shared one. Without one (`--no-snapshot`, `holdSnapshot: false`) the
 * table is one shard, and the plan says why.
 *
 * A partitioned table splits by the same page numbers in every leaf partition (each leaf scans its own pages
 * of the range). The cuts are placed on the leaves' sizes together: shard i reads the pages [c_i, c_i+1) of
 * every leaf, so the cuts make the sum over leaves of min(c, pages) rise by the same amount per shard.
 */
import type pg from 'pg';
import type { KeyRange } from '../contracts';
import type { CatalogTable } from './catalog';

/** TID range scans (Postgres 14): without them a page range would scan the whole table. */
const TID_RANGE_SCAN_SINCE = 140000;

export interface PageLayout {
  /** The table's pages, or each leaf partition's. */
  pages: number[];
}

/**
 * Why this table cannot be split by pages, or null when it can: the run must hold one snapshot, the server
 * must scan TID ranges, and the table (every leaf partition) must be stored in pages of its own.
 */
export async function pagesUnavailable(client: pg.Client, table: CatalogTable, snapshot: string | undefined): Promise<string | null> {
  if (!['r', 'p', 'm'].includes(table.relkind)) return `a ${table.relkind === 'v' ? 'view' : 'foreign table'} has no primary key or pages to split by`;
  if (!snapshot) {
    return 'no primary key, and the run reads no shared snapshot (--no-snapshot, holdSnapshot: false): page ranges (ctid) would read a row an UPDATE moves between shards twice or not at all';
  }
  const version = await client.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
  if (Number(version.rows[0].v) < TID_RANGE_SCAN_SINCE) {
    return `no primary key, and page ranges (ctid) need TID range scans, which Postgres ${Math.floor(Number(version.rows[0].v) / 10000)} does not have (14 and later do)`;
  }
  if (table.relkind === 'p') {
    const other = await client.query<{ name: string; relkind: string }>(
      `SELECT t.relid::regclass::text AS name, c.relkind::text AS relkind FROM pg_partition_tree($1::oid) t JOIN pg_class c ON c.oid = t.relid
        WHERE t.isleaf AND c.relkind <> 'r' LIMIT 1`,
      [table.oid],
    );
    if (other.rows.length > 0) return `no primary key, and partition ${other.rows[0].name} is not a plain table (relkind ${other.rows[0].relkind}): page ranges cannot cover it`;
  }
  return null;
}

/** The table's size in pages now (a leaf partition each), from `pg_relation_size` and the block size. */
export async function pageLayout(client: pg.Client, table: CatalogTable): Promise<PageLayout> {
  const sql =
    table.relkind === 'p'
      ? `SELECT (pg_relation_size(t.relid) / current_setting('block_size')::bigint)::text AS pages FROM pg_partition_tree($1::oid) t WHERE t.isleaf`
      : `SELECT (pg_relation_size($1::oid) / current_setting('block_size')::bigint)::text AS pages`;
  const result = await client.query<{ pages: string }>(sql, [table.oid]);
  return { pages: result.rows.map((r) => Number(r.pages)) };
}

/**
 * Up to `count` page ranges over the layout, each about the same number of pages (all leaves together).
 * Fewer when there are fewer pages than shards.
 */
export function pageRanges(layout: PageLayout, count: number): KeyRange[] {
  const total = layout.pages.reduce((a, b) => a + b, 0);
  const largest = Math.max(0, ...layout.pages);
  // Pages of all leaves below block c.
  const below = (c: number) => layout.pages.reduce((n, p) => n + Math.min(c, p), 0);
  const cuts: number[] = [];
  for (let i = 1; i < count; i++) {
    const target = (total * i) / count;
    // The smallest block c with at least `target` pages below it.
    let lo = 0;
    let hi = largest;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (below(mid) >= target) hi = mid;
      else lo = mid + 1;
    }
    // A cut at block 0 would make an empty first range, one at the end an empty last one.
    if (lo > 0 && lo < largest && lo !== cuts.at(-1)) cuts.push(lo);
  }
  const ranges: KeyRange[] = [];
  let previous: string | null = null;
  for (const cut of cuts) {
    ranges.push({ lo: previous, hi: String(cut) });
    previous = String(cut);
  }
  ranges.push({ lo: previous, hi: null });
  return ranges;
}
