/**
 * `pgsip demo`: the whole product on one laptop with one command. An embedded Postgres gets a sample shop,
 * the export runs through the same state machine the CDK app deploys, and DuckDB reads the Parquet back and
 * checks it against the source.
 */
import pg from 'pg';
import { resolve } from 'node:path';
import { startEmbeddedPostgres } from '../local/embedded-postgres';
import { openDuckDB, readManifest } from '../local/duckdb-reader';
import { formatCount } from '../local/progress';
import { createSampleSchema, SAMPLE_CHECKS, SAMPLE_TABLES } from '../local/sample-schema';
import { printSummary, runExport, parsePositive } from './run';

export interface DemoOptions {
  rows: string;
  dest: string;
  shards: string;
  concurrency: string;
}

export async function runDemo(options: DemoOptions, out: (line: string) => void, err: (line: string) => void): Promise<void> {
  const rows = parsePositive('--rows', options.rows);
  const dest = resolve(options.dest);
  err('pgsip demo: starting an embedded Postgres (no database, AWS account or Docker needed)...');
  const postgres = await startEmbeddedPostgres();
  try {
    const client = new pg.Client(postgres.url);
    await client.connect();
    const loadStarted = Date.now();
    err(`pgsip demo: creating the sample shop: ${formatCount(Math.ceil(rows / 10))} customers, ${formatCount(rows)} orders...`);
    try {
      await createSampleSchema(client, rows);
    } finally {
      await client.end();
    }
    err(`pgsip demo: sample data ready in ${((Date.now() - loadStarted) / 1000).toFixed(1)} s; exporting...`);

    const summary = await runExport(
      { databaseUrl: postgres.url, tables: SAMPLE_TABLES.join(','), dest, shards: options.shards, concurrency: options.concurrency, compression: 'SNAPPY' },
      err,
    );
    printSummary(summary, out);

    err('pgsip demo: reading the Parquet back with DuckDB and checking it against Postgres...');
    await verifyAgainstSource(postgres.url, summary.commit.tables, out);
    const orders = summary.commit.tables.find((t) => t.table === '"shop"."orders"');
    if (orders) {
      out(`try it: duckdb -c "SELECT status, count(*), sum(amount) FROM read_parquet('${resolve(orders.manifest, '..')}/*.parquet') GROUP BY 1"`);
    }
  } finally {
    await postgres.stop();
  }
}

async function verifyAgainstSource(url: string, tables: { table: string; manifest: string }[], out: (line: string) => void): Promise<void> {
  const duck = await openDuckDB();
  const client = new pg.Client(url);
  await client.connect();
  try {
    for (const t of tables) {
      const name = t.table.replace(/"/g, '');
      const checks = SAMPLE_CHECKS[name];
      const { manifest, source } = await readManifest(t.manifest);
      const fromParquet = (await duck.query(`SELECT ${checks.map((c, i) => `(${c.duckdb})::VARCHAR AS c${i}`).join(', ')} FROM ${source}`))[0];
      const fromPostgres = (await client.query(`SELECT ${checks.map((c, i) => `(${c.postgres})::text AS c${i}`).join(', ')} FROM ${t.table}`)).rows[0];
      const wrong = checks.filter((_, i) => String(fromParquet[`c${i}`]) !== String(fromPostgres[`c${i}`]));
      if (wrong.length > 0 || String(manifest.rows) !== String(fromPostgres.c0)) {
        const detail = wrong.map((c) => `${c.label}: Postgres ${fromPostgres[`c${checks.indexOf(c)}`]}, Parquet ${fromParquet[`c${checks.indexOf(c)}`]}`);
        throw new Error(`verification failed for ${name}: ${detail.join('; ') || 'manifest row count differs'}`);
      }
      out(`verified ${name}: ${formatCount(manifest.rows)} rows; DuckDB agrees with Postgres on ${checks.length} checks (${checks.map((c) => c.label).join(', ')})`);
    }
  } finally {
    await client.end();
    duck.close();
  }
}
