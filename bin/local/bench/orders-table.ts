/**
 * The benchmark table: the orders shape of docs/architecture.md ("Measured") (bigint, int, timestamptz, numeric(12,2), text,
 * nullable text, jsonb), generated deterministically from `generate_series`.
 */
import type pg from 'pg';

export const BENCH_TABLE = 'public.bench_orders';

export async function createOrdersTable(client: pg.Client, rows: number): Promise<void> {
  await client.query(`
    DROP TABLE IF EXISTS public.bench_orders;
    CREATE TABLE public.bench_orders (
      id          bigint PRIMARY KEY,
      customer_id integer NOT NULL,
      ordered_at  timestamptz NOT NULL,
      amount      numeric(12,2) NOT NULL,
      sku         text NOT NULL,
      note        text,
      details     jsonb NOT NULL
    )`);
  // Loaded in slices so that one INSERT never holds millions of rows in a sort or a hash.
  const slice = 1_000_000;
  for (let from = 1; from <= rows; from += slice) {
    const to = Math.min(rows, from + slice - 1);
    await client.query(`
      INSERT INTO public.bench_orders
      SELECT g,
             1 + (g * 7919) % 100000,
             timestamptz '2024-01-01 00:00:00+00' + g * interval '1.000001 seconds',
             ((g * 7907) % 10000000)::numeric / 100,
             'SKU-' || (g % 5000),
             CASE WHEN g % 3 = 0 THEN NULL WHEN g % 3 = 1 THEN 'gift wrap 🎁 #' || g ELSE '' END,
             jsonb_build_object('qty', 1 + g % 9, 'price', ((g * 7907) % 10000000)::numeric / 100, 'tags', jsonb_build_array('a', 'b'))
        FROM generate_series(${from}::bigint, ${to}) AS g`);
  }
  await client.query('VACUUM ANALYZE public.bench_orders');
}
