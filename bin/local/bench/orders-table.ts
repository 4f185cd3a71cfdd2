/**
 * The benchmark table: the orders shape of docs/architecture.md ("Measured") (bigint, int, timestamptz, numeric(12,2), text,
 * nullable text, jsonb), generated deterministically from `generate_series`.
 */
import type pg from 'pg';

export const BENCH_TABLE = 'public.bench_orders';

export async function createOrdersTable(client: pg.Client, rows: number): Promise<void> {
  await createOrdersShape(client, BENCH_TABLE, rows);
}

/**
 * A table of the orders shape, `rows` rows; with `updatedAt`, an indexed `updated_at` cursor too (each row's
 * `ordered_at`): the incremental row's mutable table (incremental-run.ts).
 */
export async function createOrdersShape(client: pg.Client, table: string, rows: number, options: { updatedAt?: boolean } = {}): Promise<void> {
  await client.query(`
    DROP TABLE IF EXISTS ${table};
    CREATE TABLE ${table} (
      id          bigint PRIMARY KEY,
      customer_id integer NOT NULL,
      ordered_at  timestamptz NOT NULL,
      amount      numeric(12,2) NOT NULL,
      sku         text NOT NULL,
      note        text,
      details     jsonb NOT NULL${options.updatedAt ? ',\n      updated_at  timestamptz NOT NULL' : ''}
    )`);
  const orderedAt = `timestamptz '2024-01-01 00:00:00+00' + g * interval '1.000001 seconds'`;
  // Loaded in slices so that one INSERT never holds millions of rows in a sort or a hash.
  const slice = 1_000_000;
  for (let from = 1; from <= rows; from += slice) {
    const to = Math.min(rows, from + slice - 1);
    await client.query(`
      INSERT INTO ${table}
      SELECT g,
             1 + (g * 7919) % 100000,
             ${orderedAt},
             ((g * 7907) % 10000000)::numeric / 100,
             'SKU-' || (g % 5000),
             CASE WHEN g % 3 = 0 THEN NULL WHEN g % 3 = 1 THEN 'gift wrap 🎁 #' || g ELSE '' END,
             jsonb_build_object('qty', 1 + g % 9, 'price', ((g * 7907) % 10000000)::numeric / 100, 'tags', jsonb_build_array('a', 'b'))${options.updatedAt ? `,\n             ${orderedAt}` : ''}
        FROM generate_series(${from}::bigint, ${to}) AS g`);
  }
  // The cursor's index: what an incremental run's `updated_at >= watermark` reads by, as on any table synced this way.
  if (options.updatedAt) await client.query(`CREATE INDEX ON ${table} (updated_at)`);
  await client.query(`VACUUM ANALYZE ${table}`);
}
