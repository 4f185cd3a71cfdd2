/**
 * The planner's boundaries: quantiles of the real keys (exact for small tables, from a page sample for big
 * ones), so shards hold about the same number of rows whatever the key distribution.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningPostgres, startEmbeddedPostgres } from '../../../../bin/local/embedded-postgres';
import { describeTable } from '../../../../lambdas/engine/postgres/catalog';
import { planRanges, rangePredicate, rangesFromCuts, splitKeyOf } from '../../../../lambdas/engine/postgres/shard-planner';

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
    ANALYZE big;`);
});

afterAll(async () => {
  await client?.end();
  await postgres?.stop();
});

async function countsOf(table: string, ranges: Awaited<ReturnType<typeof planRanges>>): Promise<number[]> {
  const out: number[] = [];
  for (const r of ranges) {
    const res = await client.query(`SELECT count(*)::int AS n FROM ${table}${rangePredicate({ name: 'id', pgType: 'bigint' }, r)}`);
    out.push(res.rows[0].n);
  }
  return out;
}

describe('planRanges', () => {
  it('splits a big skewed table evenly from a page sample', async () => {
    const table = await describeTable(client, 'public.big');
    expect(table.estimatedRows).toBeGreaterThan(500_000);
    const ranges = await planRanges(client, table, splitKeyOf(table), 8);
    expect(ranges).toHaveLength(8);
    const counts = await countsOf('big', ranges);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(600_000);
    // A page sample is not exact: each shard within 25% of the ideal 75,000 (min/max splitting gives 0 or 540,000+).
    for (const n of counts) {
      expect(n).toBeGreaterThan(75_000 * 0.75);
      expect(n).toBeLessThan(75_000 * 1.25);
    }
  });

  it('one range for a single shard or a table without an integer key', async () => {
    const table = await describeTable(client, 'public.big');
    expect(await planRanges(client, table, splitKeyOf(table), 1)).toEqual([{ lo: null, hi: null }]);
    expect(await planRanges(client, table, null, 8)).toEqual([{ lo: null, hi: null }]);
  });
});

describe('rangesFromCuts', () => {
  it('sorts, dedupes and drops cuts at or below the smallest key', () => {
    expect(rangesFromCuts(['10', '-3', '10', '-9223372036854775808', '9223372036854775807'], '-9223372036854775808')).toEqual([
      { lo: null, hi: '-3' },
      { lo: '-3', hi: '10' },
      { lo: '10', hi: '9223372036854775807' },
      { lo: '9223372036854775807', hi: null },
    ]);
    expect(rangesFromCuts([])).toEqual([{ lo: null, hi: null }]);
  });

  it('refuses anything but an integer', () => {
    expect(() => rangesFromCuts(['1; DROP TABLE x'])).toThrow(/bad key boundary/);
  });
});
