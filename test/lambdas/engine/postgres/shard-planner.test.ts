/**
 * The planner's boundaries: quantiles of the real keys (exact for small tables, from a page sample for big
 * ones), so shards hold about the same number of rows whatever the key distribution; and the predicates that
 * read them back, inlined safely.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningPostgres, startEmbeddedPostgres } from '../../../../bin/local/embedded-postgres';
import { describeTable } from '../../../../lambdas/engine/postgres/catalog';
import { pageRanges, pagesUnavailable } from '../../../../lambdas/engine/postgres/page-ranges';
import { planSplit, rangePredicate, rangesFromBounds } from '../../../../lambdas/engine/postgres/shard-planner';
import { checkTypeName, predicateOf, quoteLiteral } from '../../../../lambdas/engine/postgres/split-predicate';

let postgres: RunningPostgres;
let client: pg.Client;

beforeAll(async () => {
  postgres = await startEmbeddedPostgres();
  client = new pg.Client(postgres.url);
  await client.connect();
  // 600,000 rows (sampled, not sorted in full): 90% packed in 1..540000, the rest spread up to ~10^15.
  await client.query(`
    CREATE TABLE big (id bigint PRIMARY KEY);
    INSERT INTO big SELECT g FROM generate_series(1, 540000) g;
    INSERT INTO big SELECT g::bigint * 16666666667 FROM generate_series(1, 60000) g;
    CREATE TABLE heap (n int);
    INSERT INTO heap SELECT g FROM generate_series(1, 20000) g;
    CREATE TABLE odd (k text PRIMARY KEY);
    INSERT INTO odd VALUES ('it''s'), ('back\\slash'), ('a,b'), ('"q"'), (''), ('x''); DROP TABLE odd; --');
    ANALYZE big; ANALYZE heap;`);
});

afterAll(async () => {
  await client?.end();
  await postgres?.stop();
});

/** Plan splits inside its snapshot's transaction. */
async function split(...args: Parameters<typeof planSplit>): ReturnType<typeof planSplit> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    return await planSplit(...args);
  } finally {
    await client.query('COMMIT');
  }
}

async function countsOf(table: string, where: string[]): Promise<number[]> {
  const out: number[] = [];
  for (const w of where) out.push((await client.query(`SELECT count(*)::int AS n FROM ${table}${w}`)).rows[0].n);
  return out;
}

describe('planSplit', () => {
  it('splits a big skewed table evenly from a page sample', async () => {
    const table = await describeTable(client, 'public.big');
    expect(table.estimatedRows).toBeGreaterThan(500_000);
    const { ranges, reason, splitKey } = await split(client, table, 8);
    expect(ranges).toHaveLength(8);
    expect(reason).toBeNull();
    const counts = await countsOf('big', ranges.map((r) => rangePredicate(splitKey, r)));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(600_000);
    // A page sample is not exact: each shard within 25% of the ideal 75,000 (min/max splitting gives 0 or 540,000+).
    for (const n of counts) {
      expect(n).toBeGreaterThan(75_000 * 0.75);
      expect(n).toBeLessThan(75_000 * 1.25);
    }
  });

  it('one range for a single shard; a key-less table splits by pages only with a shared snapshot, and says why not', async () => {
    const big = await describeTable(client, 'public.big');
    expect((await split(client, big, 1)).ranges).toEqual([{ lo: null, hi: null }]);
    const heap = await describeTable(client, 'public.heap');
    const without = await split(client, heap, 4);
    expect(without).toMatchObject({ split: { by: 'whole' }, ranges: [{ lo: null, hi: null }] });
    expect(without.reason).toMatch(/no shared snapshot/);
    const withSnapshot = await split(client, heap, 4, { snapshot: '00000003-00000002-1' });
    expect(withSnapshot.split).toEqual({ by: 'pages' });
    expect(withSnapshot.ranges).toHaveLength(4);
    const counts = await countsOf('heap', withSnapshot.ranges.map((r) => predicateOf({ by: 'pages' }, r)));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(20_000);
    for (const n of counts) expect(n).toBeGreaterThan(20_000 / 4 - 300);
  });

  it('says plainly why page ranges are out: a view, or a server before TID range scans', async () => {
    const heap = await describeTable(client, 'public.heap');
    const pg13 = { query: async () => ({ rows: [{ v: '130016' }] }) } as unknown as pg.Client;
    expect(await pagesUnavailable(pg13, heap, '00000003-00000002-1')).toBe(
      'no primary key, and page ranges (ctid) need TID range scans, which Postgres 13 does not have (14 and later do)',
    );
    expect(await pagesUnavailable(client, { ...heap, relkind: 'v' }, '00000003-00000002-1')).toBe('a view has no primary key or pages to split by');
  });

  it('text keys with quotes, backslashes and commas round-trip through the bounds', async () => {
    const table = await describeTable(client, 'public.odd');
    const { ranges, splitKey } = await split(client, table, 6);
    expect(ranges).toHaveLength(6);
    expect(await countsOf('odd', ranges.map((r) => rangePredicate(splitKey, r)))).toEqual([1, 1, 1, 1, 1, 1]);
    expect((await client.query('SELECT count(*)::int AS n FROM odd')).rows[0].n).toBe(6);
  });
});

describe('bounds and predicates', () => {
  it('drops repeated boundaries', () => {
    expect(rangesFromBounds(['-3', '10', '10', '11'])).toEqual([
      { lo: null, hi: '-3' },
      { lo: '-3', hi: '10' },
      { lo: '10', hi: '11' },
      { lo: '11', hi: null },
    ]);
    expect(rangesFromBounds([])).toEqual([{ lo: null, hi: null }]);
  });

  it('inlines integers as digits, other keys as quoted literals of the checked type, composites as row values', () => {
    expect(rangePredicate({ name: 'id', pgType: 'bigint' }, { lo: '-5', hi: null })).toBe(' WHERE "id" >= -5');
    expect(() => rangePredicate({ name: 'id', pgType: 'bigint' }, { lo: '1; DROP TABLE x', hi: null })).toThrow(/bad range bound/);
    expect(rangePredicate({ name: 'k', pgType: 'text' }, { lo: "it's", hi: 'a\\b' })).toBe(` WHERE "k" >= 'it''s'::text AND "k" < E'a\\\\b'::text`);
    expect(rangePredicate({ name: 't', pgType: 'timestamp(3) with time zone' }, { lo: null, hi: '2024-01-01 00:00:00+00' })).toBe(
      ` WHERE "t" < '2024-01-01 00:00:00+00'::timestamp(3) with time zone`,
    );
    const split = { by: 'key' as const, columns: [{ name: 'a', pgType: 'public."My Type"[]' }, { name: 'b', pgType: 'integer' }] };
    expect(predicateOf(split, { lo: ['{x}', '3'], hi: null }, '"c" >= 1')).toBe(` WHERE "c" >= 1 AND ("a", "b") >= ('{x}'::public."My Type"[], 3)`);
    expect(() => predicateOf(split, { lo: 'x', hi: null })).toThrow(/a key of 2 columns/);
    expect(predicateOf({ by: 'pages' }, { lo: '12', hi: '40' })).toBe(` WHERE ctid >= '(12,0)'::tid AND ctid < '(40,0)'::tid`);
    expect(() => predicateOf({ by: 'pages' }, { lo: '1,1', hi: null })).toThrow(/bad page bound/);
    expect(() => predicateOf({ by: 'whole' }, { lo: '1', hi: null })).toThrow(/needs a split key/);
    for (const bad of ["text'; --", 'int /* x */', 'a-b', 'x"y']) expect(() => checkTypeName(bad), bad).toThrow(/bad key type/);
    expect(quoteLiteral("o'k")).toBe("'o''k'");
  });

  it('places page cuts so each shard reads about the same pages over all leaf partitions', () => {
    // Leaves of 100, 10 and 10 pages: 120 pages, 40 a shard: [0, 20) of each leaf, then [20, 60) and [60, ...) of the big one.
    const ranges = pageRanges({ pages: [100, 10, 10] }, 3);
    expect(ranges).toEqual([
      { lo: null, hi: '20' },
      { lo: '20', hi: '60' },
      { lo: '60', hi: null },
    ]);
    expect(pageRanges({ pages: [1] }, 4)).toEqual([{ lo: null, hi: null }]);
    expect(pageRanges({ pages: [] }, 4)).toEqual([{ lo: null, hi: null }]);
    expect(pageRanges({ pages: [3] }, 8)).toHaveLength(3);
  });
});
