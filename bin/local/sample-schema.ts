/**
 * The demo's sample shop: customers and purchase orders, with the shapes that break exporters (money as
 * numeric, timestamps with time zone and microseconds, jsonb, nullable and multi-byte text, an enum).
 * Generated deterministically from `generate_series`, so every demo holds the same data.
 */
import type pg from 'pg';

export const SAMPLE_TABLES = ['shop.customers', 'shop.orders'] as const;

export async function createSampleSchema(client: pg.Client, orders: number): Promise<void> {
  const customers = Math.max(1, Math.ceil(orders / 10));
  await client.query(`
    DROP SCHEMA IF EXISTS shop CASCADE;
    CREATE SCHEMA shop;
    CREATE TYPE shop.order_status AS ENUM ('pending', 'paid', 'shipped', 'cancelled');
    CREATE TABLE shop.customers (
      id         bigint PRIMARY KEY,
      name       text NOT NULL,
      email      text,
      country    char(2) NOT NULL,
      vip        boolean NOT NULL,
      created_at timestamptz NOT NULL
    );
    CREATE TABLE shop.orders (
      id          bigint PRIMARY KEY,
      customer_id bigint NOT NULL,
      quantity    integer NOT NULL,
      status      shop.order_status NOT NULL,
      amount      numeric(12,2) NOT NULL,
      ordered_at  timestamptz NOT NULL,
      note        text,
      details     jsonb NOT NULL
    );`);
  await client.query(`
    INSERT INTO shop.customers
    SELECT g,
           'Customer ' || g,
           CASE WHEN g % 10 = 0 THEN NULL ELSE 'customer' || g || '@example.com' END,
           (ARRAY['US', 'DE', 'FR', 'JP', 'BR', 'IN'])[1 + g % 6],
           g % 50 = 0,
           timestamptz '2019-01-01 00:00:00+00' + g * interval '17 minutes 3.123457 seconds'
      FROM generate_series(1::bigint, ${customers}) AS g`);
  await client.query(`
    INSERT INTO shop.orders
    SELECT g,
           1 + (g * 7919) % ${customers},
           1 + g % 9,
           (enum_range(NULL::shop.order_status))[1 + g % 4],
           ((g * 7907) % 10000000)::numeric / 100,
           timestamptz '2024-01-01 00:00:00+00' + g * interval '1.000001 seconds',
           CASE WHEN g % 3 = 0 THEN NULL WHEN g % 3 = 1 THEN 'gift wrap 🎁 #' || g ELSE '' END,
           jsonb_build_object('sku', 'SKU-' || (g % 5000), 'qty', 1 + g % 9,
                              'price', ((g * 7907) % 10000000)::numeric / 100, 'tags', jsonb_build_array('a', 'b'))
      FROM generate_series(1::bigint, ${orders}) AS g`);
  await client.query('ANALYZE shop.customers; ANALYZE shop.orders');
}

/** Checks that must agree between Postgres and what DuckDB reads from the Parquet files, per table. */
export const SAMPLE_CHECKS: Record<string, { label: string; postgres: string; duckdb: string }[]> = {
  'shop.customers': [
    { label: 'rows', postgres: 'count(*)', duckdb: 'count(*)' },
    { label: 'sum(id)', postgres: 'sum(id)', duckdb: 'sum(id)' },
    { label: 'emails', postgres: 'count(email)', duckdb: 'count(email)' },
    { label: 'name bytes', postgres: 'sum(octet_length(name))', duckdb: 'sum(strlen(name))' },
    { label: 'vip', postgres: 'count(*) FILTER (WHERE vip)', duckdb: 'count(*) FILTER (WHERE vip)' },
    { label: 'created_at µs', postgres: 'sum((extract(epoch FROM created_at) * 1000000)::bigint)', duckdb: 'sum(epoch_us(created_at))' },
  ],
  'shop.orders': [
    { label: 'rows', postgres: 'count(*)', duckdb: 'count(*)' },
    { label: 'sum(id)', postgres: 'sum(id)', duckdb: 'sum(id)' },
    { label: 'sum(customer_id)', postgres: 'sum(customer_id)', duckdb: 'sum(customer_id)' },
    { label: 'sum(quantity)', postgres: 'sum(quantity)', duckdb: 'sum(quantity)' },
    { label: 'sum(amount)', postgres: 'sum(amount)', duckdb: 'sum(amount)' },
    { label: 'paid', postgres: `count(*) FILTER (WHERE status = 'paid')`, duckdb: `count(*) FILTER (WHERE status = 'paid')` },
    { label: 'ordered_at µs', postgres: 'sum((extract(epoch FROM ordered_at) * 1000000)::bigint)', duckdb: 'sum(epoch_us(ordered_at))' },
    { label: 'notes', postgres: 'count(note)', duckdb: 'count(note)' },
    { label: 'note bytes', postgres: 'sum(octet_length(note))', duckdb: 'sum(strlen(note))' },
    { label: 'details bytes', postgres: 'sum(octet_length(details::text))', duckdb: 'sum(strlen(details::VARCHAR))' },
  ],
};
